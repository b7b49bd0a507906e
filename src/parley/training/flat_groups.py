"""Flat groups replaced within the step: DAPO's dynamic sampling (Yu et al. 2025, section 3.2).

A GRPO group whose rollouts all earn the same reward has zero advantage everywhere: it costs its rollouts and its
share of the update and teaches nothing, and under the ``dapo`` loss it also dilutes the other groups' gradient
(the loss is averaged over every trainee token of the step). On the menu config with a mix of four sellers a third
of the groups were flat (seed 0 of the beta-1.0 run: 17 of 48, and both groups of 5 of its 24 steps, which so
moved the policy by nothing but Adam's momentum). ``grpo.resample_flat_groups: N`` plays, for up to N rounds per
step, a fresh training scenario in place of each flat group, all of a round's replacements in one batch, and keeps a
group still flat after the last round as it is. The step then trains on as many groups as before, more of them with
a signal.

Measured once (docs/benchmarks.md, stop 50): the menu buyer reached its training sellers' plan sooner and scored the
same on unseen sellers; late in the run the flat groups came from the settled policy, which fresh scenarios cannot
fix.

TRL has no such option (huggingface/trl#3708, open), so this wraps our ``rollout_func``, which already returns each
finished episode: the game's reward functions score them here, and TRL's later call reads the same values back
(``CachedReward``), so a judge is asked once per episode.
"""

from __future__ import annotations

import random
from typing import Sequence

from parley import ParleyError
from parley.training.episode_rollout import EpisodeRollout, rollout_seed, scenario_key

FLAT_SPREAD = 1e-6  # max - min reward of a group below this is float noise: equal rewards summed in float32 differ
                    # by an ulp (trainer.SignalWatch says why)


def check_single_process(trainer) -> None:
    if getattr(trainer.accelerator, "num_processes", 1) > 1:
        raise ParleyError("grpo.resample_flat_groups needs a single process: a group's rollouts may sit on several "
                          "processes, so none of them can tell a flat group; set it to 0")


class CachedReward:
    """A reward function whose values for this generation batch's episodes were computed by ``FlatGroupResampler``;
    TRL's call reads them back instead of scoring again (same ``__name__``, so the logged metric keeps its name)."""

    def __init__(self, inner, cache: dict) -> None:
        self.inner, self.cache, self.__name__ = inner, cache, inner.__name__

    def scores(self, episodes: Sequence) -> list:
        missing = [e for e in episodes if (id(e), self.__name__) not in self.cache]
        if missing:
            for e, value in zip(missing, self.inner(episode=missing)):
                self.cache[id(e), self.__name__] = (e, value)  # the episode is kept: its id() is not reused
        return [self.cache[id(e), self.__name__][1] for e in episodes]

    def __call__(self, prompts=None, completions=None, completion_ids=None, episode=None, **kw) -> list:
        if episode is None:  # let the inner function say what is wrong
            return self.inner(prompts=prompts, completions=completions, completion_ids=completion_ids, **kw)
        return self.scores(episode)


class FlatGroupResampler:
    """TRL's ``rollout_func``: the game's rollout, with flat groups replaced by fresh scenarios (module docstring).

    ``last`` holds the step's counts for metrics.jsonl: ``signal/flat_groups`` (flat groups of the step as first
    drawn), ``signal/groups_replaced`` (replacements with a reward spread that took a flat group's place) and
    ``signal/flat_groups_kept`` (groups still flat after the last round)."""

    def __init__(self, rollout: EpisodeRollout, rewards: Sequence, rounds: int, seed: int) -> None:
        if rounds < 1:
            raise ValueError("FlatGroupResampler needs rounds >= 1")
        self.rollout, self.rounds, self.seed = rollout, rounds, seed
        self.cache: dict = {}
        self.rewards = [CachedReward(r, self.cache) for r in rewards]
        self.last: dict[str, int] = {}

    def group_rewards(self, episodes: Sequence) -> list[float | None]:
        """Each episode's total reward as TRL sums it (every function weighted 1), None where none could score it."""
        per_function = [r.scores(episodes) for r in self.rewards]
        totals = []
        for values in zip(*per_function):
            scored = [v for v in values if v is not None]
            totals.append(sum(scored) if scored else None)
        return totals

    def flat(self, totals: Sequence[float | None]) -> bool:
        scored = [v for v in totals if v is not None]
        return len(scored) < 2 or max(scored) - min(scored) < FLAT_SPREAD

    def __call__(self, prompts: list, trainer) -> dict:
        self.cache.clear()
        check_single_process(trainer)
        size = trainer.args.num_generations
        ids = [scenario_key(p) for p in prompts]
        keys = ids[::size]
        if len(ids) % size or any(k != keys[i // size] for i, k in enumerate(ids)):
            raise ParleyError(f"grpo.resample_flat_groups: the step's prompts are not whole groups of {size}")
        out = self.rollout(prompts, trainer)
        step = trainer.state.global_step
        rng = random.Random(rollout_seed(self.seed, step, 0))
        used = set(keys)
        totals = self.group_rewards(out["episode"])  # the whole batch at once: a judge scores it in one call
        flat = [g for g in range(len(keys)) if self.flat(totals[g * size:(g + 1) * size])]
        self.last = {"signal/flat_groups": len(flat), "signal/groups_replaced": 0, "signal/flat_groups_kept": 0}
        for draw in range(1, self.rounds + 1):
            if not flat:
                break
            pool = sorted(set(self.rollout.scenarios) - used)
            if not pool:
                break
            fresh = rng.sample(pool, min(len(flat), len(pool)))
            used.update(fresh)
            positions = flat[:len(fresh)]
            new = self.rollout([k for k in fresh for _ in range(size)], trainer, draw=draw, groups=positions)
            still = []
            totals = self.group_rewards(new["episode"])
            for i, g in enumerate(positions):
                rows = slice(i * size, (i + 1) * size)
                if self.flat(totals[rows]):
                    still.append(g)
                    continue
                for field, values in out.items():  # the whole group moves in, every field row for row
                    if values is not None:
                        values[g * size:(g + 1) * size] = new[field][rows]
                self.last["signal/groups_replaced"] += 1
            flat = still + flat[len(fresh):]
        self.last["signal/flat_groups_kept"] = len(flat)
        return out
