"""The guided buyer persona and the scripted splitter: a suggested offer the model can copy instead of compute.

Guarantees attacked here: the suggestion never passes the budget and is not the budget itself in a conflicting-interest
opening; it is exactly the splitter's move; past turns render as they did (the K/V prefix holds); only a buyer takes
the persona, in every place a persona can be named; a guided trainee trains on prompts that show the suggestion.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley import ParleyError
from parley.agents.bargainer import BargainLLMAgent, SplitterAgent, split_target
from parley.agents.spec import build_agent, parse_spec
from parley.environments.actions import ActionKind, parse_action
from parley.environments.bargain import BargainEnv, ProtocolConfig, Role
from parley.environments.scenarios import ScenarioConfig, sample_scenarios
from parley.rollout import run_bargains
from parley.training.config import load_config
from parley.training.warm_start import teacher_examples
from training_helpers import tiny_overrides

MIXED = sample_scenarios("validation", 24, seed=1, config=ScenarioConfig(budget_rule="mixed"))
price = st.integers(50, 500_000).map(lambda cents: cents / 100)  # money in cents, as scenarios hold it
SUGGESTED = re.compile(r"Suggested offer: \$([\d,]+\.\d\d)\.")


@settings(max_examples=300, deadline=None)
@given(own=st.none() | price, theirs=st.none() | price, budget=price, listing=price)
def test_the_buyers_split_never_passes_its_budget_nor_the_sellers_offer(own, theirs, budget, listing):
    if own is not None:
        own = min(own, budget)  # a buyer's standing offer within its budget (the protocol lets it be anything)
    target = split_target(Role.BUYER, own, theirs, budget, listing)
    assert target <= budget
    assert target == round(target, 2)
    if own is None:
        assert target <= 0.5 * min(budget, listing) + 1e-9  # the opening never copies the budget
    else:
        assert target >= own - 0.01  # rounding down is the only step back
        if theirs is not None and theirs > own:
            assert target <= theirs


@settings(max_examples=300, deadline=None)
@given(own=st.none() | price, theirs=st.none() | price, floor=price, listing=price)
def test_the_sellers_split_never_passes_its_floor(own, theirs, floor, listing):
    if own is not None:
        own = max(own, floor)
    target = split_target(Role.SELLER, own, theirs, floor, max(listing, floor))
    assert target >= floor
    if own is not None and theirs is not None and theirs < own:
        assert target >= theirs


def test_split_goes_halfway_or_halfway_to_the_budget():
    assert split_target(Role.BUYER, None, 100.0, 80.0, 100.0) == 40.0
    assert split_target(Role.BUYER, None, 100.0, 30.0, 100.0) == 15.0  # CI: half the budget, not the budget
    assert split_target(Role.BUYER, 40.0, 60.0, 80.0, 100.0) == 50.0
    assert split_target(Role.BUYER, 40.0, 100.0, 60.0, 100.0) == 50.0  # the budget comes before the ask
    assert split_target(Role.BUYER, 40.0, None, 60.0, 100.0) == 40.0
    assert split_target(Role.SELLER, 100.0, 40.0, 80.0, 100.0) == 90.0
    assert split_target(Role.BUYER, 33.33, 33.34, 50.0, 100.0) == 33.33  # rounded towards the buyer


def play_with_guided_renderer(scenario, seller="scripted:boulware", turns=10):
    """A splitter buyer's episode, with the guided prompt the buyer would have seen at each of its turns."""
    env = BargainEnv(ProtocolConfig(max_turns=turns))
    env.reset(scenario)
    guided = BargainLLMAgent("g", backend=None, role=Role.BUYER, persona="guided")
    seller_agent, splitter = build_agent(seller, Role.SELLER), SplitterAgent()
    seen = []
    while not env.done:
        obs = env.observe(env.agent_selection)
        if obs.role is Role.BUYER:
            seen.append((obs, guided.messages(obs), splitter.act([obs])[0]))
            env.step(seen[-1][2])
        else:
            env.step(seller_agent.act([obs])[0])
    return seen


@pytest.mark.parametrize("index", range(0, 24, 3))
def test_the_guided_prompt_suggests_exactly_the_splitters_offer_and_keeps_its_prefix(index):
    seen = play_with_guided_renderer(MIXED[index])
    previous = None
    for obs, messages, move in seen:
        shown = SUGGESTED.findall(messages[-1]["content"])
        assert len(shown) == 1
        action = parse_action(move)
        if action.kind is ActionKind.OFFER:
            assert action.price == float(shown[0].replace(",", ""))  # the move is a copy of the number shown
        assert float(shown[0].replace(",", "")) <= obs.private_value
        if previous is not None:  # earlier messages render exactly as they did (the backend's K/V prefix)
            assert messages[: len(previous)] == previous
        previous = messages + [{"role": "assistant", "content": move}]


