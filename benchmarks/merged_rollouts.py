"""Training rollouts through PEFT's LoRA layers against a plain copy with the LoRA merged in, interleaved A/B.

Builds the trainer of a training config (warm start skipped), gives the LoRA non-zero weights (as after training),
then plays the same group of episodes (one training scenario, num_generations rollouts, the same seed) through
each backend in turn, ``--repeats`` times, and prints each pass's seconds, the paired ratios, and whether the two
backends produced the same transcripts.

    python benchmarks/merged_rollouts.py [--config configs/bargain-smollm2-cpu.yaml] [--repeats 3] [--set k=v ...]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/bargain-smollm2-cpu.yaml")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="section.field=value (repeatable)")
    args = parser.parse_args()

    from parley.models.backends import HFBackend
    from parley.training.config import load_config
    from parley.training.trainer import build_trainer

    cfg = load_config(args.config, [f"output_dir={tempfile.mkdtemp(prefix='parley-merged-')}", "warm_start.enabled=false",
                                    "grpo.report_to=[]", *args.overrides])
    trainer, rollout = build_trainer(cfg, Path(cfg.output_dir))
    policy = trainer.accelerator.unwrap_model(trainer.model)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # LoRA B starts at zero; give the adapter the size it has after some training
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 1e-3)
    if rollout.merged is None:
        raise SystemExit("this config's policy is not merged (no LoRA, or grpo.merged_rollouts=false): nothing to compare")
    backends = {"PEFT layers": HFBackend(policy, trainer.processing_class, name="trainee"),
                "merged copy": rollout.policy_backend}
    scenario = next(iter(rollout.scenarios.values()))
    group = [rollout._unique(scenario, scenario.id, 0, i, 0) for i in range(cfg.grpo.num_generations)]
    print(f"config {args.config} {args.overrides or ''}: {len(group)} episodes of {scenario.id}, "
          f"torch threads {torch.get_num_threads()}")
    seconds = {k: [] for k in backends}
    transcripts = {}
    merged = rollout.merged
    for rep in range(args.repeats):
        for label, backend in backends.items():
            rollout.policy_backend = backend
            rollout.merged = merged if label == "merged copy" else None
            began = time.perf_counter()
            episodes, trajectories = rollout.play(group, seed=1234)
            seconds[label].append(time.perf_counter() - began)
            transcripts.setdefault(label, [t.completion_ids for t in trajectories])
            print(f"  repeat {rep}: {label}: {seconds[label][-1]:.1f} s", flush=True)
    peft, plain = seconds["PEFT layers"], seconds["merged copy"]
    print(f"\nmedian: PEFT layers {statistics.median(peft):.1f} s, merged copy {statistics.median(plain):.1f} s; "
          f"paired speed-ups {', '.join(f'{a / b:.2f}x' for a, b in zip(peft, plain))}")
    same = transcripts["PEFT layers"] == transcripts["merged copy"]
    tokens = sum(len(c) for c in transcripts["merged copy"])
    print(f"same transcripts: {same} ({tokens} completion tokens in the merged copy's episodes)")


if __name__ == "__main__":
    main()
