"""Deliberators side by side from their self-play arena runs, with the spread across trained seeds.

    python benchmarks/deliberation_seeds.py runs/delib-eval/seed1-warm_start:"seed 1 warm start" \\
        runs/delib-eval/seed1-final:"seed 1 final" runs/delib-eval/seed2-final:"seed 2 final" --trained final

Each argument is a `parley arena --env deliberation` output folder (FOLDER[:LABEL]); give them the same split,
episode count, seed, judge and opponent, or the rows do not compare (the script refuses a mismatch). Runs against
an opponent (`--opponent`) also get the agent's side: whose proposal the agreements took, whose red line they
cross, and the same by seat (who spoke first). For each it prints
the agreement rate, Collective Agency with no agreement = 0, CA of the judged agreements, and the share of
agreements that cross a red line, each with a 95% percentile-bootstrap CI (over episodes; agreements for the last
two), recomputed from `episodes.jsonl` so every row uses the same resampling. The CI resamples dilemmas, as the arena's
summary does since 2026-12-07 (an arena plays each dilemma twice, and those two are not independent draws);
``--ci episode`` resamples single episodes, as the tables published before then did (their intervals are too narrow). Rows whose label contains
``--trained`` (default "final") are the trained seeds: their spread is printed below the table, only if they come
from distinct training seeds (read from the checkpoint's run folder, `config.yaml`); rows of one seed under two
settings are not a spread across seeds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from parley.environments.deliberation import DeliberationTurn, mirrored_proposal
from parley.evaluation.stats import bootstrap_ci, cluster_bootstrap_ci  # the arena's own CIs, so rows match its summary
from parley.training.run_dir import trained_seed


def _fmt(values: list[float], dilemmas: list[str], ci: str = "dilemma", digits: int = 2) -> str:
    if not values:
        return "n/a"
    lo, hi = cluster_bootstrap_ci(values, dilemmas) if ci == "dilemma" else bootstrap_ci(values)
    return f"{statistics.fmean(values):.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def measures(episodes: list[dict]) -> dict:
    """The table's columns from one arena's episodes (a judge failure is an agreement without a score)."""
    agreed = [e for e in episodes if e["outcome"]["agreed"]]
    judged = [e for e in agreed if e.get("score") is not None]
    scored = [e for e in episodes if not e["outcome"]["agreed"] or e.get("score") is not None]
    return {
        "episodes": len(episodes),
        # the dilemma of each value of the lists below, in their order: the unit the CIs resample
        "dilemmas": {"agreement": [e["dilemma"]["id"] for e in episodes], "ca": [e["dilemma"]["id"] for e in scored],
                     "ca_agreed": [e["dilemma"]["id"] for e in judged], "red_line": [e["dilemma"]["id"] for e in judged]},
        "agreement": [float(e["outcome"]["agreed"]) for e in episodes],
        "ca": [float(e["score"]) if e["outcome"]["agreed"] else 0.0 for e in scored],
        "ca_agreed": [float(e["score"]) for e in judged],
        "red_line": [float(bool((e.get("verdict") or {}).get("red_line_violations"))) for e in judged],
        "refused": sum(t["effect"] == "refused" for e in episodes for t in e["turns"]),
        "mirrored": sum(not e["outcome"]["agreed"] and
                        mirrored_proposal([DeliberationTurn.from_dict(t) for t in e["turns"]]) is not None
                        for e in episodes),
    }


def opponent(config: dict) -> str:
    """'self-play', or the opponent's spec: rows against different opponents do not compare."""
    return "self-play" if config.get("opponent") in (None, config["agent"]) else config["opponent"]


def side_row(label: str, side: dict) -> str:
    """The agent's side against an opponent, from the arena's summary (its own CIs, over agreements)."""
    def ci(key: str) -> str:
        lo, hi = side[f"{key}_ci95"]
        return "n/a" if side[key] is None else f"{side[key]:.2f} [{lo:.2f}, {hi:.2f}]"

    seats = side.get("seats") or {}
    counts = [f"{c['agreements']}, {c['on_own_proposal']}, {c['crossing_own_red_line']} of {c['episodes']}"
              for c in (seats.get("agent_speaks_first"), seats.get("opponent_speaks_first")) if c]
    return (f"| {label} | {ci('agreed_on_own_proposal_rate')} | {ci('own_red_line_rate')} | "
            f"{ci('opponent_red_line_rate')} | {' | '.join(counts) if len(counts) == 2 else 'n/a | n/a'} |")


