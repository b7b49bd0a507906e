"""The continuous dialogue engine: every episode advances on its own, and an LLM's turns are requests to a
continuous-batching engine (models/continuous.py) instead of lockstep ticks.

In lockstep (rollout/lockstep.py) a side's batched turn lasts as long as its longest reply, and the next turn
of any episode starts only when every episode has answered. Here a turn that ends is stepped at once: a
scripted counterpart answers in the same step, and the LLM's next turn of that dialogue is queued first, into
the slot that still holds its K/V; an episode that ends frees its slot for the next episode.

An agent takes part through ``turn_request(observation) -> (prompt token ids, session key)`` and
``reply(observation, completion) -> text`` when its backend is a local model (``HFBackend``): the bargaining LLM
agent, and the GRPO trainee, which records its token trajectory between the two; any other agent (scripted, a person, a
remote server) plays its turns through ``act`` as soon as they come. Each turn samples with a seed drawn from
(seed, episode index, turn), so transcripts do not depend on the slot count or on which episodes share a step.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

from parley.models.backends import HFBackend
from parley.models.continuous import Request, SlotEngine


def _turn_seed(seed: int, episode: int, turn: int) -> int:
    return (seed * 1_000_003 + episode * 10_007 + turn * 101) % (2**31)


def supports_continuous(agent) -> bool:
    return all(hasattr(agent, a) for a in ("turn_request", "reply")) and isinstance(getattr(agent, "backend", None), HFBackend)


def play_continuous(envs: Sequence, agents: Mapping, seed: int, slots: int = 32,
                    on_turn: Callable[[int, int], None] | None = None, seed_keys: Sequence[int] | None = None) -> None:
    """Play environments already reset to the end with continuous batching over ``slots`` slots per model.

    ``seed_keys`` name each episode in its turns' seeds (default: its index). A caller whose episode list grows
    (the suite at more scenarios) passes keys that stay put, so episode i plays the same at any list length.
    """
    if seed_keys is not None and len(seed_keys) != len(envs):
        raise ValueError(f"{len(seed_keys)} seed keys for {len(envs)} episodes")
    keys = list(range(len(envs))) if seed_keys is None else list(seed_keys)
    engines: dict[int, object] = {}
    finished = 0
    # No more slots than episodes: an idle slot still costs its K/V rows in every decoding step.
    slots = max(1, min(slots, len(envs)))

    def engine_of(agent):
        backend = agent.backend
        if id(backend) not in engines:
            engines[id(backend)] = SlotEngine.of(backend, slots=slots)
        return engines[id(backend)]

    def advance(index: int, front: bool) -> None:
        nonlocal finished
        env = envs[index]
        while not env.done:
            side = env.agent_selection
            agent = agents[side]
            obs = env.observe(side)
            turn_seed = _turn_seed(seed, keys[index], len(env.turns))
            if supports_continuous(agent):
                prompt, key = agent.turn_request(obs)
                engine_of(agent).submit(Request(prompt=prompt, seed=turn_seed, settings=agent.settings, key=key,
                                                on_done=lambda c, i=index, a=agent, o=obs: answered(i, a, o, c)),
                                        front=front)
                return
            texts = agent.act([obs], seed=turn_seed)
            if len(texts) != 1:
                raise RuntimeError(f"agent {agent.name} returned {len(texts)} turns for 1 episode")
            env.step(texts[0])
        finished += 1
        for agent in {id(a): a for a in agents.values()}.values():
            if supports_continuous(agent):
                engine_of(agent).forget([agent.session_key(env.episode_id)])
            elif hasattr(agent, "forget"):
                agent.forget([env.episode_id])
        if on_turn:
            on_turn(finished, len(envs))

    def answered(index: int, agent, obs, completion) -> None:
        envs[index].step(agent.reply(obs, completion))
        advance(index, front=True)

    for index in range(len(envs)):
        advance(index, front=False)
    while any(e.pending() for e in engines.values()):
        for engine in list(engines.values()):
            if engine.pending():
                engine.step()
