"""What a menu buyer chose: the share of its turns that held, split, accepted or left the menu, per buyer turn.

    python benchmarks/menu_choices.py runs/suite-menu-ws-seed0:"warm start" runs/suite-menu-seed0:GRPO \\
        --trained-on scripted:linear [--runs runs/menu-seed0]

Each argument is a `parley eval bargain` output folder, optionally with a label. Its buyer-under-test episodes are
read back from their JSONL records and each buyer turn classified by evaluation/behaviour.py ``menu_choices`` (the
menu the persona showed at that turn). Two tables: the MI episodes pooled over the sellers the buyer never trained
against, and those against the seller it trained on. With ``--runs``, also each training run's validation
evaluations (evals.jsonl), where `parley train` logged the same shares at every evaluation.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from parley.evaluation.behaviour import MENU_CHOICES, menu_choices


def episode_choices(record: dict) -> list[str]:
    turns = [(t["role"], t["action"]["kind"], t["action"]["price"], t["effect"]) for t in record["turns"]]
    return menu_choices(turns, record["scenario"]["budget"], record["scenario"]["listing_price"])


def read_suite(folder: Path) -> list[dict]:
    summary = json.loads((folder / "summary.json").read_text())
    buyer = summary["config"]["buyer"]
    records = []
    for row in summary["rows"]:
        if row["buyer"] != buyer:
            continue
        with open(folder / row["episodes_file"]) as f:
            records += [{**json.loads(line), "seller_spec": row["seller"]} for line in f if line.strip()]
    return records


def shares(choices: list[list[str]], turn: int | None = None) -> str:
    picked = [cs[turn] for cs in choices if len(cs) > turn] if turn is not None else [c for cs in choices for c in cs]
    if not picked:
        return "-"
    counts = Counter(picked)
    return " / ".join(f"{counts[c] / len(picked):.2f}" for c in MENU_CHOICES)


def table(title: str, rows: list[tuple[str, list[dict]]], turns: int) -> None:
    print(f"\n{title}\n")
    header = ["buyer", "episodes", "mean reward", "deal rate", "all turns"] + [f"buyer turn {i + 1}" for i in range(turns)]
    print("| " + " | ".join(header) + " |")
    print("|---|" + "---:|" * 3 + "---|" * (1 + turns))
    for label, records in rows:
        choices = [episode_choices(r) for r in records]
        n = len(records)
        reward = sum(r["reward"]["buyer"] for r in records) / n if n else float("nan")
        deals = sum(r["outcome"]["deal"] for r in records) / n if n else float("nan")
        cells = [label, str(n), f"{reward:+.3f}", f"{deals:.2f}", shares(choices)] + [shares(choices, i) for i in range(turns)]
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="+", help="FOLDER[:LABEL]")
    parser.add_argument("--trained-on", default="scripted:linear", help="the seller the buyers trained against")
    parser.add_argument("--runs", nargs="*", default=[], help="training run folders: their validation shares")
    parser.add_argument("--turns", type=int, default=5, help="buyer turns to show one by one (the suite has 5)")
    args = parser.parse_args()
    unseen, seen = [], []
    for item in args.suites:
        folder, _, label = item.partition(":")
        records = read_suite(Path(folder))
        label = label or records[0]["agents"]["buyer"]
        mutual = [r for r in records if r["scenario"]["interest"] == "mutual"]
        unseen.append((label, [r for r in mutual if r["seller_spec"] != args.trained_on]))
        seen.append((label, [r for r in mutual if r["seller_spec"] == args.trained_on]))
    print("Shares of the buyer's turns: " + " / ".join(MENU_CHOICES))
    table("MI episodes, pooled over the sellers never trained against", unseen, args.turns)
    table(f"MI episodes against {args.trained_on} (trained against)", seen, args.turns)
    for run in args.runs:
        print(f"\nValidation during training, {run} (mean reward; shares " + " / ".join(MENU_CHOICES)
              + "; last turn accepts)\n")
        print("| step | mean reward | deal rate | shares | last turn accepts |\n|---:|---:|---:|---|---:|")
        for line in (Path(run) / "evals.jsonl").read_text().splitlines():
            e = json.loads(line)
            if e.get("menu_hold") is None:
                continue
            cells = " / ".join(f"{e[f'menu_{c}']:.2f}" for c in MENU_CHOICES)
            print(f"| {e['step']} | {e['mean_reward']:+.3f} | {e['agreement_rate']:.2f} | {cells} | "
                  f"{e['menu_last_accept']:.2f} |")


if __name__ == "__main__":
    main()
