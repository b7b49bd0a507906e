"""Batched dialogue engine: all unfinished episodes advance in lockstep.

At every tick, the episodes whose mover is the buyer go to the buyer agent in one call, then
those whose mover is the seller go to the seller agent, so an LLM sees one batched ``generate``
per turn instead of one per episode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from parley.agents.base import Agent
from parley.environments.protocol import BargainEnv, Outcome, ProtocolConfig, Role, TurnRecord
from parley.environments.rewards import buyer_reward, seller_reward
from parley.environments.scenarios import Scenario


@dataclass
class Episode:
    scenario: Scenario
    turns: list[TurnRecord]
    outcome: Outcome
    buyer_reward: float
    seller_reward: float
    agents: dict[str, str] = field(default_factory=dict)  # role -> agent name
    prompts: dict[str, str] = field(default_factory=dict)  # role -> prompt id (LLM agents)

    @property
    def id(self) -> str:
        """The episode's id (its scenario's), as every game's episode has one."""
        return self.scenario.id

    @property
    def violations(self) -> list[str]:
        return [v for t in self.turns for v in t.violations]

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "scenario": self.scenario.to_dict(),
            "agents": self.agents,
            "prompts": self.prompts,
            "turns": [t.to_dict() for t in self.turns],
            "outcome": self.outcome.to_dict(),
            "reward": {"buyer": self.buyer_reward, "seller": self.seller_reward},
            "violations": self.violations,
        }


def _tick_seed(seed: int, chunk: int, tick: int) -> int:
    return (seed * 1_000_003 + chunk * 10_007 + tick) % (2**31)


def play_lockstep(envs: Sequence, agents: Mapping, order: Sequence, seed: int, chunk_index: int,
                  on_tick: Callable[[int], None] | None = None) -> None:
    """Advance AEC-style environments (``done``, ``agent_selection``, ``observe``, ``step``) to the end:
    each tick, every side in ``order`` takes one batched turn in all episodes where it is to move.
    ``agents`` maps a side to its agent; ``on_tick(finished)`` reports progress."""
    tick = 0
    while not all(env.done for env in envs):
        for side in order:
            active = [env for env in envs if not env.done and env.agent_selection == side]
            if not active:
                continue
            texts = agents[side].act([env.observe(side) for env in active], seed=_tick_seed(seed, chunk_index, tick))
            if len(texts) != len(active):
                raise RuntimeError(f"agent {agents[side].name} returned {len(texts)} turns for {len(active)} episodes")
            for env, text in zip(active, texts):
                env.step(text)
            tick += 1
        if on_tick:
            on_tick(sum(env.done for env in envs))


def run_episodes(
    scenarios: Sequence[Scenario],
    buyer: Agent,
    seller: Agent,
    protocol: ProtocolConfig | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    on_turn: Callable[[int, int], None] | None = None,
) -> list[Episode]:
    """Play every scenario to the end. ``batch_size`` caps how many episodes run at once
    (1 = one episode at a time); ``on_turn(finished, total)`` reports progress."""
    protocol = protocol or ProtocolConfig()
    agents = {Role.BUYER: buyer, Role.SELLER: seller}
    batch_size = batch_size or len(scenarios)
    episodes: list[Episode] = []
    finished = 0
    for chunk_index, start in enumerate(range(0, len(scenarios), batch_size)):
        chunk = scenarios[start:start + batch_size]
        envs = [BargainEnv(protocol) for _ in chunk]
        for env, scenario in zip(envs, chunk):
            env.reset(scenario)
        play_lockstep(envs, agents, (protocol.first_mover, protocol.first_mover.other), seed, chunk_index,
                      on_turn and (lambda done, f=finished: on_turn(f + done, len(scenarios))))
        for agent in agents.values():
            if hasattr(agent, "forget"):
                agent.forget([env.scenario.id for env in envs])
        for env in envs:
            episodes.append(Episode(
                scenario=env.scenario, turns=env.turns, outcome=env.outcome,
                buyer_reward=buyer_reward(env.scenario, env.outcome),
                seller_reward=seller_reward(env.scenario, env.outcome),
                agents={"buyer": buyer.name, "seller": seller.name},
                prompts={r.value: getattr(a, "prompt_id") for r, a in agents.items() if hasattr(a, "prompt_id")},
            ))
        finished += len(chunk)
    return episodes
