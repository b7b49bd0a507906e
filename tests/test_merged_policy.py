"""Rollouts from a plain copy with the LoRA merged in: the policy's function, rebuilt from its current weights,
the policy itself untouched; anything it does not handle generates through PEFT as before."""

from __future__ import annotations

import pytest
import torch

from training_helpers import tiny_overrides


def _peft(tiny_model_dir, **lora):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    policy = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM",
                                              **lora))
    _randomise_lora(policy, seed=0)
    return policy


def _randomise_lora(policy, seed: int) -> None:
    """LoRA B starts at zero (a no-op adapter); give every adapter weight a value, as training would."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_the_merged_copy_computes_the_policy(tiny_model_dir):
    from parley.training.merged_policy import merged_copy

    policy = _peft(tiny_model_dir).eval()
    base_before = {k: v.clone() for k, v in policy.state_dict().items() if "lora_" not in k}
    merged = merged_copy(policy)
    assert merged is not None and type(merged.model).__name__ == "LlamaForCausalLM"
    assert not any("lora" in name for name, _ in merged.model.named_modules())  # no adapter layers to run
    assert len(merged.layers) == 2 * 7  # every linear layer of both blocks (the LM head is not adapted)
    ids = torch.randint(5, policy.config.vocab_size, (3, 17), generator=torch.Generator().manual_seed(1))
    want = _logits(policy, ids)
    torch.testing.assert_close(_logits(merged.model, ids), want, rtol=1e-4, atol=1e-4)
    after = {k: v for k, v in policy.state_dict().items() if "lora_" not in k}
    assert all(torch.equal(after[k], base_before[k]) for k in base_before)  # the policy's base weights untouched


def test_sync_follows_the_policys_new_weights(tiny_model_dir):
    from parley.training.merged_policy import merged_copy

    policy = _peft(tiny_model_dir).eval()
    merged = merged_copy(policy)
    ids = torch.randint(5, policy.config.vocab_size, (2, 11), generator=torch.Generator().manual_seed(2))
    _randomise_lora(policy, seed=1)  # an optimizer step
    stale = _logits(merged.model, ids)
    want = _logits(policy, ids)
    assert (stale - want).abs().max() > 1e-2  # the copy is stale until synced ...
    merged.sync()
    torch.testing.assert_close(_logits(merged.model, ids), want, rtol=1e-4, atol=1e-4)  # ... and right after


class _QuantisedWeight(torch.nn.Parameter):
    """Stands for bitsandbytes' Params4bit: a Parameter subclass holding no plain weight."""


@pytest.mark.parametrize("case", ["dora", "lora_bias", "plain model", "quantised base", "split across devices"])
def test_what_merging_does_not_handle_generates_through_the_policy(tiny_model_dir, case):
    from transformers import AutoModelForCausalLM

    from parley.training.merged_policy import merged_copy

    if case == "plain model":
        assert merged_copy(AutoModelForCausalLM.from_pretrained(tiny_model_dir)) is None
    elif case in ("dora", "lora_bias"):
        assert merged_copy(_peft(tiny_model_dir, **{"use_dora" if case == "dora" else case: True})) is None
    else:
        policy = _peft(tiny_model_dir)
        assert merged_copy(policy) is not None
        if case == "quantised base":
            layer = policy.get_base_model().model.layers[0].self_attn.q_proj.get_base_layer()
            layer.weight = _QuantisedWeight(layer.weight.data, requires_grad=False)
        else:
            policy.get_base_model().hf_device_map = {"model.layers.0": 0, "model.layers.1": 1}
        assert merged_copy(policy) is None


def _train_one_step(tiny_model_dir, out, *extra):
    from parley.training.run_dir import prepare_run
    from parley.training.trainer import build_trainer

    cfg, run_dir, _ = prepare_run(None, tiny_overrides(tiny_model_dir, out, "grpo.max_steps=1", "evaluation.every=100",
                                                      *extra), None)
    trainer, rollout = build_trainer(cfg, run_dir)
    generate = trainer._generate_and_score_completions

    def scored(inputs):  # the tiny model's rewards tie: fixed advantages so that the step changes the LoRA
        out = generate(inputs)
        out["advantages"] = torch.linspace(-1.0, 1.0, out["advantages"].numel()).reshape(out["advantages"].shape)
        return out

    trainer._generate_and_score_completions = scored
    trainer.train()
    return trainer, rollout


def test_training_rolls_out_from_the_merged_copy_synced_after_each_update(tiny_model_dir, tmp_path):
    trainer, rollout = _train_one_step(tiny_model_dir, tmp_path / "on")
    policy = trainer.accelerator.unwrap_model(trainer.model)
    assert rollout.merged is not None and rollout.policy_backend.model is rollout.merged.model
    ids = torch.randint(5, policy.config.vocab_size, (2, 9), generator=torch.Generator().manual_seed(3))
    policy.eval()
    want = _logits(policy, ids)
    assert (_logits(rollout.merged.model, ids) - want).abs().max() > 0  # the update changed the policy since
    rollout.play([next(iter(rollout.scenarios.values()))], seed=0)  # the next rollout syncs first
    torch.testing.assert_close(_logits(rollout.merged.model, ids), want, rtol=1e-4, atol=1e-4)


def test_merged_rollouts_can_be_turned_off(tiny_model_dir, tmp_path):
    trainer, rollout = _train_one_step(tiny_model_dir, tmp_path / "off", "grpo.merged_rollouts=false")
    assert rollout.merged is None
    assert rollout.policy_backend.model is trainer.accelerator.unwrap_model(trainer.model)
