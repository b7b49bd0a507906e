"""The HTTP API (JSON, bearer session tokens): everything the pages do, described by the OpenAPI spec.

A client first gets a session token: a mediator from ``POST /api/login`` (after ``POST /api/mediators``
or ``parley mediator create``), a party by claiming its invitation (``POST /api/claim``) or with its
passcode (``POST /api/seat-login``). The API reads no cookies, so a page a party has open cannot be
made to call it (no CSRF through the API).
"""

from __future__ import annotations

from typing import Annotated, Any, Callable, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from parley.mediation import identity, service
from parley.mediation.drafting import draft_meso
from parley.mediation.schemas import (ApproveIn, CaseCreate, CaseCreated, ClaimIn, Constraints, CounterIn, Invitation,
                                      LogIn, MesoRequest, MessageIn, PasscodeIn, PasscodeLogIn, RejectIn, ReplaceIn,
                                      ResponseIn, SessionOut, SignUp)

# Ids are database integers: bound them, or a huge id overflows the driver instead of getting a 404.
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]

router = APIRouter(prefix="/api", tags=["mediation"])
bearer = HTTPBearer(auto_error=False, description="a session token from /api/login, /api/claim or /api/seat-login")


def token(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str | None:
    return credentials.credentials if credentials else None


def run(request: Request, tok: str | None, fn: Callable, *args, read: bool = False) -> Any:
    """One transaction per request: it commits before the response is sent, or rolls back entirely."""
    with (request.app.state.readers if read else request.app.state.sessions).begin() as s:
        who = service.authenticate(s, tok)
        return fn(s, who, *args)


def limit(request: Request, rule: str, *keys: str) -> None:
    request.app.state.limits.check(rule, request, *keys)


# ---------------------------------------------------------------- accounts and seats


@router.post("/mediators", status_code=201, summary="Create a mediator account (when the server allows sign-up)")
def sign_up(body: SignUp, request: Request) -> dict:
    limit(request, "signup")
    if not request.app.state.allow_signup:
        raise service.ServiceError(403, "sign-up is off on this server: ask its operator to run "
                                        "'parley mediator create EMAIL'")
    with request.app.state.sessions.begin() as s:
        mediator = service.identity_call(identity.create_mediator, s, body.email, body.password)
        return {"id": mediator.id, "email": mediator.email}


@router.post("/login", response_model=SessionOut, summary="A mediator signs in; returns a session token")
def log_in(body: LogIn, request: Request) -> SessionOut:
    limit(request, "login", body.email.strip().lower())
    with request.app.state.sessions.begin() as s:
        mediator, secret = service.identity_call(identity.mediator_login, s, body.email, body.password)
        return SessionOut(token=secret, role="mediator")


@router.post("/logout", status_code=204, summary="End this session (mediator or party)")
def log_out(request: Request, tok: str | None = Depends(token)) -> None:
    with request.app.state.sessions.begin() as s:
        service.authenticate(s, tok)
        identity.end_session(s, tok)


@router.post("/claim", response_model=SessionOut, summary="A party claims its seat with its one-time invitation")
def claim(body: ClaimIn, request: Request) -> SessionOut:
    limit(request, "claim")
    with request.app.state.sessions.begin() as s:
        party, secret = service.claim_seat(s, body.invitation)
        return SessionOut(token=secret, role="party", case_id=party.case_id, party_id=party.id)


@router.post("/seat-login", response_model=SessionOut, summary="A party opens its seat with its passcode")
def seat_login(body: PasscodeLogIn, request: Request) -> SessionOut:
    limit(request, "passcode", f"seat:{body.party_id}")
    with request.app.state.sessions.begin() as s:
        party, secret = service.passcode_login(s, body.case_id, body.party_id, body.passcode)
        return SessionOut(token=secret, role="party", case_id=party.case_id, party_id=party.id)


@router.put("/cases/{case_id}/passcode", status_code=204, summary="A party sets a passcode to come back from elsewhere")
def set_passcode(case_id: Id, body: PasscodeIn, request: Request, tok: str | None = Depends(token)) -> None:
    limit(request, "passcode")
    run(request, tok, service.set_passcode, case_id, body.passcode)


# ---------------------------------------------------------------- cases


@router.get("/cases", summary="The signed-in mediator's cases")
def list_cases(request: Request, tok: str | None = Depends(token)) -> list[dict]:
    return run(request, tok, service.list_cases, read=True)


@router.post("/cases", response_model=CaseCreated, status_code=201,
             summary="Create a case; returns each party's one-time invitation (shown once)")
def create_case(body: CaseCreate, request: Request, tok: str | None = Depends(token)) -> CaseCreated:
    limit(request, "create_case")
    return run(request, tok, service.create_case, body, request.app.state.public_url)


@router.get("/cases/{case_id}", summary="The case as its mediator or one of its parties may see it")
def read_case(case_id: Id, request: Request, tok: str | None = Depends(token)) -> dict:
    def view(s, who, case_id):
        return (service.mediator_view if who.role == "mediator" else service.party_view)(s, who, case_id)
    return run(request, tok, view, case_id, read=True)


@router.post("/cases/{case_id}/parties/{party_id}/invitation", response_model=Invitation, status_code=201,
             summary="Re-issue a seat's invitation: voids the old one, ends the seat's sessions, clears its constraints")
def reissue(case_id: Id, party_id: Id, request: Request, tok: str | None = Depends(token)) -> Invitation:
    return run(request, tok, service.reissue_invitation, case_id, party_id, request.app.state.public_url)


@router.delete("/cases/{case_id}/parties/{party_id}", status_code=204, summary="Remove a party before an agreement")
def remove_party(case_id: Id, party_id: Id, request: Request, tok: str | None = Depends(token)) -> None:
    run(request, tok, service.remove_party, case_id, party_id)


@router.post("/cases/{case_id}/parties/{party_id}/replace", response_model=Invitation, status_code=201,
             summary="Replace a party by a new seat (new name, new invitation) before an agreement")
def replace_party(case_id: Id, party_id: Id, body: ReplaceIn, request: Request,
                  tok: str | None = Depends(token)) -> Invitation:
    return run(request, tok, service.replace_party, case_id, party_id, body.name, request.app.state.public_url)


@router.put("/cases/{case_id}/constraints", status_code=204, summary="A party enters its private constraints")
def put_constraints(case_id: Id, body: Constraints, request: Request, tok: str | None = Depends(token)) -> None:
    run(request, tok, service.set_constraints, case_id, body)


@router.get("/cases/{case_id}/constraints", response_model=Constraints, summary="A party reads its own constraints")
def get_constraints(case_id: Id, request: Request, tok: str | None = Depends(token)) -> Constraints:
    return run(request, tok, service.get_constraints, case_id, read=True)


@router.post("/cases/{case_id}/meso", status_code=201, summary="The AI drafts a MESO for a party (into the review queue)")
def meso(case_id: Id, body: MesoRequest, request: Request, tok: str | None = Depends(token)) -> dict:
    limit(request, "meso")
    return draft_meso(request.app.state, tok, case_id, body)


@router.get("/cases/{case_id}/drafts", summary="The mediator's review queue (status: pending, approved, rejected or all)")
def drafts(case_id: Id, request: Request, status: Literal["pending", "approved", "rejected", "all"] = "pending",
           tok: str | None = Depends(token)) -> list[dict]:
    return run(request, tok, service.review_queue, case_id, None if status == "all" else status, read=True)


@router.post("/cases/{case_id}/drafts/{draft_id}/approve", summary="Approve a draft, optionally edited; parties then see it")
def approve(case_id: Id, draft_id: Id, body: ApproveIn, request: Request, tok: str | None = Depends(token)) -> dict:
    return run(request, tok, service.approve, case_id, draft_id, body)


@router.post("/cases/{case_id}/drafts/{draft_id}/reject", summary="Reject a draft; no party ever sees it")
def reject(case_id: Id, draft_id: Id, body: RejectIn, request: Request, tok: str | None = Depends(token)) -> dict:
    return run(request, tok, service.reject, case_id, draft_id, body.reason)


@router.post("/cases/{case_id}/messages", status_code=204, summary="The mediator writes to one party or to all")
def message(case_id: Id, body: MessageIn, request: Request, tok: str | None = Depends(token)) -> None:
    run(request, tok, service.send_message, case_id, body)


@router.post("/cases/{case_id}/packages/{package_id}/response", summary="A party accepts or rejects a package")
def respond(case_id: Id, package_id: Id, body: ResponseIn, request: Request, tok: str | None = Depends(token)) -> dict:
    return run(request, tok, service.respond, case_id, package_id, body)


@router.post("/cases/{case_id}/counter", status_code=202, summary="A party counter-proposes (reviewed before others see it)")
def counter(case_id: Id, body: CounterIn, request: Request, tok: str | None = Depends(token)) -> dict:
    return run(request, tok, service.counter_propose, case_id, body)


@router.post("/cases/{case_id}/sign-off", status_code=204, summary="The mediator signs off the agreement")
def sign_off(case_id: Id, request: Request, tok: str | None = Depends(token)) -> None:
    run(request, tok, service.sign_off, case_id)


@router.get("/cases/{case_id}/agreement", summary="The agreement every party accepted")
def agreement(case_id: Id, request: Request, tok: str | None = Depends(token)) -> dict:
    return run(request, tok, service.agreement, case_id, read=True)


@router.get("/cases/{case_id}/agreement.html", response_class=HTMLResponse, summary="The agreement as a printable page")
def agreement_html(case_id: Id, request: Request, tok: str | None = Depends(token)) -> HTMLResponse:
    data = run(request, tok, service.agreement, case_id, read=True)
    return request.app.state.templates.TemplateResponse(request, "agreement.html", {"a": data})


@router.get("/cases/{case_id}/audit", summary="The hash-chained, append-only audit log (mediator)")
def audit(case_id: Id, request: Request, tok: str | None = Depends(token)) -> list[dict]:
    return run(request, tok, service.audit_log, case_id, read=True)
