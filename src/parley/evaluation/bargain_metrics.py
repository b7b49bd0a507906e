"""The bargaining metrics the field reports, computed by code from finished episodes, with 95% bootstrap CIs.

Reported for all episodes and separately for mutual-interest (MI: floor <= budget) and conflicting-interest
(CI: budget < floor) scenarios. The CIs resample scenarios, not episodes: the replicas of one scenario (the
suite's --rollouts) share its product, budget and floor, so they are not independent draws. Definitions (README,
"The bargaining evaluation suite"):

=========================  =======================================================================================
deal_rate                  share of episodes that end in a deal
buyer_reward               mean buyer reward in the run's variant (surplus: (budget - price)/(budget - floor) within
                           budget, -1 above it, 0 without a deal)
paper_reward               mean of the paper's variant: (budget - price)/|budget - floor| clipped to [-1, 1], no deal 0,
                           over budget or any malformed buyer action -1 (strict: any turn without a valid action;
                           lenient: a tag it could not read, as "OFFER: $abc"; plain talk is a legal lenient turn)
overshoot_rate             share of episodes that end in a deal above the buyer's budget
first_offer_ratio          the buyer's first offer / listing price (episodes where the buyer offered)
captured_room              (listing - price) / (listing - floor) over deals: the share of the seller's room the buyer
                           won (not the RLVR paper's "bargained ratio", whose formula we have not verified)
buyer_format_error_rate    buyer turns without a valid action / buyer turns (ratio; episodes resampled)
seller_format_error_rate   the same for the seller's turns
ci_rational_exit           CI only: share of episodes that end without a deal (the rational outcome)
mean_turns                 turns played, both sides together
budget_leak_rate           share of episodes where a buyer message stated the budget before the deal
budget_offer_rate          share of episodes where the buyer offered exactly its budget (to the cent): an offer is a
                           public move, so the leak rate exempts it, but a buyer that always offers its budget tells a
                           seller who learns the pattern (the collapse of docs/benchmarks.md, "Training as the suite
                           measures")
=========================  =======================================================================================
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

import numpy as np

from parley.environments.bargain import Role
from parley.environments.rewards import paper_buyer_reward
from parley.evaluation.stats import cluster_bootstrap_ci
from parley.rollout.bargain import BargainEpisode

GROUPS = ("all", "mutual", "conflicting")
METRICS = ("deal_rate", "buyer_reward", "paper_reward", "overshoot_rate", "first_offer_ratio", "captured_room",
           "buyer_format_error_rate", "seller_format_error_rate", "ci_rational_exit", "mean_turns", "budget_leak_rate",
           "budget_offer_rate")


_REPLICA = re.compile(r"/r\d+$")


def replica_id(scenario_id: str, rollout: int) -> str:
    """The id of a scenario's ``rollout``-th replica (an episode id must be unique in a batch)."""
    return f"{scenario_id}/r{rollout}"


def scenario_of(scenario_id: str) -> str:
    """The scenario a (possibly replicated) scenario id stands for: the unit the CIs resample."""
    return _REPLICA.sub("", scenario_id)


def _stat(values: Sequence[tuple[float, str]], seed: int) -> dict:
    """values: (value, scenario) pairs."""
    if not len(values):
        return {"mean": None, "ci95": None, "n": 0}
    data = [v for v, _ in values]
    lo, hi = cluster_bootstrap_ci(data, [c for _, c in values], seed=seed)
    return {"mean": float(np.mean(data)), "ci95": [lo, hi], "n": len(data)}


