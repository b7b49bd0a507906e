"""What the mediation service does, independent of HTTP: the API and the pages both call these.

Every function runs inside one database transaction opened by the caller, and raises
ServiceError (an HTTP status and a message for the user) before writing anything when a request
is not allowed or not valid, so nothing is ever stored half-way.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import TypeAdapter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from parley.mediation import audit, identity, mail, notices
from parley.mediation import meso as meso_lib
from parley.mediation import values
from parley.mediation.db import (AuditEvent, Case, Draft, Mediator, Message, Package, PackageOffer, Party, Response,
                                 as_utc, now)
from parley.mediation.identity import IdentityError, Principal
from parley.mediation.milp import SolverError
from parley.mediation.rationale import RationaleRequest, TemplateWriter, find_leaks
from parley.mediation.schemas import (ApproveIn, CaseCreate, CaseCreated, CaseSummary, Constraints, CounterIn,
                                      Invitation, Issue, MesoRequest, MessageIn, ResponseIn)

_ISSUES = TypeAdapter(list[Issue])


class ServiceError(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def iso(at) -> str | None:
    """A stored time as ISO 8601 in UTC with its offset."""
    return None if at is None else as_utc(at).isoformat()


def _audit(s: Session, case_id: int, actor: str, action: str, **detail) -> None:
    audit.append(s, case_id, actor, action, **detail)


def invitation_link(base_url: str, invitation: str) -> str:
    return f"{base_url}/i/{invitation}"


# ---------------------------------------------------------------- who is asking


def authenticate(s: Session, token: str | None) -> Principal:
    if not token:
        raise ServiceError(401, "not signed in: sign in (mediators) or open your invitation link (parties); "
                                "API clients send 'Authorization: Bearer <session token>'")
    who = identity.principal(s, token)
    if who is None:
        raise ServiceError(401, "your session is not valid (signed out, expired, or the seat was re-issued): "
                                "sign in again, or ask your mediator for a new invitation")
    return who


def get_case(s: Session, who: Principal, case_id: int) -> Case:
    # Another case answers 404 like a missing one: a session reveals nothing about cases it is not for.
    case = s.get(Case, case_id)
    if who.role == "mediator":
        allowed = case is not None and case.mediator_id == who.mediator_id
    else:
        allowed = case is not None and case_id == who.case_id
    if not allowed:
        raise ServiceError(404, f"no case {case_id} for this account")
    return case


def _mediator(s: Session, who: Principal, case_id: int) -> Case:
    case = get_case(s, who, case_id)
    if who.role != "mediator":
        raise ServiceError(403, "only this case's mediator can do that")
    return case


def _party(s: Session, who: Principal, case_id: int) -> tuple[Case, Party]:
    case = get_case(s, who, case_id)
    if who.role != "party":
        raise ServiceError(403, "only a party of this case can do that")
    return case, s.get(Party, who.party_id)


def lock_case(s: Session, case_id: int) -> Case:
    """The case row, locked for this transaction (PostgreSQL; SQLite already holds the write lock).

    populate_existing: the session may already hold this row from an unlocked read, and what counts is
    the row as it is once the lock is ours (another party may have just agreed).
    """
    q = select(Case).where(Case.id == case_id).with_for_update().execution_options(populate_existing=True)
    return s.scalar(q)


def _open(case: Case) -> None:
    if case.status != "open":
        raise ServiceError(409, f"the case is {case.status}: it takes no more proposals or responses")


def issues_of(case: Case) -> list:
    return _ISSUES.validate_python(case.issues)


def constraints_of(party: Party) -> Constraints | None:
    return Constraints.model_validate(party.constraints) if party.constraints else None


def identity_call(fn, *args, **kw):
    """An identity function with its errors as ServiceErrors (one error type for the HTTP layers)."""
    try:
        return fn(*args, **kw)
    except IdentityError as exc:
        raise ServiceError(exc.status, exc.message) from None


# ---------------------------------------------------------------- cases


def _require_mediator(who: Principal) -> None:
    if who.role != "mediator":
        raise ServiceError(403, "only a signed-in mediator can do that")


def _invite(s: Session, case: Case, party: Party, base_url: str, mailing: bool) -> Invitation:
    """A fresh invitation for the seat: e-mailed to the party when the server can and has its address (then
    nobody else ever sees it), else returned for the mediator to pass on."""
    secret = identity.issue_invitation(s, party)
    s.flush()
    link = invitation_link(base_url, secret)
    if mailing and party.email:
        mail.queue(s, party.email, f"Your seat in the mediation case \u201c{case.title}\u201d",
                   notices.invitation(case.title, party.name, link))
        _audit(s, case.id, "system", "invitation_emailed", party_id=party.id)
        return Invitation(party_id=party.id, name=party.name, emailed_to=mask_email(party.email))
    return Invitation(party_id=party.id, name=party.name, invitation=secret, link=link)


def mask_email(address: str) -> str:
    user, _, domain = address.partition("@")
    return f"{user[:1]}***@{domain}"


def create_case(s: Session, who: Principal, body: CaseCreate, base_url: str, mailing: bool = False) -> CaseCreated:
    _require_mediator(who)
    case = Case(title=body.title, issues=[i.model_dump() for i in body.issues], mediator_id=who.mediator_id,
                deadline=as_utc(body.deadline))
    s.add(case)
    s.flush()
    parties = []
    for p in body.parties:
        party = Party(case_id=case.id, name=p.name, email=p.email)
        s.add(party)
        parties.append(party)
    s.flush()
    _audit(s, case.id, who.actor, "case_created", title=body.title, parties=[p.name for p in body.parties],
           issues=[i.name for i in body.issues], deadline=iso(body.deadline))
    invitations = [_invite(s, case, party, base_url, mailing) for party in parties]
    return CaseCreated(case_id=case.id, parties=invitations)


def list_cases(s: Session, who: Principal, archived: bool = False) -> list[CaseSummary]:
    """The mediator's dashboard: every case with its parties' progress and its last activity."""
    _require_mediator(who)
    q = select(Case).where(Case.mediator_id == who.mediator_id)
    q = q.where(Case.archived_at.is_not(None) if archived else Case.archived_at.is_(None))
    cases = list(s.scalars(q.order_by(Case.id.desc())))
    ids = [c.id for c in cases]
    last = dict(s.execute(select(AuditEvent.case_id, func.max(AuditEvent.at)).where(AuditEvent.case_id.in_(ids))
                          .group_by(AuditEvent.case_id)).all()) if ids else {}
    pending = dict(s.execute(select(Draft.case_id, func.count()).where(Draft.case_id.in_(ids), Draft.status == "pending")
                             .group_by(Draft.case_id)).all()) if ids else {}
    seats: dict[int, list[Party]] = {}
    for p in s.scalars(select(Party).where(Party.case_id.in_(ids), Party.removed_at.is_(None))) if ids else []:
        seats.setdefault(p.case_id, []).append(p)
    return [CaseSummary(id=c.id, title=c.title, status=c.status, created_at=iso(c.created_at), deadline=iso(c.deadline),
                        parties=len(seats.get(c.id, [])),
                        claimed=sum(p.claimed_at is not None for p in seats.get(c.id, [])),
                        constraints_entered=sum(p.constraints is not None for p in seats.get(c.id, [])),
                        pending_drafts=pending.get(c.id, 0), last_activity=iso(last.get(c.id) or c.created_at),
                        archived=c.archived_at is not None)
            for c in cases]


def set_deadline(s: Session, who: Principal, case_id: int, deadline) -> None:
    case = _mediator(s, who, case_id)
    _open(case)
    # SQLite would keep the wall-clock digits and drop the offset: store UTC.
    case.deadline, case.reminded_at = as_utc(deadline), None
    _audit(s, case.id, who.actor, "deadline_set", deadline=iso(deadline))


def close_case(s: Session, who: Principal, case_id: int, reason: str) -> None:
    """End a case without an agreement: it takes no more proposals or answers."""
    case = lock_case(s, _mediator(s, who, case_id).id)
    _open(case)
    case.status, case.closed_at = "closed", now()
    _audit(s, case.id, who.actor, "case_closed", reason=reason)
    for p in _parties(s, case.id):
        mail.queue(s, p.email, f"The mediation case \u201c{case.title}\u201d was closed",
                   notices.closed(case.title, reason))


def archive_case(s: Session, who: Principal, case_id: int, archived: bool) -> None:
    """Take a case off (or back onto) the dashboard; nothing else changes."""
    case = _mediator(s, who, case_id)
    case.archived_at = now() if archived else None
    _audit(s, case.id, who.actor, "case_archived" if archived else "case_unarchived")


def set_timezone(s: Session, who: Principal, zone: str) -> None:
    """The zone this person's pages show times in (an IANA name such as Europe/Berlin)."""
    check_zone(zone)
    if who.role == "mediator":
        s.get(Mediator, who.mediator_id).timezone = zone
    else:
        s.get(Party, who.party_id).timezone = zone


