"""The HTTP API (JSON, bearer session tokens): everything the pages do, described by the OpenAPI spec.

A client first gets a session token: a mediator from ``POST /api/login`` (after ``POST /api/mediators``
or ``parley mediator create``), a party by claiming its invitation (``POST /api/claim``) or with its
passcode (``POST /api/seat-login``). The API reads no cookies, so a page a party has open cannot be
made to call it (no CSRF through the API).

FastAPI's idiom throughout: the database transaction and the caller are dependencies (the transaction
ends, committed or rolled back, before the response is sent: ``scope="function"``), and every route
declares its response model.
"""

from __future__ import annotations

from typing import Annotated, Any, Callable, Literal, Union

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from parley.mediation import export, identity, mail, service
from parley.mediation.drafting import draft_meso
from parley.mediation.identity import Principal
from parley.mediation.schemas import (AgreementOut, ApproveIn, ArchiveIn, AuditEventOut, CaseCreate, CaseCreated,
                                      CaseSummary, ClaimIn, CloseIn, Constraints, CounterIn, CounterOut, DeadlineIn,
                                      DraftOut, Invitation, LogIn, MediatorCaseView, MediatorOut, MesoRequest,
                                      MessageIn, PartyCaseView, PasscodeIn, PasscodeLogIn, RejectIn, ReplaceIn,
                                      RespondOut, ResponseIn, SessionOut, SignUp, TimezoneIn)

# Ids are database integers: bound them, or a huge id overflows the driver instead of getting a 404.
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]

router = APIRouter(prefix="/api", tags=["mediation"])
bearer = HTTPBearer(auto_error=False, description="a session token from /api/login, /api/claim or /api/seat-login")


