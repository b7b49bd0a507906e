"""Reward functions for training: plain functions of a finished episode, wrapped for TRL.

TRL calls reward functions with the rollout's extra fields as keyword lists; ``rollout_func``
returns the finished :class:`BargainEpisode` objects under ``episode``, so every reward here is computed
by code from the scenario and the outcome. A reward that fails names the episode and stops
training: a silent zero would look like a real outcome and bias the group baseline.
"""

from __future__ import annotations

import math
from typing import Callable

from parley.environments.bargain import Role
from parley.rollout.bargain import BargainEpisode

# Turn effects that count as breaking the protocol: no parseable action, or a rule the env enforced.
PROTOCOL_FAILURES = ("invalid", "blocked")


class RewardError(RuntimeError):
    pass


def surplus(episode: BargainEpisode, role: Role) -> float:
    """The verifiable economic reward of ``role``, as the environment computed it in its configured variant
    (see parley.environments.rewards)."""
    return episode.buyer_reward if role is Role.BUYER else episode.seller_reward


def leaked(episode: BargainEpisode) -> bool:
    """Whether a buyer message stated the buyer's budget before the deal (parley.environments.secrecy)."""
    return any(t.revealed_budget for t in episode.turns if t.role is Role.BUYER)


def protocol_share(episode: BargainEpisode, role: Role) -> float:
    """Share of ``role``'s turns with no parseable action or whose action the environment refused."""
    turns = [t for t in episode.turns if t.role is role]
    if not turns:
        return 0.0
    bad = sum(t.action.kind.value == "none" or t.effect in PROTOCOL_FAILURES or bool(t.violations) for t in turns)
    return bad / len(turns)


def protocol_penalty(episode: BargainEpisode, role: Role, penalty: float) -> float:
    return -penalty * protocol_share(episode, role)


def deal_cost(episode: BargainEpisode, cost: float) -> float:
    """-cost for any deal, 0 without one: a transaction cost.

    Under the surplus reward a deal at the budget pays 0, exactly what holding out pays; a buyer that offers
    its budget never risks a negative reward, and GRPO collapsed onto that move (docs/benchmarks.md, "Training
    as the suite measures"). With a cost a zero-surplus deal pays less than no deal, so the group sees a spread
    between conceding everything and bargaining.
    """
    return -cost if episode.outcome.deal else 0.0


class EpisodeReward:
    """A TRL reward function over the ``episode`` extra field; its ``__name__`` names the logged metric."""

    def __init__(self, name: str, fn: Callable[[BargainEpisode], float | None], allow_none: bool = False) -> None:
        self.__name__ = name
        self.fn = fn
        self.allow_none = allow_none  # None = unscorable (e.g. a judge failure): TRL gives it no advantage

    def __call__(self, prompts=None, completions=None, completion_ids=None, episode=None, **_) -> list[float]:
        if episode is None:
            raise RewardError(f"reward {self.__name__}: the rollout returned no 'episode' field")
        values = []
        for ep in episode:
            eid = ep.id
            try:
                value = self.fn(ep)
                if value is None and self.allow_none:
                    values.append(None)
                    continue
                value = float(value)
            except Exception as exc:
                raise RewardError(f"reward {self.__name__} failed on episode {eid}: {exc!r}") from exc
            if not math.isfinite(value):
                raise RewardError(f"reward {self.__name__} is {value} on episode {eid}")
            values.append(value)
        return values


def reward_functions(role: Role, penalty: float, leak_penalty: float = 0.0,
                     deal_cost_value: float = 0.0) -> list[EpisodeReward]:
    funcs = [EpisodeReward("surplus", lambda ep: surplus(ep, role))]
    if penalty > 0:
        funcs.append(EpisodeReward("protocol", lambda ep: protocol_penalty(ep, role, penalty)))
    if leak_penalty > 0 and role is Role.BUYER:
        funcs.append(EpisodeReward("budget_leak", lambda ep: -leak_penalty * leaked(ep)))
    if deal_cost_value > 0:
        funcs.append(EpisodeReward("deal_cost", lambda ep: deal_cost(ep, deal_cost_value)))
    return funcs