def viewer_zone(s: Session, who: Principal | None) -> str:
    if who is None:
        return "UTC"
    row = s.get(Mediator, who.mediator_id) if who.role == "mediator" else s.get(Party, who.party_id)
    return (row.timezone if row is not None else None) or "UTC"


def check_zone(zone: str) -> str:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ServiceError(422, f"timezone: {zone!r} is not a time zone; write a name such as Europe/Berlin or UTC") from None
    return zone


def due_reminders(s: Session, base_url: str, at=None, ahead=timedelta(hours=24)) -> int:
    """Queue one reminder per open case whose deadline is within ``ahead`` (to every party and the mediator)."""
    at = at or now()
    cases = s.scalars(select(Case).where(Case.status == "open", Case.deadline.is_not(None), Case.reminded_at.is_(None))
                      .with_for_update())
    sent = 0
    for case in cases:
        deadline = as_utc(case.deadline)
        if not at <= deadline <= at + ahead:
            continue
        mediator = s.get(Mediator, case.mediator_id) if case.mediator_id else None
        for p in _parties(s, case.id):
            zone = p.timezone or "UTC"
            mail.queue(s, p.email, f"Deadline near: \u201c{case.title}\u201d",
                       notices.reminder(case.title, deadline.astimezone(ZoneInfo(zone)), f"{base_url}/p"))
        if mediator is not None:
            mail.queue(s, mediator.email, f"Deadline near: \u201c{case.title}\u201d",
                       notices.reminder(case.title, deadline.astimezone(ZoneInfo(mediator.timezone or "UTC")),
                                        f"{base_url}/cases/{case.id}"))
        case.reminded_at = at
        _audit(s, case.id, "system", "deadline_reminder_sent", deadline=iso(deadline))
        sent += 1
    return sent


