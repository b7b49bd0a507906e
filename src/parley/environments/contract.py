"""The one environment contract every game implements, and the test that holds each game to it.

Turn-based and multi-agent in the spirit of PettingZoo's AEC API, with text for actions:

    env.reset(scenario, episode_id=None) -> the agent to move first
    env.agents                           the sides, in a fixed order (keys for observe and rewards)
    env.agent_selection                  whose turn it is
    env.observe(agent)                   that side's private view (never the other side's private values)
    env.step(text)                       the mover's turn, parsed and ruled on by code; returns its record
    env.done                             the episode is over (a deal, a walk-away, an agreement, max turns)
    env.rewards()                        each side's reward as code checks it, once done (None where a
                                         judge must score it: a deliberation's agreement)
    env.record()                         the whole episode as a JSON-serialisable dict with an ``id``

``check_env`` is this contract's ``api_test``: tests/test_contract.py runs it on every registered game (and the
PettingZoo adapter runs PettingZoo's own ``api_test`` on top).
"""

from __future__ import annotations

import json
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

from parley import ParleyError


@runtime_checkable
class TurnBasedEnv(Protocol):
    agents: tuple
    agent_selection: Any

    def reset(self, scenario: Any, episode_id: str | None = None) -> Any: ...

    @property
    def done(self) -> bool: ...

    def observe(self, agent: Any) -> Any: ...

    def step(self, text: str) -> Any: ...

    def rewards(self) -> dict: ...

    def record(self) -> dict: ...


def check_two_seats(max_turns: int, first_speaker: int, seat: str = "side") -> None:
    """The config of a two-seat game (deliberation, CaSiNo): each seat speaks at least once, seat 0 or 1 opens."""
    if max_turns < 2:
        raise ParleyError(f"max_turns must be at least 2 (each {seat} speaks once), got {max_turns}")
    if first_speaker not in (0, 1):
        raise ParleyError(f"first_speaker must be 0 or 1, got {first_speaker}")


# Turns a careless or hostile policy writes: the environment must rule on each without raising.
HOSTILE_TURNS = ("", "   ", "\x00", "ACCEPT", "accept", "WALK AWAY", "OFFER: $-5", "OFFER: food 9, water 9, firewood 9",
                 "PROPOSAL:", "ACCEPT #999", "I will not ACCEPT that", "1e309", "\ud800", "🙂" * 50, "x" * 20_000)


def check_env(make_env: Callable[[], TurnBasedEnv], scenarios: Sequence, turns: Sequence[str] = HOSTILE_TURNS) -> None:
    """Raise AssertionError naming the broken promise when an environment breaks the contract.

    Plays every scenario with a fixed script of turns (cycled), twice, and checks: the protocol's methods exist;
    who moves is one of ``agents`` and alternates; observing never changes the state; a finished episode refuses
    another step; rewards name every side; the record is JSON and the same for the same turns (determinism).
    """
    for scenario in scenarios:
        records = []
        for _ in range(2):
            env = make_env()
            first = env.reset(scenario)
            assert isinstance(env, TurnBasedEnv), f"{type(env).__name__} lacks part of the TurnBasedEnv protocol"
            assert first in env.agents, f"reset returned {first!r}, not one of agents {env.agents!r}"
            assert not env.done, "a fresh episode is already done"
            n = 0
            while not env.done:
                mover = env.agent_selection
                assert mover in env.agents, f"agent_selection {mover!r} is not one of {env.agents!r}"
                before = [repr(env.observe(a)) for a in env.agents]
                assert before == [repr(env.observe(a)) for a in env.agents], "observe() changed the state"
                env.step(turns[n % len(turns)])
                n += 1
                assert n <= 10_000, "the episode never ends"
                if not env.done:
                    assert env.agent_selection != mover, "the same side moved twice in a row"
            try:
                env.step("ACCEPT")
            except RuntimeError:
                pass
            else:
                raise AssertionError("step() on a finished episode did not raise")
            rewards = env.rewards()
            assert set(rewards) == set(env.agents), f"rewards name {set(rewards)}, agents are {set(env.agents)}"
            for side, value in rewards.items():
                assert value is None or isinstance(value, float), f"reward of {side!r} is {value!r}, not a float"
            record = env.record()
            assert isinstance(record.get("id"), str) and record["id"], "the record has no id"
            records.append(json.dumps(record, sort_keys=True, allow_nan=False))
        assert records[0] == records[1], "the same scenario and turns gave different records"
