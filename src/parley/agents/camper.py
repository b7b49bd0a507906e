"""CaSiNo campers: an LLM camper on any backend, and scripted campers as counterparts, baselines and teachers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from parley.environments.casino import (
    ALL_SPLITS, ITEMS, PACKAGES, POINTS, WALK_AWAY_POINTS, CasinoObservation, Share, other_share,
)
from parley.agents.seated import SeatedLLMAgent, seat_dialogue
from parley.models.backends import Conversation

PROMPT = "camper"


def describe(share: Share | None) -> str:
    return "none" if share is None else ", ".join(f"{item} {n}" for item, n in zip(ITEMS, share))


def offer_line(share: Share) -> str:
    return f"OFFER: {describe(share)}"


def _status(obs: CasinoObservation) -> str:
    theirs = obs.other_offer
    offer = "none" if theirs is None else f"they keep {describe(theirs)}, so you would get {describe(other_share(theirs))}"
    return (f"[Message {obs.turn + 1} of {obs.max_turns}. The other camper's current offer: {offer}. "
            f"Your current offer: you keep {describe(obs.own_offer)}.]")


class CamperLLMAgent(SeatedLLMAgent):
    """Either camper (the observation says which), on any backend; the same model can play both."""

    PROMPT = PROMPT

    def messages(self, obs: CasinoObservation) -> Conversation:
        camper = obs.camper
        system = self._template.render(ranked=camper.ranked(), priorities=camper.priorities, reasons=camper.reasons,
                                       points={i: POINTS[camper.priorities[i]] for i in ITEMS}, max_turns=obs.max_turns)
        status = _status(obs) + (" " + " ".join(obs.notices) if obs.notices else "")
        return seat_dialogue(system, obs.history, obs.speaker, "Other camper", "The negotiation starts. Say what you need.",
                             status)


def _guess_other_points(obs: CasinoObservation) -> dict[str, int]:
    """The other camper's points per item as its own offer suggests: what it keeps most of, it values most.
    Without an offer every item is worth the middle value."""
    if obs.other_offer is None:
        return {item: POINTS["medium"] for item in ITEMS}
    order = sorted(ITEMS, key=lambda item: (-obs.other_offer[ITEMS.index(item)], ITEMS.index(item)))
    return dict(zip(order, sorted(POINTS.values(), reverse=True)))


@dataclass(frozen=True)
class ScriptedCamper:
    """Asks for a target number of points that falls from ``start`` to ``end`` over its turns; accepts the
    other's offer once it gives at least the current target; otherwise offers, among the splits that meet the
    target, the one best for the other camper. On its last chance to close a deal it takes any offer worth more
    than walking away (``logroll``: as guessed from the other's offers; otherwise the one
    that gives away the most packages). Deterministic: no seed is used.
    """

    name: str
    start: int = 28
    end: int = 18
    logroll: bool = True

    def _target(self, obs: CasinoObservation) -> float:
        progress = min(1.0, obs.turn / max(1, obs.max_turns - 2))
        return self.start - (self.start - self.end) * progress

    def act(self, observations: Sequence[CasinoObservation], seed: int = 0) -> list[str]:
        out = []
        for obs in observations:
            me = obs.camper
            target = self._target(obs)
            last_chance = obs.turns_left <= 2  # the other's reply would be the last message: a deal must close now
            if obs.other_offer is not None and (me.points(other_share(obs.other_offer)) >= target
                                                or (last_chance and me.points(other_share(obs.other_offer)) > WALK_AWAY_POINTS)):
                out.append("That works for me.\nACCEPT")
                continue
            theirs = _guess_other_points(obs) if self.logroll else {item: POINTS["medium"] for item in ITEMS}
            candidates = [s for s in ALL_SPLITS if me.points(s) >= target] or [(PACKAGES,) * len(ITEMS)]
            best = max(candidates, key=lambda s: (sum(theirs[i] * n for i, n in zip(ITEMS, other_share(s))),
                                                  me.points(s), s))
            top = me.ranked()[0]
            out.append(f"I need {top} most: {me.reasons[top]}\n{offer_line(best)}")
        return out


SCRIPTED_CAMPERS = {
    # concedes from 28 to 18 points and trades what the other seems to value for what it values (integrative)
    "scripted:logroller": lambda: ScriptedCamper("scripted:logroller", 28, 18, logroll=True),
    # asks for nearly everything and concedes little
    "scripted:greedy": lambda: ScriptedCamper("scripted:greedy", 32, 24, logroll=False),
    # settles for about half the points from the start
    "scripted:fair": lambda: ScriptedCamper("scripted:fair", 20, 16, logroll=False),
}
