"""Bargaining episodes played in lockstep (rollout/lockstep.py): at every tick, the episodes whose mover is the
buyer go to the buyer agent in one call, then those whose mover is the seller go to the seller agent, so an LLM
sees one batched ``generate`` per turn instead of one per episode."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from parley.agents.base import Agent
from parley.environments.bargain import BargainEnv, Outcome, ProtocolConfig, Role, TurnRecord
from parley.environments.scenarios import Scenario
from parley.rollout.continuous import play_continuous
from parley.rollout.lockstep import play_batches


ENGINES = ("lockstep", "continuous")  # rollout/lockstep.py, rollout/continuous.py


@dataclass
class BargainEpisode:
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

    @classmethod
    def from_dict(cls, d: dict) -> "BargainEpisode":
        """The episode ``to_dict`` wrote (an episodes file read back: a resumed suite reuses what it played)."""
        return cls(scenario=Scenario.from_dict(d["scenario"]), turns=[TurnRecord.from_dict(t) for t in d["turns"]],
                   outcome=Outcome.from_dict(d["outcome"]), buyer_reward=d["reward"]["buyer"],
                   seller_reward=d["reward"]["seller"], agents=dict(d["agents"]), prompts=dict(d["prompts"]))


def run_bargains(
    scenarios: Sequence[Scenario],
    buyer: Agent,
    seller: Agent,
    protocol: ProtocolConfig | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    on_turn: Callable[[int, int], None] | None = None,
    engine: str = "lockstep",
    seed_keys: Sequence[int] | None = None,
) -> list[BargainEpisode]:
    """Play every scenario to the end. ``batch_size`` caps how many episodes run at once
    (1 = one episode at a time; with ``engine="continuous"``, the decoding slots per model);
    ``on_turn(finished, total)`` reports progress. ``seed_keys`` (continuous only) name each episode in its
    turns' seeds, so that it plays alike whatever else is in the list (rollout/continuous.py)."""
    protocol = protocol or ProtocolConfig()
    agents = {Role.BUYER: buyer, Role.SELLER: seller}
    envs = [BargainEnv(protocol) for _ in scenarios]
    for env, scenario in zip(envs, scenarios):
        env.reset(scenario)
    if engine == "continuous":
        play_continuous(envs, agents, seed, slots=batch_size or 32, on_turn=on_turn, seed_keys=seed_keys)
    elif engine == "lockstep":
        if seed_keys is not None:
            raise ValueError("seed_keys needs engine='continuous': lockstep draws one stream per batch")
        play_batches(envs, agents, (protocol.first_mover, protocol.first_mover.other), seed, batch_size, on_turn)
    else:
        raise ValueError(f"unknown engine {engine!r}: expected {' or '.join(ENGINES)}")
    prompts = {r.value: a.prompt_id for r, a in agents.items() if hasattr(a, "prompt_id")}
    return [_episode(env, {"buyer": buyer.name, "seller": seller.name}, prompts) for env in envs]


def _episode(env: BargainEnv, agents: dict[str, str], prompts: dict[str, str]) -> BargainEpisode:
    rewards = env.rewards()  # once: it scans the turns for format errors under the paper reward
    return BargainEpisode(scenario=env.scenario, turns=env.turns, outcome=env.outcome, buyer_reward=rewards[Role.BUYER],
                          seller_reward=rewards[Role.SELLER], agents=dict(agents), prompts=dict(prompts))
