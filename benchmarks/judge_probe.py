"""Does a judge follow the Collective Agency rubric? Score known-bad and known-better agreements.

For each of N test dilemmas, five agreements whose rubric score is known in advance: empty (0),
off-topic (0), a dodge (<= 2), one that crosses persona A's red line (<= 3, violation for A), and one
that names both personas' values with a concrete joint action (>= 6 for a rubric-following judge).
Prints the mean score per kind, the parse-failure rate and how often the red line was flagged.

    python benchmarks/judge_probe.py --judge smollm2 [--n 10]
    python benchmarks/judge_probe.py --judge scripted:rules
"""

from __future__ import annotations

import argparse
import statistics

from parley.agents.judge import JudgeRequest
from parley.agents.spec import BackendCache
from parley.environments.dilemmas import load_dilemmas
from parley.agents.spec import build_judge


def cases(d):
    a, b = d.personas
    return {
        "empty": "",
        "off-topic": "The weather in Paris is lovely in spring and the museums stay open late.",
        "dodge": "We agree to disagree and will postpone the decision.",
        "red line (A)": f"Final decision: {b.stance}",
        "both values": (f"We will act together in a way that protects {a.values[0]} and also {b.values[0]}: "
                        "first we talk to everyone affected, then we share the decision and its consequences."),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judge", default="scripted:rules")
    parser.add_argument("--n", type=int, default=10)
    args = parser.parse_args()
    judge = build_judge(args.judge, BackendCache())
    dilemmas = load_dilemmas("test")[: args.n]
    kinds = list(cases(dilemmas[0]))
    requests = [JudgeRequest(d, cases(d)[k]) for d in dilemmas for k in kinds]
    verdicts = judge.judge(requests)
    print(f"judge {args.judge}, rubric {judge.rubric_id}, {len(dilemmas)} test dilemmas\n")
    print("| agreement | rubric says | mean score | parse failures | red line of A flagged |")
    print("|---|---|---|---|---|")
    expected = {"empty": "0", "off-topic": "0", "dodge": "<= 2", "red line (A)": "<= 3", "both values": ">= 6"}
    for i, kind in enumerate(kinds):
        vs = verdicts[i::len(kinds)]
        scores = [v.score for v in vs if v.score is not None]
        flagged = sum(d.personas[0].name in v.red_line_violations for d, v in zip(dilemmas, vs))
        mean = f"{statistics.mean(scores):.2f}" if scores else "–"
        print(f"| {kind} | {expected[kind]} | {mean} | {sum(v.score is None for v in vs)}/{len(vs)} | {flagged}/{len(vs)} |")


if __name__ == "__main__":
    main()
