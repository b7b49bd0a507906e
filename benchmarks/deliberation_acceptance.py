"""Where a deliberator's red-line agreements come from: the proposals it writes, or what it accepts.

    python benchmarks/deliberation_acceptance.py runs/delib-stance-eval/frozen-seed0-warm_start:"seed 0 warm start" \\
        runs/delib-stance-eval/prop-seed0-final:"seed 0 final"

Each argument is a `parley arena --env deliberation` output folder (FOLDER[:LABEL]; self-play, or against an
opponent, where both seats' proposals count). Every proposal on the table is judged again by the rule judge (rubric
v2, whatever judge the arena used), whether or not it was accepted, and paired with the other side's next turn. The
red-line rate of agreements then depends on two things a training change can move: how often proposals cross
a red line (the proposing seat), and how much more readily the other side accepts a proposal that does not cross one
than one that does (the accepting seat). An acceptor that accepts both alike does not tell them apart, and the
red-line rate of agreements is then the crossing share of the proposals it was offered. Rates carry 95%
percentile-bootstrap CIs that resample dilemmas (``--ci dilemma``, the default): the arena plays each dilemma twice
and a deliberation may hold several proposals, none of them independent draws. ``--ci proposal`` resamples
proposals one by one, as the tables before 2026-12-07 did.

Against an opponent, ``--proposer opponent`` keeps only the opponent's proposals, so the accept rates are the
agent's own acceptances: against ``scripted:stance`` (whose proposal is its stance, crossing the agent's red line)
and ``scripted:deliberator`` (a proposal naming both sides' values) that is how readily the agent accepts a crossing
and a clean proposal from a partner it never trained with. ``--proposer agent`` keeps the agent's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from parley.agents.judge import JudgeRequest, RuleJudge
from parley.environments.deliberation import parse_move
from parley.environments.dilemmas import parse_dilemma
from parley.evaluation.stats import bootstrap_ci, cluster_bootstrap_ci


def offers(episodes: list[dict], proposer: str = "any") -> list[tuple[bool, bool, str]]:
    """(crosses a red line, accepted on the next turn, dilemma id) for every proposal that had a next turn, judged as
    the table held it (the environment's parsed text); ``proposer`` agent | opponent keeps one side's proposals (arenas
    against an opponent only, whose episodes record the agent's seat)."""
    requests, accepted, dilemmas = [], [], []
    for e in episodes:
        dilemma = parse_dilemma(e["dilemma"])
        side = e.get("agent_side")
        if proposer != "any" and side is None:
            raise ValueError(f"episode {e['id']} records no agent seat (a self-play arena): --proposer {proposer} "
                             "needs an arena run with --opponent")
        for t, reply in zip(e["turns"], e["turns"][1:]):
            if t["effect"] != "proposal":
                continue
            if proposer != "any" and (t["speaker"] == side) != (proposer == "agent"):
                continue
            requests.append(JudgeRequest(dilemma, parse_move(t["text"]).text))
            accepted.append(reply["effect"] == "accept" and reply["proposal"] == t["proposal"])
            dilemmas.append(dilemma.id)
    verdicts = RuleJudge().judge(requests) if requests else []
    return [(bool(v.red_line_violations), a, d) for v, a, d in zip(verdicts, accepted, dilemmas)]


def _rate(flags: list[tuple[bool, str]], by: str = "dilemma") -> str:
    """mean [CI] (of n) of (flag, dilemma id) pairs; ``by`` dilemma resamples dilemmas, proposal single flags."""
    if not flags:
        return "n/a"
    values = [float(f) for f, _ in flags]
    lo, hi = cluster_bootstrap_ci(values, [d for _, d in flags]) if by == "dilemma" else bootstrap_ci(values)
    return f"{sum(values) / len(values):.2f} [{lo:.2f}, {hi:.2f}] (of {len(values)})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", metavar="FOLDER[:LABEL]")
    parser.add_argument("--proposer", choices=("any", "agent", "opponent"), default="any",
                        help="whose proposals to count (agent / opponent: arenas run with --opponent)")
    parser.add_argument("--ci", choices=("dilemma", "proposal"), default="dilemma",
                        help="what the CIs resample: dilemmas (default), or proposals one by one (the older tables)")
    args = parser.parse_args(argv)
    rows = []  # every folder read before the table starts, so a refused one prints no half table
    for spec in args.runs:
        folder, _, label = spec.partition(":")
        path = Path(folder) / "episodes.jsonl"
        if not path.is_file():
            print(f"{folder} is not a deliberation arena folder (no episodes.jsonl)", file=sys.stderr)
            return 2
        episodes = [json.loads(line) for line in path.read_text().splitlines()]
        try:
            pairs = offers(episodes, args.proposer)
        except ValueError as exc:
            print(f"{folder}: {exc}", file=sys.stderr)
            return 2
        crossing = [(a, d) for c, a, d in pairs if c]
        clean = [(a, d) for c, a, d in pairs if not c]
        rows.append(f"| {label or folder} | {len(pairs)} | {_rate([(c, d) for c, _, d in pairs], args.ci)} | "
                    f"{_rate(crossing, args.ci)} | {_rate(clean, args.ci)} |")
    print("| model | proposals | crossing a red line | accepted at once, crossing | accepted at once, not crossing |")
    print("|---|---:|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