def _by_package(s: Session, model, case_id: int) -> dict[int, list]:
    """Every row of ``model`` (Response or PackageOffer) in a case, by package, in one query (a view lists them all)."""
    by_package: dict[int, list] = {}
    q = select(model).join(Package, Package.id == model.package_id).where(Package.case_id == case_id)
    for row in s.scalars(q.order_by(model.id)):
        by_package.setdefault(row.package_id, []).append(row)
    return by_package


def _responses(s: Session, case_id: int) -> dict[int, list[Response]]:
    return _by_package(s, Response, case_id)


def _offers(s: Session, case_id: int) -> dict[int, list[PackageOffer]]:
    return _by_package(s, PackageOffer, case_id)


def _package_out(s: Session, pkg: Package, names: dict[int, str], responses: dict | None = None,
                 offers: dict | None = None) -> dict:
    responses = (responses if responses is not None else _responses(s, pkg.case_id)).get(pkg.id, [])
    offers = (offers if offers is not None else _offers(s, pkg.case_id)).get(pkg.id, [])
    return {"id": pkg.id, "terms": pkg.terms, "source": pkg.source,
            "offered_to": sorted({names[o.party_id] for o in offers}),
            "responses": [{"party": names[r.party_id], "decision": r.decision, "rank": r.rank} for r in responses]}


def _parties(s: Session, case_id: int, removed: bool = False) -> list[Party]:
    """The case's seats: the active ones (they negotiate and must all agree), or with ``removed`` every seat ever."""
    q = select(Party).where(Party.case_id == case_id)
    if not removed:
        q = q.where(Party.removed_at.is_(None))
    return list(s.scalars(q.order_by(Party.id)))


def _names(s: Session, case_id: int) -> dict[int, str]:
    return _names_of(_parties(s, case_id, removed=True))


def _names_of(seats: list[Party]) -> dict[int, str]:
    """Every seat's name (a removed one marked), for showing what it did while it was in the case."""
    return {p.id: p.name + (" (removed)" if p.removed_at else "") for p in seats}


def _packages(s: Session, case_id: int) -> list[Package]:
    return list(s.scalars(select(Package).where(Package.case_id == case_id).order_by(Package.id)))


def _draft_out(d: Draft, names: dict[int, str]) -> dict:
    payload = dict(d.payload)
    return {"id": d.id, "kind": d.kind, "status": d.status, "party": names.get(d.party_id), "author": d.author,
            "leak_blocked": d.leak_blocked, "payload": payload, "review_note": d.review_note,
            "created_at": iso(d.created_at), "reviewed_at": iso(d.reviewed_at)}


def mediator_view(s: Session, who: Principal, case_id: int) -> dict:
    case = _mediator(s, who, case_id)
    seats = _parties(s, case.id, removed=True)
    parties, names = [p for p in seats if p.removed_at is None], _names_of(seats)
    drafts = s.scalars(select(Draft).where(Draft.case_id == case.id).order_by(Draft.id)).all()
    responses, offers = _responses(s, case.id), _offers(s, case.id)
    return {
        "id": case.id, "title": case.title, "status": case.status, "issues": case.issues,
        "deadline": iso(case.deadline),
        "agreement_package_id": case.agreement_package_id,
        # Per seat the mediator sees invited / claimed / constraints entered: never the constraints themselves.
        "parties": [{"id": p.id, "name": p.name, "seat": identity.seat_state(p),
                     "constraints_entered": p.constraints is not None} for p in parties],
        "removed_parties": [{"id": p.id, "name": p.name} for p in seats if p.removed_at is not None],
        "drafts": [_draft_out(d, names) for d in drafts],
        "packages": [_package_out(s, pkg, names, responses, offers) for pkg in _packages(s, case.id)],
        "messages": _messages(s, case.id, None, names),
    }


