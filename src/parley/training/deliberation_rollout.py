"""Deliberation self-play for GRPO: the trainee plays one persona, a frozen copy (or any agent) the other.

Within each GRPO group the trainee alternates sides (even rollouts persona 0, odd rollouts persona 1),
so neither persona is favoured. Agreements are judged in one batch after the episodes end; the
verdict travels with the episode to the reward function (``collective_agency``).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from parley.models.generation import GenerationSettings
from parley.agents.deliberator import DeliberationLLMAgent
from parley.environments.deliberation import DeliberationConfig, DeliberationEnv
from parley.environments.dilemmas import Dilemma
from parley.rollout.deliberation import DeliberationEpisode, run_deliberations, with_verdicts
from parley.training.episode_rollout import EpisodeRollout, silent_trajectory
from parley.training.trajectory import TraineeAgent, Trajectory


@dataclasses.dataclass(frozen=True)
class _Keyed:
    """A dilemma with the unique episode id of one rollout and the side the trainee plays."""

    id: str
    dilemma: Dilemma
    side: int


class DeliberationRollout(EpisodeRollout):
    def __init__(self, dilemmas: Sequence[Dilemma], opponent: str, protocol: DeliberationConfig,
                 settings: GenerationSettings, judge, seed: int, refresh_steps: int = 10, backends=None) -> None:
        super().__init__(dilemmas, opponent, settings, seed, refresh_steps, backends)
        self.protocol, self.judge = protocol, judge

    def _llm(self, backend, name: str):
        return DeliberationLLMAgent(name=name, backend=backend, settings=self.settings)

    def _fixed_opponent(self):
        from parley.agents.spec import build_deliberator

        return build_deliberator(self.opponent_spec, self.settings, self.backends)

    def _unique(self, scenario, key: str, step: int, index: int):
        return _Keyed(f"{key}@{step}.{index}", scenario, index % 2)

    def _play(self, trainee: TraineeAgent, opponent, keyed: Sequence, seed: int) -> list[DeliberationEpisode]:
        keyed = [k if isinstance(k, _Keyed) else _Keyed(f"{k.id}#{i}", k, i % 2) for i, k in enumerate(keyed)]
        episodes: dict[str, DeliberationEpisode] = {}
        for side in (0, 1):
            group = [k for k in keyed if k.side == side]
            if group:
                agents = (trainee, opponent) if side == 0 else (opponent, trainee)
                for e in run_deliberations([k.dilemma for k in group], agents, self.protocol, seed=seed + side,
                                           batch_size=self.settings.batch_size, episode_ids=[k.id for k in group]):
                    episodes[e.id] = e
        judged = with_verdicts([episodes[k.id] for k in keyed], self.judge, seed=seed)
        self.sides = {k.id: k.side for k in keyed}
        return judged

    def _silent(self, trainee: TraineeAgent, episode: DeliberationEpisode) -> Trajectory:
        env = DeliberationEnv(self.protocol)
        env.reset(episode.dilemma, episode.id)
        return silent_trajectory(trainee, env.observe(self.sides[episode.id]))

    def evaluate(self, dilemmas: Sequence[Dilemma], seed: int) -> tuple[dict, list[dict]]:
        from parley.evaluation.deliberation_arena import summarize_deliberations

        episodes, _ = self.play(dilemmas, seed)
        summary = summarize_deliberations(episodes, seed=self.seed)
        summary["mean_reward"] = summary["ca_score_mean"] / 10 if summary["ca_score_mean"] is not None else None
        summary["mean_reward_ci95"] = [x / 10 for x in summary["ca_score_ci95"]]
        return summary, [e.to_dict() for e in episodes]


def collective_agency(episode: DeliberationEpisode) -> float | None:
    """Judge score / 10 for an agreement, 0 without one, None (unscorable, no advantage) if the judge failed."""
    score = episode.score
    return None if score is None else score / 10.0
