"""Results table: a buyer (default: the embedded SmolLM2) against every scripted seller on the test split.

Prints a markdown table (agreement rate, mean buyer surplus with 95% bootstrap CI, over-budget rate,
mean rounds) and writes each arena's full run folder under --out.

    python benchmarks/arena_table.py [--buyer smollm2] [--episodes 40] [--seed 0] [--out runs/bench]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from parley.agents import BackendCache, GenerationSettings
from parley.agents.bargainer import SCRIPTED
from parley.environments.bargain import ProtocolConfig
from parley.evaluation import BargainArenaConfig, run_bargain_arena


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buyer", default="smollm2")
    parser.add_argument("--sellers", nargs="+", default=[f"scripted:{n}" for n in SCRIPTED])
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-turns", type=int, default=10)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    args = parser.parse_args()

    cache = BackendCache()
    rows = []
    for seller in args.sellers:
        config = BargainArenaConfig(buyer=args.buyer, seller=seller, split="test", episodes=args.episodes, seed=args.seed,
                             out=args.out / seller.replace(":", "-").replace("#", "-"),
                             protocol=ProtocolConfig(max_turns=args.max_turns),
                             generation=GenerationSettings(max_new_tokens=args.max_new_tokens))
        s = run_bargain_arena(config, cache=cache).summary
        rows.append(
            f"| {seller} | {s['episodes']} | {s['agreement_rate']:.3f} [{s['agreement_rate_ci95'][0]:.3f}, {s['agreement_rate_ci95'][1]:.3f}] "
            f"| {s['buyer_surplus_mean']:+.3f} [{s['buyer_surplus_ci95'][0]:+.3f}, {s['buyer_surplus_ci95'][1]:+.3f}] "
            f"| {s['over_budget_rate']:.3f} | {s['mean_rounds']:.2f} | {s['buyer_action_parse_rate'] or 0:.3f} |"
        )
        print(rows[-1], flush=True)
    print()
    print(f"buyer {args.buyer}, test split, seed {args.seed}, max turns {args.max_turns}, "
          f"{args.max_new_tokens} new tokens per turn, temperature 0.7, top-p 0.9")
    print("| seller | episodes | agreement rate [95% CI] | mean buyer surplus [95% CI] | over-budget rate | mean rounds | buyer turns with an action |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
