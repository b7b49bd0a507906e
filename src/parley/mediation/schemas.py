"""Typed request and response bodies: the seam between HTTP (API and pages) and the service."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Annotated, Literal, Optional, Union

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator


def _storable(text: str) -> str:
    """Text every database stores as given: PostgreSQL refuses NUL bytes, and a lone surrogate (which JSON's
    \\ud800 escape can smuggle in) is not encodable as UTF-8 at all; both would otherwise fail at the write."""
    if "\x00" in text:
        raise ValueError("contains a NUL character (\\u0000); remove it")
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        raise ValueError("contains a lone surrogate (an unpaired \\ud800-\\udfff escape); send valid Unicode text")
    return text


Str = Annotated[str, AfterValidator(_storable)]
Name = Annotated[Str, Field(min_length=1, max_length=80)]
Text = Annotated[Str, Field(max_length=4000)]
DbId = Annotated[int, Field(ge=1, le=2_147_483_647)]


class _Strict(BaseModel):
    # allow_inf_nan=False: NaN, Infinity and numbers beyond float range (1e309 parses as inf) are refused by field.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class NumericIssue(_Strict):
    kind: Literal["numeric"] = "numeric"
    name: Name
    min: float = Field(ge=-1e12, le=1e12)
    max: float = Field(ge=-1e12, le=1e12)
    unit: Annotated[Str, Field(max_length=20)] = ""
    # The resolution the mediator negotiates in (e.g. 10 EUR); None: any value in the range.
    step: float | None = Field(None, gt=0, le=1e12)

    @model_validator(mode="after")
    def _range(self):
        if not self.max > self.min:
            raise ValueError(f"issue {self.name!r}: max ({self.max}) must be greater than min ({self.min})")
        if self.step is not None:
            if self.step > self.max - self.min:
                raise ValueError(f"issue {self.name!r}: step {self.step} is larger than the range {self.min}-{self.max}")
            if (self.max - self.min) / self.step > 1_000_000:
                raise ValueError(f"issue {self.name!r}: step {self.step} makes more than a million values; "
                                 "use a larger step or none (any value)")
        return self


class OptionsIssue(_Strict):
    kind: Literal["options"] = "options"
    name: Name
    options: list[Name] = Field(min_length=2, max_length=12)

    @field_validator("options")
    @classmethod
    def _distinct(cls, options: list[str]) -> list[str]:
        if len(set(options)) != len(options):
            raise ValueError("options must be distinct")
        return options


Issue = Annotated[Union[NumericIssue, OptionsIssue], Field(discriminator="kind")]


def _email(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip().lower()
    if not re.fullmatch(r"[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s.]{1,60}", value):
        raise ValueError(f"{value!r} is not an e-mail address")
    return value


Email = Annotated[Optional[Str], AfterValidator(_email)]


class PartyIn(_Strict):
    name: Name
    # With --smtp-url the invitation goes here and the mediator never sees it; without, it is kept for notices.
    email: Email = None


class CaseCreate(_Strict):
    title: Annotated[Str, Field(min_length=1, max_length=200)]
    issues: list[Issue] = Field(min_length=1, max_length=8)
    parties: list[PartyIn] = Field(min_length=2, max_length=8)
    deadline: AwareDatetime | None = None  # shown to everyone; reminders go out a day before

    @field_validator("deadline")
    @classmethod
    def _future(cls, deadline):
        if deadline is not None and deadline <= datetime.now(timezone.utc):
            raise ValueError("the deadline must be in the future")
        return deadline

    @model_validator(mode="after")
    def _unique_names(self):
        for label, names in (("issue", [i.name for i in self.issues]), ("party", [p.name for p in self.parties])):
            if len(set(names)) != len(names):
                raise ValueError(f"{label} names must be distinct, got {names}")
        return self


class NumericPreference(_Strict):
    weight: float = Field(ge=0, le=100)
    ideal: float = Field(ge=-1e12, le=1e12)        # the value this party would most like
    reservation: float = Field(ge=-1e12, le=1e12)  # the worst value it can still accept


class OptionsPreference(_Strict):
    weight: float = Field(ge=0, le=100)
    ratings: dict[Name, float]  # option -> 0 (unacceptable) .. 1 (best); every option must be rated

    @field_validator("ratings")
    @classmethod
    def _in_unit(cls, ratings: dict[str, float]) -> dict[str, float]:
        for option, value in ratings.items():
            if not 0 <= value <= 1:
                raise ValueError(f"rating of {option!r} must be between 0 and 1, got {value}")
        return ratings


class Constraints(_Strict):
    """A party's private constraints and priorities: only that party (and the server) ever reads them."""

    issues: dict[Name, Union[NumericPreference, OptionsPreference]]
    min_value: float = Field(0.0, ge=0, le=1)  # reservation value of a whole package, on the 0-1 scale


class Invitation(BaseModel):
    """A one-time invitation to a party's seat: shown once, void as soon as it is claimed. When the server
    e-mailed it to the party, ``invitation`` and ``link`` are empty and ``emailed_to`` says where it went."""

    party_id: int
    name: str
    invitation: str = ""
    link: str = ""
    emailed_to: str | None = None


class CaseSummary(BaseModel):
    """A row of the mediator's dashboard."""

    id: int
    title: str
    status: Literal["open", "agreed", "signed", "closed"]
    created_at: datetime
    deadline: datetime | None
    parties: int
    claimed: int                # seats whose invitation was claimed
    constraints_entered: int
    pending_drafts: int
    last_activity: datetime
    archived: bool


class CaseCreated(BaseModel):
    case_id: int
    parties: list[Invitation]


class SignUp(_Strict):
    email: Annotated[Str, Field(min_length=3, max_length=254)]
    password: Annotated[Str, Field(min_length=10, max_length=256)]


