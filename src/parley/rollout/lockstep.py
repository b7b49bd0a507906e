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


def play_batches(envs: Sequence, agents: Mapping, order: Sequence, seed: int, batch_size: int | None = None,
                 on_turn: Callable[[int, int], None] | None = None) -> None:
    """Play environments already reset to the end, ``batch_size`` at a time (1 = one episode at a time); once a
    batch ends, every agent forgets its dialogues (an LLM's K/V cache). ``on_turn(finished, total)`` reports
    progress. Every game's ``run_*`` is this loop plus its own episode record."""
    batch_size = batch_size or len(envs) or 1
    finished = 0
    for chunk_index, start in enumerate(range(0, len(envs), batch_size)):
        chunk = envs[start:start + batch_size]
        play_lockstep(chunk, agents, order, seed, chunk_index,
                      on_turn and (lambda done, f=finished: on_turn(f + done, len(envs))))
        for agent in {id(a): a for a in agents.values()}.values():
            forget = getattr(agent, "forget", None)
            if forget:
                forget([env.episode_id for env in chunk])
        finished += len(chunk)
