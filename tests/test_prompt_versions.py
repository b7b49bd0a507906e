"""Prompt versions of the bargaining personas: ``#guided.v2`` plays the compact buyer prompt (buyer.v2).

Guarantees attacked here: a version is played only where it exists (a spec, a training config and a shipped
adapter all say which), and an unknown one is refused with a line that names the versions there are; the default
stays the version every shipped figure used (v1); the compact prompt tells the buyer the same facts (listing,
budget, turns, the seller's and its own offer, the suggestion) in fewer tokens; its past messages render as they
did (the K/V prefix holds); the version is recorded with every episode.
"""

from __future__ import annotations

import re

import pytest

from parley import ParleyError
from parley.agents.bargainer import BargainLLMAgent, SplitterAgent, split_persona
from parley.agents.spec import build_agent, check_persona, parse_spec
from parley.environments.bargain import BargainEnv, ProtocolConfig, Role
from parley.environments.scenarios import ScenarioConfig, sample_scenarios
from parley.rollout import run_bargains
from parley.training.config import load_config
from training_helpers import tiny_overrides

SCENARIOS = sample_scenarios("test", 12, seed=3, config=ScenarioConfig(budget_rule="mixed"))
SUGGESTED = re.compile(r"Suggested offer: \$([\d,]+\.\d\d)\.")


def test_a_persona_may_name_its_prompt_version():
    assert split_persona("guided.v2") == ("guided", 2) and split_persona("hostile") == ("hostile", None)
    assert parse_spec("smollm2#guided.v2").persona == "guided.v2"
    assert parse_spec("hf:runs/x/final#standard.v2").persona == "standard.v2"
    for raw in ("smollm2#guided.2", "smollm2#guided.v", "smollm2#guided.v0", "smollm2#evil.v2"):
        with pytest.raises(ParleyError, match="Expected one of") as err:
            parse_spec(raw)
        assert "\n" not in str(err.value)


def test_a_version_that_does_not_exist_is_refused_naming_those_that_do(tiny_model_dir):
    with pytest.raises(ParleyError, match=r"the buyer prompt has no version 9; it has v1, v2"):
        check_persona(parse_spec("smollm2#guided.v9"), Role.BUYER)
    with pytest.raises(ParleyError, match=r"the seller_hostile prompt has no version 2; it has v1"):
        build_agent(f"hf:{tiny_model_dir}#hostile.v2", Role.SELLER)
    with pytest.raises(ParleyError, match="'guided' is for buyers"):
        build_agent(f"hf:{tiny_model_dir}#guided.v2", Role.SELLER)


def test_the_default_stays_v1_and_a_named_version_is_played_and_recorded(tiny_model_dir):
    assert BargainLLMAgent("b", backend=None, role=Role.BUYER).prompt_id == "buyer.v1"
    assert BargainLLMAgent("b", backend=None, role=Role.BUYER, persona="guided").prompt_id == "buyer.v1"
    agent = build_agent(f"hf:{tiny_model_dir}#guided.v2", Role.BUYER)
    assert (agent.prompt_id, agent.persona, agent.prompt_version) == ("buyer.v2", "guided", 2)
    assert build_agent(f"hf:{tiny_model_dir}#hostile.v1", Role.SELLER).prompt_id == "seller_hostile.v1"
    (episode,) = run_bargains(SCENARIOS[:1], agent, SplitterAgent(), ProtocolConfig(max_turns=2),
                              seed=0, batch_size=1)
    assert episode.to_dict()["prompts"]["buyer"] == "buyer.v2"


def _rendered(persona: str, scenario, seller: str = "scripted:linear", turns: int = 8):
    """The prompts a buyer in ``persona`` sees along a splitter buyer's episode (its moves are the splitter's)."""
    env = BargainEnv(ProtocolConfig(max_turns=turns))
    env.reset(scenario)
    renderer = BargainLLMAgent("r", backend=None, role=Role.BUYER, persona=persona)
    other, splitter, seen = build_agent(seller, Role.SELLER), SplitterAgent(), []
    while not env.done:
        obs = env.observe(env.agent_selection)
        if obs.role is Role.BUYER:
            move = splitter.act([obs])[0]
            seen.append((obs, renderer.messages(obs), move))
            env.step(move)
        else:
            env.step(other.act([obs])[0])
    return seen


def _money(value: float) -> str:
    return f"${value:,.2f}"