def _messages(s: Session, case_id: int, party_id: int | None, names: dict) -> list[dict]:
    q = select(Message).where(Message.case_id == case_id)
    if party_id is not None:
        q = q.where((Message.party_id == party_id) | (Message.party_id.is_(None)))
    return [{"id": m.id, "to": names.get(m.party_id, "everyone"), "text": m.text, "source": m.source,
             "ai_drafted": m.source.startswith("ai:"), "at": iso(m.at)} for m in s.scalars(q.order_by(Message.id))]


def party_view(s: Session, who: Principal, case_id: int) -> dict:
    case, party = _party(s, who, case_id)
    seats = _parties(s, case.id, removed=True)
    parties, names = [p for p in seats if p.removed_at is None], _names_of(seats)
    issues = issues_of(case)
    own = constraints_of(party)
    packages = []
    responses, offers = _responses(s, case.id), _offers(s, case.id)
    authors = dict(s.execute(select(Draft.id, Draft.author).where(Draft.case_id == case.id)).all())
    for pkg in _packages(s, case.id):
        out = _package_out(s, pkg, names, responses, offers)
        # A rationale speaks to its addressee only: a party reads those of the offers made to it.
        mine = [o for o in offers.get(pkg.id, []) if o.party_id == party.id and o.rationale]
        out["rationale"] = "\n\n".join(o.rationale for o in mine)
        # Transparency (EU AI Act Art. 50): text an AI drafted is labelled as such, and as reviewed by the mediator.
        out["rationale_ai_drafted"] = any(authors.get(o.draft_id, "").startswith("ai:") for o in mine)
        out["value_to_you"] = round(values.package_value(issues, own, pkg.terms) or 0.0, 3) if own else None
        packages.append(out)
    return {
        "id": case.id, "title": case.title, "status": case.status, "issues": case.issues,
        "deadline": iso(case.deadline),
        "you": {"id": party.id, "name": party.name, "constraints_entered": own is not None,
                "passcode_set": party.passcode_hash is not None},
        "parties": [p.name for p in parties],
        "agreement_package_id": case.agreement_package_id,
        "packages": packages,
        "messages": _messages(s, case.id, party.id, names),
    }


# ---------------------------------------------------------------- private constraints


def set_constraints(s: Session, who: Principal, case_id: int, body: Constraints) -> None:
    case, party = _party(s, who, case_id)
    _open(case)
    try:
        values.check_constraints(issues_of(case), body)
    except ValueError as exc:
        raise ServiceError(422, f"constraints: {exc}") from None
    party.constraints = body.model_dump()
    party.constraints_at = now()
    _audit(s, case.id, who.actor, "constraints_entered")  # that they changed, never the values


def own_constraints(s: Session, who: Principal, case_id: int) -> Constraints | None:
    return constraints_of(_party(s, who, case_id)[1])


def get_constraints(s: Session, who: Principal, case_id: int) -> Constraints:
    own = own_constraints(s, who, case_id)
    if own is None:
        raise ServiceError(404, "you have not entered constraints yet")
    return own


# ---------------------------------------------------------------- the AI mediator (drafts only)


def constraints_basis(parties: list[Party]) -> str:
    """A fingerprint of which seats are active and when each last changed its constraints (never the values):
    a MESO computed on one basis is stale once the basis changes."""
    stamp = [[p.id, iso(p.constraints_at)] for p in parties]
    return hashlib.sha256(json.dumps(stamp).encode()).hexdigest()


@dataclass
class MesoPlan:
    """Everything a MESO needs, read in one short transaction, so the solver and the writer run with no lock held."""

    case_id: int
    title: str
    issues: list
    target_id: int
    target_name: str
    names: dict[int, str]
    constraints: dict[int, Constraints]
    basis: str
    seed: int
    body: MesoRequest
    offer: meso_lib.Meso | None = None
    requests: list[RationaleRequest] = field(default_factory=list)


def plan_meso(s: Session, who: Principal, case_id: int, body: MesoRequest) -> MesoPlan:
    case = _mediator(s, who, case_id)
    _open(case)
    parties = _parties(s, case.id)
    target = next((p for p in parties if p.id == body.party_id), None)
    if target is None:
        raise ServiceError(422, f"party {body.party_id} is not in this case")
    missing = [p.name for p in parties if p.constraints is None]
    if missing:
        raise ServiceError(409, f"waiting for constraints from: {', '.join(missing)}")
    seed = s.scalar(select(func.count()).select_from(Draft).where(Draft.case_id == case.id)) or 0
    return MesoPlan(case.id, case.title, issues_of(case), target.id, target.name, {p.id: p.name for p in parties},
                    {p.id: constraints_of(p) for p in parties}, constraints_basis(parties), seed, body)


