"""CaSiNo: two campers split 3 packages each of food, water and firewood (integrative, multi-issue bargaining).

Scenarios are the real CaSiNo dialogues' priorities and reasons (Chawla et al., NAACL 2021, CC BY 4.0; rebuilt by
scripts/build_casino.py). Each camper ranks the three items high/medium/low, worth 5/4/3 points per package;
priorities and reasons are private. The reward is verifiable by code: a camper's points under the agreed split,
or the walk-away points (5 each) without a deal. Priorities differ between campers in most scenarios, so
trading a low item for a high one (logrolling) leaves both better off: joint points and Pareto efficiency
measure how well a pair found such trades.

A turn is free text; its last line may carry one move, on a line of its own:

    OFFER: food 2, water 1, firewood 0    the packages I keep (the other side gets the rest); all three items
    ACCEPT                                accept the other side's standing offer; ends the episode in a deal
    WALK AWAY                             end without a deal (walk-away points to both)

A move must start its line, so "I will not ACCEPT" or "you said ACCEPT" is no move. Two or more move lines,
an offer missing an item, a count above 3 or a repeated item are no move either, with a notice to the speaker:
the parser never guesses an action the speaker did not write. Same AEC-style contract as every game
(parley.environments.contract).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from itertools import product
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from parley import ParleyError
from parley.environments.catalog import SPLITS, Split
from parley.environments.contract import check_two_seats

ITEMS = ("food", "water", "firewood")
PACKAGES = 3  # of each item
POINTS = {"high": 5, "medium": 4, "low": 3}
WALK_AWAY_POINTS = 5
MAX_POINTS = PACKAGES * sum(POINTS.values())  # 36: everything
AGENTS = (0, 1)

Share = tuple[int, int, int]  # packages of (food, water, firewood) one camper gets
Level = Literal["high", "medium", "low"]


class Camper(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    priorities: dict[str, Level]
    reasons: dict[str, str]

    @field_validator("priorities")
    @classmethod
    def _ranking(cls, value: dict[str, str]) -> dict[str, str]:
        if set(value) != set(ITEMS) or sorted(value.values()) != sorted(POINTS):
            raise ValueError(f"must rank {', '.join(ITEMS)} as one each of high, medium, low")
        return value

    def points(self, share: Share) -> int:
        return sum(POINTS[self.priorities[item]] * n for item, n in zip(ITEMS, share))

    def ranked(self) -> list[str]:
        """Items from most to least valued."""
        return sorted(ITEMS, key=lambda item: -POINTS[self.priorities[item]])


class HumanOutcome(BaseModel):
    """What the people in the corpus did: the reference row of every CaSiNo table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    deal: bool
    shares: tuple[tuple[int, int, int], tuple[int, int, int]] | None = None
    reason: str | None = None


class CasinoScenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=120)
    split: Split
    campers: tuple[Camper, Camper]
    human: HumanOutcome
    source: dict

    def human_points(self) -> tuple[int, int]:
        if not self.human.deal or self.human.shares is None:
            return (WALK_AWAY_POINTS, WALK_AWAY_POINTS)
        return (self.campers[0].points(self.human.shares[0]), self.campers[1].points(self.human.shares[1]))


@lru_cache(maxsize=None)
def _all_scenarios() -> tuple[CasinoScenario, ...]:
    text = resources.files("parley.data").joinpath("casino.jsonl").read_text()
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        try:
            out.append(CasinoScenario.model_validate(json.loads(line)))
        except (ValueError, ValidationError) as exc:  # a broken package, not a user mistake; name the line
            raise ParleyError(f"casino.jsonl line {n}: {exc}") from exc
    return tuple(out)


def load_casino(split: str | None = None) -> list[CasinoScenario]:
    if split is not None and split not in SPLITS:
        raise ParleyError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return [s for s in _all_scenarios() if split is None or s.split == split]


def sample_casino(split: str, n: int, seed: int = 0) -> list[CasinoScenario]:
    """``n`` scenarios of ``split``: a pure function of (split, seed, index); cycles when n exceeds the split."""
    pool = load_casino(split)
    random.Random(f"casino/{split}/{seed}").shuffle(pool)
    return [pool[i % len(pool)] for i in range(n)]


# ---------------------------------------------------------------- outcomes as points


def other_share(share: Share) -> Share:
    return tuple(PACKAGES - n for n in share)  # type: ignore[return-value]


