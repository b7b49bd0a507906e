"""The pairwise judge: which of two resolutions of a dilemma does more for Collective Agency.

Absolute 0-10 scores drift between judges and runs; a preference between two texts on the same dilemma is
what the deliberation literature reports beside them (a trained model's resolutions against the untrained
model's). An LLM judge prefers the first text it reads more often than chance, so ``compare`` asks every
pair in both orders and counts a win only when both orders agree; a split decision is a tie.

Any LLM judge spec works (a local model or an OpenAI-compatible server); the rule judge compares its
own 0-10 scores, so CPU runs and tests need no model.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import Sequence

from parley.agents.judge import JudgeRequest, JudgeStats, RuleJudge
from parley.environments.dilemmas import Dilemma
from parley.models import prompts
from parley.models.generation import GenerationSettings

PAIRWISE = "judge_pairwise"


@dataclass(frozen=True)
class PairRequest:
    dilemma: Dilemma
    first: str
    second: str

    def key(self, rubric_id: str) -> str:
        seen = [self.dilemma.id, self.dilemma.situation, self.first, self.second]
        return f"{rubric_id}:{hashlib.sha256(json.dumps(seen).encode()).hexdigest()}"


@dataclass
class Preference:
    better: str | None  # "first" | "second" | "tie"; None: the judge failed (see ``failure``)
    rationale: str = ""
    raw: str = ""
    failure: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


_LETTER = {"a": "first", "b": "second", "tie": "tie", "equal": "tie", "neither": "tie", "both": "tie"}


def parse_preference(text: str) -> Preference:
    """The judge's preference from its answer: JSON ``{"better": "A"}`` or a bare "better: B"; else a failure."""
    text = text if isinstance(text, str) else ""
    for match in re.finditer(r"\{[^{}]*\}", text, re.DOTALL):
        try:
            data = json.loads(match.group(0))
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict) and isinstance(data.get("better"), str):
            better = _LETTER.get(data["better"].strip().lower().removeprefix("resolution ").strip())
            if better:
                return Preference(better, str(data.get("rationale") or "")[:500], text)
    m = re.search(r"\bbetter\W{0,4}(?:resolution\s+)?(A|B|tie)\b", text, re.IGNORECASE)
    if m:
        return Preference(_LETTER[m.group(1).lower()], raw=text)
    return Preference(None, raw=text, failure='no {"better": "A" | "B" | "tie"} in the answer')


class LLMPairwiseJudge:
    """Asks any generation backend for a preference, once per pair as given (``compare`` does both orders)."""

    def __init__(self, backend, name: str, settings: GenerationSettings | None = None, retries: int = 1) -> None:
        self.backend, self.name, self.retries = backend, name, retries
        self.rubric_id, self._template = prompts.load(PAIRWISE)
        self.settings = settings or GenerationSettings(max_new_tokens=96, do_sample=False)
        self.stats = JudgeStats()

    def render(self, pair: PairRequest) -> list[dict]:
        d = pair.dilemma
        return [{"role": "user", "content": self._template.render(
            situation=d.situation, stakeholders=d.stakeholders, personas=list(d.personas), first=pair.first, second=pair.second)}]

    def prefer(self, pairs: Sequence[PairRequest], seed: int = 0) -> list[Preference]:
        self.stats.requests += len(pairs)
        results: list[Preference | None] = [None] * len(pairs)
        pending = list(range(len(pairs)))
        for attempt in range(self.retries + 1):
            if not pending:
                break
            outs = self.backend.generate([self.render(pairs[i]) for i in pending], self.settings, seed + attempt)
            self.stats.calls += 1
            self.stats.judged += len(pending)
            still = []
            for i, out in zip(pending, outs):
                results[i] = parse_preference(out.text)
                if results[i].better is None:
                    still.append(i)
            pending = still
        self.stats.failures += len(pending)
        return [r if r is not None else Preference(None, failure="not asked") for r in results]


class RulePairwiseJudge:
    """The rule judge's scores compared: the higher wins, equal scores tie (position cannot matter)."""

    def __init__(self, judge: RuleJudge | None = None) -> None:
        self.judge = judge or RuleJudge()
        self.name, self.rubric_id = self.judge.name, self.judge.rubric_id + ".pairwise"
        self.stats = JudgeStats()

    def prefer(self, pairs: Sequence[PairRequest], seed: int = 0) -> list[Preference]:
        self.stats.requests += len(pairs)
        out = []
        for pair in pairs:
            a, b = (self.judge.verdict(JudgeRequest(pair.dilemma, t)).score for t in (pair.first, pair.second))
            out.append(Preference("first" if a > b else "second" if b > a else "tie", rationale=f"rule scores {a:g} vs {b:g}"))
        return out


@dataclass
class PairOutcome:
    dilemma_id: str
    winner: str  # "a" | "b" | "tie" (both orders must agree for a win)
    a_first: Preference  # the judge's answer with A shown first
    b_first: Preference  # ... and with B shown first
    position_bias: bool  # the two orders disagreed because the same position won both times

    def to_dict(self) -> dict:
        return {"dilemma": self.dilemma_id, "winner": self.winner, "position_bias": self.position_bias,
                "a_first": self.a_first.to_dict(), "b_first": self.b_first.to_dict()}


def compare(judge, dilemmas: Sequence[Dilemma], a: Sequence[str], b: Sequence[str], seed: int = 0) -> list[PairOutcome]:
    """A against B on each dilemma, judged in both orders: a win needs both orders; anything else is a tie
    (a failed judgement included, recorded in the outcome)."""
    if not len(dilemmas) == len(a) == len(b):
        raise ValueError("compare needs one resolution from each side per dilemma")
    forward = judge.prefer([PairRequest(d, x, y) for d, x, y in zip(dilemmas, a, b)], seed=seed)
    backward = judge.prefer([PairRequest(d, y, x) for d, x, y in zip(dilemmas, a, b)], seed=seed)
    outcomes = []
    for d, f, r in zip(dilemmas, forward, backward):
        a_wins = f.better == "first" and r.better == "second"
        b_wins = f.better == "second" and r.better == "first"
        biased = f.better is not None and f.better == r.better and f.better != "tie"
        outcomes.append(PairOutcome(d.id, "a" if a_wins else "b" if b_wins else "tie", f, r, biased))
    return outcomes
