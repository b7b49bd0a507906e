"""What a menu buyer chose: the share of its turns that held, split, accepted or left the menu, per buyer turn.

    python benchmarks/menu_choices.py runs/suite-menu-ws-seed0:"warm start" runs/suite-menu-seed0:GRPO \\
        --trained-on scripted:linear [scripted:boulware ...] [--runs runs/menu-seed0] [--first 16]

Each argument is a `parley eval bargain` output folder, optionally with a label. Its buyer-under-test episodes are
read back from their JSONL records and each buyer turn classified by evaluation/behaviour.py ``menu_choices`` (the
menu the persona showed at that turn). Two tables: the MI episodes pooled over the sellers the buyer never trained
against, and those against the seller it trained on. A third table counts the moves off the menu that cost a
trained buyer its budget (an offer at the listing price as its opening, a copy of the seller's standing offer), and
a line per folder says in how many scenarios the buyer's first turn was the same text against every seller: why the
suite's CIs resample scenarios. ``--first N`` keeps the suite's first N scenarios only (scenario i is the same at any
``--scenarios``, so ``--first 16`` of a 48-scenario run is the 16-scenario suite's scenarios, played in another
batch). With ``--runs``, also each training run's validation evaluations (evals.jsonl), where `parley train` logged
the same shares at every evaluation.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from parley.agents.bargainer import MENU_ANCHOR
from parley.environments.actions import ActionKind
from parley.evaluation.behaviour import MENU_CHOICES, menu_choice, menu_choices, menu_turns
from parley.run_files import HELD_OUT, read_jsonl


def _turns(record: dict) -> list[tuple]:
    return [(t["role"], t["action"]["kind"], t["action"]["price"], t["effect"]) for t in record["turns"]]


def episode_choices(record: dict) -> list[str]:
    return menu_choices(_turns(record), record["scenario"]["budget"], record["scenario"]["listing_price"])


def off_menu(record: dict) -> dict[str, int]:
    """Counts of one episode's buyer turns that left the menu in the two ways GRPO found (docs/benchmarks.md, stop
    45): ``listing_open`` (its first turn offers the listing price, which every scripted seller accepts), ``copies``
    (an offer at the seller's standing price: an accept that skips the menu's budget check) and ``copies_over`` (those
    above the budget); also ``offers_over``, every buyer offer above the budget, ``turns``, the buyer's turns, and
    ``accept_listed`` / ``accepted_listed``: the turns whose menu listed ACCEPT, and those that took it (the
    teacher takes it in a third of them, picking uniformly)."""
    budget, listing = record["scenario"]["budget"], record["scenario"]["listing_price"]
    counts = dict.fromkeys(("turns", "off_menu", "copies", "copies_over", "offers_over", "listing_open",
                            "accept_listed", "accepted_listed"), 0)
    for index, (kind, price, moves, theirs) in enumerate(menu_turns(_turns(record), budget, listing)):
        choice = menu_choice(kind, price, moves)
        counts["turns"] += 1
        counts["off_menu"] += choice == "other"
        if moves[-1].kind is ActionKind.ACCEPT:
            counts["accept_listed"] += 1
            counts["accepted_listed"] += choice == "accept"
        if kind == "offer" and price is not None:
            counts["listing_open"] += index == 0 and round(price, 2) == round(listing, 2)
            counts["offers_over"] += price > budget
            if theirs is not None and round(price, 2) == round(theirs, 2):
                counts["copies"] += 1
                counts["copies_over"] += price > budget
    return counts


def scenario_index(record: dict) -> int:
    """The scenario's place in the suite: its id ends in it (``test-0-00017``)."""
    return int(record["scenario"]["id"].rsplit("-", 1)[1])


def first_turn_identity(records: list[dict]) -> tuple[int, int]:
    """(scenarios whose buyer's first turn was one text against every seller that played it, scenarios)."""
    texts: dict[str, set] = {}
    for r in records:
        first = next((t["text"] for t in r["turns"] if t["role"] == "buyer"), None)
        texts.setdefault(r["scenario"]["id"], set()).add(first)
    return sum(len(v) == 1 for v in texts.values()), len(texts)


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


