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
from parley.training.episode_rollout import TwoSeatRollout


class DeliberationRollout(TwoSeatRollout):
    def __init__(self, dilemmas: Sequence[Dilemma], opponent: str, protocol: DeliberationConfig,
                 settings: GenerationSettings, judge, seed: int, refresh_steps: int = 10, backends=None,
                 seating: str = "alternate", persona: str = "standard", weights=None) -> None:
        super().__init__(dilemmas, opponent, settings, seed, refresh_steps, backends, seating, weights=weights)
        self.protocol, self.judge, self.persona = protocol, judge, persona

    def _llm(self, backend, name: str):
        # the trainee and its frozen copy read the same prompt version (self-play)
        return DeliberationLLMAgent(name=name, backend=backend, settings=self.settings, persona=self.persona)

    def _fixed_opponent(self, spec: str):
        from parley.agents.spec import build_deliberator

        return build_deliberator(spec, self.settings, self.backends)

    def _run(self, dilemmas, agents, seed, ids) -> list[DeliberationEpisode]:
        return run_deliberations(dilemmas, agents, self.protocol, seed=seed, batch_size=self.settings.batch_size,
                                 episode_ids=ids)

    def _finish(self, episodes, seated, seed) -> list[DeliberationEpisode]:
        # the seat penalties (own_red_line, proposed_red_line) read the trainee's persona from the episode
        return [dataclasses.replace(e, agent_side=k.side)
                for e, k in zip(with_verdicts(episodes, self.judge, seed=seed), seated)]

    def _start(self, episode: DeliberationEpisode) -> DeliberationEnv:
        env = DeliberationEnv(self.protocol)
        env.reset(episode.dilemma, episode.id)
        return env

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


def red_line(episode: DeliberationEpisode, penalty: float) -> float | None:
    """-penalty for an agreement that crosses a red line (either persona's), 0 otherwise; None if unjudged.

    Both personas' red lines count: the trainee either proposed the crossing or accepted it, and the
    arena's red-line rate counts both. None where the judge failed keeps the episode out of the group's
    advantages, as ``collective_agency`` does (TRL sums reward functions, skipping None)."""
    return _charge(episode, penalty, lambda crossed: bool(crossed))


def own_red_line(episode: DeliberationEpisode, penalty: float) -> float | None:
    """-penalty for an agreement that crosses the trainee's own persona's red line, 0 otherwise; None if unjudged.

    Why a second penalty beside ``red_line``: the typical crossing is one side proposing its own stance and the
    other accepting at once (docs/benchmarks.md). ``red_line`` charges both seats the same, so the trainee that
    proposed its stance pays for the opponent's yielding as much as a trainee that yielded. This one charges only
    the seat whose line was crossed, i.e. the trainee that proposed the other side's stance or accepted it."""
    own = episode.dilemma.personas[_seat(episode, "own_red_line")].name
    return _charge(episode, penalty, lambda crossed: own in crossed)


def proposed_red_line(episode: DeliberationEpisode, penalty: float) -> float | None:
    """-penalty for an agreement on the trainee's own proposal that crosses a red line (either persona's), 0
    otherwise; None if unjudged. The other attribution of the typical crossing: the seat that put a stance on the
    table, not the one that accepted it."""
    side = _seat(episode, "proposed_red_line")
    return _charge(episode, penalty, lambda crossed: bool(crossed) and episode.outcome.proposal.by == side)


def no_agreement(episode: DeliberationEpisode, penalty: float) -> float:
    """-penalty for a deliberation that ends without an agreement, 0 for any agreement.

    Why: the red-line penalties make a crossing pay less than no agreement, but under the rule judge most clean
    agreements score 0 too, so an acceptor that refuses everything pays nothing and GRPO taught exactly that
    (docs/benchmarks.md, "Two ways to teach the accepting seat"). With this charge the order is: a crossing (its
    penalties) < no agreement (-penalty) < a clean agreement (its score, 0 or more), and refusing everything costs
    something. The config requires it below ``red_line_penalty``, which both seats pay for a crossing. Measured on
    one seed (docs/benchmarks.md, "A charge for holding out"): the acceptance did not move, and the proposals turned
    to empty text that crosses nothing and scores 0."""
    return 0.0 if episode.outcome.agreed else -penalty


def _seat(episode: DeliberationEpisode, name: str) -> int:
    if episode.agent_side is None:
        raise ValueError(f"episode {episode.id}: {name} needs the trainee's seat (agent_side), which only "
                         "training rollouts set")
    return episode.agent_side


def _charge(episode: DeliberationEpisode, penalty: float, charged) -> float | None:
    """What the red-line penalties share: 0 without an agreement, None for an unjudged one (an agreed episode with a
    score has a verdict), else -penalty where ``charged`` (given the personas whose lines it crosses) says so."""
    if not episode.outcome.agreed:
        return 0.0
    if episode.score is None:
        return None
    return -penalty if charged(episode.verdict.get("red_line_violations") or ()) else 0.0