@pytest.mark.parametrize("index", range(0, 12, 2))
def test_the_compact_prompt_tells_the_same_facts_in_fewer_characters_and_keeps_its_prefix(index):
    scenario = SCENARIOS[index]
    v1, v2 = _rendered("guided", scenario), _rendered("guided.v2", scenario)
    assert len(v1) == len(v2)
    previous = None
    for (obs, long, _), (_, short, move) in zip(v1, v2):
        system = short[0]["content"]
        for fact in (_money(scenario.listing_price), _money(scenario.budget), f"{obs.max_turns} turns",
                     "OFFER: $<price>", "ACCEPT", "WALK AWAY", scenario.product.category):
            assert fact in system
        assert _money(scenario.floor) not in system or scenario.floor in (scenario.budget, scenario.listing_price)
        status, old_status = short[-1]["content"], long[-1]["content"]
        assert SUGGESTED.findall(status) == SUGGESTED.findall(old_status)  # the same suggested offer
        for amount in re.findall(r"\$[\d,]+\.\d\d", old_status):  # every number the long status shows
            assert amount in status
        assert sum(len(m["content"]) for m in short) < sum(len(m["content"]) for m in long)
        if previous is not None:  # earlier messages render exactly as they did (the backend's K/V prefix)
            assert short[: len(previous)] == previous
        previous = short + [{"role": "assistant", "content": move}]
    # The generic instructions come first and are the same for every scenario: their K/V is computed once.
    heads = {_rendered("guided.v2", s)[0][1][0]["content"].split("Product:")[0] for s in SCENARIOS[:4]}
    assert len(heads) == 1


def test_a_trainee_config_takes_a_prompt_version_and_refuses_a_missing_one(tiny_model_dir, tmp_path):
    from parley.models.generation import GenerationSettings
    from parley.training.games import get_game

    cfg = load_config(None, tiny_overrides(tiny_model_dir, tmp_path, "persona=guided.v2", "opponent=scripted:linear"))
    game = get_game(cfg.env)
    rollout, _ = game.environment(cfg, game.scenarios(cfg, "train", 2, 0), GenerationSettings(max_new_tokens=4))
    assert rollout._llm(None, "trainee").prompt_id == "buyer.v2"
    assert rollout._llm(None, "self").prompt_id == "seller_standard.v1"
    for persona, message in (("guided.v7", "the buyer prompt has no version 7; it has v1, v2"),
                             ("guided.seven", "after the dot comes a prompt version"),
                             ("hostile.v1", "a trainee buyer takes one of standard, guided")):
        with pytest.raises(ParleyError, match=message):
            load_config(None, tiny_overrides(tiny_model_dir, tmp_path, f"persona={persona}"))


def test_warm_start_examples_are_rendered_in_the_trainees_prompt_version():
    from parley.training.warm_start import teacher_examples

    examples, summary = teacher_examples(["scripted:splitter"], "scripted:linear", Role.BUYER,
                                         ProtocolConfig(max_turns=6, parser="strict"), episodes=2, seed=0,
                                         persona="guided.v2")
    assert summary["prompt_id"] == "buyer.v2" and examples
    assert all(x["prompt"][0]["content"].startswith("You are a buyer. Buy the product") for x in examples)


def test_a_model_parley_train_saved_plays_the_persona_it_trained_under(tmp_path):
    """`hf:RUN/final` of a buyer trained under guided.v2 used to play the standard v1 prompt, silently, unless its
    spec said #guided.v2. The run's records (parley_trained.json; a warm start's warm_start.json) now decide; a
    named persona still wins; a folder without records, or a hub id, plays the default."""
    import json

    final, warm, plain = tmp_path / "final", tmp_path / "warm_start", tmp_path / "plain"
    for folder in (final, warm, plain):
        folder.mkdir()
    (final / "parley_trained.json").write_text(json.dumps({"env": "bargain", "role": "buyer", "persona": "guided.v2"}))
    (warm / "warm_start.json").write_text(json.dumps({"prompt_id": "buyer.v2", "persona": "standard.v2"}))
    assert parse_spec(f"hf:{final}").persona == "guided.v2"
    assert parse_spec(f"hf:{warm}").persona == "standard.v2"
    assert parse_spec(f"hf:{final}#standard").persona == "standard"
    assert parse_spec(f"hf:{plain}").persona == parse_spec("hf:HuggingFaceTB/SmolLM2-135M-Instruct").persona == "standard"
    assert BargainLLMAgent("b", backend=None, role=Role.BUYER, persona=parse_spec(f"hf:{final}").persona).prompt_id == "buyer.v2"
    # Played in the other seat, the recorded persona is refused with where it came from and what to write instead;
    # a persona the user named is refused as before.
    with pytest.raises(ParleyError, match=r"plays the persona it was trained under, 'guided.v2'.*is for buyers.*"
                                          rf"e\.g\. hf:{re.escape(str(final))}#standard"):
        check_persona(parse_spec(f"hf:{final}"), Role.SELLER)
    with pytest.raises(ParleyError, match=r"^persona 'guided' is for buyers"):
        check_persona(parse_spec(f"hf:{final}#guided"), Role.SELLER)
    # A damaged record is an error naming the file, not a silent fall back to another prompt.
    (plain / "parley_trained.json").write_text("{not json")
    with pytest.raises(ParleyError, match=r"parley_trained.json is not the JSON object `parley train` writes"):
        parse_spec(f"hf:{plain}")
    (plain / "parley_trained.json").write_text(json.dumps({"persona": 3}))
    with pytest.raises(ParleyError, match=r"persona must be a string"):
        parse_spec(f"hf:{plain}")
