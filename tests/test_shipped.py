"""Shipped adapters: warm start + GRPO written as one adapter gives the same model; specs name them."""

from __future__ import annotations

import copy

import pytest
import torch

from parley import ParleyError


def _random_lora(model, r: int, seed: int):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    peft = get_peft_model(model, LoraConfig(r=r, lora_alpha=2 * r, target_modules="all-linear", lora_dropout=0.0))
    with torch.no_grad():
        for name, p in peft.named_parameters():
            if "lora_" in name:
                p.normal_(0, 0.2)
    return peft


def test_warm_start_and_grpo_adapters_combine_into_one_equal_adapter(tiny_model_dir):
    from peft import PeftModel, get_peft_model_state_dict, set_peft_model_state_dict
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM

    from parley.models.shipped import combine

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    warm = _random_lora(copy.deepcopy(base), r=4, seed=1).merge_and_unload().eval()  # the warm start, merged
    grpo = _random_lora(copy.deepcopy(warm), r=3, seed=2).eval()  # GRPO's adapter on the warm start
    adapter_state = {k: v for k, v in get_peft_model_state_dict(grpo).items()}
    adapter_config = grpo.peft_config["default"].to_dict()
    adapter_config["target_modules"] = sorted(adapter_config["target_modules"])
    state, config, residual = combine(base, warm, adapter_state, adapter_config, warm_rank=4)
    assert config["r"] == 7 and config["lora_alpha"] / config["r"] == pytest.approx(2.0) and residual < 1e-4
    one = PeftModel(copy.deepcopy(base), LoraConfig(r=7, lora_alpha=config["lora_alpha"], target_modules=config["target_modules"],
                                                     lora_dropout=0.0)).eval()
    result = set_peft_model_state_dict(one, state)
    assert not [k for k in result.unexpected_keys if "lora" in k]
    ids = torch.randint(5, base.config.vocab_size, (2, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, got, plain = grpo(ids).logits, one(ids).logits, base(ids).logits
    assert (expected - plain).abs().max() > 1e-2  # the adapters change the model: the comparison means something
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_a_warm_start_that_is_not_low_rank_is_refused(tiny_model_dir):
    from peft import get_peft_model_state_dict
    from transformers import AutoModelForCausalLM

    from parley.models.shipped import combine

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    warm = copy.deepcopy(base)
    with torch.no_grad():
        warm.model.norm.weight.add_(0.5)  # a change no LoRA adapter can carry
    grpo = _random_lora(copy.deepcopy(warm), r=2, seed=3)
    with pytest.raises(ParleyError, match="cannot carry"):
        combine(base, warm, get_peft_model_state_dict(grpo), grpo.peft_config["default"].to_dict(), warm_rank=2)


def test_shipped_adapter_specs_fail_clearly_when_unknown():
    from parley.agents.spec import parse_spec
    from parley.models.shipped import available

    with pytest.raises(ParleyError, match="no shipped adapter named 'nope'"):
        parse_spec("smollm2:nope")
    with pytest.raises(ParleyError, match="needs a shipped adapter"):
        parse_spec("smollm2:")
    for name in available():
        spec = parse_spec(f"smollm2:{name}#hostile")
        assert spec.kind == "smollm2" and spec.target == name and spec.persona == "hostile"


@pytest.mark.parametrize("name", ["../adapters/buyer", "buyer/../buyer", "..", ".hidden", "a\\b"])
def test_a_shipped_adapter_name_cannot_walk_out_of_the_package(name):
    # The spec's name becomes a path: only a plain folder name under parley/data/adapters/ is a shipped adapter.
    from parley.models.loading import load_model_spec

    with pytest.raises(ParleyError, match="no shipped adapter named"):
        load_model_spec(f"smollm2:{name}")


def test_an_exported_run_names_the_code_that_trained_it(tiny_model_dir, tmp_path):
    """provenance.json carries the commit recorded when the run started (not only the exporting checkout's), and the
    exported adapter is the run's model."""
    import json

    from training_helpers import tiny_overrides

    from parley.code_version import code_version
    from parley.models.shipped import export_run
    from parley.training.run_dir import prepare_run
    from parley.training.trainer import train

    cfg, run_dir, _ = prepare_run(None, tiny_overrides(tiny_model_dir, tmp_path / "run", "grpo.max_steps=1",
                                                       "warm_start.enabled=true"), None)
    train(cfg, run_dir)
    started = {"commit": "f" * 40, "dirty": False}  # as if trained at another commit than this checkout's
    (run_dir / "code.json").write_text(json.dumps({"started": started}))
    out = export_run(run_dir, tmp_path / "adapter")
    p = json.loads((out / "provenance.json").read_text())
    assert p["commit"] == "f" * 40 and p["training_code"]["started"] == started
    assert p["export_code"] == code_version() and p["seed"] == cfg.seed and p["warm_start_rank"] == 4
    (run_dir / "code.json").unlink()  # a run from before runs recorded their code: no commit is claimed
    assert json.loads((export_run(run_dir, tmp_path / "again") / "provenance.json").read_text())["commit"] is None


def test_a_shipped_adapter_plays_the_persona_it_was_trained_under(tmp_path, monkeypatch):
    """A guided buyer shipped as smollm2:<name> must see its suggested offers without the user knowing to add #guided;
    naming a persona still wins, and an adapter from before personas (no field) plays the standard one."""
    import json

    from parley.agents.bargainer import BargainLLMAgent
    from parley.agents.spec import parse_spec
    from parley.environments.bargain import Role
    from parley.models import loading

    for name, config in (("guided", {"persona": "guided"}), ("old", {}), ("compact", {"persona": "guided.v2"})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "adapter_config.json").write_text("{}")
        (tmp_path / name / "provenance.json").write_text(json.dumps({"config": config}))
    monkeypatch.setattr(loading, "shipped_adapters_root", lambda: tmp_path)
    assert parse_spec("smollm2:guided").persona == "guided"
    assert parse_spec("smollm2:guided#standard").persona == "standard"
    assert parse_spec("smollm2:old").persona == "standard"
    # ... and the prompt version it trained under: an adapter trained on buyer.v2 plays buyer.v2, one from before
    # prompt versions plays v1.
    for spec, prompt in (("smollm2:compact", "buyer.v2"), ("smollm2:guided", "buyer.v1"), ("smollm2:old", "buyer.v1")):
        persona = parse_spec(spec).persona
        assert BargainLLMAgent("b", backend=None, role=Role.BUYER, persona=persona).prompt_id == prompt


def test_the_shipped_adapters_fit_the_box_and_say_where_they_come_from():
    """The issue's budget: every shipped adapter together at most 40 MB, fp16, each with its provenance."""
    from safetensors import safe_open

    from parley.models.shipped import adapter_dir, available, provenance

    names = available()
    assert names, "no adapter is shipped"
    total = 0
    for name in names:
        weights = adapter_dir(name) / "adapter_model.safetensors"
        total += weights.stat().st_size
        with safe_open(str(weights), "pt") as f:
            assert {str(f.get_tensor(k).dtype) for k in f.keys()} == {"torch.float16"}, name
        record = provenance(name)
        assert record["config"]["model"] == "smollm2" and isinstance(record["seed"], int), name
        assert record["commit"] and record["metrics"].get("last_validation"), name
        assert record["bytes"] == weights.stat().st_size, name
    assert total <= 40e6, f"shipped adapters take {total / 1e6:.1f} MB, over the 40 MB budget"