def compute_meso(plan: MesoPlan) -> MesoPlan:
    """The packages (no database, no lock): fills ``plan.offer`` and the rationale requests."""
    body = plan.body
    try:
        offer = meso_lib.generate_meso(plan.issues, plan.constraints, plan.target_id, body.count, body.tolerance,
                                       rule=body.rule, privacy_margin=body.privacy_margin)
    except meso_lib.NoAcceptablePackage as exc:
        raise ServiceError(409, f"no MESO for {plan.target_name}: {meso_lib.describe_infeasible(exc, plan.names)}") from None
    except meso_lib.MesoError as exc:
        raise ServiceError(409, f"no MESO for {plan.target_name}: {exc}") from None
    except SolverError as exc:
        raise ServiceError(503, f"{exc}; try again, or change the tolerance") from None
    plan.offer = offer
    plan.requests = [RationaleRequest(
        case_title=plan.title, party=plan.target_name, terms=p.terms,
        favours=[n for n, v in p.issue_values.items() if v >= 0.67],
        concedes=[n for n, v in p.issue_values.items() if v <= 0.33]) for p in offer.packages]
    return plan


def store_meso(s: Session, who: Principal, plan: MesoPlan, texts: list[str], writer_name: str) -> dict:
    """The draft, in one short write transaction, if nothing it was computed from changed meanwhile."""
    case = _mediator(s, who, plan.case_id)
    case = lock_case(s, case.id)
    _open(case)
    if constraints_basis(_parties(s, case.id)) != plan.basis:
        raise ServiceError(409, "a party changed its constraints (or the parties changed) while this MESO was being "
                                "drafted: draft it again")
    offer, issues = plan.offer, plan.issues
    fallback = TemplateWriter().write(plan.requests)
    texts = list(texts)
    public = {float(v) for p in offer.packages for v in p.terms.values() if not isinstance(v, str)}
    public |= {float(x) for i in issues if i.kind == "numeric" for x in (i.min, i.max)}
    others = [c for pid, c in plan.constraints.items() if pid != plan.target_id]
    leaks = []
    for k, text in enumerate(texts):
        found = find_leaks(text, others, public)
        if found:
            leaks.append(k)
            texts[k] = fallback[k]
    payload = {"tolerance": offer.tolerance, "spread": round(offer.spread, 4), "writer": writer_name,
               "rule": offer.rule, "band": [round(offer.low, 4), round(offer.high, 4)],
               "privacy_margin": offer.privacy_margin, "notes": offer.notes, "basis": plan.basis,
               # What the mediator weighs before approving: aggregates of values, never a party's own numbers.
               "packages": [{"terms": p.terms, "rationale": t, "value": round(p.value, 4), "efficient": p.efficient,
                             "favours": p.favours, "others_gain_sum": round(p.others_gain_sum, 4),
                             "others_gain_min": round(p.others_gain_min, 4)}
                            for p, t in zip(offer.packages, texts)]}
    draft = Draft(case_id=case.id, kind="meso", party_id=plan.target_id, author=f"ai:{writer_name}", payload=payload,
                  leak_blocked=bool(leaks))
    s.add(draft)
    s.flush()
    # The AI's text is in the log as written (after leak blocking), so an edit before approval can be compared to it.
    _audit(s, case.id, f"ai:{writer_name}", "meso_drafted", draft_id=draft.id, party=plan.target_name,
           packages=len(offer.packages), tolerance=offer.tolerance, rule=offer.rule, privacy_margin=offer.privacy_margin,
           rationales=texts, requested_by=who.actor)
    if leaks:
        # The blocked text stays out of the draft; the audit records that (and which package) without the numbers.
        _audit(s, case.id, "system", "leak_blocked", draft_id=draft.id, packages=leaks)
    return _draft_out(draft, _names(s, case.id))


def record_failed_draft(s: Session, who: Principal, case_id: int, party: str, writer_name: str, reason: str) -> None:
    _mediator(s, who, case_id)
    _audit(s, case_id, f"ai:{writer_name}", "meso_draft_failed", party=party, reason=reason, requested_by=who.actor)


def review_queue(s: Session, who: Principal, case_id: int, status: str | None = "pending") -> list[dict]:
    case = _mediator(s, who, case_id)
    q = select(Draft).where(Draft.case_id == case.id)
    if status:
        q = q.where(Draft.status == status)
    names = _names(s, case.id)
    return [_draft_out(d, names) for d in s.scalars(q.order_by(Draft.id))]


def _pending_draft(s: Session, case: Case, draft_id: int) -> Draft:
    draft = s.scalar(select(Draft).where(Draft.id == draft_id, Draft.case_id == case.id).with_for_update())
    if draft is None:
        raise ServiceError(404, f"no draft {draft_id} in this case")
    if draft.status != "pending":
        raise ServiceError(409, f"draft {draft_id} was already {draft.status}")
    return draft


