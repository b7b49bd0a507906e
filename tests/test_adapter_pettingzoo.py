"""The PettingZoo adapter (parley[pettingzoo]): every registered game passes PettingZoo's own api_test, and a
game played through it gives the same verifiable rewards as Parley's engine."""

from __future__ import annotations

import pytest

pytest.importorskip("pettingzoo", reason="the pettingzoo extra is part of the test extras; install parley[pettingzoo]")

from pettingzoo.test import api_test  # noqa: E402

from parley import ParleyError  # noqa: E402
from parley.adapters.pettingzoo import parley_env, text_of  # noqa: E402
from parley.environments.registry import ENVIRONMENTS  # noqa: E402


@pytest.mark.parametrize("game", sorted(ENVIRONMENTS))
def test_every_game_passes_the_pettingzoo_api_test(game):
    env = parley_env(game, split="test", render_mode="ansi")
    api_test(env, num_cycles=40)
    assert env.possible_agents == list(ENVIRONMENTS[game].agent_names)


def _play(env, script):
    moves = iter(script)
    for agent in env.agent_iter(max_iter=100):
        _, _, terminated, truncated, _ = env.last()
        env.step(None if terminated or truncated else next(moves))


def test_casino_through_pettingzoo_scores_the_campers_points():
    env = parley_env("casino", split="test")
    env.reset(seed=3)
    scenario = env.scenario
    seen = {}
    for agent in env.agent_iter(max_iter=100):
        observation, reward, terminated, truncated, info = env.last()
        seen.setdefault(agent, text_of(observation))
        if terminated or truncated:
            seen[f"{agent}-reward"] = reward
            seen["record"] = info["record"]
            env.step(None)
            continue
        env.step("I need food.\nOFFER: food 3, water 0, firewood 1" if agent == "camper_0" else "Deal.\nACCEPT")
    mine, theirs = scenario.campers[0].points((3, 0, 1)), scenario.campers[1].points((0, 3, 2))
    assert (seen["camper_0-reward"], seen["camper_1-reward"]) == (float(mine), float(theirs))
    assert seen["record"]["points"] == [mine, theirs]
    # each camper's prompt holds its own reasons, never the other's
    for seat, name in enumerate(("camper_0", "camper_1")):
        own, other = scenario.campers[seat], scenario.campers[1 - seat]
        assert all(r in seen[name] for r in own.reasons.values())
        assert not any(r in seen[name] for r in other.reasons.values() if r not in own.reasons.values())


def test_running_out_of_turns_truncates_and_gives_the_walk_away_points():
    env = parley_env("casino", split="test", max_turns=2)
    env.reset(seed=0)
    rewards = {}
    for agent in env.agent_iter(max_iter=10):
        _, reward, terminated, truncated, _ = env.last()
        if terminated or truncated:
            assert truncated and not terminated
            rewards[agent] = reward
            env.step(None)
        else:
            env.step("Hello there.")
    assert rewards == {"camper_0": 5.0, "camper_1": 5.0}


def test_deliberation_is_scored_by_the_judge_and_bargaining_by_surplus():
    env = parley_env("deliberation", split="test", judge="scripted:rules#v1")  # v1 pays this template 8
    env.reset(seed=0)
    d = env.scenario
    _play(env, [f"PROPOSAL: We act together in a way that protects {d.personas[0].values[0]} and also "
                f"{d.personas[1].values[0]}, and each of us explains the plan to everyone affected.", "ACCEPT #1"])
    assert env.agents == [] and env.infos == {}
    env.reset(seed=0)
    rewards = {}
    for agent in env.agent_iter(max_iter=10):
        obs, reward, terminated, truncated, info = env.last()
        if terminated or truncated:
            rewards[agent] = reward
            env.step(None)
        else:
            env.step(f"PROPOSAL: We act together in a way that protects {d.personas[0].values[0]} and also "
                     f"{d.personas[1].values[0]}, and each of us explains the plan to everyone affected."
                     if agent == "persona_0" else "ACCEPT #1")
    assert rewards["persona_0"] == rewards["persona_1"] == pytest.approx(0.8)  # the rule judge's 8/10

    env = parley_env("bargain", split="test")
    env.reset(seed=0)
    s = env.scenario
    rewards = {}
    for agent in env.agent_iter(max_iter=10):
        _, reward, terminated, truncated, _ = env.last()
        if terminated or truncated:
            rewards[agent] = reward
            env.step(None)
        else:
            env.step("ACCEPT")  # the buyer accepts the listing price at once: above its budget
    assert s.listing_price > s.budget and rewards["buyer"] == -1.0  # the hard over-budget penalty
    assert rewards["seller"] == pytest.approx(min(1.0, (s.listing_price - s.floor) / (s.budget - s.floor)))


def test_same_seed_same_scenarios_and_clear_errors():
    a, b = parley_env("casino"), parley_env("casino")
    a.reset(seed=5)
    b.reset(seed=5)
    assert a.scenario.id == b.scenario.id
    with pytest.raises(ParleyError, match="unknown game 'chess'"):
        parley_env("chess")
    with pytest.raises(ParleyError, match="render_mode"):
        parley_env("casino", render_mode="rgb_array")


def test_the_readme_snippet_runs(capsys):
    """The README's "Use Parley's games in your trainer" PettingZoo snippet, as written."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Use Parley's games in your trainer", 1)[1]
    snippet = re.search(r"```python\n(from parley\.adapters\.pettingzoo.*?)```", section, re.DOTALL).group(1)
    exec(compile(snippet, "README.md", "exec"), {})
    rewards = dict(line.split(" reward ") for line in capsys.readouterr().out.splitlines())
    assert set(rewards) == {"camper_0", "camper_1"} and all(float(v) > 5 for v in rewards.values())  # a deal
