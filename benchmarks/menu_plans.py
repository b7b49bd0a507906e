"""What the menu allows: every fixed plan of menu moves against each scripted seller of the suite, on its scenarios.

    python benchmarks/menu_plans.py [--scenarios 16] [--seed 0] [--split test] [--max-turns 10] \
        [--sellers scripted:linear,scripted:final-offer]

A plan is one move per buyer turn (h = hold, s = split, a = accept when ACCEPT is listed, else split), played open
loop against each scripted seller on the suite's MI scenarios under its protocol (bargain-eval.v1: 10 turns, strict
parser). For each seller the script prints the best single plan's mean buyer reward, a few named plans, and the
random teacher (`scripted:menu`, the warm start's target), and the best plan that never accepts: where it equals
the best plan, accepting adds nothing against that seller, so GRPO has no reason to keep it. It bounds what a menu
buyer that ignores the seller's replies could reach, and says which plans a training seller rewards: the rows to
read a trained menu buyer against. ``--sellers`` plays other scripted sellers than the suite's (the training ones).
"""

from __future__ import annotations

import argparse
import itertools
import statistics

from parley import ParleyError
from parley.agents.bargainer import menu_moves
from parley.agents.spec import build_agent
from parley.environments.actions import ActionKind, format_action
from parley.environments.bargain import BargainEnv, ProtocolConfig, Role
from parley.environments.scenarios import ScenarioConfig, sample_scenarios
from parley.evaluation.bargain_suite import SUITE
from parley.rollout import run_bargains


def play(scenario, seller, protocol: ProtocolConfig, plan: str) -> float:
    env = BargainEnv(protocol)
    env.reset(scenario)
    k = 0
    while not env.done:
        obs = env.observe(env.agent_selection)
        if obs.role is Role.SELLER:
            env.step(seller.act([obs])[0])
            continue
        moves = menu_moves(obs.own_offer, obs.other_offer, obs.private_value, obs.listing_price)
        want = plan[min(k, len(plan) - 1)]
        k += 1
        offers = [m for m in moves if m.kind is ActionKind.OFFER]
        move = moves[-1] if want == "a" and moves[-1].kind is ActionKind.ACCEPT else offers[0] if want == "h" else offers[-1]
        env.step(format_action(move))
    return env.rewards()[Role.BUYER]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=16, help="the suite's size (its MI half is played)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", default=SUITE["split"], help="train: what a training seller rewards")
    parser.add_argument("--max-turns", type=int, default=SUITE["protocol"]["max_turns"],
                        help="the menu config trains with 8")
    parser.add_argument("--plans", default=None,
                        help="comma-separated plans for the named columns instead of the four named ones (e.g. "
                             "asss,sass,ssas,sssa: accepting at each buyer turn, splitting otherwise)")
    parser.add_argument("--sellers", default=",".join(SUITE["scripted_sellers"]),
                        help="comma-separated scripted sellers (default: the suite's)")
    args = parser.parse_args()
    sellers = {}
    for spec in (spec.strip() for spec in args.sellers.split(",") if spec.strip()):
        if not spec.startswith("scripted:"):  # every plan replays every scenario: hours for a language model
            parser.error(f"--sellers: {spec!r} is not a scripted seller; name scripted ones (scripted:linear, ...)")
        try:
            sellers[spec] = build_agent(spec, Role.SELLER)
        except ParleyError as exc:
            parser.error(f"--sellers: {exc}")
    if not sellers:
        parser.error("--sellers: names no seller; give comma-separated specs, e.g. scripted:linear,scripted:boulware")
    protocol = ProtocolConfig(**{**SUITE["protocol"], "first_mover": Role(SUITE["protocol"]["first_mover"]),
                                 "max_turns": args.max_turns})
    scenarios = [s for s in sample_scenarios(args.split, args.scenarios, args.seed, ScenarioConfig(**SUITE["scenarios"]))
                 if s.interest == "mutual"]
    turns = (protocol.max_turns + 1) // 2
    plans = ["".join(p) for p in itertools.product("hsa", repeat=turns)]
    named = {"all split": "s" * turns, "hold, then accept": "h" * (turns - 1) + "a",
             "split, then accept": "s" * (turns - 1) + "a", "anchor, then split": "h" + "s" * (turns - 1)}
    if args.plans is not None:
        asked = [p.strip() for p in args.plans.split(",") if p.strip()]
        wrong = [p for p in asked if p not in plans]
        if not asked or wrong:
            parser.error(f"--plans: {', '.join(wrong) or 'none given'}; a plan is {turns} letters of h, s, a "
                         f"(one per buyer turn at --max-turns {protocol.max_turns})")
        named = {p: p for p in asked}
    print(f"{len(scenarios)} MI scenarios ({args.split} split, seed {args.seed}), {protocol.max_turns} turns; "
          f"mean buyer reward of each plan (h hold, s split, a accept)\n")
    print("| seller | best plan | " + " | ".join(named) + " | scripted:menu (random) | best plan that never accepts |")
    print("|---|---|" + "---:|" * (len(named) + 1) + "---|")
    for spec, seller in sellers.items():
        means = {p: statistics.fmean(play(s, seller, protocol, p) for s in scenarios) for p in plans}
        best = max(means, key=means.get)
        never = max((p for p in plans if "a" not in p), key=means.get)
        teacher = statistics.fmean(e.buyer_reward for e in run_bargains(scenarios, build_agent("scripted:menu", Role.BUYER),
                                                                          seller, protocol, seed=args.seed))
        print(f"| {spec} | {best} {means[best]:+.3f} | " + " | ".join(f"{means[p]:+.3f}" for p in named.values())
              + f" | {teacher:+.3f} | {never} {means[never]:+.3f} |")


if __name__ == "__main__":
    main()
