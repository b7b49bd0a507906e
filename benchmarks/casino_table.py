"""CaSiNo results table: agents against every scripted camper on the test split, beside the people of the corpus.

Each row is one arena run (the agent plays camper 0 in half the episodes, camper 1 in the other half); the last
columns give what the people of CaSiNo did in the same dialogues. Prints a markdown table and writes each run
folder under --out.

    python benchmarks/casino_table.py [--agents scripted:logroller scripted:greedy scripted:fair smollm2]
                                      [--episodes 100] [--seed 0] [--out runs/casino-bench]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from parley.agents import BackendCache, GenerationSettings
from parley.agents.spec import SCRIPTED_CAMPERS
from parley.environments.casino import CasinoConfig
from parley.evaluation.casino_arena import CasinoArenaConfig, run_casino_arena


def _ci(mean, ci) -> str:
    return "–" if mean is None else f"{mean:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", nargs="+", default=list(SCRIPTED_CAMPERS))
    parser.add_argument("--opponents", nargs="+", default=list(SCRIPTED_CAMPERS))
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-turns", type=int, default=10)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--out", type=Path, default=Path("runs/casino-bench"))
    args = parser.parse_args()

    cache = BackendCache()
    rows = []
    for agent in args.agents:
        for opponent in args.opponents:
            s = run_casino_arena(CasinoArenaConfig(
                agent=agent, opponent=opponent, split="test", episodes=args.episodes, seed=args.seed,
                out=args.out / f"{agent}-vs-{opponent}".replace(":", "-"), protocol=CasinoConfig(max_turns=args.max_turns),
                generation=GenerationSettings(max_new_tokens=args.max_new_tokens), report=False), cache=cache)
            ref = s["human_reference"]
            rows.append(f"| {agent} | {opponent} | {s['episodes']} | {_ci(s['agreement_rate'], s['agreement_rate_ci95'])} "
                        f"| {_ci(s['agent_points_mean'], s['agent_points_ci95'])} | {_ci(s['joint_points_mean'], s['joint_points_ci95'])} "
                        f"| {_ci(s['pareto_rate'], s['pareto_rate_ci95'] or (0, 0))} | {s['agent_refused_move_rate'] or 0:.3f} "
                        f"| {ref['agreement_rate']:.2f} / {ref['points_in_agent_seat_mean']:.2f} / {ref['joint_points_mean']:.2f} / {ref['pareto_rate']:.2f} |")
    print("| agent | opponent | episodes | agreement [95% CI] | agent points [95% CI] | joint points [95% CI] "
          "| Pareto-optimal deals [95% CI] | agent moves refused | people: agreement / points / joint / Pareto |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