def approve(s: Session, who: Principal, case_id: int, draft_id: int, body: ApproveIn) -> dict:
    _mediator(s, who, case_id)
    case = lock_case(s, case_id)  # a counter with terms others accepted can complete an agreement
    _open(case)
    draft = _pending_draft(s, case, draft_id)
    parties = _parties(s, case.id)
    if draft.party_id not in {p.id for p in parties}:
        raise ServiceError(409, f"draft {draft_id} is for a party no longer in the case: reject it")
    edits = {}
    if draft.kind == "meso":
        if draft.payload.get("basis") != constraints_basis(parties):
            raise ServiceError(409, f"draft {draft_id} was computed before a party changed its constraints (or the "
                                    "parties changed): its packages may no longer be acceptable or equivalent. "
                                    "Reject it and draft a new MESO")
        packages = draft.payload["packages"]
        if body.rationales is not None:
            if len(body.rationales) != len(packages):
                raise ServiceError(422, f"give one rationale per package ({len(packages)}), got {len(body.rationales)}")
            # The AI's original text stays beside the edit (ai_rationale), and both go into the audit log.
            packages = [{**p, "ai_rationale": p.get("ai_rationale", p["rationale"]), "rationale": r}
                        for p, r in zip(packages, body.rationales)]
            changed = [k for k, p in enumerate(packages) if p["rationale"] != p["ai_rationale"]]
            if changed:
                edits = {"edited_packages": changed, "ai_texts": [packages[k]["ai_rationale"] for k in changed],
                         "approved_texts": [packages[k]["rationale"] for k in changed]}
            draft.payload = {**draft.payload, "packages": packages}
        issues = issues_of(case)
        for p in packages:
            pkg = _package_for(s, case, issues, p["terms"], draft, "meso", who)
            s.add(PackageOffer(package_id=pkg.id, party_id=draft.party_id, draft_id=draft.id, rationale=p["rationale"]))
    elif draft.kind == "counter":
        pkg = _package_for(s, case, issues_of(case), draft.payload["terms"], draft, "counter", who)
        # Its author's own proposal counts as the author's accept, unless the author already answered these terms.
        if not s.scalar(select(Response).where(Response.package_id == pkg.id, Response.party_id == draft.party_id)):
            s.add(Response(package_id=pkg.id, party_id=draft.party_id, decision="accept"))
            _audit(s, case.id, f"party:{draft.party_id}", "package_accepted", package_id=pkg.id,
                   by="their counter-proposal, approved by the mediator")
        if draft.payload.get("note") or body.text is not None:
            text = body.text if body.text is not None else draft.payload["note"]
            if body.text is not None and body.text != draft.payload.get("note"):
                edits = {"original_note": draft.payload.get("note"), "approved_note": body.text}
                draft.payload = {**draft.payload, "approved_note": body.text}
            s.add(Message(case_id=case.id, party_id=None, text=text, source=draft.author))
    draft.status = "approved"
    draft.reviewed_at = now()
    _audit(s, case.id, who.actor, "draft_approved", draft_id=draft.id, kind=draft.kind, edited=bool(edits), **edits)
    for p in parties:  # a MESO is news to its addressee; a counter-proposal to everyone but its author
        if (p.id == draft.party_id) == (draft.kind == "meso"):
            mail.queue(s, p.email, f"New proposals in \u201c{case.title}\u201d", notices.proposals(case.title))
    s.flush()
    _check_agreement(s, case)
    return _draft_out(draft, _names(s, case.id))


def _package_for(s: Session, case: Case, issues: list, terms: dict, draft: Draft, source: str,
                 who: Principal) -> Package:
    """The case's package with these terms: the one already on the table, or a new one."""
    key = values.terms_key(issues, terms)
    pkg = s.scalar(select(Package).where(Package.case_id == case.id, Package.terms_key == key).order_by(Package.id))
    if pkg is None:
        pkg = Package(case_id=case.id, draft_id=draft.id, terms=values.canonical_terms(issues, terms), terms_key=key,
                      source=source)
        s.add(pkg)
        s.flush()
        _audit(s, case.id, who.actor, "package_tabled", package_id=pkg.id, draft_id=draft.id, terms=pkg.terms)
    return pkg


def reject(s: Session, who: Principal, case_id: int, draft_id: int, reason: str) -> dict:
    case = _mediator(s, who, case_id)
    draft = _pending_draft(s, case, draft_id)
    draft.status = "rejected"
    draft.review_note = reason
    draft.reviewed_at = now()
    _audit(s, case.id, who.actor, "draft_rejected", draft_id=draft.id, kind=draft.kind, reason=reason)
    return _draft_out(draft, _names(s, case.id))


def send_message(s: Session, who: Principal, case_id: int, body: MessageIn) -> None:
    """A message the mediator writes: a person's words, so it needs no review."""
    case = _mediator(s, who, case_id)
    if body.party_id is not None and body.party_id not in {p.id for p in _parties(s, case.id)}:
        raise ServiceError(422, f"party {body.party_id} is not in this case")
    s.add(Message(case_id=case.id, party_id=body.party_id, text=body.text, source="mediator"))
    _audit(s, case.id, who.actor, "message_sent", to=body.party_id)


# ---------------------------------------------------------------- parties respond


