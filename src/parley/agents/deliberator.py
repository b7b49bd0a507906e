"""Deliberation agents: an LLM playing a persona, and a scripted one for tests and baselines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import re

from parley.agents.seated import SeatedLLMAgent, seat_dialogue
from parley.environments.deliberation import MAX_PROPOSAL_CHARS, DeliberationObservation, parse_move
from parley.environments.dilemmas import Dilemma
from parley.models import prompts
from parley.models.backends import Conversation
from parley.models.generation import GenerationSettings

PROMPT = "deliberator"
SOLO_PROMPT = "deliberator_solo"


def _table(obs: DeliberationObservation) -> str:
    names = [p.name for p in obs.dilemma.personas]
    if not obs.proposals:
        return "[No proposals yet.]"
    return "[Proposals: " + " ".join(f"#{p.number} by {names[p.by]}: {p.text}" for p in obs.proposals) + "]"


class DeliberationLLMAgent(SeatedLLMAgent):
    """Either persona (the observation says which), on any backend; the same model can play both."""

    PROMPT = PROMPT
    # v1 unless a spec names another (smollm2#standard.v2): the shipped deliberator and every figure recorded before
    # 2026-12-06 played v1. v2 says what the judge scores 0 (either option as it stands) and asks for a third course
    # of action; it leaves out the goals, which asked each persona to stay as close as possible to its own stance.
    # v3 also leaves out the options' and the red lines' text, which the 135M model copied into its proposals; then it
    # writes the options in other words, which the rule judge misses (docs/audits, benchmarks/red_line_audit.py).
    DEFAULT_PROMPT_VERSION = 1

    def messages(self, obs: DeliberationObservation) -> Conversation:
        me, other, d = obs.persona, obs.other, obs.dilemma
        system = self._template.render(
            name=me.name, other=other.name, situation=d.situation, options=d.options, stance=me.stance,
            values=me.values, goals=me.goals, red_lines=me.red_lines, other_stance=other.stance, other_values=other.values,
            max_turns=obs.max_turns)
        status = (f"{_table(obs)} [Message {obs.turn + 1} of {obs.max_turns}.]"
                  + (" " + " ".join(obs.notices) if obs.notices else ""))
        return seat_dialogue(system, obs.history, obs.speaker, other.name, "The deliberation starts. Say what you think.",
                             status)


def _their_latest(obs: DeliberationObservation):
    """The other side's latest proposal on the table, or None."""
    theirs = [p for p in obs.proposals if p.by != obs.speaker]
    return theirs[-1] if theirs else None


def _acceptance(obs: DeliberationObservation, patience: int) -> str | None:
    """The scripted accept of the other side's latest proposal, once ``patience`` own turns have passed; else None."""
    latest = _their_latest(obs)
    if latest is not None and sum(1 for s, _ in obs.history if s == obs.speaker) >= patience:
        return f"I can live with that. ACCEPT #{latest.number}"
    return None


@dataclass(frozen=True)
class ScriptedDeliberator:
    """Proposes a resolution; accepts the other's latest proposal once ``patience`` of its own turns
    have passed. Deterministic.

    ``proposal="both-values"`` names both personas' values in one joint plan, a baseline and test partner that
    crosses no red line. Rubric v1 of the rule judge scores it 8/10; rubric v2 (the default) scores it 0 as vague,
    since it names nothing of the situation. ``proposal="stance"`` proposes its own starting stance
    verbatim, which crosses the other persona's red line (the rule judge gives 3/10): a warm-start teacher
    that shows the protocol (PROPOSAL, ACCEPT #n) without showing what scores well.
    """

    name: str = "scripted:deliberator"
    patience: int = 1
    proposal: str = "both-values"  # | "stance"

    def resolve(self, dilemmas: Sequence[Dilemma], seed: int = 0) -> list[str]:
        """Alone, as persona 0 would propose it (the single-agent evaluation)."""
        out = []
        for d in dilemmas:
            me, other = d.personas
            out.append(me.stance if self.proposal == "stance" else
                       f"We will act together in a way that protects {me.values[0]} and also {other.values[0]}, "
                       "and each of us explains the plan to everyone affected.")
        return out

    def act(self, observations: Sequence[DeliberationObservation], seed: int = 0) -> list[str]:
        out = []
        for obs in observations:
            me, other = obs.persona, obs.other
            if accept := _acceptance(obs, self.patience):
                out.append(accept)
            elif self.proposal == "stance":
                out.append(f"What matters most to me is {me.values[0]}. PROPOSAL: {me.stance}")
            else:
                out.append(f"PROPOSAL: We will act together in a way that protects {me.values[0]} and also "
                           f"{other.values[0]}, and each of us explains the plan to everyone affected.")
        return out


