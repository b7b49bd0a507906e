"""Bargaining for GRPO: the trainee plays ``role`` against a scripted, LLM-persona or self-play opponent."""

from __future__ import annotations

from typing import Sequence

from parley.agents.bargainer import BargainLLMAgent
from parley.agents.spec import BackendCache, build_agent
from parley.environments.bargain import ProtocolConfig, Role
from parley.environments.scenarios import Scenario
from parley.models.generation import GenerationSettings
from parley.rollout.bargain import BargainEpisode, run_bargains
from parley.training.episode_rollout import EpisodeRollout, silent_trajectory
from parley.training.trajectory import TraineeAgent, Trajectory


class BargainRollout(EpisodeRollout):
    """Bargaining: the trainee plays ``role`` against a scripted, LLM-persona or self-play opponent."""

    def __init__(self, scenarios: Sequence[Scenario], role: Role, opponent: str, protocol: ProtocolConfig,
                 settings: GenerationSettings, seed: int, refresh_steps: int = 10,
                 backends: BackendCache | None = None, persona: str = "standard", engine: str = "lockstep",
                 weights=None) -> None:
        super().__init__(scenarios, opponent, settings, seed, refresh_steps, backends, weights=weights)
        self.role, self.protocol, self.persona, self.engine = role, protocol, persona, engine

    def _llm(self, backend, name: str):
        # The trainee's persona is its own prompt; a self-play copy plays the other role, with that role's standard one.
        if name == "trainee":
            return BargainLLMAgent(name=name, backend=backend, role=self.role, persona=self.persona, settings=self.settings)
        return BargainLLMAgent(name=name, backend=backend, role=self.role.other, settings=self.settings)

    def _fixed_opponent(self, spec: str):
        return build_agent(spec, self.role.other, self.settings, self.backends)

    def _play(self, trainee, opponent, scenarios, seed) -> list[BargainEpisode]:
        buyer, seller = (trainee, opponent) if self.role is Role.BUYER else (opponent, trainee)
        return run_bargains(scenarios, buyer, seller, self.protocol, seed=seed, batch_size=self.settings.batch_size,
                            engine=self.engine)

    def _silent(self, trainee: TraineeAgent, episode: BargainEpisode) -> Trajectory:
        from parley.environments.bargain import BargainEnv

        env = BargainEnv(self.protocol)
        env.reset(episode.scenario)
        return silent_trajectory(trainee, env.observe(self.role))

    def evaluate(self, scenarios: Sequence[Scenario], seed: int) -> tuple[dict, list[dict]]:
        from parley.evaluation.behaviour import behaviour_metrics
        from parley.evaluation.stats import bootstrap_ci

        episodes, _ = self.play(scenarios, seed)
        metrics = behaviour_metrics(episodes, self.role)
        rewards = [e.buyer_reward if self.role is Role.BUYER else e.seller_reward for e in episodes]
        metrics["mean_reward_ci95"] = bootstrap_ci(rewards, seed=self.seed)
        return metrics, [e.to_dict() for e in episodes]
