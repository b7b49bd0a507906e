"""Training throughput of a finished (or running) `parley train` run, from its metrics.jsonl.

Seconds per optimizer step split into rollout (playing the episodes), reference forward (only when
beta > 0 or num_iterations > 1) and policy update (forward + backward + optimizer step); tokens
through the policy update per second; and that rate as a fraction of this machine's fp32 matmul
peak, counting 6 x parameters FLOPs per token (forward 2N + backward 4N, the usual "model FLOPs"
convention; a LoRA run skips the frozen weights' gradients, so its true FLOPs are nearer 4N).

    python benchmarks/train_throughput.py runs/bargain-smollm2-cpu [--params 134.5e6] [--skip 0]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from rollout import matmul_peak_gflops  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--params", type=float, default=134.5e6, help="parameter count (SmolLM2-135M: 134.5M)")
    parser.add_argument("--skip", type=int, default=0, help="ignore the first N steps")
    parser.add_argument("--peak", type=float, default=None,
                        help="fp32 GFLOP/s to compare against (default: measure now; pass the idle figure when the machine is busy)")
    args = parser.parse_args()
    rows = [json.loads(line) for line in (args.run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "time/step_s" in r and "loss" in r and r["step"] > args.skip]
    if not rows:
        sys.exit(f"{args.run}/metrics.jsonl has no logged steps yet")
    # num_tokens is TRL's cumulative count of prompt + completion tokens of every sequence trained on.
    first, last = rows[0], rows[-1]
    if last["step"] > first["step"]:
        tok = (last["num_tokens"] - first["num_tokens"]) / (last["step"] - first["step"])
    else:
        tok = first["num_tokens"] / first["step"]
    med = {k: statistics.median(r[k] for r in rows) for k in ("time/step_s", "time/rollout_s", "time/reference_s", "time/policy_update_s")}
    peak = args.peak or matmul_peak_gflops()
    rate = tok / med["time/policy_update_s"]
    print(f"{len(rows)} steps (median per step); fp32 matmul peak {peak:.1f} GFLOP/s\n")
    print("| step s | rollout s | reference s | policy update s | mean tokens per step | update tokens/s | % of fp32 peak (6N/token) |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {med['time/step_s']:.1f} | {med['time/rollout_s']:.1f} | {med['time/reference_s']:.1f} | "
          f"{med['time/policy_update_s']:.1f} | {tok:.0f} | {rate:.1f} | {100 * rate * 6 * args.params / 1e9 / peak:.1f}% |")


if __name__ == "__main__":
    main()