def parse_resolution(text: str) -> str:
    """The resolution in a single-agent answer: what follows ``RESOLUTION:`` (its first paragraph), or, when the
    tag is missing, the whole answer; whitespace folded, at most a proposal's length. Nothing is made up: an empty
    answer is an empty resolution, which every judge scores 0."""
    text = text if isinstance(text, str) else ""
    m = re.search(r"\bRESOLUTION\s*:\s*(.+)", text, re.IGNORECASE | re.DOTALL)
    body = m.group(1).strip().split("\n\n")[0] if m else text
    return " ".join(body.split())[:MAX_PROPOSAL_CHARS]


class SoloResolver:
    """A language model resolving dilemmas alone (the deliberation paper's single-agent Collective Agency)."""

    def __init__(self, backend, name: str, settings: GenerationSettings) -> None:
        self.backend, self.name, self.settings = backend, name, settings
        self.prompt_id, self._template = prompts.load(SOLO_PROMPT)
        self.last_raw: list[str] = []

    def messages(self, d: Dilemma) -> Conversation:
        return [{"role": "user", "content": self._template.render(
            situation=d.situation, options=d.options, stakeholders=d.stakeholders, personas=list(d.personas))}]

    def resolve(self, dilemmas: Sequence[Dilemma], seed: int = 0) -> list[str]:
        outs = self.backend.generate([self.messages(d) for d in dilemmas], self.settings, seed)
        self.last_raw = [o.text for o in outs]
        return [parse_resolution(t) for t in self.last_raw]


FILTERED_PREFIX = "filtered:"  # warm-start teacher spec: filtered:<model spec>


