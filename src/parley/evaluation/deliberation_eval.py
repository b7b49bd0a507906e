"""`parley eval deliberation`: a deliberator measured the way the deliberation literature measures it.

Three views of one model against a baseline (typically the trained model against the untrained one), on the
same held-out dilemmas and the same judge and rubric:

1. **self-play**: the model plays both personas (the arena); agreement rate, Collective Agency (0 without an
   agreement), CA of agreements, and the share of agreements that cross a red line;
2. **single-agent CA**: the model resolves each dilemma alone; the judge scores the resolution;
3. **pairwise**: the two models' single-agent resolutions of each dilemma, judged side by side in both
   orders (a win needs both; a split is a tie, counted as position bias when the same slot won twice).
   The win rate counts a tie as half a win.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from parley import ParleyError
from parley.agents.judge import JudgeRequest
from parley.agents.pairwise_judge import compare
from parley.agents.spec import (LLM, RULE_JUDGE, SCRIPTED_DELIBERATORS, BackendCache, build_judge, build_pairwise_judge,
                                build_resolver, parse_spec, split_judge)
from parley.environments.deliberation import DeliberationConfig
from parley.environments.dilemmas import sample_dilemmas
from parley.evaluation.deliberation_arena import DeliberationArenaConfig, run_deliberation_arena
from parley.evaluation.games import output_folder
from parley.evaluation.run_stamp import RunStamp
from parley.evaluation.stats import bootstrap_ci
from parley.models.generation import GenerationSettings

EVAL_VERSION = "deliberation-eval.v1"


@dataclass
class DeliberationEvalConfig:
    agent: str  # the deliberator under test (a checkpoint: hf:<path>)
    baseline: str | None = "smollm2"  # compared with; None: the agent alone (no pairwise)
    judge: str = RULE_JUDGE  # scores self-play agreements and single-agent resolutions (rubric: ``#v<N>``)
    pairwise_judge: str | None = None  # compares resolutions; None: the same spec as ``judge``
    split: str = "test"
    dilemmas: int = 16
    seed: int = 0
    out: Path = Path("runs/eval-deliberation")
    protocol: DeliberationConfig = field(default_factory=DeliberationConfig)
    generation: GenerationSettings = field(default_factory=lambda: GenerationSettings(max_new_tokens=96))


def _slug(spec: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in spec)[:80]


def _stat(xs: list[float], seed: int) -> dict:
    return {"mean": sum(xs) / len(xs) if xs else None, "ci95": bootstrap_ci(xs, seed=seed), "n": len(xs)}


def run_deliberation_eval(config: DeliberationEvalConfig, show_progress: bool = True,
                          cache: BackendCache | None = None) -> dict:
    models = [config.agent] + ([config.baseline] if config.baseline else [])
    for spec in models:  # every spec checked before any model loads
        parse_spec(spec, allow=LLM, what="deliberation agent", personas=False, extra=SCRIPTED_DELIBERATORS)
    split_judge(config.judge)
    pair_spec = config.pairwise_judge or config.judge
    split_judge(pair_spec)
    if config.baseline == config.agent:
        raise ParleyError("the baseline is the agent itself; pass another --baseline, or none")
    out = output_folder(config.out)
    cache = cache or BackendCache()
    stamp = RunStamp()
    dilemmas = sample_dilemmas(config.split, config.dilemmas, config.seed)
    judge = build_judge(config.judge, cache)
    rows, resolutions = [], {}
    for spec in models:
        selfplay = run_deliberation_arena(
            DeliberationArenaConfig(agent=spec, opponent=None, judge=config.judge, split=config.split,
                                    episodes=config.dilemmas, seed=config.seed, out=out / f"selfplay-{_slug(spec)}",
                                    protocol=config.protocol, generation=config.generation),
            show_progress=show_progress, cache=cache)
        resolver = build_resolver(spec, replace(config.generation, do_sample=False), cache)
        texts = resolver.resolve(dilemmas, seed=config.seed)
        verdicts = judge.judge([JudgeRequest(d, t) for d, t in zip(dilemmas, texts)], seed=config.seed)
        resolutions[spec] = texts
        scores = [v.score for v in verdicts if v.score is not None]
        crossed = [float(bool(v.red_line_violations)) for v in verdicts if v.score is not None]
        with (out / f"solo-{_slug(spec)}.jsonl").open("w") as f:
            for d, t, v, raw in zip(dilemmas, texts, verdicts, getattr(resolver, "last_raw", texts)):
                f.write(json.dumps({"dilemma": d.id, "resolution": t, "raw": raw, "verdict": v.to_dict()},
                                   ensure_ascii=False) + "\n")
        rows.append({
            "model": spec, "baseline": spec != config.agent,
            "selfplay": {k: selfplay[k] for k in ("agreement_rate", "agreement_rate_ci95", "ca_score_mean", "ca_score_ci95",
                                                  "ca_score_mean_agreed", "red_line_rate", "red_line_rate_ci95",
                                                  "judge_failures", "mean_turns_to_agreement")},
            "solo": {"ca": _stat(scores, config.seed), "red_line_rate": _stat(crossed, config.seed),
                     "empty": sum(1 for t in texts if not t.strip()), "judge_failures": len(texts) - len(scores),
                     **_repeats(texts)},
        })
    pairwise = None
    if config.baseline:
        pair_judge = build_pairwise_judge(pair_spec, cache)
        outcomes = compare(pair_judge, dilemmas, resolutions[config.agent], resolutions[config.baseline], seed=config.seed)
        points = [1.0 if o.winner == "a" else 0.5 if o.winner == "tie" else 0.0 for o in outcomes]
        with (out / "pairwise.jsonl").open("w") as f:
            for o in outcomes:
                f.write(json.dumps(o.to_dict(), ensure_ascii=False) + "\n")
        pairwise = {"judge": pair_spec, "rubric": pair_judge.rubric_id, "a": config.agent, "b": config.baseline,
                    "wins": sum(o.winner == "a" for o in outcomes), "losses": sum(o.winner == "b" for o in outcomes),
                    "ties": sum(o.winner == "tie" for o in outcomes),
                    "position_bias": sum(o.position_bias for o in outcomes),
                    "judge_failures": sum((o.a_first.better is None) + (o.b_first.better is None) for o in outcomes),
                    "win_rate": _stat(points, config.seed)}
    summary = {"eval_version": EVAL_VERSION, **stamp.fields(),
               "config": {**asdict(config), "out": str(config.out)}, "judge": {"spec": config.judge, "rubric": judge.rubric_id},
               "dilemmas": [d.id for d in dilemmas], "rows": rows, "pairwise": pairwise,
               "seconds": stamp.seconds()}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    write_report(out, summary)
    return summary


def _repeats(texts: list[str]) -> dict:
    """How many distinct single-agent answers, and the most repeated non-empty one with its count."""
    counts = Counter(t.strip() for t in texts if t.strip())
    text, count = counts.most_common(1)[0] if counts else ("", 0)
    return {"distinct": len(counts), "most_repeated": {"text": text, "count": count}}


def solo_warnings(summary: dict) -> list[str]:
    """A line per model that gave one answer to at least half the dilemmas (and to two or more): its single-agent
    CA and the pairwise result then measure that one sentence. Every deliberator warm-started under deliberator.v2
    answered "I can live with that." to 16 of 16 (docs/benchmarks.md), which the table alone did not show."""
    out = []
    n = len(summary["dilemmas"])
    for r in summary["rows"]:
        rep = r["solo"].get("most_repeated") or {"count": 0}
        if rep["count"] >= 2 and 2 * rep["count"] >= n:
            shown = rep["text"] if len(rep["text"]) <= 60 else rep["text"][:57] + "..."
            out.append(f"warning: {r['model']} gave the same single-agent answer to {rep['count']} of {n} dilemmas "
                       f"({shown!r}): its single-agent CA and the pairwise result measure that answer, not resolutions "
                       "(a deliberator trained only on dialogue turns can answer so: warm_start.filter_solo)")
    return out


def _fmt(stat: dict | None, digits: int = 2) -> str:
    if not stat or stat.get("mean") is None:
        return "n/a"
    ci = stat.get("ci95")
    return f"{stat['mean']:.{digits}f}" + (f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else "")


def _pair(mean, ci) -> dict:
    return {"mean": mean, "ci95": ci}


COLUMNS = ("model", "self-play agreement", "self-play CA (no deal = 0)", "CA of agreements", "red-line rate of agreements",
           "single-agent CA", "single-agent red-line rate")


def table_rows(summary: dict) -> list[list[str]]:
    out = []
    for r in summary["rows"]:
        s = r["selfplay"]
        out.append([r["model"] + (" (baseline)" if r["baseline"] else ""),
                    _fmt(_pair(s["agreement_rate"], s["agreement_rate_ci95"])),
                    _fmt(_pair(s["ca_score_mean"], s["ca_score_ci95"])),
                    "n/a" if s["ca_score_mean_agreed"] is None else f"{s['ca_score_mean_agreed']:.2f}",
                    _fmt(_pair(s["red_line_rate"], s["red_line_rate_ci95"])),
                    _fmt(r["solo"]["ca"]), _fmt(r["solo"]["red_line_rate"])])
    return out


def pairwise_line(summary: dict) -> str:
    p = summary["pairwise"]
    if not p:
        return "no baseline: no pairwise comparison"
    return (f"pairwise ({p['rubric']}, both orders): {p['a']} wins {p['wins']}, loses {p['losses']}, ties {p['ties']} "
            f"(position bias {p['position_bias']}, judge failures {p['judge_failures']}); "
            f"win rate (tie = 1/2) {_fmt(p['win_rate'])}")


def markdown_table(summary: dict) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(summary)]
    return "\n".join(lines) + "\n\n" + "\n\n".join([pairwise_line(summary)] + solo_warnings(summary))


def write_report(out: Path, summary: dict) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    labels = ["self-play CA", "CA of agreements", "single-agent CA"]
    width = 0.8 / max(1, len(summary["rows"]))
    for i, r in enumerate(summary["rows"]):
        vals = [r["selfplay"]["ca_score_mean"], r["selfplay"]["ca_score_mean_agreed"], r["solo"]["ca"]["mean"]]
        ax.bar([x + i * width for x in range(len(labels))], [v if v is not None else 0 for v in vals], width,
               label=r["model"], alpha=1.0 if i == 0 else 0.55)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(labels))], labels)
    ax.set_ylim(0, 10)
    ax.set_ylabel(f"Collective Agency ({summary['judge']['rubric']})")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "deliberation_eval.png", dpi=110)
    plt.close(fig)
    rows_html = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table_rows(summary))
    cfg = summary["config"]
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Parley deliberation eval: {html.escape(cfg['agent'])}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse;font-size:.9em}}td,th{{border:1px solid #ccc;padding:.25em .5em}}img{{max-width:100%}}.meta{{color:#666}}</style>
</head><body><h1>{html.escape(summary['eval_version'])}: <code>{html.escape(cfg['agent'])}</code></h1>
<p class="meta">{len(summary['dilemmas'])} {html.escape(cfg['split'])}-split dilemmas, seed {cfg['seed']}, judge
<code>{html.escape(summary['judge']['spec'])}</code> (rubric {html.escape(summary['judge']['rubric'])}).
Generated {summary['created']} by parley {html.escape(summary['version'])} in {summary['seconds']} s.
Transcripts: <code>selfplay-*/episodes.jsonl</code>; resolutions: <code>solo-*.jsonl</code>; pairwise verdicts: <code>pairwise.jsonl</code>.</p>
<table><tr>{''.join(f'<th>{html.escape(h)}</th>' for h in COLUMNS)}</tr>{rows_html}</table>
<p>{html.escape(pairwise_line(summary))}</p>{''.join(f'<p><strong>{html.escape(w)}</strong></p>' for w in solo_warnings(summary))}<p><img src="deliberation_eval.png" alt="Collective Agency by view"></p>
</body></html>"""
    path = out / "report.html"
    path.write_text(page)
    return path
