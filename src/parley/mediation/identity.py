"""Who is asking: mediator accounts, sessions, one-time party invitations and passcodes.

The trust model (docs/design.md, "Mediation: trust model"):
- A mediator signs in with an e-mail and password (argon2id via pwdlib) and owns the cases it creates.
- A party's seat is reached through a one-time invitation: the first claim opens a session for
  whoever claims it and voids the invitation, so the copy the mediator saw grants nothing afterwards.
  The party may set a passcode (argon2id) to open a new session from another device.
- Sessions are random secrets kept by the client (an HttpOnly cookie for pages, a bearer token for
  the API); the database holds only their SHA-256. Invitations likewise.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from pwdlib import PasswordHash
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from parley.mediation.db import Case, LoginSession, Mediator, Party, as_utc, now, token_hash

PASSWORDS = PasswordHash.recommended()  # argon2id with the library's current parameters
# Verified when an e-mail is unknown, so that a wrong e-mail costs the same time as a wrong password.
_DUMMY_HASH = PASSWORDS.hash("parley-timing-equaliser")

MEDIATOR_SESSION = timedelta(hours=12)
PARTY_SESSION = timedelta(days=30)
MIN_PASSWORD = 10
MIN_PASSCODE = 8
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s.]{1,60}")


class IdentityError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a mediator (any of its cases) or a party (its one seat)."""

    role: str  # mediator | party
    mediator_id: int | None = None
    case_id: int | None = None  # a party's case
    party_id: int | None = None

    @property
    def actor(self) -> str:
        return f"mediator:{self.mediator_id}" if self.role == "mediator" else f"party:{self.party_id}"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


# ---------------------------------------------------------------- mediators


def normalise_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not _EMAIL.fullmatch(email):
        raise IdentityError(422, f"email: {email!r} is not an e-mail address")
    return email


def check_password(password: str, minimum: int = MIN_PASSWORD, what: str = "password") -> None:
    if len(password or "") < minimum:
        raise IdentityError(422, f"{what}: use at least {minimum} characters")
    if len(password) > 256:
        raise IdentityError(422, f"{what}: use at most 256 characters")


def create_mediator(s: Session, email: str, password: str) -> Mediator:
    email = normalise_email(email)
    check_password(password)
    if s.scalar(select(Mediator.id).where(Mediator.email == email)) is not None:
        raise IdentityError(409, f"an account for {email} already exists: sign in instead")
    mediator = Mediator(email=email, password_hash=PASSWORDS.hash(password))
    s.add(mediator)
    s.flush()
    return mediator


def mediator_login(s: Session, email: str, password: str) -> tuple[Mediator, str]:
    """(the mediator, a new session secret); one message for a wrong e-mail or password, so neither is revealed."""
    try:
        email = normalise_email(email)
    except IdentityError:
        email = ""
    mediator = s.scalar(select(Mediator).where(Mediator.email == email)) if email else None
    ok = PASSWORDS.verify(password or "", mediator.password_hash if mediator else _DUMMY_HASH)
    if mediator is None or not ok:
        raise IdentityError(401, "wrong e-mail or password")
    return mediator, open_session(s, mediator_id=mediator.id)


# ---------------------------------------------------------------- sessions


def open_session(s: Session, mediator_id: int | None = None, party_id: int | None = None) -> str:
    secret = new_secret()
    life = MEDIATOR_SESSION if mediator_id is not None else PARTY_SESSION
    s.add(LoginSession(token_hash=token_hash(secret), mediator_id=mediator_id, party_id=party_id,
                       expires_at=now() + life))
    s.flush()
    return secret


def principal(s: Session, secret: str | None) -> Principal | None:
    """The caller a session secret belongs to, or None when it is unknown, expired, revoked or its seat removed."""
    if not secret:
        return None
    row = s.scalar(select(LoginSession).where(LoginSession.token_hash == token_hash(secret)))
    if row is None or row.revoked_at is not None or as_utc(row.expires_at) <= now():
        return None
    if row.mediator_id is not None:
        return Principal("mediator", mediator_id=row.mediator_id)
    party = s.get(Party, row.party_id)
    if party is None or party.removed_at is not None:
        return None
    return Principal("party", case_id=party.case_id, party_id=party.id)


def end_session(s: Session, secret: str | None) -> None:
    if secret:
        s.execute(update(LoginSession).where(LoginSession.token_hash == token_hash(secret), LoginSession.revoked_at.is_(None))
                  .values(revoked_at=now()))


def end_seat_sessions(s: Session, party_id: int) -> int:
    result = s.execute(update(LoginSession).where(LoginSession.party_id == party_id, LoginSession.revoked_at.is_(None))
                       .values(revoked_at=now()))
    return result.rowcount or 0


# ---------------------------------------------------------------- party seats


def issue_invitation(s: Session, party: Party) -> str:
    """A fresh one-time invitation for the seat; any earlier one is void from now on."""
    secret = new_secret()
    party.invite_hash, party.invited_at, party.claimed_at = token_hash(secret), now(), None
    return secret


def find_invitation(s: Session, invitation: str) -> Party | None:
    if not invitation:
        return None
    party = s.scalar(select(Party).where(Party.invite_hash == token_hash(invitation)))
    return party if party is not None and party.removed_at is None else None


def claim(s: Session, invitation: str, by: Principal | None = None) -> tuple[Party, str]:
    """Claim the seat the invitation is for: (the party, its new session secret). The invitation is void afterwards."""
    party = find_invitation(s, invitation)
    if party is None:
        raise IdentityError(404, "this invitation is not valid: it was already used, or the mediator issued a new one. "
                                 "If you did not use it yourself, tell your mediator at once")
    if by is not None and by.role == "mediator" and s.get(Case, party.case_id).mediator_id == by.mediator_id:
        raise IdentityError(403, "you are signed in as this case's mediator: a seat is for its party. "
                                 "Send the invitation to the party instead of opening it")
    party.invite_hash, party.claimed_at = None, now()
    return party, open_session(s, party_id=party.id)


def set_passcode(s: Session, party: Party, passcode: str) -> None:
    check_password(passcode, MIN_PASSCODE, "passcode")
    party.passcode_hash = PASSWORDS.hash(passcode)


def passcode_login(s: Session, case_id: int, party_id: int, passcode: str) -> tuple[Party, str]:
    party = s.get(Party, party_id)
    valid = party is not None and party.case_id == case_id and party.removed_at is None and party.passcode_hash
    ok = PASSWORDS.verify(passcode or "", party.passcode_hash if valid else _DUMMY_HASH)
    if not (valid and ok):
        raise IdentityError(401, "wrong case, seat or passcode")
    return party, open_session(s, party_id=party.id)


def seat_state(party: Party) -> str:
    """What the mediator may know about a seat: invited, claimed or removed (never who or from where)."""
    if party.removed_at is not None:
        return "removed"
    return "claimed" if party.claimed_at is not None else "invited"
