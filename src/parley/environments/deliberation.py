"""The deliberation protocol: two personas talk in turns until one accepts the other's numbered proposal.

A turn is free text with at most one move:

- ``PROPOSAL: <resolution>`` puts a resolution on the table; the environment numbers it (#1, #2, ...)
  and shows the number to both sides;
- ``ACCEPT #<n>`` accepts proposal n. It ends the episode in agreement only if proposal n exists and
  was made by the *other* side; anything else (no number, an unknown number, one's own proposal) is
  refused with a notice and the dialogue goes on.

So an agreement is always one exact text that one side wrote and the other explicitly accepted by
number; "I agree with you" or accepting a paraphrase never counts. Without an agreement the episode
ends at ``max_turns``. Same contract as the bargaining environment (PettingZoo AEC style).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from parley.environments.contract import check_two_seats
from parley.environments.dilemmas import Dilemma

# An acceptance is the ACCEPT tag (upper case, as the prompt writes it), "accept" in any case that names a proposal
# ("accept #2", "Accept proposal 3"), or a turn that begins with the word. A lower-case "accept" inside prose is not a
# move: "PROPOSAL: The decision to accept a decision that ..." was read as an acceptance (and refused) until
# 2026-12-03, 5-8 turns in 54 test deliberations of a trained SmolLM2 (docs/benchmarks.md).
_ACCEPT_TAG = re.compile(r"\bACCEPT(?:ED)?\b(?:\s+(?:PROPOSAL\s*)?#?\s*(\d+))?")
_ACCEPT_NUMBERED = re.compile(r"\baccept(?:ed)?\s+(?:proposal\s*#?|#)\s*(\d+)", re.IGNORECASE)
_ACCEPT_FIRST = re.compile(r"^\W*accept(?:ed)?\b(?:\s+(?:proposal\s*)?#?\s*(\d+))?", re.IGNORECASE)
_NEGATED = re.compile(r"\b(not|never|can't|cannot|won't|don't)\s+(\w+\s+)?accept", re.IGNORECASE)
_PROPOSAL = re.compile(r"\bPROPOSAL\s*(?:#\s*\d+\s*)?:\s*(.+)", re.IGNORECASE | re.DOTALL)
MAX_PROPOSAL_CHARS = 800


@dataclass(frozen=True)
class DeliberationConfig:
    max_turns: int = 8  # both personas together
    first_speaker: int = 0

    def __post_init__(self) -> None:
        check_two_seats(self.max_turns, self.first_speaker)


@dataclass(frozen=True)
class Move:
    kind: str  # "propose" | "accept" | "message"
    text: str = ""  # the proposed resolution
    number: int | None = None  # the proposal accepted


def parse_move(text: str) -> Move:
    """At most one move; an ACCEPT tag wins over a proposal in the same turn."""
    text = text if isinstance(text, str) else ""
    found = [m for m in (_ACCEPT_TAG.search(text), _ACCEPT_NUMBERED.search(text), _ACCEPT_FIRST.search(text)) if m]
    accept = min(found, key=lambda m: m.start()) if found else None
    if accept and not _NEGATED.search(text[: accept.end()]):
        return Move("accept", number=int(accept.group(1)) if accept.group(1) else None)
    proposal = _PROPOSAL.search(text)
    if proposal:
        body = proposal.group(1).strip().split("\n\n")[0].strip()[:MAX_PROPOSAL_CHARS]
        if body:
            return Move("propose", text=body)
    return Move("message")


@dataclass(frozen=True)
class Proposal:
    number: int
    by: int  # persona index
    text: str
    turn: int


@dataclass
class DeliberationTurn:
    turn: int
    speaker: int
    text: str
    move: Move
    effect: str  # "proposal" | "accept" | "message" | "refused"
    proposal: int | None = None  # number assigned or accepted
    notice: str = ""

    def to_dict(self) -> dict:
        return {"turn": self.turn, "speaker": self.speaker, "text": self.text, "move": self.move.kind,
                "effect": self.effect, "proposal": self.proposal, "notice": self.notice}

    @classmethod
    def from_dict(cls, d: dict) -> "DeliberationTurn":
        """A turn as ``to_dict`` wrote it (episodes.jsonl); the move is parsed again from the text, as step() did."""
        return cls(d["turn"], d["speaker"], d["text"], parse_move(d["text"]), d["effect"], d.get("proposal"),
                   d.get("notice", ""))


@dataclass
class DeliberationOutcome:
    agreed: bool
    proposal: Proposal | None
    reason: str  # "accepted" | "max_turns"
    turns: int

    def to_dict(self) -> dict:
        p = self.proposal
        return {"agreed": self.agreed, "reason": self.reason, "turns": self.turns,
                "proposal": None if p is None else {"number": p.number, "by": p.by, "text": p.text, "turn": p.turn}}


def mirrored_proposal(turns: Sequence[DeliberationTurn]) -> Proposal | None:
    """The agreement in substance that the protocol does not count: both sides' latest proposals are the same text
    (case and spacing aside). Returns the earlier of the two, the one the other side copied; None otherwise.

    Only an ACCEPT agrees, so a side can take the other's plan without agreeing by proposing it back; the arena counts
    such deadlocks (evaluation/deliberation_arena.py, ``mirrored_deadlock``).
    """
    latest: dict[int, DeliberationTurn] = {}
    for t in turns:
        if t.effect == "proposal":
            latest[t.speaker] = t
    if len(latest) != 2:
        return None
    first, second = sorted(latest.values(), key=lambda t: t.turn)
    if " ".join(first.move.text.split()).lower() != " ".join(second.move.text.split()).lower():
        return None
    return Proposal(first.proposal, first.speaker, first.move.text, first.turn)


@dataclass(frozen=True)
class DeliberationObservation:
    episode_id: str
    speaker: int
    dilemma: Dilemma
    history: tuple[tuple[int, str], ...]
    proposals: tuple[Proposal, ...]
    turn: int
    max_turns: int
    notices: tuple[str, ...] = ()

    @property
    def persona(self):
        return self.dilemma.personas[self.speaker]

    @property
    def other(self):
        return self.dilemma.personas[1 - self.speaker]


class DeliberationEnv:
    agents = (0, 1)  # persona indices

    def __init__(self, config: DeliberationConfig | None = None) -> None:
        self.config = config or DeliberationConfig()
        self.dilemma: Dilemma | None = None

    def reset(self, dilemma: Dilemma, episode_id: str | None = None) -> int:
        self.dilemma = dilemma
        self.episode_id = episode_id or dilemma.id
        self.turns: list[DeliberationTurn] = []
        self.proposals: list[Proposal] = []
        self.notices: dict[int, list[str]] = {0: [], 1: []}
        self.outcome: DeliberationOutcome | None = None
        self.agent_selection = self.config.first_speaker
        return self.agent_selection

    @property
    def done(self) -> bool:
        return self.outcome is not None

    def observe(self, speaker: int) -> DeliberationObservation:
        if self.dilemma is None:
            raise RuntimeError("call reset(dilemma) before using the environment")
        return DeliberationObservation(
            episode_id=self.episode_id, speaker=speaker, dilemma=self.dilemma,
            history=tuple((t.speaker, t.text) for t in self.turns), proposals=tuple(self.proposals),
            turn=len(self.turns), max_turns=self.config.max_turns, notices=tuple(self.notices[speaker]))

    def step(self, text: str) -> DeliberationTurn:
        if self.dilemma is None:
            raise RuntimeError("call reset(dilemma) before using the environment")
        if self.done:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        speaker = self.agent_selection
        text = text if isinstance(text, str) else ""
        move = parse_move(text)
        self.notices[speaker] = []
        record = DeliberationTurn(len(self.turns), speaker, text, move, "message")
        if move.kind == "propose":
            proposal = Proposal(len(self.proposals) + 1, speaker, move.text, record.turn)
            self.proposals.append(proposal)
            record.effect, record.proposal = "proposal", proposal.number
        elif move.kind == "accept":
            self._accept(record, speaker, move.number)
        self.turns.append(record)
        if not self.done and len(self.turns) >= self.config.max_turns:
            self.outcome = DeliberationOutcome(False, None, "max_turns", len(self.turns))
        self.agent_selection = 1 - speaker
        return record

    def rewards(self) -> dict[int, float | None]:
        """No agreement scores 0 for both, by code; an agreement's Collective Agency needs the judge (None here)."""
        if self.outcome is None:
            raise RuntimeError("rewards() before the episode ended")
        return {side: None if self.outcome.agreed else 0.0 for side in self.agents}

    def record(self) -> dict:
        if self.outcome is None or self.dilemma is None:
            raise RuntimeError("record() before the episode ended")
        return {"id": self.episode_id, "dilemma": self.dilemma.model_dump(mode="json"),
                "turns": [t.to_dict() for t in self.turns], "outcome": self.outcome.to_dict()}

    def _accept(self, record: DeliberationTurn, speaker: int, number: int | None) -> None:
        target = next((p for p in self.proposals if p.number == number), None)
        if number is None:
            why = "name the proposal you accept, e.g. ACCEPT #2"
        elif target is None:
            why = f"there is no proposal #{number}"
        elif target.by == speaker:
            why = f"proposal #{number} is your own; only the other side can accept it"
        else:
            record.effect, record.proposal = "accept", number
            self.outcome = DeliberationOutcome(True, target, "accepted", len(self.turns) + 1)
            return
        record.effect, record.proposal = "refused", number
        record.notice = f"Your acceptance was not counted: {why}."
        self.notices[speaker].append(record.notice)
