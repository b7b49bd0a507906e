import pytest

from parley import ParleyError
from parley.agents import BackendCache, GenerationSettings, build_agent, parse_spec
from parley.agents.bargainer import BargainLLMAgent
from parley.environments.bargain import Role


@pytest.mark.parametrize("raw,kind,target,persona", [
    ("smollm2", "smollm2", "", "standard"),
    ("smollm2#hostile", "smollm2", "", "hostile"),
    ("hf:HuggingFaceTB/SmolLM2-360M-Instruct", "hf", "HuggingFaceTB/SmolLM2-360M-Instruct", "standard"),
    ("hf:runs/x/checkpoint-10#manipulative", "hf", "runs/x/checkpoint-10", "manipulative"),
    ("openai:Qwen2.5-7B@http://localhost:8000/v1", "openai", "Qwen2.5-7B", "standard"),
    ("scripted:tit-for-tat", "scripted", "tit-for-tat", "standard"),
    ("human", "human", "", "standard"),
])
def test_parse_valid_specs(raw, kind, target, persona):
    spec = parse_spec(raw)
    assert (spec.kind, spec.target, spec.persona) == (kind, target, persona)


@pytest.mark.parametrize("raw,why", [
    ("", "empty"), ("gpt4", "unknown agent"), ("scripted:nice", "unknown scripted strategy"),
    ("openai:model", "needs <model>@<base_url>"), ("openai:m@localhost:8000", "needs <model>@<base_url>"),
    ("hf:", "needs a model id"), ("foo:bar", "unknown agent kind"), ("smollm2#evil", "unknown persona"),
    ("scripted:linear#hostile", "take no persona"),
])
def test_bad_specs_say_what_was_expected(raw, why):
    with pytest.raises(ParleyError) as err:
        parse_spec(raw)
    message = str(err.value)
    assert why in message and "Expected one of" in message and "\n" not in message


def test_hf_spec_loads_a_local_checkpoint_and_shares_it(tiny_model_dir):
    cache = BackendCache()
    buyer = build_agent(f"hf:{tiny_model_dir}", Role.BUYER, GenerationSettings(), cache)
    seller = build_agent(f"hf:{tiny_model_dir}#hostile", Role.SELLER, GenerationSettings(), cache)
    assert isinstance(buyer, BargainLLMAgent) and buyer.backend is seller.backend
    assert seller.prompt_id == "seller_hostile.v1"


def test_hf_spec_for_a_missing_model_is_one_clear_line(tmp_path):
    with pytest.raises(ParleyError, match="could not load model") as err:
        build_agent(f"hf:{tmp_path / 'nope'}", Role.BUYER)
    assert "\n" not in str(err.value)


def test_seller_personas_are_refused_for_buyers(tiny_model_dir):
    with pytest.raises(ParleyError, match="for sellers"):
        build_agent(f"hf:{tiny_model_dir}#hostile", Role.BUYER)
