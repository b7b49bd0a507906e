"""Server-rendered pages (Jinja2, plain HTML forms): the browser runs no logic and holds no private data.

The secret token is the page address (/m/<token> for the mediator, /p/<token> for a party), so an
invitation is a link. Each form posts to the same service functions as the API and redirects back
(post/redirect/get), so a reload never submits twice.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from parley.mediation import service
from parley.mediation.api import Id, run
from parley.mediation.schemas import (ApproveIn, CaseCreate, Constraints, CounterIn, MesoRequest, MessageIn,
                                      ResponseIn)
from parley.mediation.service import ServiceError

router = APIRouter(include_in_schema=False)


def _render(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
    return request.app.state.templates.TemplateResponse(request, name, context, status_code=status)


def _back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _validated(model, data):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ServiceError(422, service.validation_message(exc.errors())) from None


def _number(form, key: str, label: str) -> float:
    raw = (form.get(key) or "").strip()
    try:
        return float(raw)
    except ValueError:
        raise ServiceError(422, f"{label}: {raw!r} is not a number") from None


_NUM = r"(-?\d+(?:\.\d+)?)"
# 'min-max unit', optionally ', step X': numbers are plain decimals, so '1.2.3-5' is a form error, not a crash.
_RANGE = re.compile(_NUM + r"\s*(?:-|to|–)\s*" + _NUM + r"\s*([^,]*?)\s*(?:,\s*step\s+(\d+(?:\.\d+)?)\s*)?")


def parse_issue_lines(text: str) -> list[dict]:
    """'Price: 100-200 EUR' is a numeric range ('Rent: 1000-1600 EUR, step 10' negotiates in steps of 10);
    'Delivery: May | June | July' a set of options."""
    issues = []
    for n, line in enumerate(l.strip() for l in text.splitlines()):
        if not line:
            continue
        name, sep, spec = line.partition(":")
        if not sep:
            raise ServiceError(422, f"issue line {n + 1} ({line!r}): write 'Name: 100-200 unit' or 'Name: A | B | C'")
        spec = spec.strip()
        if "|" in spec:
            issues.append({"kind": "options", "name": name.strip(), "options": [o.strip() for o in spec.split("|") if o.strip()]})
            continue
        m = _RANGE.fullmatch(spec)
        if not m:
            raise ServiceError(422, f"issue line {n + 1} ({line!r}): the range must read like '100-200 EUR' "
                                    "or '1000-1600 EUR, step 10'")
        issue = {"kind": "numeric", "name": name.strip(), "min": float(m.group(1)), "max": float(m.group(2)),
                 "unit": m.group(3).strip()}
        if m.group(4):
            issue["step"] = float(m.group(4))
        issues.append(issue)
    return issues


@router.get("/", response_class=HTMLResponse)
def home(request: Request):
    return _render(request, "home.html")


@router.post("/cases", response_class=HTMLResponse)
async def create_case(request: Request):
    form = await request.form()
    data = {"title": (form.get("title") or "").strip(),
            "issues": parse_issue_lines(form.get("issues") or ""),
            "parties": [{"name": n.strip()} for n in (form.get("parties") or "").splitlines() if n.strip()]}
    body = _validated(CaseCreate, data)
    with request.app.state.sessions.begin() as s:
        created = service.create_case(s, body, str(request.base_url).rstrip("/"))
    # The only time the links are shown: the server keeps only their hashes.
    return _render(request, "created.html", 201, created=created, title=body.title)


# ---------------------------------------------------------------- mediator pages


def _as(request: Request, token: str, fn, *args, read: bool = False):
    """``fn`` on the case the link's token belongs to, in the API's one-transaction-per-request helper."""
    return run(request, token, lambda s, who: fn(s, who, who.case_id, *args), read=read)


_WRONG_LINK = {"mediator": "this link is a party's, not the mediator's",
               "party": "this link is the mediator's, not a party's"}


def _page(request: Request, token: str, role: str, build) -> dict:
    """What a page shows, read without taking the write lock; a link of the other role gets 403."""
    def view(s, who, case_id):
        if who.role != role:
            raise ServiceError(403, _WRONG_LINK[role])
        return build(s, who, case_id)
    return _as(request, token, view, read=True)


@router.get("/m/{token}", response_class=HTMLResponse)
def mediator_page(request: Request, token: str):
    context = _page(request, token, "mediator", lambda s, who, cid: {
        "case": service.mediator_view(s, who, cid), "audit": service.audit_log(s, who, cid)})
    return _render(request, "mediator.html", token=token, **context)


@router.post("/m/{token}/meso")
async def mediator_meso(request: Request, token: str):
    form = await request.form()
    body = _validated(MesoRequest, {"party_id": form.get("party_id"), "count": form.get("count") or 3,
                                    "tolerance": form.get("tolerance") or 0.05, "rule": form.get("rule") or "nash",
                                    "privacy_margin": form.get("privacy_margin") or 0})
    _as(request, token, lambda s, who, cid: service.draft_meso(s, who, cid, body, request.app.state.writer))
    return _back(f"/m/{token}#queue")


@router.post("/m/{token}/drafts/{draft_id}/approve")
async def mediator_approve(request: Request, token: str, draft_id: Id):
    form = await request.form()
    rationales = form.getlist("rationale") or None
    text = form.get("text")
    body = _validated(ApproveIn, {"rationales": rationales, "text": text})
    _as(request, token, service.approve, draft_id, body)
    return _back(f"/m/{token}#packages")


@router.post("/m/{token}/drafts/{draft_id}/reject")
async def mediator_reject(request: Request, token: str, draft_id: Id):
    form = await request.form()
    _as(request, token, service.reject, draft_id, str(form.get("reason") or "")[:4000])
    return _back(f"/m/{token}#queue")


@router.post("/m/{token}/message")
async def mediator_message(request: Request, token: str):
    form = await request.form()
    party = form.get("party_id")
    body = _validated(MessageIn, {"party_id": party or None, "text": form.get("text") or ""})
    _as(request, token, service.send_message, body)
    return _back(f"/m/{token}#messages")


@router.post("/m/{token}/sign-off")
def mediator_sign_off(request: Request, token: str):
    _as(request, token, service.sign_off)
    return _back(f"/m/{token}")


@router.get("/m/{token}/agreement", response_class=HTMLResponse)
@router.get("/p/{token}/agreement", response_class=HTMLResponse)
def agreement_page(request: Request, token: str):
    data = _as(request, token, service.agreement, read=True)
    return _render(request, "agreement.html", a=data)


# ---------------------------------------------------------------- party pages


@router.get("/p/{token}", response_class=HTMLResponse)
def party_page(request: Request, token: str):
    def build(s, who, cid):
        own = service.own_constraints(s, who, cid)
        return {"case": service.party_view(s, who, cid), "own": own.model_dump() if own else None}
    return _render(request, "party.html", token=token, **_page(request, token, "party", build))


async def _party_form(request: Request, token: str, parse, action) -> None:
    """Read a party's form against its case's issues and hand the parsed body to ``action``, in one transaction."""
    form = await request.form()

    def submit(s, who, case_id):
        action(s, who, case_id, parse(form, service.issues_of(service.get_case(s, who, case_id))))
    _as(request, token, submit)


def _constraints_from(form, issues) -> Constraints:
    prefs = {}
    for k, issue in enumerate(issues):
        weight = _number(form, f"w{k}", f"{issue.name}: weight")
        if issue.kind == "numeric":
            prefs[issue.name] = {"weight": weight, "ideal": _number(form, f"ideal{k}", f"{issue.name}: ideal"),
                                 "reservation": _number(form, f"res{k}", f"{issue.name}: reservation")}
        else:
            prefs[issue.name] = {"weight": weight, "ratings": {
                o: _number(form, f"r{k}_{j}", f"{issue.name}: rating of {o}") for j, o in enumerate(issue.options)}}
    return _validated(Constraints, {"issues": prefs, "min_value": _number(form, "min_value", "minimum package value")})


def _counter_from(form, issues) -> CounterIn:
    terms = {issue.name: _number(form, f"t{k}", issue.name) if issue.kind == "numeric" else (form.get(f"t{k}") or "")
             for k, issue in enumerate(issues)}
    return _validated(CounterIn, {"terms": terms, "note": form.get("note") or ""})


@router.post("/p/{token}/constraints")
async def party_constraints(request: Request, token: str):
    await _party_form(request, token, _constraints_from, service.set_constraints)
    return _back(f"/p/{token}")


@router.post("/p/{token}/counter")
async def party_counter(request: Request, token: str):
    await _party_form(request, token, _counter_from, service.counter_propose)
    return _back(f"/p/{token}#packages")


@router.post("/p/{token}/packages/{package_id}")
async def party_respond(request: Request, token: str, package_id: Id):
    form = await request.form()
    body = _validated(ResponseIn, {"decision": form.get("decision")})
    _as(request, token, service.respond, package_id, body)
    return _back(f"/p/{token}#packages")
