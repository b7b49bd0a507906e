"""CaSiNo for GRPO: the trainee plays one camper against a scripted camper, any LLM or a frozen copy of itself.

Within each GRPO group the trainee alternates seats (even rollouts camper 0, odd rollouts camper 1), so neither
seat nor the first move is favoured. The reward is the trainee's own points over the 36 it could get at most:
verifiable by code, the walk-away points (5/36) without a deal.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from parley.agents.camper import CamperLLMAgent
from parley.environments.casino import MAX_POINTS, CasinoConfig, CasinoEnv, CasinoScenario
from parley.models.generation import GenerationSettings
from parley.rollout.casino import CasinoEpisode, run_casino
from parley.training.episode_rollout import TwoSeatRollout


class CasinoRollout(TwoSeatRollout):
    def __init__(self, scenarios: Sequence[CasinoScenario], opponent: str, protocol: CasinoConfig,
                 settings: GenerationSettings, seed: int, refresh_steps: int = 10, backends=None,
                 seating: str = "alternate", weights=None) -> None:
        super().__init__(scenarios, opponent, settings, seed, refresh_steps, backends, seating, weights=weights)
        self.protocol = protocol

    def _llm(self, backend, name: str):
        return CamperLLMAgent(name=name, backend=backend, settings=self.settings)

    def _fixed_opponent(self, spec: str):
        from parley.agents.spec import build_camper

        return build_camper(spec, self.settings, self.backends)

    def _run(self, scenarios, agents, seed, ids) -> list[CasinoEpisode]:
        return run_casino(scenarios, agents, self.protocol, seed=seed, batch_size=self.settings.batch_size, episode_ids=ids)

    def _finish(self, episodes, seated, seed) -> list[CasinoEpisode]:
        # the reward functions read the trainee's seat from the episode
        return [dataclasses.replace(e, agent_side=k.side) for e, k in zip(episodes, seated)]

    def _start(self, episode: CasinoEpisode) -> CasinoEnv:
        env = CasinoEnv(self.protocol)
        env.reset(episode.scenario, episode.id)
        return env

    def evaluate(self, scenarios: Sequence[CasinoScenario], seed: int) -> tuple[dict, list[dict]]:
        from parley.evaluation.casino_arena import summarize_casino

        episodes, _ = self.play(scenarios, seed)
        summary = summarize_casino(episodes, [e.agent_side for e in episodes], seed=self.seed)
        summary["mean_reward"] = summary["agent_points_mean"] / MAX_POINTS
        summary["mean_reward_ci95"] = [x / MAX_POINTS for x in summary["agent_points_ci95"]]
        return summary, [e.to_dict() for e in episodes]


def points_share(episode: CasinoEpisode) -> float:
    """The trainee's points / 36 (the walk-away 5/36 without a deal)."""
    return episode.points[episode.agent_side] / MAX_POINTS


def refused_move_share(episode: CasinoEpisode) -> float:
    """Share of the trainee's turns whose move the environment refused (malformed, several moves, nothing to accept)."""
    turns = [t for t in episode.turns if t.speaker == episode.agent_side]
    return sum(t.effect == "refused" for t in turns) / len(turns) if turns else 0.0
