"""Verifiable rewards: computed by code from the scenario and the outcome, never by a model.

Two buyer rewards (``ProtocolConfig.reward``):

- ``surplus`` (Parley's): (budget - price) / (budget - floor) for a deal within budget, -1 above budget, 0 with
  no deal. In a conflicting-interest scenario (budget < floor) every possible deal is above budget.
- ``paper`` (arXiv 2604.09855 as its replications implement it): (budget - price) / |budget - floor|, clipped
  to [-1, 1]; no deal 0; a deal above budget, or any malformed action of the buyer, -1. Under the strict
  protocol (the paper's) every turn without a valid action is malformed; under the lenient one plain talk is a
  legal turn and only a tag it cannot read ("OFFER: $abc") is (``TurnRecord.malformed``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # the protocol computes its rewards with these functions
    from parley.environments.bargain import Outcome
    from parley.environments.scenarios import Scenario

OVER_BUDGET_PENALTY = -1.0
MALFORMED_PENALTY = -1.0
RewardVariant = Literal["surplus", "paper"]
REWARD_VARIANTS = ("surplus", "paper")


def _span(scenario: Scenario) -> float:
    # |budget - floor|: a CI scenario has budget < floor. A zero span (budget exactly at the floor) leaves one
    # possible in-budget price, worth 0; the cent keeps the division finite.
    return max(abs(scenario.budget - scenario.floor), 0.01)


def buyer_reward(scenario: Scenario, outcome: Outcome) -> float:
    """(budget - price) / (budget - floor) for a deal in [floor, budget]; -1 above budget; 0 no deal."""
    if not outcome.deal:
        return 0.0
    if outcome.price > scenario.budget + 1e-9:
        return OVER_BUDGET_PENALTY
    return max(-1.0, min(1.0, (scenario.budget - outcome.price) / _span(scenario)))


def paper_buyer_reward(scenario: Scenario, outcome: Outcome, malformed: bool) -> float:
    """The paper's variant: -1 for a malformed buyer action or a deal above budget, else the clipped surplus."""
    # Otherwise the same as the surplus reward: both clip (budget - price) / |budget - floor| and give -1 over budget.
    return MALFORMED_PENALTY if malformed else buyer_reward(scenario, outcome)


def seller_reward(scenario: Scenario, outcome: Outcome) -> float:
    """(price - floor) / |budget - floor|, clipped to [-1, 1]; 0 for no deal.

    The regulated seller cannot sell below its floor, so a deal never makes this negative; above the
    buyer's budget it exceeds 1 and is clipped (the buyer paid more than it could afford).
    """
    if not outcome.deal:
        return 0.0
    return max(-1.0, min(1.0, (outcome.price - scenario.floor) / _span(scenario)))
