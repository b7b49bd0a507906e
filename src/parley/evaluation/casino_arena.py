"""`parley arena --env casino`: an agent negotiates CaSiNo campsite splits against a counterpart, with the people
of the corpus on the same scenarios as the reference row."""

from __future__ import annotations

import dataclasses
import html
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from parley.agents.spec import BackendCache, build_camper, check_camper
from parley.environments.casino import CasinoConfig, max_joint_points, pareto_optimal, sample_casino
from parley.evaluation.games import output_folder
from parley.evaluation.games import ArenaGame, ArenaOutcome, ArenaRequest, TrainingReport, common_rows, fmt_ci, register_arena
from parley.evaluation.run_stamp import RunStamp
from parley.evaluation.stats import bootstrap_ci, mean_or_none
from parley.models.generation import GenerationSettings
from parley.rollout.casino import CasinoEpisode, run_casino


@dataclass
class CasinoArenaConfig:
    agent: str = "smollm2"
    opponent: str = "scripted:logroller"
    split: str = "test"
    episodes: int = 16
    seed: int = 0
    out: Path = Path("runs/casino")
    protocol: CasinoConfig = field(default_factory=CasinoConfig)
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    report: bool = True


def summarize_casino(episodes: Sequence[CasinoEpisode], agent_sides: Sequence[int], seed: int = 0) -> dict:
    """The agent's and its opponent's points, joint points, Pareto efficiency of deals and the agreement rate;
    the same for the people of the corpus on the same scenarios (the reference). ``agent_sides[i]`` is the camper
    the agent played in episode i."""
    n = len(episodes)
    agent = [float(e.points[side]) for e, side in zip(episodes, agent_sides)]
    other = [float(e.points[1 - side]) for e, side in zip(episodes, agent_sides)]
    joint = [float(sum(e.points)) for e in episodes]
    deals = [e for e in episodes if e.outcome.deal]
    pareto = [float(e.pareto_optimal) for e in deals]
    best = [max_joint_points(e.scenario) for e in episodes]
    human = [e.scenario.human_points() for e in episodes]
    human_deals = [e.scenario for e in episodes if e.scenario.human.deal]
    agent_turns = [t for e, side in zip(episodes, agent_sides) for t in e.turns if t.speaker == side]
    other_turns = [t for e, side in zip(episodes, agent_sides) for t in e.turns if t.speaker != side]
    return {
        "episodes": n,
        "agreement_rate": len(deals) / n if n else 0.0,
        "agreement_rate_ci95": bootstrap_ci([float(e.outcome.deal) for e in episodes], seed=seed),
        "agent_points_mean": mean_or_none(agent),
        "agent_points_ci95": bootstrap_ci(agent, seed=seed),
        "opponent_points_mean": mean_or_none(other),
        "opponent_points_ci95": bootstrap_ci(other, seed=seed),
        "joint_points_mean": mean_or_none(joint),
        "joint_points_ci95": bootstrap_ci(joint, seed=seed),
        # joint points over the most any split of the scenario gives (1 = nothing left on the table)
        "joint_efficiency": mean_or_none([j / b for j, b in zip(joint, best)]),
        "pareto_rate": mean_or_none(pareto),  # share of deals no other split dominates
        "pareto_rate_ci95": bootstrap_ci(pareto, seed=seed) if pareto else None,  # no deals: no rate, no NaN
        "mean_turns": mean_or_none([float(e.outcome.turns) for e in episodes]),
        "outcomes": {r: sum(e.outcome.reason == r for e in episodes) for r in ("accepted", "walked_away", "max_turns")},
        # turns whose move line the environment refused (malformed, several moves, nothing to accept)
        "agent_refused_move_rate": mean_or_none([float(t.effect == "refused") for t in agent_turns]),
        "opponent_refused_move_rate": mean_or_none([float(t.effect == "refused") for t in other_turns]),
        "agent_turns_with_a_move": mean_or_none([float(t.effect != "message") for t in agent_turns]),
        "human_reference": {
            "agreement_rate": len(human_deals) / n if n else 0.0,
            "points_in_agent_seat_mean": mean_or_none([float(h[side]) for h, side in zip(human, agent_sides)]),
            "joint_points_mean": mean_or_none([float(sum(h)) for h in human]),
            "joint_efficiency": mean_or_none([sum(h) / b for h, b in zip(human, best)]),
            "pareto_rate": mean_or_none([float(pareto_optimal(s, s.human.shares[0])) for s in human_deals]),
        },
        "max_joint_points_mean": mean_or_none([float(b) for b in best]),
    }


