"""The HTTP API (JSON, bearer tokens): everything the pages do, described by the OpenAPI spec."""

from __future__ import annotations

from typing import Annotated, Any, Callable, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from parley.mediation import service
from parley.mediation.schemas import (ApproveIn, CaseCreate, CaseCreated, Constraints, CounterIn, MesoRequest,
                                      MessageIn, RejectIn, ResponseIn)

# Ids are database integers: bound them, or a huge id overflows the driver instead of getting a 404.
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]

router = APIRouter(prefix="/api", tags=["mediation"])
bearer = HTTPBearer(auto_error=False, description="the token from a mediator or party invitation link")


def token(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str | None:
    return credentials.credentials if credentials else None


def run(request: Request, tok: str | None, fn: Callable, *args, read: bool = False) -> Any:
    """One transaction per request: it commits before the response is sent, or rolls back entirely."""
    with (request.app.state.readers if read else request.app.state.sessions).begin() as s:
        who = service.authenticate(s, tok)
        return fn(s, who, *args)


@router.post("/cases", response_model=CaseCreated, status_code=201,
             summary="Create a case; returns the mediator's and each party's secret token (shown once)")
def create_case(body: CaseCreate, request: Request) -> CaseCreated:
    with request.app.state.sessions.begin() as s:
        return service.create_case(s, body, str(request.base_url).rstrip("/"))


@router.get("/cases/{case_id}", summary="The case as its mediator or one of its parties may see it")
def read_case(case_id: Id, request: Request, tok: str | None = Depends(token)) -> dict:
    def view(s, who, case_id):
        return (service.mediator_view if who.role == "mediator" else service.party_view)(s, who, case_id)
    return run(request, tok, view, case_id, read=True)


@router.put("/cases/{case_id}/constraints", status_code=204, summary="A party enters its private constraints")
def put_constraints(case_id: Id, body: Constraints, request: Request, tok: str | None = Depends(token)) -> None:
    run(request, tok, service.set_constraints, case_id, body)


@router.get("/cases/{case_id}/constraints", response_model=Constraints, summary="A party reads its own constraints")
def get_constraints(case_id: Id, request: Request, tok: str | None = Depends(token)) -> Constraints:
    return run(request, tok, service.get_constraints, case_id, read=True)


@router.post("/cases/{case_id}/meso", status_code=201, summary="The AI drafts a MESO for a party (into the review queue)")
def draft_meso(case_id: Id, body: MesoRequest, request: Request, tok: str | None = Depends(token)) -> dict:
    return run(request, tok, service.draft_meso, case_id, body, request.app.state.writer)


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


@router.get("/cases/{case_id}/audit", summary="The append-only audit log (mediator)")
def audit(case_id: Id, request: Request, tok: str | None = Depends(token)) -> list[dict]:
    return run(request, tok, service.audit_log, case_id, read=True)