def test_the_standard_buyer_and_the_seller_see_no_suggestion():
    env = BargainEnv(ProtocolConfig(max_turns=6))
    env.reset(MIXED[0])
    standard = BargainLLMAgent("s", backend=None, role=Role.BUYER)
    assert "Suggested" not in str(standard.messages(env.observe(Role.BUYER)))
    env.step("OFFER: $1.00")
    seller = BargainLLMAgent("s", backend=None, role=Role.SELLER)
    assert "Suggested" not in str(seller.messages(env.observe(Role.SELLER)))


def test_the_splitter_respects_both_reservation_values_in_every_pairing():
    for scenario in MIXED:
        for role in (Role.BUYER, Role.SELLER):
            other = "scripted:linear"
            buyer, seller = (SplitterAgent(), build_agent(other, Role.SELLER)) if role is Role.BUYER else \
                (build_agent(other, Role.BUYER), SplitterAgent())
            (episode,) = run_bargains([scenario], buyer, seller, ProtocolConfig(max_turns=10, parser="strict"))
            assert not episode.violations and not any(t.format_error for t in episode.turns)
            if episode.outcome.deal:
                assert scenario.floor <= episode.outcome.price <= scenario.budget
            offers = [t.action.price for t in episode.turns if t.role is Role.BUYER and t.action.kind is ActionKind.OFFER]
            if role is Role.BUYER:  # the splitter's opening bid is never its budget (linear's is, in CI scenarios)
                assert all(p < scenario.budget for p in offers[:1])


def test_only_a_buyer_takes_the_guided_persona(tiny_model_dir):
    assert parse_spec("smollm2#guided").persona == "guided"
    agent = build_agent(f"hf:{tiny_model_dir}#guided", Role.BUYER)
    assert isinstance(agent, BargainLLMAgent) and agent.persona == "guided"
    with pytest.raises(ParleyError, match="'guided' is for buyers; a seller takes standard, hostile"):
        build_agent(f"hf:{tiny_model_dir}#guided", Role.SELLER)


def test_the_suite_takes_a_guided_buyer_and_refuses_a_seller_persona(tmp_path, tiny_model_dir):
    from parley.evaluation.bargain_suite import SuiteConfig, run_suite

    with pytest.raises(ParleyError, match="'hostile' is for sellers; a buyer takes standard, guided"):
        run_suite(SuiteConfig(buyer=f"hf:{tiny_model_dir}#hostile", seller_model=None, out=tmp_path / "x"),
                  show_progress=False)
    result = run_suite(SuiteConfig(buyer="scripted:splitter", seller_model=None, scenarios=4, baselines=False,
                                   out=tmp_path / "s"), show_progress=False)
    assert {r["buyer"] for r in result.rows} == {"scripted:splitter"}


def test_the_trainee_persona_is_checked_for_its_role_and_game(tiny_model_dir, tmp_path):
    ok = load_config(None, tiny_overrides(tiny_model_dir, tmp_path, "persona=guided", "opponent=scripted:linear"))
    assert ok.persona == "guided"
    cases = [(["role=seller", "persona=guided"], "a trainee seller takes one of standard, hostile"),
             (["persona=hostile"], "a trainee buyer takes one of standard, guided"),
             (["env=deliberation", "persona=guided"], "deliberator agents have one persona, standard"),
             (["env=casino", "persona=guided"], "env casino has no trainee personas")]
    for extra, message in cases:
        with pytest.raises(ParleyError, match=message):
            load_config(None, tiny_overrides(tiny_model_dir, tmp_path, *extra))


def test_guided_warm_start_examples_show_the_number_the_teacher_writes():
    examples, summary = teacher_examples(["scripted:splitter"], "scripted:linear", Role.BUYER,
                                         ProtocolConfig(max_turns=8, parser="strict"), episodes=8, seed=0,
                                         scenario_config=ScenarioConfig(budget_rule="mixed"), persona="guided")
    assert summary["persona"] == "guided" and examples
    offers = 0
    for x in examples:
        action = parse_action(x["completion"][0]["content"])
        shown = SUGGESTED.findall(x["prompt"][-1]["content"])
        if action.kind is ActionKind.OFFER:
            offers += 1
            assert action.price == float(shown[-1].replace(",", ""))
    assert offers >= len(examples) // 2


def test_a_guided_trainee_is_played_with_the_suggestion(tiny_model_dir, tmp_path):
    from parley.models.generation import GenerationSettings
    from parley.training.games import get_game

    cfg = load_config(None, tiny_overrides(tiny_model_dir, tmp_path, "persona=guided", "opponent=scripted:linear"))
    game = get_game(cfg.env)
    scenarios = game.scenarios(cfg, "train", 2, 0)
    rollout, _ = game.environment(cfg, scenarios, GenerationSettings(max_new_tokens=4, batch_size=2))
    trainee = rollout._llm(None, "trainee")
    opponent = rollout._llm(None, "self")
    assert trainee.persona == "guided" and trainee.role is Role.BUYER
    assert opponent.persona == "standard" and opponent.role is Role.SELLER
    env = BargainEnv(ProtocolConfig(max_turns=4))
    env.reset(scenarios[0])
    assert SUGGESTED.search(trainee.messages(env.observe(Role.BUYER))[-1]["content"])
