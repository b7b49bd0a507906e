"""The arena: N negotiations of a buyer against a seller on a split, written to a run folder."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from parley import ParleyError
from parley.agents import BackendCache, GenerationSettings, build_agent, parse_spec
from parley.agents.spec import UNATTENDED
from parley.environments.bargain import ProtocolConfig, Role
from parley.environments.scenarios import ScenarioConfig, sample_scenarios
from parley.evaluation.games import ArenaGame, ArenaOutcome, ArenaRequest, TrainingReport, common_rows, fmt_ci, output_folder, register_arena
from parley.evaluation.bargain_metrics import bargain_metrics
from parley.evaluation.report import write_report
from parley.evaluation.run_stamp import RunStamp
from parley.evaluation.stats import summarize
from parley.rollout.bargain import ENGINES, BargainEpisode, run_bargains


@dataclass
class BargainArenaConfig:
    buyer: str = "smollm2"
    seller: str = "scripted:boulware"
    split: str = "test"
    episodes: int = 16
    seed: int = 0
    out: Path = Path("runs/arena")
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    scenarios: ScenarioConfig = field(default_factory=ScenarioConfig)
    report: bool = True
    engine: str = "lockstep"  # or "continuous": LLM turns through a slot engine refilled mid-turn (rollout/continuous.py)


@dataclass
class BargainArenaResult:
    episodes: list[BargainEpisode]
    summary: dict
    out: Path


def run_bargain_arena(config: BargainArenaConfig, show_progress: bool = True, cache: BackendCache | None = None) -> BargainArenaResult:
    # Validate everything cheap before loading any model.
    if config.engine not in ENGINES:
        raise ParleyError(f"unknown engine {config.engine!r}: use --engine lockstep or --engine continuous")
    hint = "the arena runs unattended: to negotiate yourself, use `parley play --seller SPEC`"
    buyer_spec = parse_spec(config.buyer, allow=UNATTENDED, what="arena buyer", hint=hint)
    seller_spec = parse_spec(config.seller, allow=UNATTENDED, what="arena seller", hint=hint)
    scenarios = sample_scenarios(config.split, config.episodes, config.seed, config.scenarios)
    out = output_folder(config.out)

    cache = cache or BackendCache()
    buyer = build_agent(buyer_spec, Role.BUYER, config.generation, cache)
    seller = build_agent(seller_spec, Role.SELLER, config.generation, cache)

    stamp = RunStamp()
    with Progress(TextColumn("[bold]arena[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), disable=not show_progress) as progress:
        task = progress.add_task(f"{config.buyer} vs {config.seller}", total=len(scenarios))
        episodes = run_bargains(
            scenarios, buyer, seller, config.protocol, seed=config.seed,
            batch_size=config.generation.batch_size,
            on_turn=lambda done, total: progress.update(task, completed=done), engine=config.engine,
        )

    summary = summarize(episodes, seed=config.seed)
    summary["metrics"] = bargain_metrics(episodes, seed=config.seed)
    summary["seconds"] = stamp.seconds()
    summary["generation"] = {
        role: asdict(agent.backend.stats) | {"tokens_per_second": round(agent.backend.stats.tokens_per_second, 2)}
        for role, agent in (("buyer", buyer), ("seller", seller)) if hasattr(agent, "backend")
    }
    meta = {
        "buyer": config.buyer, "seller": config.seller, "split": config.split, "episodes": config.episodes,
        "seed": config.seed, "protocol": {**asdict(config.protocol), "first_mover": config.protocol.first_mover.value},
        "catalog": config.scenarios.catalog or "packaged",
        "generation": asdict(config.generation), "scenarios": asdict(config.scenarios), "engine": config.engine,
        "prompts": episodes[0].prompts if episodes else {}, **stamp.fields(),
    }
    with (out / "episodes.jsonl").open("w") as f:
        for e in episodes:
            f.write(json.dumps(e.to_dict(), ensure_ascii=False) + "\n")
    (out / "summary.json").write_text(json.dumps({"config": meta, **summary}, indent=2))
    if config.report:
        write_report(out, episodes, summary, meta)
    return BargainArenaResult(episodes, summary, out)


# ---------------------------------------------------------------- ``parley arena --env bargain``

def _metric(m: dict, key: str) -> str:
    stat = m[key]
    if stat["mean"] is None:
        return "–"
    return fmt_ci(stat["mean"], stat["ci95"]) + (f" (n={stat['n']})" if key.endswith("error_rate") else "")


def result_rows(summary: dict) -> list[tuple[str, str]]:
    groups = summary.get("metrics", {})
    standard = []
    for group, label in (("mutual", "MI"), ("conflicting", "CI")):
        m = groups.get(group)
        if not m or not m["episodes"]:
            continue
        standard += [(f"{label} episodes", str(m["episodes"])), (f"{label} deal rate", _metric(m, "deal_rate")),
                     (f"{label} buyer reward", _metric(m, "buyer_reward"))]
        if group == "mutual":
            standard += [("MI captured room", _metric(m, "captured_room")), ("MI overshoot rate", _metric(m, "overshoot_rate"))]
        else:
            standard += [("CI rational exit", _metric(m, "ci_rational_exit"))]
    if groups:
        a = groups["all"]
        standard += [("first-offer ratio", _metric(a, "first_offer_ratio")),
                     ("buyer format-error rate", _metric(a, "buyer_format_error_rate")),
                     ("seller format-error rate", _metric(a, "seller_format_error_rate")),
                     ("budget-leak rate", _metric(a, "budget_leak_rate"))]
    return standard + common_rows(summary) + [
        ("buyer surplus [95% CI]", fmt_ci(summary["buyer_surplus_mean"], summary["buyer_surplus_ci95"])),
        ("seller surplus [95% CI]", fmt_ci(summary["seller_surplus_mean"], summary["seller_surplus_ci95"])),
        ("over-budget rate", f"{summary['over_budget_rate']:.3f}"),
        ("mean rounds", f"{summary['mean_rounds']:.2f}"),
        ("outcomes", ", ".join(f"{k} {v}" for k, v in summary["outcomes"].items())),
        ("buyer turns with an action", f"{summary['buyer_action_parse_rate'] or 0:.3f}"),
        ("seller violations blocked", ", ".join(f"{k} {v}" for k, v in summary["seller_violations"].items()) or "none"),
    ]


def _arena(request: ArenaRequest, show_progress: bool) -> ArenaOutcome:
    options = ARENA.options
    buyer, seller = request.agent("buyer", options), request.agent("seller", options)
    opts = request.settings
    protocol = ProtocolConfig(max_turns=request.max_turns, parser=opts.get("parser") or "lenient",
                              reward=opts.get("reward") or "surplus")
    scenarios = ScenarioConfig(budget_rule=opts.get("budget_rule") or "uniform", catalog=opts.get("catalog"))
    result = run_bargain_arena(BargainArenaConfig(buyer=buyer, seller=seller, split=request.split, episodes=request.episodes,
                                   seed=request.seed, out=request.out, protocol=protocol, scenarios=scenarios,
                                   generation=request.generation, report=request.report,
                                   engine=opts.get("engine") or "lockstep"), show_progress)
    files = [result.out / "episodes.jsonl", result.out / "summary.json"] + ([result.out / "report.html"] if request.report else [])
    return ArenaOutcome(result.summary, f"{buyer} (buyer) vs {seller} (seller), {request.split} split",
                        result_rows(result.summary), files)


def _sample(e: dict) -> dict:
    s, o = e["scenario"], e["outcome"]
    result = f"deal at ${o['price']:,.2f}" if o["deal"] else f"no deal ({o['reason']})"
    return {"summary": f"{s['product']['title'][:90]}: listing ${s['listing_price']:,.2f}, budget ${s['budget']:,.2f}, "
                       f"floor ${s['floor']:,.2f} → {result}, buyer reward {e['reward']['buyer']:+.3f}",
            "turns": [(t["role"], 0 if t["role"] == "buyer" else 1, t["effect"], t["text"]) for t in e["turns"]], "note": ""}


REPORT = TrainingReport(
    panels=(("mean_reward", "mean reward (surplus)"), ("agreement_rate", "agreement rate"),
            ("opening_offer_ratio", "opening offer / listing"), ("mean_concession", "mean concession per turn (/ listing)"),
            ("deadlock_rate", "deadlock rate (no deal at max turns)"), ("walk_away_rate", "walk-away rate"),
            ("over_budget_rate", "over-budget rate"), ("mean_turns", "mean turns"),
            ("mean_message_words", "mean message length (words)"), ("persuasion_rate", "persuasion-tactic rate"),
            ("action_rate", "turns with a parseable action")),
    columns=("agreement_rate", "opening_offer_ratio", "mean_concession", "deadlock_rate", "walk_away_rate",
             "over_budget_rate", "mean_turns", "mean_message_words", "persuasion_rate", "action_rate"),
    phases=True, sample=_sample)
ARENA = register_arena(ArenaGame("bargain", {"buyer": "smollm2", "seller": "scripted:boulware"}, _arena, REPORT,
                                 settings=("catalog", "budget_rule", "parser", "reward", "engine")))
