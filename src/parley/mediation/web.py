"""Server-rendered pages (Jinja2, plain HTML forms): the browser runs no logic and holds no private data.

Who is asking comes from a session cookie (HttpOnly, SameSite=Lax, Secure over https): a mediator gets
one by signing in, a party by claiming its one-time invitation (/i/<invitation>) or with its passcode.
No secret stays in a page address after that. Every form carries a CSRF token bound to the browser's
session (see ``_csrf``), and posts to the same service functions as the API, then redirects
(post/redirect/get), so a reload never submits twice.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime
from zoneinfo import ZoneInfo, available_timezones

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from parley.mediation import export, identity, mail, service
from parley.mediation.api import Id, run
from parley.mediation.drafting import draft_meso
from parley.mediation.db import Case
from parley.mediation.schemas import (ApproveIn, CaseCreate, CloseIn, Constraints, CounterIn, DeadlineIn, MesoRequest,
                                      MessageIn, RejectIn, ReplaceIn, ResponseIn, TimezoneIn)
from parley.mediation.service import ServiceError

router = APIRouter(include_in_schema=False)

ZONES = sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/"))) + ["UTC"]
SESSION_COOKIE = "parley_session"
PRE_COOKIE = "parley_csrf"  # before sign-in: what the log-in, sign-up and claim forms' tokens are bound to


# ---------------------------------------------------------------- sessions and CSRF


def _csrf(request: Request, base: str) -> str:
    """The form token for a browser: an HMAC of its session secret (or pre-session cookie) under the server key.

    Written here rather than taken from fastapi-csrf-protect: that library re-signs its cookie on every page
    (a second open tab then fails) and keeps its settings in class-level globals shared by every app in a
    process. A token bound to the session is OWASP's synchronizer-token pattern and needs no storage.
    """
    return hmac.new(request.app.state.csrf_secret.encode(), base.encode(), hashlib.sha256).hexdigest()


def _render(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
    base = request.cookies.get(SESSION_COOKIE) or request.cookies.get(PRE_COOKIE)
    fresh = None
    if not base:
        fresh = base = secrets.token_urlsafe(32)
    response = request.app.state.templates.TemplateResponse(
        request, name, {"csrf": _csrf(request, base), "zone": _zone(request), "zones": ZONES, **context},
        status_code=status)
    if fresh:
        response.set_cookie(PRE_COOKIE, fresh, httponly=True, samesite="strict", secure=request.app.state.secure_cookies)
    return response


def _zone(request: Request) -> str:
    """The time zone the viewer chose (UTC for anyone not signed in): pages show and read times in it."""
    with mail.transaction(request.app.state, read=True) as s:
        return service.viewer_zone(s, identity.principal(s, _session(request)))


async def _form(request: Request):
    """The posted form, once its CSRF token proves it came from a page of ours in this browser."""
    form = await request.form()
    base = request.cookies.get(SESSION_COOKIE) or request.cookies.get(PRE_COOKIE) or ""
    sent = form.get("csrf")
    if not base or not isinstance(sent, str) or not hmac.compare_digest(sent, _csrf(request, base)):
        raise ServiceError(403, "this form is out of date or came from another site: reload the page and submit again")
    return form


def _signed_in(response: RedirectResponse, request: Request, secret: str, role: str) -> RedirectResponse:
    life = identity.MEDIATOR_SESSION if role == "mediator" else identity.PARTY_SESSION
    response.set_cookie(SESSION_COOKIE, secret, max_age=int(life.total_seconds()), httponly=True, samesite="lax",
                        secure=request.app.state.secure_cookies)
    response.delete_cookie(PRE_COOKIE)
    return response


def _session(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE)


def _back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _as(request: Request, fn, *args, read: bool = False):
    return run(request, _session(request), fn, *args, read=read)


def _who(request: Request) -> identity.Principal | None:
    secret = _session(request)
    if not secret:
        return None
    with mail.transaction(request.app.state, read=True) as s:
        return identity.principal(s, secret)


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


_PARTY = re.compile(r"(?P<name>[^<>,]+?)\s*(?:<\s*(?P<email>[^<>\s]+)\s*>|,\s*(?P<email2>\S+@\S+))?\s*")


def parse_party_lines(text: str) -> list[dict]:
    """'Tenant' or 'Tenant <tenant@example.org>' (or 'Tenant, tenant@example.org'): with an address and an SMTP
    server, the invitation goes straight to the party."""
    parties = []
    for n, line in enumerate(l.strip() for l in text.splitlines()):
        if not line:
            continue
        m = _PARTY.fullmatch(line)
        if not m:
            raise ServiceError(422, f"party line {n + 1} ({line!r}): write 'Name' or 'Name <name@example.org>'")
        email = m.group("email") or m.group("email2")
        parties.append({"name": m.group("name").strip(), **({"email": email} if email else {})})
    return parties


def _deadline(request: Request, form) -> str | None:
    """A deadline typed in the viewer's own time zone (the page's date and time inputs), as ISO 8601."""
    day, time = (form.get("deadline_date") or "").strip(), (form.get("deadline_time") or "").strip() or "18:00"
    if not day:
        return None
    try:
        local = datetime.fromisoformat(f"{day}T{time}")
    except ValueError:
        raise ServiceError(422, f"deadline: {day} {time} is not a date and time (write 2026-12-31 and 18:00)") from None
    return local.replace(tzinfo=ZoneInfo(_zone(request))).isoformat()


# ---------------------------------------------------------------- signing in


@router.get("/", response_class=HTMLResponse)
def home(request: Request):
    who = _who(request)
    if who is not None and who.role == "party":
        return _back("/p")
    if who is None:
        return _render(request, "home.html", signup=request.app.state.allow_signup)
    archived = request.query_params.get("archived") == "1"
    cases = _as(request, service.list_cases, archived, read=True)
    return _render(request, "dashboard.html", cases=cases, archived=archived,
                   mailing=request.app.state.mailer.enabled)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request):
    return _render(request, "login.html", signup=request.app.state.allow_signup)


@router.post("/login")
async def login(request: Request):
    form = await _form(request)
    email = str(form.get("email") or "")
    request.app.state.limits.check("login", request, email.strip().lower())
    with mail.transaction(request.app.state) as s:
        _, secret = service.identity_call(identity.mediator_login, s, email, str(form.get("password") or ""))
    return _signed_in(_back("/"), request, secret, "mediator")


@router.get("/signup", response_class=HTMLResponse)
def signup_page(request: Request):
    if not request.app.state.allow_signup:
        raise ServiceError(403, "sign-up is off on this server: ask its operator for an account")
    return _render(request, "signup.html")


@router.post("/signup")
async def signup(request: Request):
    form = await _form(request)
    request.app.state.limits.check("signup", request)
    if not request.app.state.allow_signup:
        raise ServiceError(403, "sign-up is off on this server: ask its operator for an account")
    email, password = str(form.get("email") or ""), str(form.get("password") or "")
    with mail.transaction(request.app.state) as s:
        service.identity_call(identity.create_mediator, s, email, password)
        _, secret = service.identity_call(identity.mediator_login, s, email, password)
    return _signed_in(_back("/"), request, secret, "mediator")


@router.post("/logout")
async def logout(request: Request):
    await _form(request)
    with mail.transaction(request.app.state) as s:
        identity.end_session(s, _session(request))
    response = _back("/")
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/i/{invitation}", response_class=HTMLResponse)
def invitation_page(request: Request, invitation: str):
    """Opening the link shows a button; the claim is its POST, so a mail scanner that fetches links claims nothing."""
    with mail.transaction(request.app.state, read=True) as s:
        party = identity.find_invitation(s, invitation)
        info = None
        if party is not None:
            case = s.get(Case, party.case_id)
            info = {"case": case.title, "party": party.name}
    return _render(request, "claim.html", info=info, invitation=invitation if info else "")


@router.post("/claim")
async def claim(request: Request):
    form = await _form(request)
    request.app.state.limits.check("claim", request)
    with mail.transaction(request.app.state) as s:
        _, secret = service.claim_seat(s, str(form.get("invitation") or ""), _who(request))
    return _signed_in(_back("/p"), request, secret, "party")


@router.get("/seat", response_class=HTMLResponse)
def seat_page(request: Request):
    return _render(request, "seat_login.html")


@router.post("/seat")
async def seat_login(request: Request):
    form = await _form(request)
    try:
        case_id, party_id = int(form.get("case_id") or 0), int(form.get("party_id") or 0)
    except ValueError:
        raise ServiceError(422, "case and seat are the numbers on your party page (e.g. case 12, seat 34)") from None
    request.app.state.limits.check("passcode", request, f"seat:{party_id}")
    with mail.transaction(request.app.state) as s:
        _, secret = service.passcode_login(s, case_id, party_id, str(form.get("passcode") or ""))
    return _signed_in(_back("/p"), request, secret, "party")


# ---------------------------------------------------------------- mediator pages


@router.post("/cases", response_class=HTMLResponse)
async def create_case(request: Request):
    form = await _form(request)
    request.app.state.limits.check("create_case", request)
    data = {"title": (form.get("title") or "").strip(),
            "issues": parse_issue_lines(form.get("issues") or ""),
            "parties": parse_party_lines(form.get("parties") or ""),
            "deadline": _deadline(request, form)}
    body = _validated(CaseCreate, data)
    created = _as(request, service.create_case, body, request.app.state.public_url, request.app.state.mailer.enabled)
    # The only time the invitations are shown: the server keeps only their hashes, and each works once.
    return _render(request, "created.html", 201, invitations=created.parties, title=body.title,
                   case_url=f"/cases/{created.case_id}")


def _mediator_page(request: Request, case_id: int, build):
    def view(s, who):
        if who.role != "mediator":
            raise ServiceError(403, "this page is the mediator's; your page is /p")
        return build(s, who)
    return _as(request, view, read=True)


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def mediator_page(request: Request, case_id: Id):
    context = _mediator_page(request, case_id, lambda s, who: {
        "case": service.mediator_view(s, who, case_id), "audit": service.audit_log(s, who, case_id)})
    return _render(request, "mediator.html", **context)


@router.post("/cases/{case_id}/meso")
async def mediator_meso(request: Request, case_id: Id):
    form = await _form(request)
    request.app.state.limits.check("meso", request)
    body = _validated(MesoRequest, {"party_id": form.get("party_id"), "count": form.get("count") or 3,
                                    "tolerance": form.get("tolerance") or 0.05, "rule": form.get("rule") or "nash",
                                    "privacy_margin": form.get("privacy_margin") or 0})
    draft_meso(request.app.state, _session(request), case_id, body)
    return _back(f"/cases/{case_id}#queue")


@router.post("/cases/{case_id}/drafts/{draft_id}/approve")
async def mediator_approve(request: Request, case_id: Id, draft_id: Id):
    form = await _form(request)
    rationales = form.getlist("rationale") or None
    text = form.get("text")
    body = _validated(ApproveIn, {"rationales": rationales, "text": text})
    _as(request, service.approve, case_id, draft_id, body)
    return _back(f"/cases/{case_id}#packages")


@router.post("/cases/{case_id}/drafts/{draft_id}/reject")
async def mediator_reject(request: Request, case_id: Id, draft_id: Id):
    form = await _form(request)
    reason = _validated(RejectIn, {"reason": str(form.get("reason") or "")[:4000]}).reason
    _as(request, service.reject, case_id, draft_id, reason)
    return _back(f"/cases/{case_id}#queue")


@router.post("/cases/{case_id}/message")
async def mediator_message(request: Request, case_id: Id):
    form = await _form(request)
    party = form.get("party_id")
    body = _validated(MessageIn, {"party_id": party or None, "text": form.get("text") or ""})
    _as(request, service.send_message, case_id, body)
    return _back(f"/cases/{case_id}#messages")


@router.post("/cases/{case_id}/sign-off")
async def mediator_sign_off(request: Request, case_id: Id):
    await _form(request)
    _as(request, service.sign_off, case_id)
    return _back(f"/cases/{case_id}")


@router.post("/cases/{case_id}/parties/{party_id}/reissue", response_class=HTMLResponse)
async def mediator_reissue(request: Request, case_id: Id, party_id: Id):
    await _form(request)
    invitation = _as(request, service.reissue_invitation, case_id, party_id, request.app.state.public_url,
                     request.app.state.mailer.enabled)
    return _render(request, "created.html", 201, invitations=[invitation], title="New invitation",
                   case_url=f"/cases/{case_id}", reissued=True)


@router.post("/cases/{case_id}/parties/{party_id}/remove")
async def mediator_remove(request: Request, case_id: Id, party_id: Id):
    await _form(request)
    _as(request, service.remove_party, case_id, party_id)
    return _back(f"/cases/{case_id}")


@router.post("/cases/{case_id}/parties/{party_id}/replace", response_class=HTMLResponse)
async def mediator_replace(request: Request, case_id: Id, party_id: Id):
    form = await _form(request)
    body = _validated(ReplaceIn, {"name": str(form.get("name") or "").strip(), "email": form.get("email") or None})
    invitation = _as(request, service.replace_party, case_id, party_id, body.name, request.app.state.public_url,
                     body.email, request.app.state.mailer.enabled)
    return _render(request, "created.html", 201, invitations=[invitation], title="Replacement party",
                   case_url=f"/cases/{case_id}", reissued=True)


@router.get("/cases/{case_id}/agreement", response_class=HTMLResponse)
def mediator_agreement(request: Request, case_id: Id):
    return _render(request, "agreement.html", a=_as(request, service.agreement, case_id, read=True))


@router.get("/cases/{case_id}/agreement.{ext}")
def mediator_agreement_file(request: Request, case_id: Id, ext: str):
    return _agreement_file(request, ext, lambda s, who: service.agreement(s, who, case_id))


def _agreement_file(request: Request, ext: str, read) -> Response:
    """The agreement as a download: PDF or JSON, both with the audit chain's head hash."""
    if ext not in ("pdf", "json"):
        raise ServiceError(404, "the agreement downloads as .pdf or .json")
    data, zone = _as(request, lambda s, who: (read(s, who), service.viewer_zone(s, who)), read=True)
    if ext == "pdf":
        body, media = export.agreement_pdf(request.app.state.templates, data, zone), "application/pdf"
    else:
        body, media = export.agreement_json(data), "application/json"
    return Response(body, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{export.filename(data, ext)}"'})


@router.post("/cases/{case_id}/deadline")
async def mediator_deadline(request: Request, case_id: Id):
    form = await _form(request)
    deadline = None if form.get("clear") else _deadline(request, form)
    body = _validated(DeadlineIn, {"deadline": deadline})
    _as(request, service.set_deadline, case_id, body.deadline)
    return _back(f"/cases/{case_id}")


@router.post("/cases/{case_id}/close")
async def mediator_close(request: Request, case_id: Id):
    form = await _form(request)
    body = _validated(CloseIn, {"reason": str(form.get("reason") or "")[:4000]})
    _as(request, service.close_case, case_id, body.reason)
    return _back(f"/cases/{case_id}")


@router.post("/cases/{case_id}/archive")
async def mediator_archive(request: Request, case_id: Id):
    form = await _form(request)
    _as(request, service.archive_case, case_id, form.get("archived") != "0")
    return _back("/")


@router.post("/settings/timezone")
async def settings_timezone(request: Request):
    form = await _form(request)
    body = _validated(TimezoneIn, {"timezone": str(form.get("timezone") or "")})
    _as(request, service.set_timezone, body.timezone)
    back = str(form.get("back") or "/")
    # Only a path on this site: '//host' or '/\\host' would send the browser elsewhere (an open redirect).
    return _back(back if re.fullmatch(r"/(?![/\\])[\w\-/.?=&]*", back) else "/")


# ---------------------------------------------------------------- party pages


def _party_case(s, who) -> int:
    if who.role != "party":
        raise ServiceError(403, "this page is a party's: mediators open their cases from the home page")
    return who.case_id


@router.get("/p", response_class=HTMLResponse)
def party_page(request: Request):
    def build(s, who):
        cid = _party_case(s, who)
        own = service.own_constraints(s, who, cid)
        return {"case": service.party_view(s, who, cid), "own": own.model_dump() if own else None}
    return _render(request, "party.html", **_as(request, build, read=True))


@router.get("/p/agreement", response_class=HTMLResponse)
def party_agreement(request: Request):
    data = _as(request, lambda s, who: service.agreement(s, who, _party_case(s, who)), read=True)
    return _render(request, "agreement.html", a=data)


@router.get("/p/agreement.{ext}")
def party_agreement_file(request: Request, ext: str):
    return _agreement_file(request, ext, lambda s, who: service.agreement(s, who, _party_case(s, who)))


async def _party_form(request: Request, parse, action) -> None:
    """Read a party's form against its case's issues and hand the parsed body to ``action``, in one transaction."""
    form = await _form(request)

    def submit(s, who):
        cid = _party_case(s, who)
        action(s, who, cid, parse(form, service.issues_of(service.get_case(s, who, cid))))
    _as(request, submit)


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


@router.post("/p/constraints")
async def party_constraints(request: Request):
    await _party_form(request, _constraints_from, service.set_constraints)
    return _back("/p")


@router.post("/p/counter")
async def party_counter(request: Request):
    await _party_form(request, _counter_from, service.counter_propose)
    return _back("/p#packages")


@router.post("/p/packages/{package_id}")
async def party_respond(request: Request, package_id: Id):
    form = await _form(request)
    body = _validated(ResponseIn, {"decision": form.get("decision")})
    _as(request, lambda s, who: service.respond(s, who, _party_case(s, who), package_id, body))
    return _back("/p#packages")


@router.post("/p/passcode")
async def party_passcode(request: Request):
    form = await _form(request)
    request.app.state.limits.check("passcode", request)
    passcode = str(form.get("passcode") or "")
    _as(request, lambda s, who: service.set_passcode(s, who, _party_case(s, who), passcode))
    return _back("/p#passcode")
