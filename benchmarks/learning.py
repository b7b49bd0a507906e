"""Learning benchmark: the untrained model vs a trained checkpoint on held-out test products.

A run that warm-started is also measured after its warm start alone (``warm start``), so the table
separates what imitation gave from what GRPO added on top.

Both buyers meet the same sellers on the same test scenarios with the same seeds, under the
training run's protocol (max turns, tokens per turn). The first seller is the one the run trained
against; the others it never saw. Prints a markdown table with 95% bootstrap CIs and writes
learning.json and learning.png under --out.

    python benchmarks/learning.py --run runs/bargain-smollm2-cpu [--checkpoint final] \\
        [--sellers scripted:linear scripted:boulware smollm2#hostile] [--episodes 64] [--out runs/learning]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from parley.agents import BackendCache, GenerationSettings  # noqa: E402
from parley.environments.bargain import ProtocolConfig, Role  # noqa: E402
from parley.evaluation import BargainArenaConfig, run_bargain_arena  # noqa: E402
from parley.training.config import load_config  # noqa: E402
from parley.training.warm_start import completed  # noqa: E402


def _ci(s: dict, key: str) -> str:
    lo, hi = s[f"{key}_ci95"]
    return f"{s[f'{key}_mean' if key != 'agreement_rate' else key]:.3f} [{lo:.3f}, {hi:.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="training run directory")
    parser.add_argument("--checkpoint", default="final", help="folder inside the run (final, checkpoint-N)")
    parser.add_argument("--sellers", nargs="+", default=None, help="default: the training opponent, scripted:boulware, smollm2#hostile")
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--out", type=Path, default=Path("runs/learning"))
    args = parser.parse_args()

    cfg = load_config(args.run / "config.yaml")
    sellers = args.sellers or [cfg.opponent, "scripted:boulware", "smollm2#hostile"]
    buyers = {"untrained": cfg.model}
    warm = completed(args.run)
    if warm is not None:
        buyers["warm start"] = f"hf:{warm}"
    buyers["trained"] = f"hf:{args.run / args.checkpoint}"
    protocol = ProtocolConfig(max_turns=cfg.environment.max_turns, first_mover=Role(cfg.environment.first_mover))
    settings = GenerationSettings(max_new_tokens=cfg.generation.max_new_tokens, temperature=args.temperature, top_p=0.9)
    cache = BackendCache()
    results = []
    for seller in sellers:
        for label, buyer in buyers.items():
            out = args.out / f"{label.replace(' ', '_')}-vs-{seller.replace(':', '_').replace('#', '_')}"
            r = run_bargain_arena(BargainArenaConfig(buyer=buyer, seller=seller, split="test", episodes=args.episodes, seed=args.seed,
                                      out=out, protocol=protocol, generation=settings), cache=cache)
            results.append({"seller": seller, "buyer": label, "spec": buyer, "trained_against": seller == cfg.opponent,
                            "summary": r.summary, "out": str(out)})
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "learning.json").write_text(json.dumps(results, indent=2) + "\n")

    print(f"\ntest split, {args.episodes} episodes per row, seed {args.seed}, max_turns {protocol.max_turns}, "
          f"temperature {args.temperature}; trained = {buyers['trained']}\n")
    print("| seller | buyer | mean buyer surplus [95% CI] | agreement rate [95% CI] | over-budget rate | turns with an action |")
    print("|---|---|---|---|---|---|")
    for r in results:
        s = r["summary"]
        seen = " (trained against)" if r["trained_against"] else " (never seen)"
        print(f"| {r['seller']}{seen} | {r['buyer']} | {_ci(s, 'buyer_surplus')} | {_ci(s, 'agreement_rate')} | "
              f"{s['over_budget_rate']:.3f} | {s['buyer_action_parse_rate'] or 0:.3f} |")

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, key, title in ((axes[0], "buyer_surplus", "mean buyer surplus"), (axes[1], "agreement_rate", "agreement rate")):
        colors = {"untrained": "tab:gray", "warm start": "tab:orange", "trained": "tab:blue"}
        width = 0.8 / len(buyers)
        for index, label in enumerate(buyers):
            offset, color = (index - (len(buyers) - 1) / 2) * width, colors[label]
            rows = [r for r in results if r["buyer"] == label]
            means = [r["summary"][f"{key}_mean" if key != "agreement_rate" else key] for r in rows]
            lo = [m - r["summary"][f"{key}_ci95"][0] for m, r in zip(means, rows)]
            hi = [r["summary"][f"{key}_ci95"][1] - m for m, r in zip(means, rows)]
            ax.bar([i + offset for i in range(len(rows))], means, width=width, yerr=[lo, hi], capsize=4, color=color, label=label)
        ax.set_xticks(range(len(sellers)), sellers, fontsize=8)
        ax.axhline(0, color="k", lw=0.6)
        ax.set_title(f"{title} (95% CI), test split", fontsize=10)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out / "learning.png", dpi=110)
    print(f"\nwrote {args.out / 'learning.json'} and {args.out / 'learning.png'}")


if __name__ == "__main__":
    main()
