"""The verifiers adapter (parley[verifiers]): each game as a multi-turn verifiers v1 environment, its counterpart
inside, its reward the game's verifiable reward, evaluated with verifiers' own `vf-eval` and episode runner against
the project's fake OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

vf = pytest.importorskip("verifiers.v1", reason="the verifiers extra is part of the test extras; install parley[verifiers]")

from fake_openai import FakeOpenAIServer  # noqa: E402

from parley import ParleyError  # noqa: E402
from parley.adapters.verifiers import environment  # noqa: E402
from parley.agents.judge import JudgeRequest, RuleJudge  # noqa: E402
from parley.environments.casino import sample_casino  # noqa: E402
from parley.environments.rewards import buyer_reward  # noqa: E402
from parley.environments.scenarios import sample_scenarios  # noqa: E402

BIN = str(Path(sys.executable).parent)  # uv and vf-eval live next to the interpreter


def _skip_without_chat_program(errors) -> None:
    """verifiers' chat agent is a PEP 723 script that uv prepares once from PyPI; without PyPI it cannot run
    (an environment without network, not a defect of the adapter)."""
    text = " ".join(str(e) for e in errors)
    if "failed to prepare uv script" in text:
        pytest.skip(f"verifiers could not prepare its chat program (uv needs PyPI): {text[:300]}")


def _episode(env, index: int, server):
    os.environ.setdefault("FAKE_OPENAI_KEY", "unused")
    os.environ["PATH"] = BIN + os.pathsep + os.environ["PATH"]
    task = list(env.taskset)[index]
    from verifiers.v1.configs.client import EvalClientConfig

    ctx = vf.ModelContext(model="fake-model", client=EvalClientConfig(base_url=server.base_url, api_key_var="FAKE_OPENAI_KEY"))
    episode = asyncio.run(env.run_episode(task, ctx))
    _skip_without_chat_program(episode.errors + [e for t in episode.traces for e in t.errors])
    assert episode.ok, episode.errors or [t.errors for t in episode.traces]
    (trace,) = episode.traces
    return task, trace


def test_vf_eval_runs_casino_and_rewards_the_players_points(tmp_path):
    reply = "Water matters most to me.\nOFFER: food 1, water 3, firewood 1"
    with FakeOpenAIServer(reply=reply) as server:
        env = dict(os.environ, FAKE_OPENAI_KEY="unused", PATH=BIN + os.pathsep + os.environ["PATH"])
        run = subprocess.run(
            [os.path.join(BIN, "vf-eval"), "parley-verifiers", "--env.taskset.game", "casino", "--env.taskset.split", "test",
             "--env.taskset.size", "2", "-m", "fake-model", "--client.base-url", server.base_url,
             "--client.api-key-var", "FAKE_OPENAI_KEY", "--no-push", "-o", str(tmp_path)],
            capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    episodes = [json.loads(line) for path in tmp_path.glob("*/traces.jsonl") for line in path.read_text().splitlines()]
    _skip_without_chat_program([e for ep in episodes for e in ep["errors"]])
    assert len(episodes) == 2 and all(ep["ok"] for ep in episodes)
    scenarios = sample_casino("test", 2, 0)
    for ep in episodes:
        (trace,) = ep["traces"]
        info = ep["task"]["data"]["info"]
        seat = info["seat"]
        assert seat == info["index"] % 2  # the player alternates seats across tasks
        record = trace["info"]["parley_record"]
        assert record["scenario"]["id"] == scenarios[info["index"]].id
        assert record["turns"][0]["speaker"] == 0 and any(t["text"] == reply for t in record["turns"] if t["speaker"] == seat)
        # the reward is the player's own points / 36, as the game's code counts them
        assert trace["rewards"]["reward"]["score"] == pytest.approx(record["points"][seat] / 36)
        if record["outcome"]["deal"]:
            mine = record["outcome"]["shares"][seat]
            camper = scenarios[info["index"]].campers[seat]
            assert record["points"][seat] == camper.points(tuple(mine))


def test_bargaining_reward_is_the_buyers_surplus_with_the_seller_inside():
    def buyer(body: dict) -> str:  # a low bid, then accept the seller's counter-offer
        return "Deal.\nACCEPT" if "Turn 3 of" in body["messages"][-1]["content"] else "That is my best price.\nOFFER: $1.00"

    with FakeOpenAIServer(reply=buyer) as server:
        env = environment("bargain", split="test", size=1, counterpart="scripted:conceder", max_turns=4)
        task, trace = _episode(env, 0, server)
    record = trace.info["parley_record"]
    scenario = sample_scenarios("test", 1, 0)[0]
    assert record["scenario"]["id"] == scenario.id and task.data.info["seat"] == 0  # the player is the buyer
    sellers = [t for t in record["turns"] if t["role"] == "seller"]
    assert sellers and all(t["action"]["price"] is None or t["action"]["price"] >= scenario.floor for t in sellers)
    from parley.environments.bargain import Outcome

    o = record["outcome"]
    assert o["deal"] and o["closed_by"] == "buyer" and o["price"] == sellers[-1]["action"]["price"]
    outcome = Outcome(o["deal"], o["price"], o["reason"], o["turns"], None)
    assert trace.rewards["reward"].score == pytest.approx(buyer_reward(scenario, outcome))


def test_deliberation_reward_is_the_judges_collective_agency():
    proposal = "PROPOSAL: We decide together after hearing everyone affected, and revisit the choice in a month."
    with FakeOpenAIServer(reply=proposal) as server:
        env = environment("deliberation", split="test", size=1, counterpart="scripted:deliberator",
                          judge="scripted:rules", max_turns=6)
        _, trace = _episode(env, 0, server)
    record = trace.info["parley_record"]
    assert record["outcome"]["agreed"]
    from parley.environments.dilemmas import Dilemma

    agreed = record["outcome"]["proposal"]["text"]
    expected = RuleJudge().judge([JudgeRequest(Dilemma.model_validate(record["dilemma"]), agreed)])[0].score / 10
    assert trace.rewards["reward"].score == pytest.approx(expected)


def test_unknown_game_is_a_clear_error():
    with pytest.raises(ParleyError, match="unknown game 'chess'"):
        environment("chess")
