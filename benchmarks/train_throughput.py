"""Training throughput: where a GRPO step's time goes, against a bare PyTorch LoRA ceiling on the same tokens.

Measure mode (the default) runs a few real steps of a training config (the shipped CPU config unless told
otherwise; its warm start is skipped, since throughput does not depend on it) and prints, per step:
rollout, log-prob passes (no-grad forwards outside the rollout: the reference and old-policy passes),
policy update (forward + backward + optimizer), checkpoint and evaluation seconds; the sequences the
update trained on; update tokens/s; episodes per CPU-hour. In the same process it then runs a bare
PyTorch LoRA forward + backward + AdamW step over exactly the same sequences (same shapes, same masks), twice:
every row in full with the LM head at every completion position (what TRL's own pass computes), and the work
Parley's pass does (the group's prompt once, the head only on the tokens that carry loss). The second is the
ceiling of the same work on this machine: the gap to it is overhead, and only removing more work beats it.

    python benchmarks/train_throughput.py [--config configs/bargain-smollm2-cpu.yaml] [--steps 3] [--set k=v ...]
    python benchmarks/train_throughput.py --from-run runs/bargain-smollm2-cpu   # the figures of a finished run
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from rollout import matmul_peak_gflops  # noqa: E402


def from_run(run: Path, params: float, skip: int, peak: float | None) -> None:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "time/step_s" in r and "loss" in r and r["step"] > skip]
    if not rows:
        sys.exit(f"{run}/metrics.jsonl has no logged steps yet")
    first, last = rows[0], rows[-1]  # num_tokens: TRL's cumulative prompt + completion tokens trained on
    tok = ((last["num_tokens"] - first["num_tokens"]) / (last["step"] - first["step"]) if last["step"] > first["step"]
           else first["num_tokens"] / first["step"])
    med = {k: statistics.median(r[k] for r in rows) for k in ("time/step_s", "time/rollout_s", "time/reference_s", "time/policy_update_s")}
    peak = peak or matmul_peak_gflops()
    rate = tok / med["time/policy_update_s"]
    print(f"{len(rows)} steps (median per step); fp32 matmul peak {peak:.1f} GFLOP/s\n")
    print("| step s | rollout s | log-prob passes s | policy update s | tokens per step | update tokens/s | % of fp32 peak (6N/token) |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {med['time/step_s']:.1f} | {med['time/rollout_s']:.1f} | {med['time/reference_s']:.1f} | "
          f"{med['time/policy_update_s']:.1f} | {tok:.0f} | {rate:.1f} | {100 * rate * 6 * params / 1e9 / peak:.1f}% |")


class _Recorder:
    """The sequences the policy update scored with gradients: what TRL hands its log-prob pass (ids, mask,
    how many trailing positions are scored), recorded before any shared-prompt split."""

    def __init__(self, trainer) -> None:
        self.batches: list[dict] = []
        self.active = True
        inner = trainer._get_per_token_logps_and_entropies

        def recording(model, input_ids, attention_mask, logits_to_keep, *args, **kwargs):
            if self.active and torch.is_grad_enabled():
                scored = getattr(trainer, "_loss_mask", None)  # set by the loss pass (training/shared_prefix.py)
                self.batches.append({"input_ids": input_ids.detach().clone(), "attention_mask": attention_mask.detach().clone(),
                                     "logits_to_keep": int(logits_to_keep),
                                     "loss_mask": None if scored is None else scored.detach().clone()})
            return inner(model, input_ids, attention_mask, logits_to_keep, *args, **kwargs)

        trainer._get_per_token_logps_and_entropies = recording


def bare_loss(model, batch: dict, same_work: bool) -> torch.Tensor:
    """The policy-gradient shape of the update's loss (mean -log p of the scored tokens) for one recorded batch.

    ``same_work=False``: every row in full, the LM head at every completion position (what TRL's own pass does).
    ``same_work=True``: the work Parley's pass does, written in plain PyTorch: each group's shared prompt once (its
    K/V repeated for the group's rows), the LM head only where the loss mask is set. Both give the same loss and
    gradients (tests/test_train_throughput.py).
    """
    ids, mask, keep = batch["input_ids"], batch["attention_mask"], batch["logits_to_keep"]
    scored = batch.get("loss_mask")
    if scored is None or tuple(scored.shape) != (ids.size(0), keep):  # as the trainer: no usable mask, score all
        scored = mask[:, -keep:]
    weight = scored.float()
    if not same_work:
        logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=keep + 1).logits[:, :-1]
        logps = torch.log_softmax(logits.float(), dim=-1).gather(-1, ids[:, -keep:].unsqueeze(-1)).squeeze(-1)
        return -(logps * weight).sum() / weight.sum().clamp(min=1)
    from parley.models.compat import cache_of, with_cache
    from parley.training.shared_prefix import _groups  # the trainer's own grouping: rows with one prompt

    lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    prefix = ids.size(1) - keep - 1  # the hidden state at position prefix scores the first completion token
    total = ids.new_zeros((), dtype=torch.float32)
    for rows in _groups(ids, mask, keep):
        g_ids, g_mask, g_weight = ids[rows], mask[rows], weight[rows]
        head = lm.model(input_ids=g_ids[:1, :prefix], attention_mask=g_mask[:1, :prefix], use_cache=True)
        cache = cache_of(head)
        cache.batch_repeat_interleave(len(rows))
        hidden = lm.model(input_ids=g_ids[:, prefix:], attention_mask=g_mask, **with_cache(cache)).last_hidden_state
        keep_rows = g_weight > 0
        logits = lm.lm_head(hidden[:, :keep][keep_rows])
        targets = g_ids[:, -keep:][keep_rows]
        logps = torch.log_softmax(logits.float(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        total = total - (logps * g_weight[keep_rows]).sum()
    return total / weight.sum().clamp(min=1)


def bare_reference(cfg, batches: list[dict], same_work: bool, repeats: int = 1) -> dict:
    """A plain PEFT LoRA model, forward + backward + AdamW on the same batches (``bare_loss`` says which work)."""
    from peft import get_peft_model

    from parley.models.loading import load_model_spec, plain_copy
    from parley.training.setup import lora_config

    model, _ = load_model_spec(cfg.model)
    model = plain_copy(model)
    model.train()
    peft = lora_config(cfg)
    if peft is not None:
        model = get_peft_model(model, peft)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    seconds, tokens = 0.0, 0
    for rep in range(repeats + 1):  # the first round warms up (allocator, kernels) and is not timed
        if rep == 1:
            seconds, tokens = 0.0, 0
        for b in batches:
            began = time.perf_counter()
            bare_loss(model, b, same_work).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            seconds += time.perf_counter() - began
            tokens += int(b["attention_mask"].sum())
    return {"seconds": seconds / repeats, "tokens": tokens // repeats, "tokens_per_s": tokens / seconds}


def measure(config: str, steps: int, overrides: list[str], params: float) -> None:
    from transformers import TrainerCallback

    from parley.training.config import load_config
    from parley.training.trainer import build_trainer

    run_dir = Path(tempfile.mkdtemp(prefix="parley-throughput-"))
    cfg = load_config(config, [f"output_dir={run_dir}", f"grpo.max_steps={steps}", "warm_start.enabled=false",
                               f"evaluation.every={steps}", "grpo.save_steps=1", "grpo.report_to=[]", *overrides])
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    peak = matmul_peak_gflops()
    print(f"fp32 matmul peak (2048^2, best of 10): {peak:.1f} GFLOP/s")
    print(f"config {config} with {overrides or 'no overrides'}: {steps} steps, "
          f"{cfg.grpo.num_generations * cfg.grpo.scenarios_per_step} episodes per step, warm start skipped\n")
    trainer, rollout = build_trainer(cfg, run_dir)
    recorder = _Recorder(trainer)
    phases = {"checkpoint": [], "evaluation": []}
    evaluate = rollout.evaluate

    def timed_evaluate(*a, **kw):
        began = time.perf_counter()
        recorder.active = False
        try:
            return evaluate(*a, **kw)
        finally:
            recorder.active = True
            phases["evaluation"].append(time.perf_counter() - began)

    rollout.evaluate = timed_evaluate
    play = rollout.play

    def quiet_play(*a, **kw):
        recorder.active = False
        try:
            return play(*a, **kw)
        finally:
            recorder.active = True

    rollout.play = quiet_play

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            self.ended = time.perf_counter()
            self.evals = len(phases["evaluation"])

        def on_save(self, args, state, control, **kw):
            evals = sum(phases["evaluation"][self.evals:])
            phases["checkpoint"].append(time.perf_counter() - self.ended - evals)

    trainer.add_callback(Clock())
    began = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - began
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "time/step_s" in r and "loss" in r]
    per_step = len(recorder.batches) // max(1, len(rows))
    tokens = [int(b["attention_mask"].sum()) for b in recorder.batches]
    padded = [b["input_ids"].numel() for b in recorder.batches]
    med = {k: statistics.median(r[k] for r in rows) for k in ("time/step_s", "time/rollout_s", "time/reference_s", "time/policy_update_s")}
    update_tokens = sum(tokens) / len(rows)
    episodes = cfg.grpo.num_generations * cfg.grpo.scenarios_per_step
    ckpt = statistics.median(phases["checkpoint"]) if phases["checkpoint"] else 0.0
    evaluation = sum(phases["evaluation"]) / len(rows)
    step_all = med["time/step_s"] + ckpt + evaluation
    print(f"\n{len(rows)} steps, median seconds per step ({wall:.0f} s wall, evaluations amortised over the steps):\n")
    print("| rollout | log-prob passes | policy update | checkpoint | evaluation | step, all in | episodes / CPU-hour |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {med['time/rollout_s']:.1f} | {med['time/reference_s']:.1f} | {med['time/policy_update_s']:.1f} | {ckpt:.1f} | "
          f"{evaluation:.1f} | {step_all:.1f} | {3600 * episodes / step_all:.0f} |")
    print(f"\nthe update's sequences: {len(recorder.batches)} forward batches ({per_step} per step), "
          f"{update_tokens:.0f} real tokens per step ({sum(padded) / len(rows):.0f} with padding), "
          f"longest {max(b['input_ids'].shape[1] for b in recorder.batches)} tokens")
    rate = update_tokens / med["time/policy_update_s"]
    last = recorder.batches[-per_step:] if per_step else recorder.batches
    refs = {"full": bare_reference(cfg, last, same_work=False), "same": bare_reference(cfg, last, same_work=True)}
    print("\n| | seconds for one step's sequences | tokens/s | % of fp32 peak (6N/token) |")
    print("|---|---|---|---|")
    print(f"| parley (TRL GRPO) policy update | {med['time/policy_update_s']:.1f} | {rate:.1f} | {100 * rate * 6 * params / 1e9 / peak:.1f}% |")
    names = {"full": "bare PyTorch LoRA fwd+bwd+AdamW, every row in full, head at every completion position",
             "same": "bare PyTorch LoRA fwd+bwd+AdamW, the same work (prompt once, head on the loss's tokens only)"}
    for key, ref in refs.items():
        print(f"| {names[key]} | {ref['seconds']:.1f} | {ref['tokens_per_s']:.1f} | "
              f"{100 * ref['tokens_per_s'] * 6 * params / 1e9 / peak:.1f}% |")
    print(f"\nupdate at {100 * rate / refs['same']['tokens_per_s']:.0f}% of the same-work bare reference, "
          f"{100 * rate / refs['full']['tokens_per_s']:.0f}% of the every-row-in-full one (the bare figures are for the "
          f"last step's {len(last)} batch(es), {refs['same']['tokens']} tokens; tokens/s counts every real token, so "
          f"removed work shows as a higher rate)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/bargain-smollm2-cpu.yaml")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="section.field=value (repeatable)")
    parser.add_argument("--from-run", type=Path, default=None, help="only read a finished run's metrics.jsonl")
    parser.add_argument("--params", type=float, default=134.5e6, help="parameter count (SmolLM2-135M: 134.5M)")
    parser.add_argument("--skip", type=int, default=0, help="--from-run: ignore the first N steps")
    parser.add_argument("--peak", type=float, default=None, help="--from-run: fp32 GFLOP/s to compare against")
    args = parser.parse_args()
    if args.from_run:
        from_run(args.from_run, args.params, args.skip, args.peak)
    else:
        measure(args.config, args.steps, args.overrides, args.params)


if __name__ == "__main__":
    main()
