"""Deliberation agents: an LLM playing a persona, and a scripted one for tests and baselines."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Sequence

from parley.models import prompts
from parley.models.backends import Backend, Completion, Conversation
from parley.models.generation import GenerationSettings
from parley.environments.deliberation import DeliberationObservation

PROMPT = "deliberator"


def _table(obs: DeliberationObservation) -> str:
    names = [p.name for p in obs.dilemma.personas]
    if not obs.proposals:
        return "[No proposals yet.]"
    return "[Proposals: " + " ".join(f"#{p.number} by {names[p.by]}: {p.text}" for p in obs.proposals) + "]"


@dataclass
class DeliberationLLMAgent:
    """Either persona (the observation says which), on any backend; the same model can play both."""

    name: str
    backend: Backend
    settings: GenerationSettings = field(default_factory=GenerationSettings)
    last_completions: list[Completion] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._ns = uuid.uuid4().hex
        self.prompt_id, self._template = prompts.load(PROMPT)

    def messages(self, obs: DeliberationObservation) -> Conversation:
        me, other, d = obs.persona, obs.other, obs.dilemma
        system = self._template.render(
            name=me.name, other=other.name, situation=d.situation, options=d.options, stance=me.stance,
            values=me.values, goals=me.goals, red_lines=me.red_lines, other_stance=other.stance, max_turns=obs.max_turns)
        messages: Conversation = [{"role": "system", "content": system}]
        for speaker, text in obs.history:
            if speaker == obs.speaker:
                if len(messages) == 1:
                    messages.append({"role": "user", "content": "The deliberation starts. Say what you think."})
                messages.append({"role": "assistant", "content": text})
            else:
                messages.append({"role": "user", "content": f"{other.name}: {text}"})
        if messages[-1]["role"] != "user":
            messages.append({"role": "user", "content": "The deliberation starts. Say what you think." if len(messages) == 1 else ""})
        messages[-1]["content"] = (messages[-1]["content"] + f"\n{_table(obs)} [Message {obs.turn + 1} of {obs.max_turns}.]"
                                   + (" " + " ".join(obs.notices) if obs.notices else "")).strip()
        return messages

    def act(self, observations: Sequence[DeliberationObservation], seed: int) -> list[str]:
        keys = [f"{self._ns}/{o.episode_id}/{o.speaker}" for o in observations]
        self.last_completions = self.backend.generate([self.messages(o) for o in observations], self.settings, seed, keys=keys)
        return [c.text.strip() for c in self.last_completions]

    def forget(self, episode_ids: Sequence[str]) -> None:
        forget = getattr(self.backend, "forget", None)
        if forget:
            forget([f"{self._ns}/{e}/{s}" for e in episode_ids for s in (0, 1)])


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


SCRIPTED_DELIBERATORS = {
    "scripted:deliberator": ScriptedDeliberator,
    "scripted:stance": lambda: ScriptedDeliberator(name="scripted:stance", proposal="stance"),
}
