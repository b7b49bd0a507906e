"""Trained seeds against the untrained model and the scripted buyers, pooled over the sellers a run never met.

    python benchmarks/seeds_table.py --baselines runs/suite-untrained-full --trained-on scripted:linear \\
        runs/suite-seed0:seed0 runs/suite-seed2:seed2
    python benchmarks/seeds_table.py runs/suite-guided-ws-seed0:seed0 --baselines runs/suite-untrained-guided \
        runs/suite-splitter        # the trained runs first: --baselines takes every folder after it

Each argument is a `parley eval bargain` output folder (scripted sellers) of the same suite, size and seed. For
every buyer it pools the mutual-interest (MI) episodes against the scripted sellers other than ``--trained-on``
(held-out products, unseen sellers) and prints the mean buyer reward with a 95% percentile-bootstrap CI, the
overshoot rate (MI deals above budget) and the budget-leak rate (all episodes), then the spread of the trained
seeds' means, only if the runs come from distinct training seeds (their run folders' config.yaml): rows of one seed
under several settings are not a spread across seeds, and neither is their mean of paired differences. The
baselines folder supplies the untrained buyer and the scripted buyers on the same scenarios.

``--paired BEFORE:AFTER[:LABEL]`` (repeatable) also prints what training added to one seed: the mean of AFTER's minus
BEFORE's reward over the same unseen-seller MI episodes (matched by seller and scenario), with a 95% bootstrap CI over
those pairs. Both ran the same products against the same scripted sellers, so the pairing removes the products'
spread from the comparison (e.g. a run's warm start against its final model). ``--by-seller`` adds the same
differences split by unseen seller, one column each: a gain pooled over five sellers can hide a loss against one.

The CIs resample scenarios, not episodes (``--ci scenario``, evaluation/stats.py ``cluster_bootstrap_ci``): the
sellers of the pool play the same scenarios, and the buyer's first turn is drawn once for all of them, so the
episodes of one scenario are not independent. Tables published before 2026-12-07 resampled single episodes
(``--ci episode``, kept so that they reproduce); their intervals are too narrow.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from collections import defaultdict
from pathlib import Path

from parley.evaluation.bargain_metrics import scenario_of  # replicas of one scenario (--rollouts) resampled together
from parley.evaluation.stats import cluster_bootstrap_ci
from parley.training.run_dir import trained_seed


def _episodes(folder: Path) -> dict[str, list[dict]]:
    """buyer name -> episodes, from every episodes/<seller>__vs__<buyer>.jsonl of a suite run."""
    by_buyer: dict[str, list[dict]] = defaultdict(list)
    for path in sorted((folder / "episodes").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            e = json.loads(line)
            by_buyer[e["agents"]["buyer"]].append(e)
    return by_buyer


def _bootstrap(values: list[float], scenarios: list[str], ci: str, seed: int = 0, samples: int = 2000) -> tuple[float, float]:
    if ci == "scenario":
        return cluster_bootstrap_ci(values, [scenario_of(s) for s in scenarios], n_boot=samples, seed=seed)
    rng = random.Random(seed)
    means = sorted(statistics.fmean(rng.choices(values, k=len(values))) for _ in range(samples))
    return means[int(0.025 * samples)], means[int(0.975 * samples) - 1]


def row(label: str, episodes: list[dict], unseen: set[str], ci: str = "scenario") -> tuple[str, float]:
    pool = [e for e in episodes if e["agents"]["seller"] in unseen]
    mi = [e for e in pool if e["scenario"]["interest"] == "mutual"]
    rewards = [e["reward"]["buyer"] for e in mi]
    mean = statistics.fmean(rewards)
    lo, hi = _bootstrap(rewards, [e["scenario"]["id"] for e in mi], ci)
    deals = [e for e in mi if e["outcome"]["deal"]]
    over = sum(e["outcome"]["price"] > e["scenario"]["budget"] + 1e-9 for e in deals)
    leaks = sum(any(t.get("revealed_budget") for t in e["turns"]) for e in pool)
    ci = [e for e in pool if e["scenario"]["interest"] == "conflicting"]
    exits = sum(not e["outcome"]["deal"] for e in ci)
    return (f"| {label} | {len(mi)} | {mean:+.3f} [{lo:+.3f}, {hi:+.3f}] | {len(deals) / len(mi):.2f} | "
            f"{over / len(mi):.3f} | {exits / len(ci):.2f} | {leaks / len(pool):.3f} |"), mean


def _buyer(folder: Path) -> str:
    """The buyer a suite run evaluated (not its baselines)."""
    return json.loads((folder / "summary.json").read_text())["config"]["buyer"]


def paired(before: Path, after: Path, unseen: set[str]) -> dict[tuple[str, str], float]:
    """(seller, scenario) -> after's reward minus before's, over the unseen-seller MI episodes of two suite runs."""
    def by_key(folder: Path) -> dict[tuple[str, str], float]:
        episodes = _episodes(folder)[_buyer(folder)]
        return {(e["agents"]["seller"], e["scenario"]["id"]): e["reward"]["buyer"] for e in episodes
                if e["agents"]["seller"] in unseen and e["scenario"]["interest"] == "mutual"}
    a, b = by_key(before), by_key(after)
    if a.keys() != b.keys():
        raise SystemExit(f"{before} and {after} did not play the same episodes: they cannot be paired")
    return {k: b[k] - a[k] for k in a}


def _difference_row(label: str, pairs: dict[tuple[str, str], float], ci: str) -> str:
    """pairs: (seller, scenario) -> difference."""
    keys = sorted(pairs)
    diffs = [pairs[k] for k in keys]
    lo, hi = _bootstrap(diffs, [k[1] for k in keys], ci)
    return f"| {label} | {len(diffs)} | {statistics.fmean(diffs):+.3f} [{lo:+.3f}, {hi:+.3f}] |"


def _cell(diffs: list[float], scenarios: list[str], ci: str) -> str:
    lo, hi = _bootstrap(diffs, scenarios, ci)
    return f"{statistics.fmean(diffs):+.3f} [{lo:+.3f}, {hi:+.3f}] ({len(diffs)})"


def by_seller_rows(labelled: list[tuple[str, dict[tuple[str, str], float]]], ci: str = "scenario") -> list[str]:
    """The paired differences split by seller: a header and one row per (label, pairs), each cell mean [CI] (n)."""
    sellers = sorted({seller for _, pairs in labelled for seller, _ in pairs})
    lines = ["| paired, by unseen seller | " + " | ".join(sellers) + " |", "|---|" + "---|" * len(sellers)]
    for label, pairs in labelled:
        mine = {seller: [k for k in sorted(pairs) if k[0] == seller] for seller in sellers}
        cells = [_cell([pairs[k] for k in mine[s]], [k[1] for k in mine[s]], ci) for s in sellers]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", help="FOLDER[:LABEL] of a trained buyer's suite run")
    parser.add_argument("--baselines", type=Path, nargs="+", required=True,
                        help="suite run(s) with the untrained buyer and the baselines (e.g. one more for scripted:splitter)")
    parser.add_argument("--trained-on", nargs="+", default=["scripted:linear"], help="sellers the runs trained against")
    parser.add_argument("--paired", action="append", default=[], metavar="BEFORE:AFTER[:LABEL]",
                        help="two suite runs of one buyer each (e.g. warm start and final): the paired difference")
    parser.add_argument("--ci", choices=["scenario", "episode"], default="scenario",
                        help="what the bootstrap resamples: scenarios (default), or single episodes as the tables "
                             "before 2026-12-07 did (too narrow: a scenario's episodes share its product and first turn)")
    parser.add_argument("--by-seller", action="store_true", help="also split each paired difference by unseen seller")
    args = parser.parse_args()
    base: dict[str, list[dict]] = {}
    for folder in args.baselines:  # the same buyer in two folders (the scripted baselines) keeps the first's episodes
        for name, episodes in _episodes(folder).items():
            base.setdefault(name, episodes)
    sellers = {e["agents"]["seller"] for es in base.values() for e in es}
    unseen = {s for s in sellers if s.startswith("scripted:")} - set(args.trained_on)
    print(f"unseen scripted sellers: {', '.join(sorted(unseen))}; MI reward pooled over them\n")
    print("| buyer | MI episodes | MI reward [95% CI] | MI deal rate | MI overshoot | CI rational exit | budget leaks |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for name in sorted(base):
        label = f"{name} (baseline)" if name.startswith("scripted:") else f"{name} (untrained)"
        print(row(label, base[name], unseen, args.ci)[0])
    means, seeds = [], []
    for item in args.runs:
        folder, _, label = item.partition(":")
        for name, episodes in _episodes(Path(folder)).items():
            line, mean = row(label or name, episodes, unseen, args.ci)
            means.append(mean)
            seeds.append(trained_seed(name))
            print(line)
    if len(means) > 1 and len(set(seeds)) < len(seeds):
        print(f"\nno spread printed: the runs come from training seeds {seeds}, and runs of one seed are not a "
              "spread across seeds (list one model per seed, e.g. the final ones)")
    elif len(means) > 1:
        print(f"\nspread of the {len(means)} runs' MI means: min {min(means):+.3f}, max {max(means):+.3f}, "
              f"sd {statistics.stdev(means):.3f}")
    if args.paired:
        print("\n| paired: AFTER - BEFORE | MI pairs | mean difference [95% CI] |\n|---|---:|---|")
    pairs, pair_seeds, labelled = [], [], []
    for item in args.paired:
        before, after, *label = item.split(":")
        pairs.append(paired(Path(before), Path(after), unseen))
        pair_seeds.append(trained_seed(_buyer(Path(after))))
        labelled.append((label[0] if label else f"{after} - {before}", pairs[-1]))
        print(_difference_row(*labelled[-1], args.ci))
    if len(set(pair_seeds)) < len(pair_seeds):
        print(f"\nno mean of the pairs printed: they come from training seeds {pair_seeds}")
    elif len(pairs) > 1 and all(p.keys() == pairs[0].keys() for p in pairs):
        # each episode's difference averaged over the runs, then resampled (by scenario; --ci episode: by episode)
        mean = {k: statistics.fmean(p[k] for p in pairs) for k in pairs[0]}
        labelled.append((f"mean of the {len(pairs)}, episode by episode", mean))
        print(_difference_row(*labelled[-1], args.ci))
    if args.by_seller and labelled:
        print("\n" + "\n".join(by_seller_rows(labelled, args.ci)))


if __name__ == "__main__":
    main()
