"""Deliberation agents: an LLM playing a persona, and a scripted one for tests and baselines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import re

from parley.agents.seated import SeatedLLMAgent, seat_dialogue
from parley.environments.deliberation import MAX_PROPOSAL_CHARS, DeliberationObservation
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

    def messages(self, obs: DeliberationObservation) -> Conversation:
        me, other, d = obs.persona, obs.other, obs.dilemma
        system = self._template.render(
            name=me.name, other=other.name, situation=d.situation, options=d.options, stance=me.stance,
            values=me.values, goals=me.goals, red_lines=me.red_lines, other_stance=other.stance, max_turns=obs.max_turns)
        status = (f"{_table(obs)} [Message {obs.turn + 1} of {obs.max_turns}.]"
                  + (" " + " ".join(obs.notices) if obs.notices else ""))
        return seat_dialogue(system, obs.history, obs.speaker, other.name, "The deliberation starts. Say what you think.",
                             status)


@dataclass(frozen=True)
class ScriptedDeliberator:
    """Proposes a resolution; accepts the other's latest proposal once ``patience`` of its own turns
    have passed. Deterministic.

    ``proposal="both-values"`` names both personas' values in one joint plan: the text the rule judge
    rewards (8/10), a baseline and test partner. ``proposal="stance"`` proposes its own starting stance
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
            own_turns = sum(1 for s, _ in obs.history if s == obs.speaker)
            theirs = [p for p in obs.proposals if p.by != obs.speaker]
            me, other = obs.persona, obs.other
            if theirs and own_turns >= self.patience:
                out.append(f"I can live with that. ACCEPT #{theirs[-1].number}")
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


SCRIPTED_DELIBERATORS = {
    "scripted:deliberator": ScriptedDeliberator,
    "scripted:stance": lambda: ScriptedDeliberator(name="scripted:stance", proposal="stance"),
}
