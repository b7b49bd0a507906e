"""Typed request and response bodies: the seam between HTTP (API and pages) and the service."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Name = Annotated[str, Field(min_length=1, max_length=80)]
Text = Annotated[str, Field(max_length=4000)]
DbId = Annotated[int, Field(ge=1, le=2_147_483_647)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NumericIssue(_Strict):
    kind: Literal["numeric"] = "numeric"
    name: Name
    min: float = Field(ge=-1e12, le=1e12)
    max: float = Field(ge=-1e12, le=1e12)
    unit: Annotated[str, Field(max_length=20)] = ""
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
    title: Annotated[str, Field(min_length=1, max_length=200)]
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


class CaseCreated(BaseModel):
    case_id: int
    mediator_token: str
    mediator_link: str
    parties: list["PartyToken"]


class PartyToken(BaseModel):
    party_id: int
    name: str
    token: str
    link: str


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
    text: Annotated[str, Field(min_length=1, max_length=4000)]


class ApproveIn(_Strict):
    rationales: list[Text] | None = None  # MESO: edited rationale per package, in order
    text: Text | None = None              # message: edited text


class RejectIn(_Strict):
    reason: Text = ""


class ResponseIn(_Strict):
    decision: Literal["accept", "reject"]
    rank: int | None = Field(None, ge=1, le=20)


class CounterIn(_Strict):
    terms: dict[Name, Union[float, str]]
    note: Text = ""


CaseCreated.model_rebuild()
