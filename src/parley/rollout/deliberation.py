"""Lockstep engine for deliberations: all unfinished dialogues advance together, one batched call per side."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Sequence

from parley.environments.deliberation import DeliberationConfig, DeliberationEnv, DeliberationOutcome, DeliberationTurn
from parley.environments.dilemmas import Dilemma
from parley.rollout.lockstep import play_batches


@dataclass
class DeliberationEpisode:
    id: str
    dilemma: Dilemma
    turns: list[DeliberationTurn]
    outcome: DeliberationOutcome
    agents: list[str]  # agent name per persona index
    prompts: dict[str, str] = field(default_factory=dict)
    verdict: dict | None = None  # the judge's verdict on the agreement (None: no agreement or not judged)
    agent_side: int | None = None  # the persona the trainee played, in training rollouts (rewards read it)

    @property
    def score(self) -> float | None:
        """Collective Agency 0-10; 0 without agreement; None when the judge failed."""
        if not self.outcome.agreed:
            return 0.0
        return None if self.verdict is None else self.verdict.get("score")

    def to_dict(self) -> dict:
        return {"id": self.id, "dilemma": self.dilemma.model_dump(mode="json"), "agents": self.agents,
                "prompts": self.prompts, "turns": [t.to_dict() for t in self.turns],
                "outcome": self.outcome.to_dict(), "verdict": self.verdict, "score": self.score,
                "agent_side": self.agent_side}


def run_deliberations(
    dilemmas: Sequence[Dilemma],
    agents: tuple,  # (plays persona 0, plays persona 1)
    config: DeliberationConfig | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    on_turn: Callable[[int, int], None] | None = None,
    episode_ids: Sequence[str] | None = None,
) -> list[DeliberationEpisode]:
    config = config or DeliberationConfig()
    ids = list(episode_ids) if episode_ids is not None else [f"{x.id}#{i}" for i, x in enumerate(dilemmas)]
    envs = [DeliberationEnv(config) for _ in dilemmas]
    for env, x, eid in zip(envs, dilemmas, ids):
        env.reset(x, eid)
    play_batches(envs, dict(enumerate(agents)), (config.first_speaker, 1 - config.first_speaker), seed, batch_size, on_turn)
    prompts = {str(i): a.prompt_id for i, a in enumerate(agents) if hasattr(a, "prompt_id")}
    episodes = [DeliberationEpisode(
        id=env.episode_id, dilemma=env.dilemma, turns=env.turns, outcome=env.outcome,
        agents=[a.name for a in agents], prompts=dict(prompts)) for env in envs]
    return episodes


def with_verdicts(episodes: Sequence[DeliberationEpisode], judge, seed: int = 0) -> list[DeliberationEpisode]:
    """Judge every agreement in one batch; the verdict (or its recorded failure) goes on the episode."""
    from parley.agents.judge import JudgeRequest

    agreed = [e for e in episodes if e.outcome.agreed]
    verdicts = judge.judge([JudgeRequest(e.dilemma, e.outcome.proposal.text) for e in agreed], seed=seed) if agreed else []
    by_id = {e.id: v for e, v in zip(agreed, verdicts)}
    return [dataclasses.replace(e, verdict=by_id[e.id].to_dict()) if e.id in by_id else e for e in episodes]