def off_menu_table(title: str, rows: list[tuple[str, list[dict]]]) -> None:
    print(f"\n{title}\n")
    print("| buyer | episodes | buyer turns | off the menu | copies of the seller's offer (above budget) | offers above "
          "budget | listing-price openings (products) | accepted where ACCEPT was listed |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, records in rows:
        total = Counter()
        products = set()
        for r in records:
            counts = off_menu(r)
            total.update(counts)
            if counts["listing_open"]:
                products.add(r["scenario"]["product"]["id"])
        print(f"| {label} | {len(records)} | {total['turns']} | {total['off_menu']} | {total['copies']} "
              f"({total['copies_over']}) | {total['offers_over']} | {total['listing_open']} ({len(products)}) | "
              f"{total['accepted_listed']} of {total['accept_listed']} |")


def _shares(evaluation: dict, prefix: str = "") -> str:
    """An evals.jsonl line's menu shares, hold / split / accept / other (``prefix``: the held-out ones)."""
    return " / ".join(f"{evaluation[f'{prefix}menu_{c}']:.2f}" for c in MENU_CHOICES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="+", help="FOLDER[:LABEL]")
    parser.add_argument("--trained-on", nargs="+", default=["scripted:linear"],
                        help="the seller(s) the buyers trained against (a mix: name each)")
    parser.add_argument("--runs", nargs="*", default=[], help="training run folders: their validation shares")
    parser.add_argument("--turns", type=int, default=5, help="buyer turns to show one by one (the suite has 5)")
    parser.add_argument("--first", type=int, default=None, metavar="N",
                        help="keep the suite's first N scenarios only (a 16-scenario suite's scenarios in a larger run)")
    args = parser.parse_args()
    if args.first is not None and args.first < 1:
        parser.error(f"--first must be at least 1, got {args.first}")
    unseen, seen = [], []
    identity = []
    for item in args.suites:
        folder, _, label = item.partition(":")
        if not (Path(folder) / "summary.json").is_file():
            parser.error(f"{folder} is not a `parley eval bargain` output folder (no summary.json in it)")
        records = read_suite(Path(folder))
        if args.first is not None:
            records = [r for r in records if scenario_index(r) < args.first]
        if not records:
            parser.error(f"{folder} has no buyer-under-test episodes" + (f" in its first {args.first} scenarios"
                                                                         if args.first is not None else ""))
        label = label or records[0]["agents"]["buyer"]
        identity.append((label, *first_turn_identity(records)))
        mutual = [r for r in records if r["scenario"]["interest"] == "mutual"]
        unseen.append((label, [r for r in mutual if r["seller_spec"] not in args.trained_on]))
        seen.append((label, [r for r in mutual if r["seller_spec"] in args.trained_on]))
    print("Shares of the buyer's turns: " + " / ".join(MENU_CHOICES))
    # Before the buyer has an offer of its own there is nothing to hold: the menu's "hold" is then its low opening.
    print(f"(on the buyer's first turn, hold = the menu's low opening, {MENU_ANCHOR:g} of the listing or the budget, "
          "whichever is lower; split = half of that lower one)")
    table("MI episodes, pooled over the sellers never trained against", unseen, args.turns)
    if any(records for _, records in seen):  # a suite run with --sellers may have played none of them
        table(f"MI episodes against {', '.join(args.trained_on)} (trained against)", seen, args.turns)
    off_menu_table("Moves off the menu, MI episodes pooled over the sellers never trained against", unseen)
    print("\nThe buyer's first turn, one text against every seller (scenarios):")
    for label, same, n in identity:
        print(f"- {label}: {same} of {n}")
    for run in args.runs:
        print(f"\nValidation during training, {run} (mean reward; shares " + " / ".join(MENU_CHOICES)
              + "; last turn accepts)\n")
        rows = read_jsonl(Path(run) / "evals.jsonl")
        rows = [e for e in rows if e.get("menu_hold") is not None]
        # A run with evaluation.opponents evaluated the same scenarios against sellers it never trained against too.
        held = any(e.get(f"{HELD_OUT}menu_hold") is not None for e in rows)
        extra = " held-out mean reward | held-out shares |" if held else ""
        print(f"| step | mean reward | deal rate | shares | last turn accepts |{extra}\n|---:|---:|---:|---|---:|"
              + ("---:|---|" if held else ""))
        for e in rows:
            line = (f"| {e['step']} | {e['mean_reward']:+.3f} | {e['agreement_rate']:.2f} | {_shares(e)} | "
                    f"{e['menu_last_accept']:.2f} |")
            if held and e.get(f"{HELD_OUT}menu_hold") is not None:
                line += f" {e[f'{HELD_OUT}mean_reward']:+.3f} | {_shares(e, HELD_OUT)} |"
            elif held:
                line += " – | – |"
            print(line)


if __name__ == "__main__":
    main()
