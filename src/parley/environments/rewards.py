"""Verifiable rewards: computed by code from the scenario and the outcome, never by a model."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the protocol computes its rewards with these functions
    from parley.environments.bargain import Outcome
    from parley.environments.scenarios import Scenario

OVER_BUDGET_PENALTY = -1.0


def buyer_reward(scenario: Scenario, outcome: Outcome) -> float:
    """(budget - price) / (budget - floor) for a deal in [floor, budget]; -1 above budget; 0 no deal."""
    if not outcome.deal:
        return 0.0
    if outcome.price > scenario.budget + 1e-9:
        return OVER_BUDGET_PENALTY
    span = scenario.budget - scenario.floor
    return max(-1.0, min(1.0, (scenario.budget - outcome.price) / span))


def seller_reward(scenario: Scenario, outcome: Outcome) -> float:
    """(price - floor) / (budget - floor), clipped to [-1, 1]; 0 for no deal.

    The regulated seller cannot sell below its floor, so a deal never makes this negative; above the
    buyer's budget it exceeds 1 and is clipped (the buyer paid more than it could afford).
    """
    if not outcome.deal:
        return 0.0
    span = scenario.budget - scenario.floor
    return max(-1.0, min(1.0, (outcome.price - scenario.floor) / span))
