import socket

import pytest

from parley import ParleyError
from parley.agents import BackendCache, GenerationSettings, build_agent
from parley.agents.bargainer import SCRIPTED
from parley.environments.bargain import ProtocolConfig, Role
from parley.environments.scenarios import sample_scenarios
from parley.rollout import run_bargains

from fake_openai import FakeOpenAIServer


def test_openai_buyer_negotiates_through_a_real_protocol_server():
    with FakeOpenAIServer() as server:
        buyer = build_agent(f"openai:fake-model@{server.base_url}", Role.BUYER,
                            GenerationSettings(max_new_tokens=20, temperature=0.5), BackendCache())
        episodes = run_bargains(sample_scenarios("test", 3, seed=0), buyer, SCRIPTED["linear"](), ProtocolConfig(max_turns=4), seed=5)
    assert len(server.requests) == 6  # 3 episodes x 2 buyer turns
    req = server.requests[0]
    assert req["model"] == "fake-model" and req["max_tokens"] == 20 and req["temperature"] == 0.5
    assert req["messages"][0]["role"] == "system" and "budget" in req["messages"][0]["content"]
    for e in episodes:
        buyer_turns = [t for t in e.turns if t.role is Role.BUYER]
        assert buyer_turns[0].action.price == 12.0
    assert buyer.backend.stats.new_tokens == 6 * 7


def test_unknown_model_on_the_server_is_a_clear_error():
    with FakeOpenAIServer() as server:
        buyer = build_agent(f"openai:other@{server.base_url}", Role.BUYER, GenerationSettings(), BackendCache())
        with pytest.raises(ParleyError, match="no model 'other'"):
            run_bargains(sample_scenarios("test", 1, seed=0), buyer, SCRIPTED["linear"](), ProtocolConfig(max_turns=2))


def test_unreachable_server_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    buyer = build_agent(f"openai:m@http://127.0.0.1:{port}/v1", Role.BUYER, GenerationSettings(), BackendCache())
    buyer.backend.client = buyer.backend.client.with_options(max_retries=0)
    with pytest.raises(ParleyError, match="cannot reach"):
        run_bargains(sample_scenarios("test", 1, seed=0), buyer, SCRIPTED["linear"](), ProtocolConfig(max_turns=2))