def respond(s: Session, who: Principal, case_id: int, package_id: int, body: ResponseIn) -> dict:
    """A party's answer to a package; it may change its mind until the case has an agreement (audited)."""
    _, party = _party(s, who, case_id)
    case = lock_case(s, case_id)  # two parties accepting at once: one waits, then sees the other's answer
    _open(case)
    pkg = s.scalar(select(Package).where(Package.id == package_id, Package.case_id == case.id))
    if pkg is None:
        raise ServiceError(404, f"no package {package_id} in this case")
    same_terms = select(Package.id).where(Package.case_id == case.id, Package.terms_key == pkg.terms_key)
    earlier = s.scalar(select(Response).where(Response.package_id.in_(same_terms), Response.party_id == party.id))
    if earlier is not None:
        if (earlier.decision, earlier.rank) == (body.decision, body.rank):
            return {"status": case.status, "agreement_package_id": case.agreement_package_id}  # a repeat: no change
        _audit(s, case.id, who.actor, "package_response_changed", package_id=earlier.package_id,
               before=earlier.decision, after=body.decision, rank=body.rank)
        earlier.decision, earlier.rank, earlier.changed_at = body.decision, body.rank, now()
    else:
        s.add(Response(package_id=pkg.id, party_id=party.id, decision=body.decision, rank=body.rank))
        _audit(s, case.id, who.actor, f"package_{body.decision}ed", package_id=pkg.id, rank=body.rank)
    s.flush()
    _check_agreement(s, case)
    return {"status": case.status, "agreement_package_id": case.agreement_package_id}


def _check_agreement(s: Session, case: Case) -> None:
    if case.status != "open":
        return
    active = [p.id for p in _parties(s, case.id)]
    n_parties = len(active)
    # Agreement is on terms: every active party accepted a package with the same terms (packages stored before
    # terms were merged may repeat terms under two ids). A removed party's answers no longer count.
    q = (select(Package.terms_key).join(Response, Response.package_id == Package.id)
         .where(Package.case_id == case.id, Response.decision == "accept", Response.party_id.in_(active))
         .group_by(Package.terms_key).having(func.count(func.distinct(Response.party_id)) == n_parties)
         .order_by(func.min(Package.id)))
    agreed = s.scalars(q).first()
    if agreed is not None:
        pkg = s.scalar(select(Package).where(Package.case_id == case.id, Package.terms_key == agreed).order_by(Package.id))
        case.status, case.agreement_package_id, case.agreed_at = "agreed", pkg.id, now()
        _audit(s, case.id, "system", "agreement_reached", package_id=pkg.id, terms=pkg.terms)
        mediator = s.get(Mediator, case.mediator_id) if case.mediator_id else None
        for to in [p.email for p in _parties(s, case.id)] + [mediator.email if mediator else None]:
            mail.queue(s, to, f"Agreement in \u201c{case.title}\u201d", notices.agreement(case.title))


def counter_propose(s: Session, who: Principal, case_id: int, body: CounterIn) -> dict:
    case, party = _party(s, who, case_id)
    _open(case)
    try:
        values.check_terms(issues_of(case), body.terms)
    except ValueError as exc:
        raise ServiceError(422, f"counter-proposal: {exc}") from None
    draft = Draft(case_id=case.id, kind="counter", party_id=party.id, author=who.actor,
                  payload={"terms": body.terms, "note": body.note})
    s.add(draft)
    s.flush()
    _audit(s, case.id, who.actor, "counter_proposed", draft_id=draft.id)
    return {"draft_id": draft.id, "status": "pending review"}


# ---------------------------------------------------------------- seats (the mediator manages, never enters)


def _seat(s: Session, who: Principal, case_id: int, party_id: int) -> tuple[Case, Party]:
    case = _mediator(s, who, case_id)
    party = s.get(Party, party_id)
    if party is None or party.case_id != case.id or party.removed_at is not None:
        raise ServiceError(404, f"no party {party_id} in this case")
    return case, party


def reissue_invitation(s: Session, who: Principal, case_id: int, party_id: int, base_url: str,
                       mailing: bool = False) -> Invitation:
    """A new invitation for a seat: the old one and every session on the seat stop working, and the seat's
    constraints and passcode are cleared, so whoever claims the new invitation (even the mediator) learns nothing."""
    case, party = _seat(s, who, case_id, party_id)
    ended = identity.end_seat_sessions(s, party.id)
    had_constraints = party.constraints is not None
    party.constraints, party.constraints_at, party.passcode_hash = None, (now() if had_constraints else None), None
    _audit(s, case.id, who.actor, "invitation_reissued", party_id=party.id, sessions_ended=ended,
           constraints_cleared=had_constraints)
    return _invite(s, case, party, base_url, mailing)


