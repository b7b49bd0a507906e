"""Ship a finished training run's model inside the package: ``smollm2:<name>`` will load it.

    python scripts/ship_adapter.py runs/bargain-smollm2-cpu-shared buyer [--metrics-from runs/x/summary.json]

Writes src/parley/data/adapters/<name>/ (one fp16 LoRA adapter of the summed warm-start + GRPO rank, with
provenance.json), then loads it back through the spec and checks it answers like the run's own model.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from parley.models.shipped import export_run, shipped_adapters_root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("name")
    parser.add_argument("--metrics-from", type=Path, default=None, help="a summary.json whose figures go into provenance")
    args = parser.parse_args()
    evals = args.run / "evals.jsonl"
    metrics = {"last_validation": json.loads(evals.read_text().splitlines()[-1])} if evals.is_file() else {}
    if args.metrics_from:
        metrics["evaluation"] = json.loads(args.metrics_from.read_text())
    out = export_run(args.run, shipped_adapters_root() / args.name, metrics)
    prov = json.loads((out / "provenance.json").read_text())
    print(f"wrote {out}: rank {prov['rank']}, {prov['bytes'] / 1e6:.1f} MB, warm-start residual "
          f"{prov['warm_start_svd_relative_residual']:.2e}")
    from parley.models.loading import load_causal_lm, load_model_spec

    shipped, tok = load_model_spec(f"smollm2:{args.name}")
    own, _ = load_causal_lm(str(args.run / "final"))
    ids = tok("The seller asks $120 for the lamp. OFFER:", return_tensors="pt").input_ids
    with torch.no_grad():
        a, b = shipped(ids).logits[0, -1], own(ids).logits[0, -1]
    print(f"next-token logits, shipped vs run: max abs difference {float((a - b).abs().max()):.3g} "
          f"(fp16 storage), same argmax: {bool(a.argmax() == b.argmax())}")


if __name__ == "__main__":
    main()
