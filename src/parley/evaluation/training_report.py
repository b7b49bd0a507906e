"""`parley report RUN_DIR`: a training run on one page.

Behaviour metrics of the trainee against training step, with the phases that
:class:`~parley.evaluation.behaviour.PhaseRule` detects shaded behind every panel; the training
curves TRL logged; and sample transcripts from the first and last evaluation.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

from parley import ParleyError, __version__
from parley.evaluation.behaviour import PhaseRule, detect_phases
from parley.evaluation.games import get_arena
from parley.evaluation.report import _TEMPLATES, _save, plt
from parley.run_files import HELD_OUT, read_best, read_jsonl

TRAINING_PANELS = [
    ("reward", "reward (all terms)"), ("loss", "loss"), ("kl", "KL to reference"),
    ("entropy", "entropy"), ("grad_norm", "gradient norm"), ("completions/mean_length", "trainee tokens per episode"),
    ("time/step_s", "seconds per step"),
    # a flat group (all its rollouts earned the same reward) has no advantage: the share of the step without signal
    ("frac_reward_zero_std", "share of groups trained flat"),
    ("signal/flat_groups", "flat groups drawn (grpo.resample_flat_groups)"),
]
PHASE_COLORS = {"naive": "#cccccc", "anchoring": "#9ecae1", "deadlock": "#fdae6b", "persuasion": "#a1d99b"}


def _shade(ax, phases: list[dict]) -> None:
    for i, seg in enumerate(phases):
        end = phases[i + 1]["start"] if i + 1 < len(phases) else seg["end"]
        ax.axvspan(seg["start"], max(end, seg["start"] + 0.5), color=PHASE_COLORS[seg["phase"]], alpha=0.35, lw=0)


def _grid(rows: list[dict], panels, phases, path: Path, title: str) -> str | None:
    panels = [(k, label) for k, label in panels if any(r.get(k) is not None for r in rows)]
    if not panels:
        return None
    cols = 3
    nrows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(12, 2.6 * nrows), squeeze=False)
    held_out = False
    for ax, (key, label) in zip(axes.flat, panels):
        if phases:
            _shade(ax, phases)
        # A run with evaluation.opponents has each metric twice: against its training opponents and held-out ones.
        for series, color in ((key, "tab:blue"), (HELD_OUT + key, "tab:red")):
            pts = [(r["step"], r[series]) for r in rows if r.get(series) is not None]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, color=color)
                held_out |= series != key
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    handles, names = [], []
    if phases:
        handles += [plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.5) for c in PHASE_COLORS.values()]
        names += list(PHASE_COLORS)
    if held_out:
        handles += [plt.Line2D([], [], color="tab:blue"), plt.Line2D([], [], color="tab:red")]
        names += ["training opponents", "held-out opponents"]
    if handles:
        fig.legend(handles, names, loc="upper right", ncol=min(len(names), 6), fontsize=8)
    fig.suptitle(title, fontsize=11, x=0.01, ha="left")
    return _save(fig, path)


def _env_of(run_dir: Path) -> str:
    """The game a run trained (its config's ``env``), read without the training floor."""
    import yaml

    try:
        data = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    except yaml.YAMLError as exc:
        raise ParleyError(f"{run_dir / 'config.yaml'} is not valid YAML: {exc}") from None
    return str(data.get("env", "bargain")) if isinstance(data, dict) else "bargain"


def write_training_report(run_dir: Path, rule: PhaseRule | None = None) -> Path:
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise ParleyError(f"{run_dir} is not a training run directory (no config.yaml)")
    rule = rule or PhaseRule()
    evals = sorted(read_jsonl(run_dir / "evals.jsonl"), key=lambda r: r["step"])
    metrics = [r for r in read_jsonl(run_dir / "metrics.jsonl") if "train_runtime" not in r]
    if not evals and not metrics:
        raise ParleyError(f"{run_dir} has no evaluations or metrics yet; train at least one step first")
    game = get_arena(_env_of(run_dir))
    # The strategy phases describe price strategies: a game without them (deliberation, CaSiNo) shows none.
    phases = detect_phases([(r["step"], r) for r in evals], rule) if game.report.phases else []
    # one panel per reward function the run logged (rewards/<name>/mean), whatever the game calls them
    rewards = sorted({k for r in metrics for k in r if k.startswith("rewards/") and k.endswith("/mean")})
    training_panels = TRAINING_PANELS[:1] + [(k, f"{k.split('/')[1]} reward") for k in rewards] + TRAINING_PANELS[1:]
    plots = {
        "behaviour": _grid(evals, game.report.panels, phases, run_dir / "behaviour.png", "trainee behaviour on held-out scenarios"),
        "training": _grid(metrics, training_panels, [], run_dir / "training.png", "training curves (TRL)"),
    }
    samples = {}
    sample_files = sorted((run_dir / "samples").glob("step-*.jsonl"), key=lambda p: int(p.stem.split("-")[1]))
    for path in sample_files[:1] + sample_files[-1:]:
        samples[int(path.stem.split("-")[1])] = [game.report.sample(e) for e in read_jsonl(path)]
    page = _TEMPLATES.get_template("training.html").render(
        run=run_dir.name, config=(run_dir / "config.yaml").read_text(), evals=evals, phases=phases,
        rule=rule.to_dict(), rule_doc=PhaseRule.__doc__, plots=plots, samples=samples,
        created=_dt.datetime.now().isoformat(timespec="seconds"), version=__version__,
        last=metrics[-1] if metrics else {}, columns=list(game.report.columns),
        held=any(r.get(HELD_OUT + "mean_reward") is not None for r in evals),
        best=read_best(run_dir),
    )
    out = run_dir / "report.html"
    out.write_text(page)
    (run_dir / "phases.json").write_text(json.dumps({"rule": rule.to_dict(), "phases": phases}, indent=2) + "\n")
    return out
