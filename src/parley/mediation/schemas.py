"""Typed request and response bodies: the seam between HTTP (API and pages) and the service."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator


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


class PartyIn(_Strict):
    name: Name


class CaseCreate(_Strict):
    title: Annotated[Str, Field(min_length=1, max_length=200)]
    issues: list[Issue] = Field(min_length=1, max_length=8)
    parties: list[PartyIn] = Field(min_length=2, max_length=8)

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
    """A one-time invitation to a party's seat: shown once, void as soon as it is claimed."""

    party_id: int
    name: str
    invitation: str
    link: str


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


