"""The batched dialogue engine every game shares: all unfinished episodes advance in lockstep, one batched call
per side per tick, on any environment that keeps the contract (parley.environments.contract)."""

from __future__ import annotations

from typing import Callable, Mapping, Sequence


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
