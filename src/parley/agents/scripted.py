"""Scripted counterparts: Faratin-style time-dependent concession, hardliner, tit-for-tat.

Written here rather than taken from NegMAS (AGPL). Each works for either role: the seller concedes
from the listing price down to its floor, the buyer from an opening bid up to its budget. They are
stateless: everything they need is in the observation, so one agent serves a whole batch.

Reference: P. Faratin, C. Sierra, N. R. Jennings, "Negotiation decision functions for autonomous
agents", Robotics and Autonomous Systems 24 (1998).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from parley.environments.actions import Action, ActionKind, format_action
from parley.environments.protocol import Observation, Role

BUYER_OPENING_FRACTION = 0.5  # scripted buyers open at half the listing price (capped at the budget)


def _bounds(obs: Observation) -> tuple[float, float]:
    """(initial, reservation) price for this side."""
    if obs.role is Role.SELLER:
        return obs.listing_price, obs.private_value
    return min(obs.private_value, round(BUYER_OPENING_FRACTION * obs.listing_price, 2)), obs.private_value


def _round_safe(price: float, obs: Observation) -> float:
    # Round towards the side's own interest so rounding never crosses its reservation value.
    cents = price * 100
    return (math.ceil(cents - 1e-6) if obs.role is Role.SELLER else math.floor(cents + 1e-6)) / 100


def _acceptable(obs: Observation, target: float) -> bool:
    if obs.other_offer is None:
        return False
    if obs.role is Role.SELLER:
        return obs.other_offer >= target
    return obs.other_offer <= target


def _turn_text(obs: Observation, target: float) -> str:
    if _acceptable(obs, target):
        return f"That works for me. {format_action(Action(ActionKind.ACCEPT))}"
    offer = format_action(Action(ActionKind.OFFER, target))
    if obs.role is Role.SELLER:
        return f"The best I can do right now is ${target:,.2f}. {offer}"
    return f"I can pay ${target:,.2f}. {offer}"


@dataclass(frozen=True)
class TimeDependentAgent:
    """Offer(t) = initial + alpha(t) * (reservation - initial), alpha(t) = k + (1-k) t^(1/beta).

    beta < 1 is Boulware (holds firm, concedes late), beta = 1 linear, beta > 1 Conceder.
    """

    name: str
    beta: float
    k: float = 0.0

    def target(self, obs: Observation) -> float:
        initial, reservation = _bounds(obs)
        t = min(1.0, obs.turn / max(1, obs.max_turns - 1))
        alpha = self.k + (1 - self.k) * t ** (1 / self.beta)
        return _round_safe(initial + alpha * (reservation - initial), obs)

    def act(self, observations: Sequence[Observation], seed: int = 0) -> list[str]:
        return [_turn_text(o, self.target(o)) for o in observations]


@dataclass(frozen=True)
class HardlinerAgent:
    """Never concedes: repeats its initial price and accepts only that price or better."""

    name: str = "scripted:hardliner"

    def act(self, observations: Sequence[Observation], seed: int = 0) -> list[str]:
        return [_turn_text(o, _round_safe(_bounds(o)[0], o)) for o in observations]


@dataclass(frozen=True)
class TitForTatAgent:
    """Relative tit-for-tat: concedes as much as the opponent conceded in its last move.

    Starts at its initial price; never passes its reservation value.
    """

    name: str = "scripted:tit-for-tat"

    def target(self, obs: Observation) -> float:
        initial, reservation = _bounds(obs)
        mine = obs.offers_by(obs.role)
        theirs = obs.offers_by(obs.role.other)
        if not mine:
            return _round_safe(initial, obs)
        concession = 0.0
        if len(theirs) >= 2:
            moved = theirs[-1] - theirs[-2]  # buyer conceding = raising its bid
            concession = max(0.0, moved if obs.role is Role.SELLER else -moved)
        if obs.role is Role.SELLER:
            return _round_safe(max(reservation, mine[-1] - concession), obs)
        return _round_safe(min(reservation, mine[-1] + concession), obs)

    def act(self, observations: Sequence[Observation], seed: int = 0) -> list[str]:
        return [_turn_text(o, self.target(o)) for o in observations]


SCRIPTED = {
    "boulware": lambda: TimeDependentAgent("scripted:boulware", beta=0.2),
    "linear": lambda: TimeDependentAgent("scripted:linear", beta=1.0),
    "conceder": lambda: TimeDependentAgent("scripted:conceder", beta=5.0),
    "hardliner": HardlinerAgent,
    "tit-for-tat": TitForTatAgent,
}
