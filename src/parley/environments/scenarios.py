"""Scenarios: a product plus the buyer's private budget and the seller's private floor.

The seller's floor is the product's real historical lowest price (or the floor a user catalog gives). The
buyer's budget follows one of three rules (``ScenarioConfig.budget_rule``):

- ``uniform`` (the default): budget = floor + u x (listing - floor), u ~ Uniform(budget_low, budget_high).
  Every scenario has a zone of agreement (*mutual interest*, MI), and the buyer cannot simply accept the
  listing price without going over budget.
- ``listing-fraction``: budget = f x listing (f = 0.8, as the RLVR replications read arXiv 2604.09855). Where
  the historical low is above 0.8 x listing, no deal within budget exists (*conflicting interest*, CI) and
  the rational buyer ends without one. In the packaged test split that is 10 of 140 products.
- ``mixed``: exactly ``conflict_share`` of the scenarios are CI, spread evenly along the index (scenario i is
  CI when floor((i+1) s) > floor(i s)): a CI budget lies below the floor, budget = floor x (1 - g),
  g ~ Uniform(conflict_gap_low, conflict_gap_high); the others follow ``uniform``.

Every rule keeps a scenario a pure function of (split, seed, index).
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from typing import Literal

from parley import ParleyError
from parley.environments.catalog import Product, load_catalog

BudgetRule = Literal["uniform", "listing-fraction", "mixed"]
BUDGET_RULES = ("uniform", "listing-fraction", "mixed")
Interest = Literal["mutual", "conflicting"]


@dataclass(frozen=True)
class ScenarioConfig:
    budget_rule: str = "uniform"
    # uniform (and mixed's MI scenarios): budget = floor + u (listing - floor), u ~ U(budget_low, budget_high)
    budget_low: float = 0.4
    budget_high: float = 0.9
    # listing-fraction: budget = listing_fraction x listing
    listing_fraction: float = 0.8
    # mixed: the share of CI scenarios, and how far below the floor a CI budget lies (a fraction of the floor)
    conflict_share: float = 0.5
    conflict_gap_low: float = 0.05
    conflict_gap_high: float = 0.30
    # A JSONL or CSV product file (environments/catalog.py) instead of the packaged catalog
    catalog: str | None = None

    def __post_init__(self) -> None:
        if self.budget_rule not in BUDGET_RULES:
            raise ParleyError(f"unknown budget rule {self.budget_rule!r}; expected one of {', '.join(BUDGET_RULES)}")
        if not 0.0 < self.budget_low <= self.budget_high < 1.0:
            raise ParleyError(
                f"scenario budget range ({self.budget_low}, {self.budget_high}) is invalid: "
                "need 0 < budget_low <= budget_high < 1 so the budget lies between floor and listing"
            )
        if not 0.0 < self.listing_fraction <= 1.0:
            raise ParleyError(f"listing_fraction must be in (0, 1], got {self.listing_fraction}")
        if not 0.0 <= self.conflict_share <= 1.0:
            raise ParleyError(f"conflict_share must be in [0, 1], got {self.conflict_share}")
        if not 0.0 < self.conflict_gap_low <= self.conflict_gap_high < 1.0:
            raise ParleyError(f"conflict gap ({self.conflict_gap_low}, {self.conflict_gap_high}) is invalid: "
                              "need 0 < conflict_gap_low <= conflict_gap_high < 1 (a fraction of the floor)")


@dataclass(frozen=True)
class Scenario:
    id: str
    product: Product
    listing_price: float
    budget: float  # buyer's private maximum
    floor: float  # seller's private minimum

    @property
    def interest(self) -> Interest:
        """``mutual`` when a deal within the budget exists (floor <= budget), else ``conflicting``."""
        return "mutual" if self.floor <= self.budget + 1e-9 else "conflicting"

    def to_dict(self) -> dict:
        return asdict(self) | {"interest": self.interest}

    @classmethod
    def from_dict(cls, d: dict) -> "Scenario":
        d = {k: v for k, v in d.items() if k != "interest"}
        return cls(**{**d, "product": Product(**d["product"])})


def is_conflict_index(index: int, share: float) -> bool:
    """Whether scenario ``index`` of a ``mixed`` draw is CI: exactly floor(n x share) of the first n are."""
    return math.floor((index + 1) * share + 1e-9) > math.floor(index * share + 1e-9)


def make_scenario(product: Product, rng: random.Random, config: ScenarioConfig, sid: str, index: int = 0) -> Scenario:
    listing = product.listing_price
    floor = product.lowest_price
    if config.budget_rule == "listing-fraction":
        budget = round(config.listing_fraction * listing, 2)
    elif config.budget_rule == "mixed" and is_conflict_index(index, config.conflict_share):
        gap = rng.uniform(config.conflict_gap_low, config.conflict_gap_high)
        budget = max(0.01, round(floor * (1 - gap), 2))
        if budget >= floor:  # a floor of a cent or two: no budget below it can be written in cents
            budget = max(0.0, floor - 0.01)
    else:
        u = rng.uniform(config.budget_low, config.budget_high)
        budget = round(floor + u * (listing - floor), 2)
    return Scenario(id=sid, product=product, listing_price=listing, budget=budget, floor=floor)


def sample_scenarios(split: str, n: int, seed: int, config: ScenarioConfig | None = None) -> list[Scenario]:
    """n scenarios over the split's products, reproducible from the seed.

    Products are visited in a seeded shuffled order and cycled when n exceeds the split size,
    so a small n covers n distinct products.
    """
    if n < 1:
        raise ParleyError(f"number of episodes must be at least 1, got {n}")
    config = config or ScenarioConfig()
    products = load_catalog(split, config.catalog)
    order = list(range(len(products)))
    random.Random(f"order-{split}-{seed}").shuffle(order)
    scenarios = []
    for i in range(n):
        product = products[order[i % len(order)]]
        rng = random.Random(f"scenario-{split}-{seed}-{i}")
        scenarios.append(make_scenario(product, rng, config, sid=f"{split}-{seed}-{i:05d}", index=i))
    return scenarios
