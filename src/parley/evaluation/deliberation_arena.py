"""`parley arena --env deliberation`: two agents deliberate over held-out dilemmas; a judge scores agreements."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from parley.agents.spec import LLM, RULE_JUDGE, SCRIPTED_DELIBERATORS, BackendCache, build_deliberator, build_judge, parse_spec, split_judge
from parley.models.generation import GenerationSettings
from parley.environments.deliberation import DeliberationConfig, mirrored_proposal
from parley.environments.dilemmas import sample_dilemmas
from parley.evaluation.games import output_folder
from parley.evaluation.games import ArenaGame, ArenaOutcome, ArenaRequest, TrainingReport, common_rows, fmt_ci, register_arena
from parley.evaluation.run_stamp import RunStamp
from parley.evaluation.stats import cluster_bootstrap_ci
from parley.rollout.deliberation import DeliberationEpisode, run_deliberations, with_verdicts

@dataclass
class DeliberationArenaConfig:
    agent: str = "smollm2"
    opponent: str | None = None  # None: the agent plays both personas (self-play)
    judge: str = RULE_JUDGE
    split: str = "test"
    episodes: int = 16
    seed: int = 0
    out: Path = Path("runs/deliberation")
    protocol: DeliberationConfig = field(default_factory=DeliberationConfig)
    generation: GenerationSettings = field(default_factory=lambda: GenerationSettings(max_new_tokens=96))


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def mirrored_deadlock(episode: DeliberationEpisode) -> bool:
    """No agreement although both sides' latest proposals are the same text (case and spacing aside;
    environments/deliberation.py, ``mirrored_proposal``).

    Only an ACCEPT makes an agreement, so a side that copies the other's proposal as a proposal of its own makes none.
    A reward that charges accepting (rewards.own_red_line_penalty) taught proposing back instead of accepting, which
    deadlocks like this when the trained model meets itself (docs/benchmarks.md). Counted so an arena shows it
    instead of a bare fall in agreement."""
    return not episode.outcome.agreed and mirrored_proposal(episode.turns) is not None


def _ci(pairs: list[tuple[float, str]], seed: int) -> tuple[float, float]:
    """95% CI of the mean of (value, dilemma) pairs, resampling dilemmas. Why: an arena plays each dilemma twice
    (the agent once as each persona), and two deliberations of one dilemma are not independent draws."""
    return cluster_bootstrap_ci([v for v, _ in pairs], [d for _, d in pairs], seed=seed)


def summarize_deliberations(episodes: list[DeliberationEpisode], seed: int = 0) -> dict:
    n = len(episodes)
    agreed = [e for e in episodes if e.outcome.agreed]
    scored = [e for e in episodes if e.score is not None]  # no agreement scores 0; a judge failure has no score
    failures = sum(1 for e in agreed if e.score is None)
    names = ("persona_0", "persona_1")
    violations = {name: 0 for name in names}
    for e in agreed:
        for who in (e.verdict or {}).get("red_line_violations") or []:
            index = [p.name for p in e.dilemma.personas].index(who)
            violations[names[index]] += 1
    judged = [e for e in agreed if e.score is not None]
    crossed = [float(bool((e.verdict or {}).get("red_line_violations"))) for e in judged]
    return {
        "episodes": n,
        "agreement_rate": len(agreed) / n if n else 0.0,
        "agreement_rate_ci95": _ci([(float(e.outcome.agreed), e.dilemma.id) for e in episodes], seed),
        "ca_score_mean": sum(e.score for e in scored) / len(scored) if scored else None,  # 0 for no agreement
        "ca_score_ci95": _ci([(e.score, e.dilemma.id) for e in scored], seed),
        "ca_score_mean_agreed": (sum(e.score for e in agreed if e.score is not None) / (len(agreed) - failures))
        if len(agreed) > failures else None,
        "judge_failures": failures,
        "mean_turns_to_agreement": sum(e.outcome.turns for e in agreed) / len(agreed) if agreed else None,
        "red_line_violations": violations,
        "red_line_violation_rate": {k: v / len(agreed) for k, v in violations.items()} if agreed else {},
        # agreements that cross anyone's red line, of the judged agreements
        "red_line_rate": _mean(crossed),
        "red_line_rate_ci95": _ci(list(zip(crossed, (e.dilemma.id for e in judged))), seed),
        "refused_acceptances": sum(t.effect == "refused" for e in episodes for t in e.turns),
        "mirrored_deadlocks": sum(mirrored_deadlock(e) for e in episodes),
    }


def side_summary(episodes: list[DeliberationEpisode], sides: list[int], seed: int = 0) -> dict:
    """The agent's side against an opponent (``sides[i]``: the persona the agent played in episode i): whose proposal
    the agreements took, and whose red line they cross. Self-play has no sides: both personas are the agent.

    Against ``scripted:stance``, which proposes its own stance (the other persona's red line) and accepts the latest
    proposal, an agent that yields shows as agreements on the opponent's proposals that cross the agent's red line."""
    agreed = [(e, side) for e, side in zip(episodes, sides) if e.outcome.agreed]
    judged = [(e, side) for e, side in agreed if e.score is not None]

    def crossed(e, persona: int) -> float:
        return float(e.dilemma.personas[persona].name in ((e.verdict or {}).get("red_line_violations") or []))

    own = [(float(e.outcome.proposal.by == side), e.dilemma.id) for e, side in agreed]
    mine = [(crossed(e, side), e.dilemma.id) for e, side in judged]
    theirs = [(crossed(e, 1 - side), e.dilemma.id) for e, side in judged]

    # By seat, as counts: whether the agent yields can depend on who speaks first (a model that accepts whatever
    # is on the table yields exactly when the opponent proposes first), which the pooled rates above average away.
    def seat(first: bool) -> dict:
        seated = [(e, side) for e, side in zip(episodes, sides) if e.turns and (e.turns[0].speaker == side) == first]
        deals = [(e, side) for e, side in seated if e.outcome.agreed]
        return {"episodes": len(seated), "agreements": len(deals),
                "on_own_proposal": sum(e.outcome.proposal.by == side for e, side in deals),
                "crossing_own_red_line": int(sum(crossed(e, side) for e, side in deals if e.score is not None))}

    return {
        "agreed_on_own_proposal_rate": _mean([v for v, _ in own]), "agreed_on_own_proposal_rate_ci95": _ci(own, seed),
        "own_red_line_rate": _mean([v for v, _ in mine]), "own_red_line_rate_ci95": _ci(mine, seed),
        "opponent_red_line_rate": _mean([v for v, _ in theirs]), "opponent_red_line_rate_ci95": _ci(theirs, seed),
        "seats": {"agent_speaks_first": seat(True), "opponent_speaks_first": seat(False)},
    }


def run_deliberation_arena(config: DeliberationArenaConfig, show_progress: bool = True,
                           cache: BackendCache | None = None) -> dict:
    # Check every spec before loading any model.
    parse_spec(config.agent, allow=LLM, what="deliberation agent", personas=False, extra=SCRIPTED_DELIBERATORS)
    if config.opponent:
        parse_spec(config.opponent, allow=LLM, what="deliberation opponent", personas=False, extra=SCRIPTED_DELIBERATORS)
    split_judge(config.judge)
    dilemmas = sample_dilemmas(config.split, config.episodes, config.seed)
    out = output_folder(config.out)
    cache = cache or BackendCache()
    agent = build_deliberator(config.agent, config.generation, cache)
    opponent = build_deliberator(config.opponent, config.generation, cache) if config.opponent else agent
    judge = build_judge(config.judge, cache)
    # Half the episodes with the agent as persona 0, half as persona 1: neither side is favoured.
    half = (len(dilemmas) + 1) // 2
    stamp = RunStamp()
    with Progress(TextColumn("[bold]deliberation[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), disable=not show_progress) as progress:
        task = progress.add_task(f"{config.agent} vs {config.opponent or 'itself'}", total=len(dilemmas))
        first = run_deliberations(dilemmas[:half], (agent, opponent), config.protocol, seed=config.seed,
                                  batch_size=config.generation.batch_size,
                                  on_turn=lambda d, t: progress.update(task, completed=d))
        second = run_deliberations(dilemmas[half:], (opponent, agent), config.protocol, seed=config.seed + 1,
                                   batch_size=config.generation.batch_size,
                                   on_turn=lambda d, t: progress.update(task, completed=half + d),
                                   episode_ids=[f"{d.id}#{half + i}" for i, d in enumerate(dilemmas[half:])])
    episodes = with_verdicts(first + second, judge, seed=config.seed)
    summary = summarize_deliberations(episodes, seed=config.seed)
    summary["seconds"] = stamp.seconds()
    summary["judge"] = {"spec": config.judge, "rubric": judge.rubric_id, **asdict(judge.stats)}
    if config.opponent and config.opponent != config.agent:  # in self-play both seats are the agent: no side
        sides = [0] * len(first) + [1] * len(second)
        episodes = [replace(e, agent_side=side) for e, side in zip(episodes, sides)]
        summary["agent_side"] = side_summary(episodes, sides, seed=config.seed)
    meta = {"env": "deliberation", "agent": config.agent, "opponent": config.opponent or config.agent,
            "split": config.split, "episodes": config.episodes, "seed": config.seed, "protocol": asdict(config.protocol),
            "generation": asdict(config.generation), **stamp.fields()}
    with (out / "episodes.jsonl").open("w") as f:
        for e in episodes:
            f.write(json.dumps(e.to_dict(), ensure_ascii=False) + "\n")
    (out / "summary.json").write_text(json.dumps({"config": meta, **summary}, indent=2))
    return summary


# ---------------------------------------------------------------- ``parley arena --env deliberation``

def result_rows(summary: dict) -> list[tuple[str, str]]:
    turns = summary["mean_turns_to_agreement"]
    return common_rows(summary) + [
        ("Collective Agency 0-10, no deal = 0 [95% CI]", fmt_ci(summary["ca_score_mean"], summary["ca_score_ci95"])),
        ("mean turns to agreement", "–" if turns is None else f"{turns:.2f}"),
        ("red-line violations", ", ".join(f"{k} {v}" for k, v in summary["red_line_violations"].items())),
    ] + _rule_judge_caveat(summary) + [
        ("judge failures (recorded, not scored)", str(summary["judge_failures"])),
        ("no agreement, both sides last proposing the same text", str(summary.get("mirrored_deadlocks", "–"))),
    ] + _side_rows(summary.get("agent_side"))


def _rule_judge_caveat(summary: dict) -> list[tuple[str, str]]:
    """Under the rule judge, a row saying what its red-line count is. Read by hand, it found 33 of 75 crossings in six
    v2 arenas and 8 of 75 under the v3 prompt (docs/audits): a reader of the table should not take it for more."""
    spec = str((summary.get("judge") or {}).get("spec", ""))
    if split_judge(spec)[0] != RULE_JUDGE:
        return []
    return [("red-line verdicts (docs/audits)", "word matches only")]


def _side_rows(side: dict | None) -> list[tuple[str, str]]:
    if not side:
        return []
    rows = [(f"agreements {what} [95% CI]", fmt_ci(side[key], side[f"{key}_ci95"])) for what, key in (
        ("on the agent's own proposal", "agreed_on_own_proposal_rate"),
        ("crossing the agent's red line", "own_red_line_rate"),
        ("crossing the opponent's red line", "opponent_red_line_rate"))]
    for name, counts in side.get("seats", {}).items():
        rows.append((f"{name.split('_')[0]} first: agreed, own proposal, own red line",
                     f"{counts['agreements']}, {counts['on_own_proposal']}, {counts['crossing_own_red_line']} "
                     f"of {counts['episodes']}"))
    return rows


def _arena(request: ArenaRequest, show_progress: bool) -> ArenaOutcome:
    options = ARENA.options
    agent, opponent, judge = (request.agent(o, options) for o in ("agent", "opponent", "judge"))
    summary = run_deliberation_arena(DeliberationArenaConfig(
        agent=agent, opponent=opponent, judge=judge, split=request.split, episodes=request.episodes, seed=request.seed,
        out=request.out, protocol=DeliberationConfig(max_turns=request.max_turns), generation=request.generation),
        show_progress)
    return ArenaOutcome(summary, f"{agent} vs {opponent or 'itself'}, judged by {judge}, {request.split} split",
                        result_rows(summary), [request.out / "episodes.jsonl", request.out / "summary.json"])


def _sample(e: dict) -> dict:
    d, o = e["dilemma"], e["outcome"]
    result = f"agreed on #{o['proposal']['number']}, Collective Agency {e['score']}" if o["agreed"] else "no agreement"
    verdict = e.get("verdict") or {}
    return {"summary": f"{d['situation'][:110]} → {result}",
            "turns": [(d["personas"][t["speaker"]]["name"], t["speaker"], t["effect"], t["text"]) for t in e["turns"]],
            "note": f"judge: {verdict.get('rationale', '')} {verdict.get('failure') or ''}".strip() if verdict else ""}


REPORT = TrainingReport(
    panels=(("mean_reward", "mean reward (Collective Agency / 10)"), ("agreement_rate", "agreement rate"),
            ("ca_score_mean_agreed", "Collective Agency of agreements (0-10)"),
            ("mean_turns_to_agreement", "turns to agreement"), ("refused_acceptances", "refused acceptances"),
            ("judge_failures", "judge failures")),
    columns=("agreement_rate", "ca_score_mean", "ca_score_mean_agreed", "mean_turns_to_agreement",
             "refused_acceptances", "judge_failures"),
    sample=_sample)
ARENA = register_arena(ArenaGame("deliberation", {"agent": "smollm2", "opponent": None, "judge": RULE_JUDGE}, _arena,
                                 REPORT))
