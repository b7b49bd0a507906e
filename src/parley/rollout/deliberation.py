"""Lockstep engine for deliberations: all unfinished dialogues advance together, one batched call per side."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Sequence

from parley.environments.deliberation import DeliberationConfig, DeliberationEnv, DeliberationOutcome, DeliberationTurn
from parley.environments.dilemmas import Dilemma
from parley.rollout.lockstep import play_lockstep


@dataclass
class DeliberationEpisode:
    id: str
    dilemma: Dilemma
    turns: list[DeliberationTurn]
    outcome: DeliberationOutcome
    agents: list[str]  # agent name per persona index
    prompts: dict[str, str] = field(default_factory=dict)
    verdict: dict | None = None  # the judge's verdict on the agreement (None: no agreement or not judged)

    @property
    def score(self) -> float | None:
        """Collective Agency 0-10; 0 without agreement; None when the judge failed."""
        if not self.outcome.agreed:
            return 0.0
        return None if self.verdict is None else self.verdict.get("score")

    def to_dict(self) -> dict:
        return {"id": self.id, "dilemma": self.dilemma.model_dump(mode="json"), "agents": self.agents,
                "prompts": self.prompts, "turns": [t.to_dict() for t in self.turns],
                "outcome": self.outcome.to_dict(), "verdict": self.verdict, "score": self.score}


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
    batch_size = batch_size or len(dilemmas)
    ids = list(episode_ids) if episode_ids is not None else [f"{d.id}#{i}" for i, d in enumerate(dilemmas)]
    episodes: list[DeliberationEpisode] = []
    finished = 0
    for chunk_index, start in enumerate(range(0, len(dilemmas), batch_size)):
        envs = []
        for d, eid in zip(dilemmas[start:start + batch_size], ids[start:start + batch_size]):
            env = DeliberationEnv(config)
            env.reset(d, eid)
            envs.append(env)
        play_lockstep(envs, dict(enumerate(agents)), (config.first_speaker, 1 - config.first_speaker), seed,
                      chunk_index, on_turn and (lambda done, f=finished: on_turn(f + done, len(dilemmas))))
        for agent in {id(a): a for a in agents}.values():
            if hasattr(agent, "forget"):
                agent.forget([env.episode_id for env in envs])
        for env in envs:
            episodes.append(DeliberationEpisode(
                id=env.episode_id, dilemma=env.dilemma, turns=env.turns, outcome=env.outcome,
                agents=[a.name for a in agents],
                prompts={str(i): a.prompt_id for i, a in enumerate(agents) if hasattr(a, "prompt_id")}))
        finished += len(envs)
    return episodes


def with_verdicts(episodes: Sequence[DeliberationEpisode], judge, seed: int = 0) -> list[DeliberationEpisode]:
    """Judge every agreement in one batch; the verdict (or its recorded failure) goes on the episode."""
    from parley.agents.judge import JudgeRequest

    agreed = [e for e in episodes if e.outcome.agreed]
    verdicts = judge.judge([JudgeRequest(e.dilemma, e.outcome.proposal.text) for e in agreed], seed=seed) if agreed else []
    by_id = {e.id: v for e, v in zip(agreed, verdicts)}
    return [dataclasses.replace(e, verdict=by_id[e.id].to_dict()) if e.id in by_id else e for e in episodes]
