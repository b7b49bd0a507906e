"""Scenarios: a product plus the buyer's private budget and the seller's private floor.

Following the RLVR bargaining setup (see shared/data/README.md), the seller's floor is the
product's real historical lowest price and the buyer's budget is drawn between that floor and the
listing price, so every scenario has a zone of possible agreement and the buyer cannot simply
accept the listing price without going over budget.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

from parley import ParleyError
from parley.environments.catalog import Product, load_catalog


@dataclass(frozen=True)
class ScenarioConfig:
    # Budget = floor + u * (listing - floor), u ~ Uniform(budget_low, budget_high).
    budget_low: float = 0.4
    budget_high: float = 0.9

    def __post_init__(self) -> None:
        if not 0.0 < self.budget_low <= self.budget_high < 1.0:
            raise ParleyError(
                f"scenario budget range ({self.budget_low}, {self.budget_high}) is invalid: "
                "need 0 < budget_low <= budget_high < 1 so the budget lies between floor and listing"
            )


@dataclass(frozen=True)
class Scenario:
    id: str
    product: Product
    listing_price: float
    budget: float  # buyer's private maximum
    floor: float  # seller's private minimum

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Scenario":
        return cls(**{**d, "product": Product(**d["product"])})


def make_scenario(product: Product, rng: random.Random, config: ScenarioConfig, sid: str) -> Scenario:
    listing = product.listing_price
    floor = product.lowest_price
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
    products = load_catalog(split)
    order = list(range(len(products)))
    random.Random(f"order-{split}-{seed}").shuffle(order)
    scenarios = []
    for i in range(n):
        product = products[order[i % len(order)]]
        rng = random.Random(f"scenario-{split}-{seed}-{i}")
        scenarios.append(make_scenario(product, rng, config, sid=f"{split}-{seed}-{i:05d}"))
    return scenarios
