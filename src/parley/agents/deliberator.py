"""Deliberation agents: an LLM playing a persona, and a scripted one for tests and baselines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from parley.agents.seated import SeatedLLMAgent, seat_dialogue
from parley.environments.deliberation import DeliberationObservation
from parley.models.backends import Conversation

PROMPT = "deliberator"


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