ALL_SPLITS: tuple[Share, ...] = tuple(product(range(PACKAGES + 1), repeat=len(ITEMS)))  # camper 0's share


def points_of(scenario: CasinoScenario, share0: Share) -> tuple[int, int]:
    return scenario.campers[0].points(share0), scenario.campers[1].points(other_share(share0))


def pareto_optimal(scenario: CasinoScenario, share0: Share) -> bool:
    """True when no other split gives one camper more points and the other no fewer."""
    a, b = points_of(scenario, share0)
    return not any((x >= a and y >= b and (x > a or y > b)) for x, y in map(lambda s: points_of(scenario, s), ALL_SPLITS))


def max_joint_points(scenario: CasinoScenario) -> int:
    return max(sum(points_of(scenario, s)) for s in ALL_SPLITS)


# ---------------------------------------------------------------- protocol


# Tags in capitals only, at the start of a line: "Accept my apologies" or "walk away from that?" is prose, not a move.
_MOVE_LINE = re.compile(r"^[ \t*_>`#-]*(OFFER\b|ACCEPT\b|WALK[ \t-]*AWAY\b)(.*)$", re.MULTILINE)
_ITEM = re.compile(r"\b(food|water|firewood)\b\s*[:=]?\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE)


@dataclass(frozen=True)
class CasinoMove:
    kind: str  # "offer" | "accept" | "walk" | "message" | "invalid"
    share: Share | None = None  # what the speaker keeps (offers)
    problem: str = ""  # why a move line was not a move (invalid)


def parse_move(text: str) -> CasinoMove:
    """The move of a turn, or ``message`` when it makes none, or ``invalid`` with the reason."""
    text = text if isinstance(text, str) else ""
    lines = _MOVE_LINE.findall(text)
    if not lines:
        return CasinoMove("message")
    if len(lines) > 1:
        return CasinoMove("invalid", problem="one move per turn: your turn had " + ", ".join(t.upper() for t, _ in lines))
    tag, rest = lines[0]
    if tag.startswith("WALK"):
        if rest.strip(" .!\t*"):
            return CasinoMove("invalid", problem="WALK AWAY stands alone on its line")
        return CasinoMove("walk")
    if tag == "ACCEPT":
        if rest.strip(" .!\t*"):
            return CasinoMove("invalid", problem="ACCEPT stands alone on its line (it accepts the other side's standing offer)")
        return CasinoMove("accept")
    found = _ITEM.findall(rest)
    counts: dict[str, int] = {}
    for item, number in found:
        item = item.lower()
        if item in counts:
            return CasinoMove("invalid", problem=f"the offer names {item} twice")
        if not re.fullmatch(r"\d", number) or int(number) > PACKAGES:
            return CasinoMove("invalid", problem=f"{item} must be a whole number of packages from 0 to {PACKAGES}, not {number}")
        counts[item] = int(number)
    missing = [i for i in ITEMS if i not in counts]
    if missing:
        return CasinoMove("invalid", problem=f"the offer must say how many of each item you keep; missing: {', '.join(missing)}")
    return CasinoMove("offer", share=tuple(counts[i] for i in ITEMS))  # type: ignore[arg-type]


@dataclass(frozen=True)
class CasinoConfig:
    max_turns: int = 10  # both campers together
    first_speaker: int = 0

    def __post_init__(self) -> None:
        check_two_seats(self.max_turns, self.first_speaker, seat="camper")


@dataclass
class CasinoTurn:
    turn: int
    speaker: int
    text: str
    move: CasinoMove
    effect: str  # "offer" | "accept" | "walk" | "message" | "refused"
    notice: str = ""

    def to_dict(self) -> dict:
        return {"turn": self.turn, "speaker": self.speaker, "text": self.text, "move": self.move.kind,
                "share": list(self.move.share) if self.move.share else None, "effect": self.effect, "notice": self.notice}


@dataclass
class CasinoOutcome:
    deal: bool
    shares: tuple[Share, Share] | None  # (camper 0's, camper 1's)
    reason: str  # "accepted" | "walked_away" | "max_turns"
    turns: int
    closed_by: int | None

    def to_dict(self) -> dict:
        return {"deal": self.deal, "shares": [list(s) for s in self.shares] if self.shares else None,
                "reason": self.reason, "turns": self.turns, "closed_by": self.closed_by}


@dataclass(frozen=True)
class CasinoObservation:
    """One camper's view: its own priorities and reasons, never the other's."""

    episode_id: str
    speaker: int
    camper: Camper
    history: tuple[tuple[int, str], ...]
    own_offer: Share | None  # what I keep under my standing offer
    other_offer: Share | None  # what the other keeps under theirs
    turn: int
    max_turns: int
    notices: tuple[str, ...] = ()

    @property
    def turns_left(self) -> int:
        return self.max_turns - self.turn


@dataclass
class CasinoEnv:
    config: CasinoConfig = field(default_factory=CasinoConfig)
    agents: tuple[int, int] = AGENTS

    def __post_init__(self) -> None:
        self.scenario: CasinoScenario | None = None

    def reset(self, scenario: CasinoScenario, episode_id: str | None = None) -> int:
        self.scenario = scenario
        self.episode_id = episode_id or scenario.id
        self.turns: list[CasinoTurn] = []
        self.offers: dict[int, Share | None] = {0: None, 1: None}
        self.notices: dict[int, list[str]] = {0: [], 1: []}
        self.outcome: CasinoOutcome | None = None
        self.agent_selection = self.config.first_speaker
        return self.agent_selection

    @property
    def done(self) -> bool:
        return self.outcome is not None

    def _require(self) -> CasinoScenario:
        if self.scenario is None:
            raise RuntimeError("call reset(scenario) before using the environment")
        return self.scenario

    def observe(self, speaker: int) -> CasinoObservation:
        s = self._require()
        return CasinoObservation(
            episode_id=self.episode_id, speaker=speaker, camper=s.campers[speaker],
            history=tuple((t.speaker, t.text) for t in self.turns), own_offer=self.offers[speaker],
            other_offer=self.offers[1 - speaker], turn=len(self.turns), max_turns=self.config.max_turns,
            notices=tuple(self.notices[speaker]))

    def step(self, text: str) -> CasinoTurn:
        self._require()
        if self.done:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        speaker = self.agent_selection
        text = text if isinstance(text, str) else ""
        move = parse_move(text)
        self.notices[speaker] = []
        record = CasinoTurn(len(self.turns), speaker, text, move, "message")
        if move.kind == "offer":
            self.offers[speaker] = move.share
            record.effect = "offer"
        elif move.kind == "accept":
            standing = self.offers[1 - speaker]
            if standing is None:
                record.effect, record.notice = "refused", "There is no offer from the other camper to accept."
            else:
                record.effect = "accept"
                mine = other_share(standing)
                shares = (mine, standing) if speaker == 0 else (standing, mine)
                self.outcome = CasinoOutcome(True, shares, "accepted", len(self.turns) + 1, speaker)
        elif move.kind == "walk":
            record.effect = "walk"
            self.outcome = CasinoOutcome(False, None, "walked_away", len(self.turns) + 1, speaker)
        elif move.kind == "invalid":
            record.effect, record.notice = "refused", f"Your move was not counted: {move.problem}."
        if record.notice:
            self.notices[speaker].append(record.notice)
        self.turns.append(record)
        if not self.done and len(self.turns) >= self.config.max_turns:
            self.outcome = CasinoOutcome(False, None, "max_turns", len(self.turns), None)
        self.agent_selection = 1 - speaker
        return record

    def points(self) -> tuple[int, int]:
        """Each camper's points; the walk-away points without a deal. Only once the episode is over."""
        if self.outcome is None:
            raise RuntimeError("points() before the episode ended")
        if not self.outcome.deal:
            return (WALK_AWAY_POINTS, WALK_AWAY_POINTS)
        s = self._require()
        return s.campers[0].points(self.outcome.shares[0]), s.campers[1].points(self.outcome.shares[1])

    def rewards(self) -> dict[int, float]:
        return dict(zip(AGENTS, map(float, self.points())))

    def record(self) -> dict:
        s = self._require()
        if self.outcome is None:
            raise RuntimeError("record() before the episode ended")
        share0 = self.outcome.shares[0] if self.outcome.deal else None
        return {"id": self.episode_id, "scenario": s.model_dump(mode="json"), "turns": [t.to_dict() for t in self.turns],
                "outcome": self.outcome.to_dict(), "points": list(self.points()),
                "pareto_optimal": pareto_optimal(s, share0) if share0 else None}
