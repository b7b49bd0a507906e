"""Computing a group's shared prompt once gives the plain pass's log-probs and gradients, on the tiny model."""

from __future__ import annotations

import pytest
import torch

from training_helpers import tiny_overrides


@pytest.fixture
def trainer(tiny_model_dir, tmp_path):
    from parley.training.run_dir import prepare_run
    from parley.training.trainer import build_trainer

    cfg, run_dir, _ = prepare_run(None, tiny_overrides(tiny_model_dir, tmp_path / "run"), None)
    trainer, _ = build_trainer(cfg, run_dir)
    return trainer


def _batch(vocab: int, seed: int = 0):
    """Two groups of three rows: each group one prompt (the second left-padded), completions of unequal length."""
    g = torch.Generator().manual_seed(seed)
    prompt_len, keep = 40, 12
    rows, masks = [], []
    for group, pad in ((0, 0), (1, 7)):
        prompt = torch.randint(5, vocab, (prompt_len,), generator=g)
        for length in (12, 9, 4):
            completion = torch.randint(5, vocab, (keep,), generator=g)
            mask = torch.ones(prompt_len + keep, dtype=torch.long)
            mask[:pad] = 0
            mask[prompt_len + length:] = 0
            ids = torch.cat([prompt, completion]).masked_fill(mask == 0, 0)
            rows.append(ids)
            masks.append(mask)
    return torch.stack(rows), torch.stack(masks), keep


def _pass(trainer, share: bool, ids, mask, keep):
    trainer.share_prompt_prefix = share
    model = trainer.model
    model.zero_grad(set_to_none=True)
    logps, _, _ = trainer._get_per_token_logps_and_entropies(model, ids, mask, keep)
    completion_mask = mask[:, -keep:].float()
    (logps * completion_mask * torch.linspace(0.5, 1.5, keep)).sum().backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.requires_grad and p.grad is not None}
    return logps.detach() * completion_mask, grads


def test_shared_prompt_pass_matches_the_plain_pass(trainer):
    from parley.training import shared_prefix

    ids, mask, keep = _batch(trainer.model.config.vocab_size)
    assert len(shared_prefix._groups(ids, mask, keep)) == 2
    calls = []
    original = shared_prefix.SharedPrefixGRPOTrainer._group_pass
    shared_prefix.SharedPrefixGRPOTrainer._group_pass = lambda self, *a: calls.append(a[1].shape) or original(self, *a)
    try:
        shared, shared_grads = _pass(trainer, True, ids, mask, keep)
    finally:
        shared_prefix.SharedPrefixGRPOTrainer._group_pass = original
    plain, plain_grads = _pass(trainer, False, ids, mask, keep)
    assert len(calls) == 2  # the shared path really ran, once per group
    torch.testing.assert_close(shared, plain, rtol=1e-4, atol=1e-5)
    assert plain_grads.keys() == shared_grads.keys() and plain_grads
    for name in plain_grads:  # fp32 sums in another order: equal to ~1e-5 of the tensor's scale
        scale = plain_grads[name].abs().max().item()
        assert (shared_grads[name] - plain_grads[name]).abs().max().item() <= 1e-4 * scale + 1e-9, name
    assert any(g.abs().sum() > 0 for g in plain_grads.values())


def test_rows_that_share_no_prompt_take_the_plain_path(trainer):
    from parley.training import shared_prefix

    ids, mask, keep = _batch(trainer.model.config.vocab_size, seed=1)
    ids[:, 3] = torch.arange(ids.size(0)) + 7  # every prompt now differs
    assert all(len(rows) == 1 for rows in shared_prefix._groups(ids, mask, keep))
    trainer.share_prompt_prefix = True
    with torch.no_grad():
        a, _, _ = trainer._get_per_token_logps_and_entropies(trainer.model, ids, mask, keep)
        trainer.share_prompt_prefix = False
        b, _, _ = trainer._get_per_token_logps_and_entropies(trainer.model, ids, mask, keep)
    assert torch.equal(a, b)


def test_the_override_matches_this_trls_method_and_can_be_turned_off(tiny_model_dir, tmp_path):
    from parley.training.run_dir import prepare_run
    from parley.training.shared_prefix import compatible
    from parley.training.trainer import build_trainer

    assert compatible()  # if a TRL upgrade breaks this, training falls back to TRL's pass with a warning
    cfg, run_dir, _ = prepare_run(None, tiny_overrides(tiny_model_dir, tmp_path / "off", "grpo.share_prompt_prefix=false"), None)
    trainer, _ = build_trainer(cfg, run_dir)
    assert trainer.share_prompt_prefix is False


def test_the_shared_pass_hands_the_cache_under_this_transformers_name(trainer):
    import warnings

    ids, mask, keep = _batch(trainer.model.config.vocab_size)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _pass(trainer, True, ids, mask, keep)
    stale = [str(w.message) for w in caught if "past_key_values" in str(w.message)]
    assert not stale, stale