def token(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str | None:
    return credentials.credentials if credentials else None


def _write_db(request: Request):
    with mail.transaction(request.app.state) as s:
        yield s


def _read_db(request: Request):
    # Reads take no write lock (SQLite: a WAL snapshot beside the one writer).
    with mail.transaction(request.app.state, read=True) as s:
        yield s


WriteDb = Annotated[Session, Depends(_write_db, scope="function")]
ReadDb = Annotated[Session, Depends(_read_db, scope="function")]
Token = Annotated[Union[str, None], Depends(token)]


def _writer(s: WriteDb, tok: Token) -> Principal:
    return service.authenticate(s, tok)


def _reader(s: ReadDb, tok: Token) -> Principal:
    return service.authenticate(s, tok)


Caller = Annotated[Principal, Depends(_writer)]
Viewer = Annotated[Principal, Depends(_reader)]


def run(request: Request, tok: str | None, fn: Callable, *args, read: bool = False) -> Any:
    """``fn(session, caller, *args)`` in one transaction (the pages' way in; the API uses the dependencies)."""
    with mail.transaction(request.app.state, read=read) as s:
        who = service.authenticate(s, tok)
        return fn(s, who, *args)


def limit(request: Request, rule: str, *keys: str) -> None:
    request.app.state.limits.check(rule, request, *keys)


def _mailing(request: Request) -> bool:
    return request.app.state.mailer.enabled


# ---------------------------------------------------------------- accounts and seats


@router.post("/mediators", response_model=MediatorOut, status_code=201,
             summary="Create a mediator account (when the server allows sign-up)")
def sign_up(body: SignUp, request: Request, s: WriteDb) -> MediatorOut:
    limit(request, "signup")
    if not request.app.state.allow_signup:
        raise service.ServiceError(403, "sign-up is off on this server: ask its operator to run "
                                        "'parley mediator create EMAIL'")
    mediator = service.identity_call(identity.create_mediator, s, body.email, body.password)
    return MediatorOut(id=mediator.id, email=mediator.email)


@router.post("/login", response_model=SessionOut, summary="A mediator signs in; returns a session token")
def log_in(body: LogIn, request: Request, s: WriteDb) -> SessionOut:
    limit(request, "login", body.email.strip().lower())
    _, secret = service.identity_call(identity.mediator_login, s, body.email, body.password)
    return SessionOut(token=secret, role="mediator")


@router.post("/logout", status_code=204, summary="End this session (mediator or party)")
def log_out(s: WriteDb, who: Caller, tok: Token) -> None:
    identity.end_session(s, tok)


@router.post("/claim", response_model=SessionOut, summary="A party claims its seat with its one-time invitation")
def claim(body: ClaimIn, request: Request, s: WriteDb) -> SessionOut:
    limit(request, "claim")
    party, secret = service.claim_seat(s, body.invitation)
    return SessionOut(token=secret, role="party", case_id=party.case_id, party_id=party.id)


@router.post("/seat-login", response_model=SessionOut, summary="A party opens its seat with its passcode")
def seat_login(body: PasscodeLogIn, request: Request, s: WriteDb) -> SessionOut:
    limit(request, "passcode", f"seat:{body.party_id}")
    party, secret = service.passcode_login(s, body.case_id, body.party_id, body.passcode)
    return SessionOut(token=secret, role="party", case_id=party.case_id, party_id=party.id)


@router.put("/cases/{case_id}/passcode", status_code=204, summary="A party sets a passcode to come back from elsewhere")
def set_passcode(case_id: Id, body: PasscodeIn, request: Request, s: WriteDb, who: Caller) -> None:
    limit(request, "passcode")
    service.set_passcode(s, who, case_id, body.passcode)


@router.put("/timezone", status_code=204, summary="The time zone the caller's pages and e-mails show times in")
def set_timezone(body: TimezoneIn, s: WriteDb, who: Caller) -> None:
    service.set_timezone(s, who, body.timezone)


# ---------------------------------------------------------------- cases


@router.get("/cases", response_model=list[CaseSummary], summary="The signed-in mediator's dashboard of cases")
def list_cases(s: ReadDb, who: Viewer, archived: bool = Query(False, description="the archived cases instead")) -> list[CaseSummary]:
    return service.list_cases(s, who, archived)


@router.post("/cases", response_model=CaseCreated, status_code=201,
             summary="Create a case; each party's one-time invitation is e-mailed to it (--smtp-url) or returned once")
def create_case(body: CaseCreate, request: Request, s: WriteDb, who: Caller) -> CaseCreated:
    limit(request, "create_case")
    return service.create_case(s, who, body, request.app.state.public_url, _mailing(request))


@router.get("/cases/{case_id}", response_model=Union[MediatorCaseView, PartyCaseView],
            summary="The case as its mediator or one of its parties may see it")
def read_case(case_id: Id, s: ReadDb, who: Viewer) -> dict:
    return (service.mediator_view if who.role == "mediator" else service.party_view)(s, who, case_id)


@router.put("/cases/{case_id}/deadline", status_code=204, summary="Set or clear the case's deadline (shown to everyone)")
def set_deadline(case_id: Id, body: DeadlineIn, s: WriteDb, who: Caller) -> None:
    service.set_deadline(s, who, case_id, body.deadline)


@router.post("/cases/{case_id}/close", status_code=204, summary="Close the case without an agreement")
def close_case(case_id: Id, body: CloseIn, s: WriteDb, who: Caller) -> None:
    service.close_case(s, who, case_id, body.reason)


@router.put("/cases/{case_id}/archived", status_code=204, summary="Take the case off the dashboard (or back on)")
def archive_case(case_id: Id, body: ArchiveIn, s: WriteDb, who: Caller) -> None:
    service.archive_case(s, who, case_id, body.archived)


@router.post("/cases/{case_id}/parties/{party_id}/invitation", response_model=Invitation, status_code=201,
             summary="Re-issue a seat's invitation: voids the old one, ends the seat's sessions, clears its constraints")
def reissue(case_id: Id, party_id: Id, request: Request, s: WriteDb, who: Caller) -> Invitation:
    return service.reissue_invitation(s, who, case_id, party_id, request.app.state.public_url, _mailing(request))


@router.delete("/cases/{case_id}/parties/{party_id}", status_code=204, summary="Remove a party before an agreement")
def remove_party(case_id: Id, party_id: Id, s: WriteDb, who: Caller) -> None:
    service.remove_party(s, who, case_id, party_id)


@router.post("/cases/{case_id}/parties/{party_id}/replace", response_model=Invitation, status_code=201,
             summary="Replace a party by a new seat (new name, new invitation) before an agreement")
def replace_party(case_id: Id, party_id: Id, body: ReplaceIn, request: Request, s: WriteDb, who: Caller) -> Invitation:
    return service.replace_party(s, who, case_id, party_id, body.name, request.app.state.public_url, body.email,
                                 _mailing(request))


@router.put("/cases/{case_id}/constraints", status_code=204, summary="A party enters its private constraints")
def put_constraints(case_id: Id, body: Constraints, s: WriteDb, who: Caller) -> None:
    service.set_constraints(s, who, case_id, body)


@router.get("/cases/{case_id}/constraints", response_model=Constraints, summary="A party reads its own constraints")
def get_constraints(case_id: Id, s: ReadDb, who: Viewer) -> Constraints:
    return service.get_constraints(s, who, case_id)


@router.post("/cases/{case_id}/meso", response_model=DraftOut, status_code=201,
             summary="The AI drafts a MESO for a party (into the review queue)")
def meso(case_id: Id, body: MesoRequest, request: Request, tok: Token) -> dict:
    # No transaction around this route: the solver and the writer run with no lock held (drafting.py).
    limit(request, "meso")
    return draft_meso(request.app.state, tok, case_id, body)


@router.get("/cases/{case_id}/drafts", response_model=list[DraftOut],
            summary="The mediator's review queue (status: pending, approved, rejected or all)")
def drafts(case_id: Id, s: ReadDb, who: Viewer,
           status: Literal["pending", "approved", "rejected", "all"] = "pending") -> list[dict]:
    return service.review_queue(s, who, case_id, None if status == "all" else status)


@router.post("/cases/{case_id}/drafts/{draft_id}/approve", response_model=DraftOut,
             summary="Approve a draft, optionally edited; parties then see it")
def approve(case_id: Id, draft_id: Id, body: ApproveIn, s: WriteDb, who: Caller) -> dict:
    return service.approve(s, who, case_id, draft_id, body)


@router.post("/cases/{case_id}/drafts/{draft_id}/reject", response_model=DraftOut,
             summary="Reject a draft; no party ever sees it")
def reject(case_id: Id, draft_id: Id, body: RejectIn, s: WriteDb, who: Caller) -> dict:
    return service.reject(s, who, case_id, draft_id, body.reason)


@router.post("/cases/{case_id}/messages", status_code=204, summary="The mediator writes to one party or to all")
def message(case_id: Id, body: MessageIn, s: WriteDb, who: Caller) -> None:
    service.send_message(s, who, case_id, body)


@router.post("/cases/{case_id}/packages/{package_id}/response", response_model=RespondOut,
             summary="A party accepts or rejects a package (and may change its answer until there is an agreement)")
def respond(case_id: Id, package_id: Id, body: ResponseIn, s: WriteDb, who: Caller) -> dict:
    return service.respond(s, who, case_id, package_id, body)


@router.post("/cases/{case_id}/counter", response_model=CounterOut, status_code=202,
             summary="A party counter-proposes (reviewed before others see it)")
def counter(case_id: Id, body: CounterIn, s: WriteDb, who: Caller) -> dict:
    return service.counter_propose(s, who, case_id, body)


@router.post("/cases/{case_id}/sign-off", status_code=204, summary="The mediator signs off the agreement")
def sign_off(case_id: Id, s: WriteDb, who: Caller) -> None:
    service.sign_off(s, who, case_id)


@router.get("/cases/{case_id}/agreement", response_model=AgreementOut,
            summary="The agreement every party accepted, with the audit chain's head hash at this moment")
def agreement(case_id: Id, s: ReadDb, who: Viewer) -> dict:
    return service.agreement(s, who, case_id)


@router.get("/cases/{case_id}/agreement.html", response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}},
            summary="The agreement as a printable page")
def agreement_html(case_id: Id, request: Request, s: ReadDb, who: Viewer) -> HTMLResponse:
    data = service.agreement(s, who, case_id)
    return request.app.state.templates.TemplateResponse(
        request, "agreement.html", {"a": data, "zone": service.viewer_zone(s, who)})


@router.get("/cases/{case_id}/agreement.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}},
            summary="The agreement as a PDF, with the audit chain's head hash")
def agreement_pdf(case_id: Id, request: Request, s: ReadDb, who: Viewer) -> Response:
    data = service.agreement(s, who, case_id)
    pdf = export.agreement_pdf(request.app.state.templates, data, service.viewer_zone(s, who))
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{export.filename(data, "pdf")}"'})


@router.get("/cases/{case_id}/audit", response_model=list[AuditEventOut],
            summary="The hash-chained, append-only audit log (mediator)")
def audit(case_id: Id, s: ReadDb, who: Viewer) -> list[dict]:
    return service.audit_log(s, who, case_id)