def load(folder: Path) -> tuple[dict, list[dict]]:
    summary, path = folder / "summary.json", folder / "episodes.jsonl"
    if not summary.is_file() or not path.is_file():
        sys.exit(f"{folder} is not a deliberation arena folder (no summary.json / episodes.jsonl): give the --out "
                 "of `parley arena --env deliberation`")
    record = json.loads(summary.read_text())
    config = {**record["config"], "judge": (record.get("judge") or {}).get("spec"), "agent_side": record.get("agent_side")}
    config["against"] = opponent(config)
    if config.get("env") != "deliberation":
        sys.exit(f"{folder} is a {config.get('env')!r} arena, not deliberation")
    return config, [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="FOLDER[:LABEL] of a deliberation arena run")
    parser.add_argument("--trained", default="final", help="rows whose label contains this are the trained seeds")
    parser.add_argument("--ci", choices=["dilemma", "episode"], default="dilemma",
                        help="what the bootstrap resamples: dilemmas (default), or single episodes as the tables "
                             "before 2026-12-07 did")
    args = parser.parse_args()
    rows, sides, reference = [], [], None
    for item in args.runs:
        folder, _, label = item.partition(":")
        config, episodes = load(Path(folder))
        key = {k: config.get(k) for k in ("split", "episodes", "seed", "judge", "against")}
        if reference is None:
            reference = (folder, key)
        elif key != reference[1]:
            sys.exit(f"{folder} ran {key}, {reference[0]} ran {reference[1]}: evaluate every row on the same split, "
                     "episodes, seed, judge and opponent (self-play and an opponent go in separate tables)")
        rows.append((label or config["agent"], measures(episodes), trained_seed(config["agent"])))
        sides.append((label or config["agent"], config["agent_side"]))
    against = reference[1]["against"]
    print(f"{reference[1]['split']} split, {reference[1]['episodes']} episodes, seed {reference[1]['seed']}, "
          f"{against if against == 'self-play' else 'against ' + against}; 95% bootstrap CIs\n")
    print("| model | agreement | CA, no deal = 0 | CA of agreements | red-line rate of agreements | refused acceptances "
          "| no agreement, same last proposals |")
    print("|---|---|---|---|---|---:|---:|")
    for label, m, _ in rows:
        cell = {k: _fmt(m[k], m["dilemmas"][k], args.ci) for k in ("agreement", "ca", "ca_agreed", "red_line")}
        print(f"| {label} | {cell['agreement']} | {cell['ca']} | {cell['ca_agreed']} | "
              f"{cell['red_line']} ({int(sum(m['red_line']))} of {len(m['red_line'])}) | {m['refused']} "
              f"| {m['mirrored']} |")
    if against != "self-play":
        print(f"\nthe agent's side against {against} (rates of agreements; seats: agreed, on the agent's own proposal, "
              "crossing the agent's red line, of the episodes)\n")
        print("| model | on own proposal | crossing own red line | crossing opponent's red line | agent speaks first "
              "| opponent speaks first |")
        print("|---|---|---|---|---|---|")
        for label, side in sides:
            print(side_row(label, side) if side else f"| {label} | n/a | n/a | n/a | n/a | n/a |")
    trained = [(label, m) for label, m, _ in rows if args.trained in label]
    seeds = [seed for label, _, seed in rows if args.trained in label]
    if len(set(seeds)) < len(seeds):
        print(f"\nno spread printed: the rows labelled {args.trained!r} come from training seeds {seeds}, "
              "and rows of one seed are not a spread across seeds")
    elif len(trained) > 1:
        for name, column in (("CA of agreements", "ca_agreed"), ("red-line rate", "red_line"), ("agreement", "agreement")):
            means = [statistics.fmean(m[column]) for _, m in trained if m[column]]
            if len(means) > 1:
                print(f"\nspread of the trained seeds' {name}: min {min(means):.2f}, max {max(means):.2f}, "
                      f"sd {statistics.stdev(means):.2f} over {len(means)} seeds", end="")
        print()


if __name__ == "__main__":
    main()