def _loss_pass(trainer, compact: bool, ids, mask, keep, scored):
    """The loss pass as ``_compute_loss`` runs it: the loss mask stashed, then weighted log-probs backward."""
    trainer.share_prompt_prefix = True
    trainer.score_loss_tokens_only = compact
    trainer._loss_mask = scored
    model = trainer.model
    model.zero_grad(set_to_none=True)
    try:
        logps, entropies, _ = trainer._get_per_token_logps_and_entropies(model, ids, mask, keep, compute_entropy=True)
    finally:
        trainer._loss_mask = None
    weights = scored.float() * torch.linspace(0.5, 1.5, keep)
    (logps * weights).sum().backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.requires_grad and p.grad is not None}
    return logps.detach() * scored, entropies.detach() * scored, grads


@pytest.mark.parametrize("shared_prompts", [True, False])
def test_the_loss_pass_puts_only_the_loss_tokens_through_the_head(trainer, monkeypatch, shared_prompts):
    """Environment tokens (env_mask 0) skip the LM head; the scored tokens' log-probs, entropies and gradients
    are the full pass's. Also where no rows share a prompt (deliberation: each row's first prompt holds the other
    seat's turn), which takes the plain path."""
    import types

    import trl.trainer.utils as trl_utils

    from parley.training import shared_prefix

    ids, mask, keep = _batch(trainer.model.config.vocab_size, seed=2)
    if not shared_prompts:
        ids[:, 30] = torch.arange(ids.size(0)) + 7  # every prompt now differs
        assert all(len(rows) == 1 for rows in shared_prefix._groups(ids, mask, keep))
    scored = mask[:, -keep:].clone()
    scored[:, 2:5] = 0  # an environment message inside every completion
    scored[0, 8:] = 0
    rows = []
    original = trl_utils._ChunkedLogProbFunction
    monkeypatch.setattr(trl_utils, "_ChunkedLogProbFunction", types.SimpleNamespace(
        apply=lambda hidden, *rest: rows.append(hidden.reshape(-1, hidden.size(-1)).size(0)) or original.apply(hidden, *rest)))
    compact_logps, compact_entropy, compact_grads = _loss_pass(trainer, True, ids, mask, keep, scored)
    compact_rows, rows[:] = sum(rows), []
    full_logps, full_entropy, full_grads = _loss_pass(trainer, False, ids, mask, keep, scored)
    assert compact_rows == int(scored.sum())  # exactly the scored tokens went through the head
    assert sum(rows) > 2 * compact_rows
    assert trl_utils._use_triton is not None and trl_utils._use_triton(torch.device("cpu")) is False  # restored
    torch.testing.assert_close(compact_logps, full_logps, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(compact_entropy, full_entropy, rtol=1e-4, atol=1e-5)
    assert compact_grads.keys() == full_grads.keys() and full_grads
    for name in full_grads:
        scale = full_grads[name].abs().max().item()
        assert (compact_grads[name] - full_grads[name]).abs().max().item() <= 1e-4 * scale + 1e-9, name
    assert any(g.abs().sum() > 0 for g in full_grads.values())


def test_compaction_runs_only_in_the_loss_pass(trainer, monkeypatch):
    """Without a stashed loss mask (the old and reference passes) every completion token is scored."""
    ids, mask, keep = _batch(trainer.model.config.vocab_size, seed=3)
    trainer.share_prompt_prefix = trainer.score_loss_tokens_only = True
    assert trainer._loss_mask is None
    with torch.no_grad():
        logps, _, _ = trainer._get_per_token_logps_and_entropies(trainer.model, ids, mask, keep)
    assert bool((logps[mask[:, -keep:] == 1] != 0).all())


def test_a_training_step_gives_the_same_loss_with_and_without_compaction(tiny_model_dir, tmp_path):
    """One real GRPO step (bargaining dialogues with environment turns), the same seed, both ways. The tiny
    model's rewards tie within a group, so the advantages are set to fixed non-zero values to get a gradient."""
    import json

    from parley.training.run_dir import prepare_run
    from parley.training.trainer import build_trainer

    logged = {}
    for compact in (True, False):
        overrides = tiny_overrides(tiny_model_dir, tmp_path / str(compact), "grpo.max_steps=1", "evaluation.every=100",
                                   f"grpo.score_loss_tokens_only={str(compact).lower()}")
        cfg, run_dir, _ = prepare_run(None, overrides, None)
        trainer, _ = build_trainer(cfg, run_dir)
        assert trainer.score_loss_tokens_only is compact
        generate = trainer._generate_and_score_completions

        def scored(inputs, generate=generate):
            out = generate(inputs)
            assert "tool_mask" in out and bool((out["tool_mask"] == 0).any())  # environment tokens to skip
            out["advantages"] = torch.linspace(-1.0, 1.0, out["advantages"].numel()).reshape(out["advantages"].shape)
            return out

        trainer._generate_and_score_completions = scored
        trainer.train()
        rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        logged[compact] = next(r for r in rows if "loss" in r)
    assert logged[True]["loss"] == pytest.approx(logged[False]["loss"], rel=1e-4, abs=1e-7)
    assert logged[True]["grad_norm"] == pytest.approx(logged[False]["grad_norm"], rel=1e-3, abs=1e-9)
    assert logged[True]["grad_norm"] > 0