@dataclass
class FilteredResolutionTeacher:
    """A warm-start teacher made of a model's own best single-agent resolutions (rejection sampling).

    Why: a scripted teacher can only show template text, which rubric v2 scores 0 (vague, or a red line crossed),
    so a model warm-started on it samples nothing GRPO can reinforce (docs/benchmarks.md). Instead the model
    resolves each dilemma alone ``samples`` times; the judge scores every resolution; a dilemma keeps its best one
    only if that scores above ``min_score`` and crosses no red line. :meth:`select` returns the dilemmas that kept
    one. In a deliberation the teacher proposes the kept resolution, and accepts a proposal of the other's at once
    (``patience`` 0) if the judge passes it by the same bar, else proposes its own again: a first try that waited a turn (as :class:`ScriptedDeliberator` does) showed each accept
    once per two proposals, and the model it warm-started repeated proposals and never accepted, so self-play
    reached no agreement and GRPO no reward spread (docs/benchmarks.md). Nothing is invented: every target is text the model wrote and the
    run's own judge passed.
    """

    resolver: Any  # anything with resolve(dilemmas, seed) -> texts (SoloResolver); None with ``kept``
    judge: Any  # anything with judge(requests, seed) -> verdicts (RuleJudge, LLMJudge)
    samples: int = 8
    min_score: float = 0.0
    name: str = "filtered"
    patience: int = 0
    show_progress: bool = False
    chosen: dict[str, str] = field(default_factory=dict)  # dilemma id -> its kept resolution
    report: dict = field(default_factory=dict)
    kept: dict[str, str] | None = None  # an earlier selection (dilemma id -> resolution) to reuse instead of sampling
    _verdicts: dict = field(default_factory=dict, repr=False)  # (dilemma id, text) -> passes

    def select(self, dilemmas: Sequence[Dilemma], seed: int = 0) -> list[Dilemma]:
        from parley.agents.judge import JudgeRequest

        distinct = list({d.id: d for d in dilemmas}.values())
        if self.kept is not None:  # the sampling and judging were done before; the same dilemmas must be drawn
            missing = sorted(set(self.kept) - {d.id for d in distinct})
            if missing:
                raise ValueError(f"{self.name}: the reused selection kept resolutions for {len(missing)} dilemmas "
                                 f"this run does not draw (e.g. {missing[0]}): draw the same dilemmas as the run it "
                                 "comes from (its seed, split and warm_start.episodes)")
            self.chosen = dict(self.kept)
            self.report = {"dilemmas": len(distinct), "reused": len(self.chosen), "kept": len(self.chosen),
                           "resolutions": dict(sorted(self.chosen.items()))}  # a later round can reuse it in turn
            return [d for d in dilemmas if d.id in self.chosen]
        best: dict[str, tuple[float, str]] = {}
        judged = failed = 0
        counts: dict[str, int] = {}  # how the judge scored every sample, to see how rare a pass is
        rounds = range(self.samples)
        if self.show_progress:  # minutes on a CPU: one generate call per round
            from rich.progress import track

            rounds = track(rounds, description=f"{self.name}: resolving {len(distinct)} dilemmas alone")
        for k in rounds:  # one call per round: each round's draw has its own seed
            texts = self.resolver.resolve(distinct, seed=seed + 7_919 * k)
            verdicts = self.judge.judge([JudgeRequest(d, t) for d, t in zip(distinct, texts)], seed=seed)
            for d, text, v in zip(distinct, texts, verdicts):
                if v.score is None:
                    failed += 1
                    continue
                judged += 1
                key = f"{v.score:g}"
                counts[key] = counts.get(key, 0) + 1
                if text.strip() and v.score > self.min_score and not v.red_line_violations and \
                        v.score > best.get(d.id, (float("-inf"), ""))[0]:
                    best[d.id] = (v.score, text)
        self.chosen = {i: text for i, (_, text) in best.items()}
        self.report = {"dilemmas": len(distinct), "samples": self.samples, "judged": judged, "judge_failures": failed,
                       "score_counts": dict(sorted(counts.items(), key=lambda kv: float(kv[0]))),
                       "kept": len(best), "kept_mean_score": (sum(sc for sc, _ in best.values()) / len(best)
                                                              if best else None),
                       "resolutions": dict(sorted(self.chosen.items()))}  # so a later run can reuse the selection
        return [d for d in dilemmas if d.id in self.chosen]

    def passes(self, dilemma: Dilemma, text: str, seed: int = 0) -> bool:
        """The bar its own resolutions met: the judge scores ``text`` above ``min_score``, crossing no red line."""
        from parley.agents.judge import JudgeRequest

        key = (dilemma.id, text)
        if self.chosen.get(dilemma.id) is not None and parse_move(f"PROPOSAL: {self.chosen[dilemma.id]}").text == text:
            return True  # its own kept resolution as the table holds it (cut at a blank line or the length limit)
        if key not in self._verdicts:
            [v] = self.judge.judge([JudgeRequest(dilemma, text)], seed=seed)
            self._verdicts[key] = v.score is not None and v.score > self.min_score and not v.red_line_violations
        return self._verdicts[key]

    def act(self, observations: Sequence[DeliberationObservation], seed: int = 0) -> list[str]:
        out = []
        for obs in observations:
            if obs.dilemma.id not in self.chosen:
                raise ValueError(f"{self.name}: no kept resolution for dilemma {obs.dilemma.id}; play only the "
                                 "dilemmas select() returned")
            # It accepts only what it would have kept itself. Accepting whatever is on the table taught the
            # trainee to yield: every trained deliberator accepted scripted:stance's red-line proposal 27 times in
            # 27 (docs/benchmarks.md). Against itself (self-play) every proposal passes, so nothing changes there.
            accept = _acceptance(obs, self.patience)
            if accept and not self.passes(obs.dilemma, _their_latest(obs).text, seed):
                accept = None
            out.append(accept or f"PROPOSAL: {self.chosen[obs.dilemma.id]}")
        return out


SCRIPTED_DELIBERATORS = {
    "scripted:deliberator": ScriptedDeliberator,
    "scripted:stance": lambda: ScriptedDeliberator(name="scripted:stance", proposal="stance"),
}
