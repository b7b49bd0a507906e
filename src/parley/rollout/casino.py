"""Lockstep engine for CaSiNo negotiations: all unfinished episodes advance together, one batched call per camper."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from parley.environments.casino import CasinoConfig, CasinoEnv, CasinoOutcome, CasinoScenario, CasinoTurn, pareto_optimal
from parley.rollout.lockstep import play_batches


@dataclass
class CasinoEpisode:
    id: str
    scenario: CasinoScenario
    turns: list[CasinoTurn]
    outcome: CasinoOutcome
    points: tuple[int, int]  # each camper's points (the walk-away points without a deal)
    agents: list[str]  # agent name per camper index
    prompts: dict[str, str] = field(default_factory=dict)
    agent_side: int | None = None  # the camper played by the agent under evaluation or training, where there is one

    @property
    def pareto_optimal(self) -> bool | None:
        """Whether the deal's split is Pareto-optimal; None without a deal."""
        return pareto_optimal(self.scenario, self.outcome.shares[0]) if self.outcome.deal else None

    def to_dict(self) -> dict:
        return {"id": self.id, "scenario": self.scenario.model_dump(mode="json"), "agents": self.agents,
                "prompts": self.prompts, "turns": [t.to_dict() for t in self.turns], "outcome": self.outcome.to_dict(),
                "points": list(self.points), "pareto_optimal": self.pareto_optimal, "agent_side": self.agent_side}


def run_casino(
    scenarios: Sequence[CasinoScenario],
    agents: tuple,  # (plays camper 0, plays camper 1)
    config: CasinoConfig | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    on_turn: Callable[[int, int], None] | None = None,
    episode_ids: Sequence[str] | None = None,
) -> list[CasinoEpisode]:
    config = config or CasinoConfig()
    ids = list(episode_ids) if episode_ids is not None else [f"{x.id}#{i}" for i, x in enumerate(scenarios)]
    envs = [CasinoEnv(config) for _ in scenarios]
    for env, x, eid in zip(envs, scenarios, ids):
        env.reset(x, eid)
    play_batches(envs, dict(enumerate(agents)), (config.first_speaker, 1 - config.first_speaker), seed, batch_size, on_turn)
    prompts = {str(i): a.prompt_id for i, a in enumerate(agents) if hasattr(a, "prompt_id")}
    episodes = [CasinoEpisode(
        id=env.episode_id, scenario=env.scenario, turns=env.turns, outcome=env.outcome, points=env.points(),
        agents=[a.name for a in agents], prompts=dict(prompts)) for env in envs]
    return episodes