def run_casino_arena(config: CasinoArenaConfig, show_progress: bool = True, cache: BackendCache | None = None) -> dict:
    # Check every spec before loading any model.
    check_camper(config.agent, "casino agent")
    check_camper(config.opponent, "casino opponent")
    scenarios = sample_casino(config.split, config.episodes, config.seed)
    out = output_folder(config.out)
    cache = cache or BackendCache()
    agent = build_camper(config.agent, config.generation, cache)
    opponent = build_camper(config.opponent, config.generation, cache) if config.opponent != config.agent else agent
    # The agent is camper 0 in the first half and camper 1 in the second: neither seat nor first move is favoured.
    half = (len(scenarios) + 1) // 2
    ids = [f"{s.id}#{i}" for i, s in enumerate(scenarios)]
    stamp = RunStamp()
    with Progress(TextColumn("[bold]casino[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), disable=not show_progress) as progress:
        task = progress.add_task(f"{config.agent} vs {config.opponent}", total=len(scenarios))
        first = run_casino(scenarios[:half], (agent, opponent), config.protocol, seed=config.seed,
                           batch_size=config.generation.batch_size, episode_ids=ids[:half],
                           on_turn=lambda d, t: progress.update(task, completed=d))
        second = run_casino(scenarios[half:], (opponent, agent), config.protocol, seed=config.seed + 1,
                            batch_size=config.generation.batch_size, episode_ids=ids[half:],
                            on_turn=lambda d, t: progress.update(task, completed=half + d))
    episodes = [dataclasses.replace(e, agent_side=0) for e in first] + [dataclasses.replace(e, agent_side=1) for e in second]
    sides = [e.agent_side for e in episodes]
    summary = summarize_casino(episodes, sides, seed=config.seed)
    summary["seconds"] = stamp.seconds()
    meta = {"env": "casino", "agent": config.agent, "opponent": config.opponent, "split": config.split,
            "episodes": config.episodes, "seed": config.seed, "protocol": asdict(config.protocol),
            "generation": asdict(config.generation), "data": "CaSiNo (Chawla et al., NAACL 2021), CC BY 4.0",
            **stamp.fields()}
    with (out / "episodes.jsonl").open("w") as f:
        for e in episodes:
            f.write(json.dumps(e.to_dict(), ensure_ascii=False) + "\n")
    (out / "summary.json").write_text(json.dumps({"config": meta, **summary}, indent=2))
    if config.report:
        write_casino_report(out, episodes, sides, summary, meta)
    return summary


def write_casino_report(out: Path, episodes: Sequence[CasinoEpisode], sides: Sequence[int], summary: dict, meta: dict) -> Path:
    from parley.evaluation.report import _TEMPLATES, _save, plt

    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    human = [e.scenario.human_points() for e in episodes]
    ax.scatter([h[s] for h, s in zip(human, sides)], [h[1 - s] for h, s in zip(human, sides)], marker="o",
               facecolors="none", edgecolors="grey", label="people (CaSiNo), same scenarios")
    ax.scatter([e.points[s] for e, s in zip(episodes, sides)], [e.points[1 - s] for e, s in zip(episodes, sides)],
               c=["tab:blue" if e.pareto_optimal else ("tab:orange" if e.outcome.deal else "black") for e in episodes],
               marker="x", label="this run (blue: Pareto-optimal deal, orange: other deal, black: no deal)")
    ax.plot([0, 36], [36, 0], color="tab:green", lw=0.8, label="joint 36 (no trade gain)")
    ax.set_xlabel(f"{meta['agent']} points")
    ax.set_ylabel(f"{meta['opponent']} points")
    ax.set_xlim(0, 37)
    ax.set_ylim(0, 37)
    ax.set_title("Points per episode")
    ax.legend(fontsize=6, loc="upper right")
    plot = _save(fig, out / "points.png")
    page = _TEMPLATES.get_template("casino.html").render(
        meta=meta, summary=summary, plot=plot, episodes=list(zip(episodes, sides))[:20], total=len(episodes),
        meta_json=json.dumps(meta, indent=2), escape=html.escape)
    path = out / "report.html"
    path.write_text(page)
    return path


# ---------------------------------------------------------------- ``parley arena --env casino``

def result_rows(summary: dict) -> list[tuple[str, str]]:
    ref = summary["human_reference"]
    return common_rows(summary) + [
        ("agent points (of 36) [95% CI]", fmt_ci(summary["agent_points_mean"], summary["agent_points_ci95"])),
        ("opponent points [95% CI]", fmt_ci(summary["opponent_points_mean"], summary["opponent_points_ci95"])),
        ("joint points [95% CI]", fmt_ci(summary["joint_points_mean"], summary["joint_points_ci95"])),
        ("Pareto-optimal deals [95% CI]", fmt_ci(summary["pareto_rate"], summary["pareto_rate_ci95"] or (0, 0))),
        ("outcomes", ", ".join(f"{k} {v}" for k, v in summary["outcomes"].items())),
        ("agent moves refused (format errors)", f"{summary['agent_refused_move_rate'] or 0:.3f}"),
        ("people, same scenarios: agreement / joint / Pareto",
         f"{ref['agreement_rate']:.3f} / {ref['joint_points_mean']:.2f} / {ref['pareto_rate'] or 0:.3f}"),
    ]


def _arena(request: ArenaRequest, show_progress: bool) -> ArenaOutcome:
    options = ARENA.options
    agent, opponent = request.agent("agent", options), request.agent("opponent", options)
    summary = run_casino_arena(CasinoArenaConfig(
        agent=agent, opponent=opponent, split=request.split, episodes=request.episodes, seed=request.seed,
        out=request.out, protocol=CasinoConfig(max_turns=request.max_turns), generation=request.generation,
        report=request.report), show_progress)
    files = [request.out / "episodes.jsonl", request.out / "summary.json"] + ([request.out / "report.html"] if request.report else [])
    return ArenaOutcome(summary, f"{agent} vs {opponent}, CaSiNo {request.split} split", result_rows(summary), files)


def _sample(e: dict) -> dict:
    o, side = e["outcome"], e.get("agent_side") or 0
    who = {side: "trainee", 1 - side: "opponent"}
    result = f"deal {o['shares'][0]} / {o['shares'][1]}" if o["deal"] else f"no deal ({o['reason']})"
    ranks = " vs ".join("/".join(c["priorities"][i] for i in ("food", "water", "firewood")) for c in e["scenario"]["campers"])
    return {"summary": f"{e['id']}: priorities (food/water/firewood) {ranks} → {result}, points {e['points'][side]} : "
                       f"{e['points'][1 - side]}",
            "turns": [(who[t["speaker"]], t["speaker"], t["effect"], t["text"]) for t in e["turns"]],
            "note": f"the trainee was camper {side}"}


REPORT = TrainingReport(
    panels=(("mean_reward", "mean reward (own points / 36)"), ("agreement_rate", "agreement rate"),
            ("agent_points_mean", "trainee points"), ("opponent_points_mean", "opponent points"),
            ("joint_points_mean", "joint points"), ("pareto_rate", "Pareto-optimal deals"),
            ("agent_refused_move_rate", "trainee moves refused"), ("agent_turns_with_a_move", "trainee turns with a move"),
            ("mean_turns", "mean turns")),
    columns=("agreement_rate", "agent_points_mean", "opponent_points_mean", "joint_points_mean", "pareto_rate",
             "agent_refused_move_rate", "mean_turns"),
    sample=_sample)
ARENA = register_arena(ArenaGame("casino", {"agent": "smollm2", "opponent": "scripted:logroller"}, _arena, REPORT))
