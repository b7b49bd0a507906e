"""The tamper-evident audit log: each case's events form a hash chain.

Every row carries ``hash = sha256(canonical content + prev_hash)``, where ``prev_hash`` is the hash of
the case's previous row, and a sequence number 1, 2, ... within the case (unique). Changing,
deleting, inserting or reordering a row therefore breaks the chain at that row, which
``verify`` (and ``parley audit verify``) finds and names.

What a chain cannot show on its own: someone with write access who deletes the *last* rows of a case,
or rewrites a row and recomputes every hash after it. ``verify`` prints each case's head hash so that
it can be kept elsewhere (a ticket, an e-mail to the parties); a later verify against that copy shows
either. The database triggers and the PostgreSQL grants stop the service's own account from doing
any of this in the first place.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from parley.mediation.db import AuditEvent, Case, as_utc, now

GENESIS = "0" * 64


def _utc(at: datetime) -> str:
    return as_utc(at).isoformat(timespec="microseconds")


def row_hash(case_id: int, seq: int, at: datetime, actor: str, action: str, detail: dict, prev_hash: str) -> str:
    content = json.dumps({"case": case_id, "seq": seq, "at": _utc(at), "actor": actor, "action": action,
                          "detail": detail, "prev": prev_hash}, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(content.encode()).hexdigest()


def append(s: Session, case_id: int, actor: str, action: str, **detail) -> AuditEvent:
    """Add one event at the head of the case's chain.

    The case row is locked first (PostgreSQL; SQLite's write transactions are already serial), so two
    requests on one case cannot both extend the same head; the unique (case_id, seq) would refuse it anyway.
    """
    s.scalar(select(Case.id).where(Case.id == case_id).with_for_update())
    s.flush()  # events added earlier in this transaction are part of the chain
    head = s.scalar(select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.seq.desc()).limit(1))
    seq, prev = (head.seq + 1, head.hash) if head is not None else (1, GENESIS)
    at = now()
    detail = json.loads(json.dumps(detail, default=str))  # exactly what the JSON column will give back
    event = AuditEvent(case_id=case_id, seq=seq, at=at, actor=actor, action=action, detail=detail, prev_hash=prev,
                       hash=row_hash(case_id, seq, at, actor, action, detail, prev))
    s.add(event)
    s.flush()
    return event


@dataclass
class Break:
    case_id: int
    row_id: int | None
    seq: int | None
    reason: str

    def __str__(self) -> str:
        where = f"row id {self.row_id} (case {self.case_id}, seq {self.seq})" if self.row_id is not None \
            else f"case {self.case_id}"
        return f"{where}: {self.reason}"


@dataclass
class CaseChain:
    case_id: int
    events: int
    head: str
    broken: Break | None


def verify_case(s: Session, case_id: int) -> CaseChain:
    """Walk the case's events in sequence order; the first row that does not follow is the break."""
    rows = list(s.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.seq, AuditEvent.id)))
    prev, expected_seq, last_id = GENESIS, 1, None
    for e in rows:
        problem = None
        if e.seq != expected_seq:
            problem = f"sequence number {e.seq} where {expected_seq} was expected (a row was deleted or inserted)"
        elif e.prev_hash != prev:
            problem = "its prev_hash is not the previous row's hash (rows were reordered, replaced or removed)"
        elif last_id is not None and e.id < last_id:
            problem = "it was stored before the row it follows (rows were reordered)"
        elif row_hash(e.case_id, e.seq, e.at, e.actor, e.action, e.detail or {}, e.prev_hash) != e.hash:
            problem = "its content does not match its hash (the row was changed)"
        if problem:
            return CaseChain(case_id, len(rows), prev, Break(case_id, e.id, e.seq, problem))
        prev, expected_seq, last_id = e.hash, expected_seq + 1, e.id
    return CaseChain(case_id, len(rows), prev, None)


def verify(s: Session, case_id: int | None = None) -> list[CaseChain]:
    """Every case's chain (or one case's), in case order."""
    if case_id is not None:
        return [verify_case(s, case_id)]
    ids = sorted(set(s.scalars(select(Case.id))) | set(s.scalars(select(AuditEvent.case_id).distinct())))
    return [verify_case(s, cid) for cid in ids]