class LogIn(_Strict):
    email: Annotated[Str, Field(max_length=254)]
    password: Annotated[Str, Field(max_length=256)]


class SessionOut(BaseModel):
    """A session secret for the API (``Authorization: Bearer <token>``); pages use the same secret as a cookie."""

    token: str
    role: Literal["mediator", "party"]
    case_id: int | None = None
    party_id: int | None = None


class ClaimIn(_Strict):
    invitation: Annotated[Str, Field(min_length=1, max_length=200)]


class PasscodeIn(_Strict):
    passcode: Annotated[Str, Field(min_length=8, max_length=256)]


class PasscodeLogIn(_Strict):
    case_id: DbId
    party_id: DbId
    passcode: Annotated[Str, Field(max_length=256)]


class ReplaceIn(_Strict):
    name: Name
    email: Email = None


class DeadlineIn(_Strict):
    deadline: AwareDatetime | None  # None: no deadline

    @field_validator("deadline")
    @classmethod
    def _future(cls, deadline):
        return CaseCreate._future(deadline)


class CloseIn(_Strict):
    reason: Text = ""


class ArchiveIn(_Strict):
    archived: bool = True


class TimezoneIn(_Strict):
    timezone: Annotated[Str, Field(min_length=1, max_length=64)]


class MesoRequest(_Strict):
    party_id: DbId
    count: int = Field(3, ge=3, le=6)
    tolerance: float = Field(0.05, gt=0, le=0.25)
    # The fairness rule that sets the value level: Nash bargaining (default), egalitarian (max-min gain)
    # or Kalai-Smorodinsky (the same share of each party's best possible gain).
    rule: Literal["nash", "egalitarian", "kalai-smorodinsky"] = "nash"
    # Keep terms this share of an issue's range away from every reservation (dropped, and said, when no
    # MESO exists otherwise): a term sitting on a reservation reveals it to everyone who reads the package.
    privacy_margin: float = Field(0.05, ge=0, le=0.25)


class MessageDraftRequest(_Strict):
    party_id: DbId | None = None  # None: to every party
    instruction: Text = ""


class MessageIn(_Strict):
    party_id: DbId | None = None
    text: Annotated[Str, Field(min_length=1, max_length=4000)]


class ApproveIn(_Strict):
    rationales: list[Text] | None = None  # MESO: edited rationale per package, in order
    text: Text | None = None              # message: edited text


class RejectIn(_Strict):
    reason: Text = ""


class ResponseIn(_Strict):
    decision: Literal["accept", "reject"]
    rank: int | None = Field(None, ge=1, le=20)


class CounterIn(_Strict):
    terms: dict[Name, Union[float, Name]]
    note: Text = ""




# ---------------------------------------------------------------- responses (every route's OpenAPI schema)

Term = Union[float, str]


class MediatorOut(BaseModel):
    id: int
    email: str


class SeatOut(BaseModel):
    id: int
    name: str
    seat: Literal["invited", "claimed", "removed"]
    constraints_entered: bool  # never the constraints themselves


class RemovedPartyOut(BaseModel):
    id: int
    name: str


class ResponseOut(BaseModel):
    party: str
    decision: Literal["accept", "reject"]
    rank: int | None


class PackageOut(BaseModel):
    id: int
    terms: dict[str, Term]
    source: Literal["meso", "counter"]
    offered_to: list[str]
    responses: list[ResponseOut]


class PartyPackageOut(PackageOut):
    rationale: str               # the rationales of the offers made to this party only
    rationale_ai_drafted: bool   # labelled on the page: drafted by AI, reviewed by the mediator
    value_to_you: float | None


class MessageOut(BaseModel):
    id: int
    to: str
    text: str
    source: str
    ai_drafted: bool
    at: datetime


class DraftOut(BaseModel):
    id: int
    kind: Literal["meso", "message", "counter"]
    status: Literal["pending", "approved", "rejected"]
    party: str | None
    author: str
    leak_blocked: bool
    payload: dict
    review_note: str
    created_at: datetime
    reviewed_at: datetime | None


class MediatorCaseView(BaseModel):
    id: int
    title: str
    status: Literal["open", "agreed", "signed", "closed"]
    issues: list[dict]
    deadline: datetime | None
    agreement_package_id: int | None
    parties: list[SeatOut]
    removed_parties: list[RemovedPartyOut]
    drafts: list[DraftOut]
    packages: list[PackageOut]
    messages: list[MessageOut]


class YouOut(BaseModel):
    id: int
    name: str
    constraints_entered: bool
    passcode_set: bool


class PartyCaseView(BaseModel):
    id: int
    title: str
    status: Literal["open", "agreed", "signed", "closed"]
    issues: list[dict]
    deadline: datetime | None
    you: YouOut
    parties: list[str]
    agreement_package_id: int | None
    packages: list[PartyPackageOut]
    messages: list[MessageOut]


class RespondOut(BaseModel):
    status: Literal["open", "agreed", "signed", "closed"]
    agreement_package_id: int | None


class CounterOut(BaseModel):
    draft_id: int
    status: str


class AcceptedOut(BaseModel):
    party: str
    at: datetime


class AuditHead(BaseModel):
    """Where the case's audit chain stood when this was exported: check a copy with `parley audit verify`."""

    events: int
    head_hash: str
    intact: bool


class AgreementOut(BaseModel):
    case_id: int
    title: str
    status: Literal["agreed", "signed"]
    issues: list[dict]
    terms: dict[str, Term]
    accepted: list[AcceptedOut]
    agreed_at: datetime | None
    signed_at: datetime | None
    audit: AuditHead


class AuditEventOut(BaseModel):
    id: int
    seq: int
    at: datetime
    actor: str
    actor_name: str
    action: str
    detail: dict
    hash: str
