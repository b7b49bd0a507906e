"""Summary statistics of a set of episodes, with seeded percentile-bootstrap confidence intervals."""

from __future__ import annotations

from collections import defaultdict
from typing import Hashable, Sequence

import numpy as np

from parley.rollout.bargain import BargainEpisode


def bootstrap_ci(values: Sequence[float], confidence: float = 0.95, n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean. A single value (or none) has no spread: (mean, mean)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return (float("nan"), float("nan"))
    if data.size == 1:
        return (float(data[0]), float(data[0]))
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(n_boot, data.size))].mean(axis=1)
    return _percentiles(means, confidence)


def _percentiles(means: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central ``confidence`` interval of the resampled means."""
    alpha = (1 - confidence) / 2
    return (float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha)))


def cluster_bootstrap_ci(values: Sequence[float], clusters: Sequence[Hashable], confidence: float = 0.95,
                         n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean that resamples whole clusters, not single values.

    Why: values that share a cluster are not independent draws. In the bargaining suite every seller meets the same
    scenario (product, budget, floor), and the buyer's first turn is drawn once for all of them (same seed, same
    prompt, same batch position), so the episodes of one scenario pooled over sellers move together; resampling them
    one by one counts each scenario several times over and gives too narrow an interval. The statistic is the mean of
    all values in the resampled clusters. With one value per cluster it is ``bootstrap_ci``, draw for draw.
    """
    if len(values) != len(clusters):
        raise ValueError(f"{len(values)} values but {len(clusters)} cluster labels")
    index: dict[Hashable, int] = {}
    ids = np.asarray([index.setdefault(c, len(index)) for c in clusters], dtype=int)
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return (float("nan"), float("nan"))
    sums, counts = np.bincount(ids, weights=data), np.bincount(ids)
    if len(index) == 1:
        return (float(data.mean()), float(data.mean()))
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(index), size=(n_boot, len(index)))
    return _percentiles(sums[draws].sum(axis=1) / counts[draws].sum(axis=1), confidence)


def mean_or_none(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def summarize(episodes: Sequence[BargainEpisode], seed: int = 0) -> dict:
    n = len(episodes)
    deals = [e for e in episodes if e.outcome.deal]
    buyer = [e.buyer_reward for e in episodes]
    seller = [e.seller_reward for e in episodes]
    per_category: dict[str, list[bool]] = defaultdict(list)
    for e in episodes:
        per_category[e.scenario.product.category].append(e.outcome.deal)
    violations: dict[str, int] = defaultdict(int)
    for e in episodes:
        for v in e.violations:
            violations[v] += 1
    parsed = [t.action.kind.value != "none" for e in episodes for t in e.turns if t.role.value == "buyer"]
    return {
        "episodes": n,
        "agreement_rate": len(deals) / n if n else 0.0,
        "agreement_rate_ci95": bootstrap_ci([float(e.outcome.deal) for e in episodes], seed=seed),
        "buyer_surplus_mean": mean_or_none(buyer),
        "buyer_surplus_ci95": bootstrap_ci(buyer, seed=seed),
        "seller_surplus_mean": mean_or_none(seller),
        "seller_surplus_ci95": bootstrap_ci(seller, seed=seed),
        "over_budget_rate": sum(e.outcome.deal and e.outcome.price > e.scenario.budget for e in episodes) / n if n else 0.0,
        "mean_rounds": mean_or_none([e.outcome.turns for e in episodes]),
        "mean_rounds_to_agreement": mean_or_none([e.outcome.turns for e in deals]),
        "mean_price_over_listing": mean_or_none([e.outcome.price / e.scenario.listing_price for e in deals]),
        "outcomes": {r: sum(e.outcome.reason == r for e in episodes) for r in ("accepted", "walked_away", "max_turns")},
        "buyer_action_parse_rate": mean_or_none([float(p) for p in parsed]),
        "agreement_rate_by_category": {c: sum(v) / len(v) for c, v in sorted(per_category.items())},
        "episodes_by_category": {c: len(v) for c, v in sorted(per_category.items())},
        "seller_violations": dict(violations),
    }
