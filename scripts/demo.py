"""`make demo`: the untrained embedded buyer and the shipped trained one, on the same held-out scenarios.

They play the regulated Boulware seller on 16 test-split products none trained on (the shipped
buyer trained against `scripted:linear` on training products and never met Boulware), same seed,
8 turns, 32 new tokens a turn, temperature 0.7. When the shipped buyer plays a persona (the guided one sees a
suggested offer), the untrained model also plays it, so the table separates what the prompt gives from what
training gives. Prints one table and writes every run under runs/demo/. About 4 minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from parley.agents import BackendCache, GenerationSettings
from parley.environments.bargain import ProtocolConfig
from parley.evaluation import BargainArenaConfig, run_bargain_arena
from parley.evaluation.games import fmt_ci
from parley.models.shipped import available, provenance, trained_persona


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--sellers", nargs="+", default=["scripted:boulware"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/demo"))
    args = parser.parse_args()
    console = Console(width=max(Console().width, 120))
    buyers = {"smollm2": "untrained (smollm2)"}
    if "buyer" not in available():
        console.print("[yellow]no trained buyer is shipped in this install (src/parley/data/adapters/buyer); "
                      "showing the untrained one only[/]")
    else:
        p = provenance("buyer")
        persona = trained_persona("buyer")
        console.print(f"shipped trained buyer: run {p['source_run']}, seed {p['seed']}, commit {(p['commit'] or '?')[:10]}, "
                      f"LoRA rank {p['rank']} on the embedded SmolLM2, persona {persona}")
        if persona != "standard":
            buyers[f"smollm2#{persona}"] = f"untrained, {persona} (smollm2#{persona})"
        buyers["smollm2:buyer"] = f"trained (smollm2:buyer{', ' + persona if persona != 'standard' else ''})"
    cache = BackendCache()
    table = Table(title=f"{args.episodes} held-out test scenarios per row, seed {args.seed}, 8 turns", box=box.SIMPLE)
    for header in ("seller", "buyer", "deal rate", "buyer surplus [95% CI]", "over budget", "turns with a move"):
        table.add_column(header, justify="left" if header in ("seller", "buyer") else "right")
    for seller in args.sellers:
        for buyer, label in buyers.items():
            config = BargainArenaConfig(
                buyer=buyer, seller=seller, split="test", episodes=args.episodes, seed=args.seed,
                out=args.out / f"{buyer.replace(':', '-').replace('#', '-')}_vs_{seller.replace(':', '-')}",
                protocol=ProtocolConfig(max_turns=8),
                generation=GenerationSettings(max_new_tokens=32, temperature=0.7, top_p=0.9))
            s = run_bargain_arena(config, cache=cache).summary
            table.add_row(seller, label,
                          f"{s['agreement_rate']:.2f}", fmt_ci(s["buyer_surplus_mean"], s["buyer_surplus_ci95"]),
                          f"{s['over_budget_rate']:.2f}", f"{s['buyer_action_parse_rate'] or 0:.2f}")
    console.print(table)
    console.print(f"every episode, summary and report: {args.out}/")


if __name__ == "__main__":
    main()