def remove_party(s: Session, who: Principal, case_id: int, party_id: int) -> None:
    """Take a seat out of the case before an agreement: its sessions end, its constraints are deleted, and its
    answers stop counting (kept on the record, marked removed)."""
    case, party = _seat(s, who, case_id, party_id)
    case = lock_case(s, case.id)
    _open(case)
    if len(_parties(s, case.id)) <= 2:
        raise ServiceError(409, "a case needs at least two parties: replace this party instead of removing it")
    _vacate(s, party)
    _audit(s, case.id, who.actor, "party_removed", party_id=party.id, name=party.name)
    _check_agreement(s, case)  # the others may all have accepted already


def replace_party(s: Session, who: Principal, case_id: int, party_id: int, name: str, base_url: str,
                  email: str | None = None, mailing: bool = False) -> Invitation:
    """A new seat (new name, new invitation) in place of one that leaves before an agreement."""
    case, party = _seat(s, who, case_id, party_id)
    case = lock_case(s, case.id)
    _open(case)
    if name in {p.name for p in _parties(s, case.id) if p.id != party.id}:
        raise ServiceError(422, f"name: another party is already called {name!r}")
    _vacate(s, party)
    new = Party(case_id=case.id, name=name, email=email)
    s.add(new)
    s.flush()
    _audit(s, case.id, who.actor, "party_replaced", party_id=party.id, name=party.name, new_party_id=new.id,
           new_name=name)
    return _invite(s, case, new, base_url, mailing)


def _vacate(s: Session, party: Party) -> None:
    identity.end_seat_sessions(s, party.id)
    party.removed_at, party.invite_hash, party.passcode_hash = now(), None, None
    party.constraints, party.constraints_at = None, now()


def claim_seat(s: Session, invitation: str, by: Principal | None = None) -> tuple[Party, str]:
    party, secret = identity_call(identity.claim, s, invitation, by)
    _audit(s, party.case_id, f"party:{party.id}", "seat_claimed")
    return party, secret


def set_passcode(s: Session, who: Principal, case_id: int, passcode: str) -> None:
    case, party = _party(s, who, case_id)
    identity_call(identity.set_passcode, s, party, passcode)
    _audit(s, case.id, who.actor, "passcode_set")


def passcode_login(s: Session, case_id: int, party_id: int, passcode: str) -> tuple[Party, str]:
    party, secret = identity_call(identity.passcode_login, s, case_id, party_id, passcode)
    _audit(s, party.case_id, f"party:{party.id}", "seat_opened_with_passcode")
    return party, secret


# ---------------------------------------------------------------- closing the case


def sign_off(s: Session, who: Principal, case_id: int) -> None:
    case = _mediator(s, who, case_id)
    if case.status != "agreed":
        raise ServiceError(409, f"the case is {case.status}: sign-off needs an agreement that every party accepted")
    case.status, case.signed_at = "signed", now()
    _audit(s, case.id, who.actor, "agreement_signed", package_id=case.agreement_package_id)


def agreement(s: Session, who: Principal, case_id: int) -> dict:
    """The agreed terms, who accepted them when, and the audit chain's head at this moment (so that an
    exported copy can be checked against the log later)."""
    case = get_case(s, who, case_id)
    if case.status not in ("agreed", "signed"):
        raise ServiceError(409, "there is no agreement yet")
    pkg = s.get(Package, case.agreement_package_id)
    same_terms = select(Package.id).where(Package.case_id == case.id, Package.terms_key == pkg.terms_key)
    responses = s.scalars(select(Response).where(Response.package_id.in_(same_terms), Response.decision == "accept")
                          .order_by(Response.id)).all()
    names = _names(s, case.id)
    chain = audit.verify_case(s, case.id)
    return {"case_id": case.id, "title": case.title, "status": case.status, "issues": case.issues, "terms": pkg.terms,
            "accepted": [{"party": names[r.party_id], "at": iso(r.changed_at or r.at)} for r in responses],
            "agreed_at": iso(case.agreed_at),
            "signed_at": iso(case.signed_at),
            "audit": {"events": chain.events, "head_hash": chain.head, "intact": chain.broken is None}}


def audit_log(s: Session, who: Principal, case_id: int) -> list[dict]:
    case = _mediator(s, who, case_id)
    events = s.scalars(select(AuditEvent).where(AuditEvent.case_id == case.id).order_by(AuditEvent.id))
    names = {f"party:{pid}": f"{name} (party {pid})" for pid, name in _names(s, case.id).items()}
    names[who.actor] = "mediator (you)"
    return [{"id": e.id, "seq": e.seq, "at": iso(e.at), "actor": e.actor, "actor_name": names.get(e.actor, e.actor),
             "action": e.action, "detail": e.detail, "hash": e.hash} for e in events]


def validation_message(errors: list[dict], skip: int = 0) -> str:
    """One readable line naming each bad field (``skip`` drops leading location parts, such as 'body')."""
    return "; ".join(f"{'.'.join(str(x) for x in e['loc'][skip:]) or 'body'}: {e['msg']}" for e in errors)
