"""benchmarks/train_throughput.py's bare reference: its "same work" loss is the plain loss, computed with less work."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from test_shared_prefix import _batch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def throughput():
    sys.path.insert(0, str(ROOT / "benchmarks"))  # the script imports its sibling rollout.py
    spec = importlib.util.spec_from_file_location("train_throughput", ROOT / "benchmarks" / "train_throughput.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def lora_model(tiny_model_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False))
    return model.train()


def _loss_and_grads(throughput, model, batch, same_work: bool):
    model.zero_grad(set_to_none=True)
    loss = throughput.bare_loss(model, batch, same_work)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("with_loss_mask", [False, True])
def test_same_work_gives_the_full_loss_and_gradients(throughput, lora_model, with_loss_mask):
    ids, mask, keep = _batch(lora_model.config.vocab_size)  # two groups of three rows, one left-padded
    batch = {"input_ids": ids, "attention_mask": mask, "logits_to_keep": keep, "loss_mask": None}
    if with_loss_mask:  # the environment's tokens in the middle of each completion carry no loss
        scored = mask[:, -keep:].clone()
        scored[:, 3:6] = 0
        batch["loss_mask"] = scored
    full, full_grads = _loss_and_grads(throughput, lora_model, batch, same_work=False)
    rows = []
    hook = lora_model.get_base_model().lm_head.register_forward_hook(lambda m, a, out: rows.append(a[0].shape[0]))
    try:
        same, same_grads = _loss_and_grads(throughput, lora_model, batch, same_work=True)
    finally:
        hook.remove()
    scored = batch["loss_mask"] if with_loss_mask else mask[:, -keep:]
    assert sum(rows) == int(scored.sum())  # the head saw only the tokens that carry loss
    assert torch.isfinite(full) and full > 0
    torch.testing.assert_close(same, full, rtol=1e-5, atol=1e-5)
    assert set(same_grads) == set(full_grads) and full_grads
    for name, grad in full_grads.items():
        # Both passes sum the same terms in another order: fp32 rounding, scaled to the tensor's largest gradient
        # (on an AVX-512 EPYC, 2.8e-6 on a tensor whose largest entry is 1.58). A token lost or counted twice moves
        # gradients by percents.
        scale = float(grad.abs().max())
        torch.testing.assert_close(same_grads[name], grad, rtol=1e-4, atol=1e-5 * scale, msg=name)


def test_the_loss_mask_changes_the_loss(throughput, lora_model):
    """Guards the test above: a mask that removes tokens must change what both passes compute."""
    ids, mask, keep = _batch(lora_model.config.vocab_size)
    scored = mask[:, -keep:].clone()
    scored[:, 3:6] = 0
    with torch.no_grad():
        masked = throughput.bare_loss(lora_model, {"input_ids": ids, "attention_mask": mask, "logits_to_keep": keep,
                                                   "loss_mask": scored}, same_work=True)
        whole = throughput.bare_loss(lora_model, {"input_ids": ids, "attention_mask": mask, "logits_to_keep": keep},
                                     same_work=True)
    assert abs(float(masked) - float(whole)) > 1e-4