def _ratio(pairs: Sequence[tuple[int, int, str]], seed: int, n_boot: int = 2000) -> dict:
    """sum(numerators) / sum(denominators), with a CI from resampling scenarios (turns of one episode, and the
    replicas of one scenario, are not independent, so they are resampled together)."""
    totals: dict[str, list[float]] = {}
    for a, b, scenario in pairs:
        if b > 0:
            total = totals.setdefault(scenario, [0.0, 0.0])
            total[0] += a
            total[1] += b
    if not totals:
        return {"mean": None, "ci95": None, "n": 0}
    num = np.array([a for a, _ in totals.values()], dtype=float)
    den = np.array([b for _, b in totals.values()], dtype=float)
    mean = float(num.sum() / den.sum())
    if len(totals) == 1:
        return {"mean": mean, "ci95": [mean, mean], "n": int(den.sum())}
    idx = np.random.default_rng(seed).integers(0, len(totals), size=(n_boot, len(totals)))
    ratios = num[idx].sum(axis=1) / den[idx].sum(axis=1)
    return {"mean": mean, "ci95": [float(np.quantile(ratios, 0.025)), float(np.quantile(ratios, 0.975))],
            "n": int(den.sum())}


def _format_errors(e: BargainEpisode, role: Role) -> tuple[int, int, str]:
    turns = [t for t in e.turns if t.role is role]
    return sum(t.format_error for t in turns), len(turns), scenario_of(e.scenario.id)


def _first_offer(e: BargainEpisode) -> float | None:
    offers = [t.action.price for t in e.turns if t.role is Role.BUYER and t.effect == "offer"]
    return offers[0] / e.scenario.listing_price if offers else None


def _captured(e: BargainEpisode) -> float | None:
    room = e.scenario.listing_price - e.scenario.floor
    if not e.outcome.deal or room <= 0:
        return None
    return (e.scenario.listing_price - e.outcome.price) / room


def _leaked(e: BargainEpisode) -> bool:
    return any(t.revealed_budget for t in e.turns if t.role is Role.BUYER)


def _offered_budget(e: BargainEpisode) -> bool:
    return any(t.effect == "offer" and abs(t.action.price - e.scenario.budget) < 0.005
               for t in e.turns if t.role is Role.BUYER)


def _paper(e: BargainEpisode) -> float:
    return paper_buyer_reward(e.scenario, e.outcome, any(t.malformed for t in e.turns if t.role is Role.BUYER))


def _values(episodes: Sequence[BargainEpisode], fn: Callable[[BargainEpisode], float | None]) -> list[tuple[float, str]]:
    """(value, scenario) of every episode where ``fn`` has a value."""
    return [(float(v), scenario_of(e.scenario.id)) for e in episodes if (v := fn(e)) is not None]


def group_metrics(episodes: Sequence[BargainEpisode], seed: int = 0) -> dict:
    """Every metric over ``episodes``; ``ci_rational_exit`` only where CI episodes are among them."""
    ci = [e for e in episodes if e.scenario.interest == "conflicting"]
    return {
        "episodes": len(episodes),
        "deal_rate": _stat(_values(episodes, lambda e: e.outcome.deal), seed),
        "buyer_reward": _stat(_values(episodes, lambda e: e.buyer_reward), seed),
        "paper_reward": _stat(_values(episodes, _paper), seed),
        "overshoot_rate": _stat(_values(episodes, lambda e: e.outcome.deal and e.outcome.price > e.scenario.budget + 1e-9), seed),
        "first_offer_ratio": _stat(_values(episodes, _first_offer), seed),
        "captured_room": _stat(_values(episodes, _captured), seed),
        "buyer_format_error_rate": _ratio([_format_errors(e, Role.BUYER) for e in episodes], seed),
        "seller_format_error_rate": _ratio([_format_errors(e, Role.SELLER) for e in episodes], seed),
        "ci_rational_exit": _stat(_values(ci, lambda e: not e.outcome.deal), seed),
        "mean_turns": _stat(_values(episodes, lambda e: e.outcome.turns), seed),
        "budget_leak_rate": _stat(_values(episodes, _leaked), seed),
        "budget_offer_rate": _stat(_values(episodes, _offered_budget), seed),
    }


def bargain_metrics(episodes: Sequence[BargainEpisode], seed: int = 0) -> dict:
    """``{"all": ..., "mutual": ..., "conflicting": ...}``, each from :func:`group_metrics`."""
    return {
        "all": group_metrics(episodes, seed),
        "mutual": group_metrics([e for e in episodes if e.scenario.interest == "mutual"], seed),
        "conflicting": group_metrics([e for e in episodes if e.scenario.interest == "conflicting"], seed),
    }
