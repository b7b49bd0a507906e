"""``parley eval bargain``: the standard bargaining evaluation, a fixed and versioned suite.

One buyer against every scripted seller and every LLM seller persona (on a seller model you name), on the same
scenarios: half mutual interest (MI), half conflicting interest (CI), from the test split, under the strict
protocol. The scripted buyers play the same scenarios as baselines, so every table carries its own reference
rows. Everything that defines the suite is in ``SUITE`` and recorded with the results under its version: change
any of it and the version changes, so results with the same version stay comparable.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from parley import ParleyError
from parley.agents import BackendCache, GenerationSettings, build_agent, parse_spec
from parley.agents.bargainer import SELLER_ONLY
from parley.agents.spec import LLM, UNATTENDED, check_persona
from parley.environments.bargain import ProtocolConfig, Role
from parley.environments.scenarios import Scenario, ScenarioConfig, sample_scenarios
from parley.evaluation.bargain_metrics import bargain_metrics, replica_id
from parley.evaluation.games import output_folder
from parley.evaluation.run_stamp import RunStamp
from parley.rollout.bargain import ENGINES, BargainEpisode, run_bargains
from parley.run_files import read_jsonl

SUITE_VERSION = "bargain-eval.v1"
SUITE = {
    "version": SUITE_VERSION,
    "split": "test",
    "scripted_sellers": ["scripted:boulware", "scripted:linear", "scripted:conceder", "scripted:hardliner",
                         "scripted:tit-for-tat", "scripted:prober"],
    "llm_seller_personas": ["standard", "hostile", "manipulative", "prober"],
    # Listed, not derived from SCRIPTED: a scripted agent added later (scripted:splitter) would change the suite
    # and so its version; run it as the buyer under test (--buyer scripted:splitter) instead.
    "baseline_buyers": ["scripted:boulware", "scripted:linear", "scripted:conceder", "scripted:hardliner",
                        "scripted:tit-for-tat"],
    "scenarios": {"budget_rule": "mixed", "conflict_share": 0.5},
    "protocol": {"max_turns": 10, "parser": "strict", "reward": "surplus", "first_mover": "buyer"},
    # top_k 50 was always in effect (generate's default for an unset top_k); written out since it became a setting.
    "generation": {"max_new_tokens": 64, "temperature": 0.7, "top_p": 0.9, "top_k": 50},
}


@dataclass
class SuiteConfig:
    buyer: str  # the buyer under test: smollm2 | hf:<path> | openai:<model>@<url> | scripted:<name>
    # The model behind the LLM seller personas; None plays the scripted sellers only (and says so in the results).
    seller_model: str | None = "smollm2"
    catalog: str | None = None  # a user product file instead of the packaged catalog
    scenarios: int = 128
    rollouts: int = 4  # plays of each scenario by a sampling agent (a pair of scripted agents plays once: it is deterministic)
    seed: int = 0
    batch_size: int = 32
    out: Path = Path("runs/eval-bargain")
    baselines: bool = True  # the scripted buyers' rows
    report: bool = True
    # lockstep: one sampling stream per batch, so an episode's draws depend on what shares its batch (the suite at
    # 48 scenarios plays its first 16 differently from the suite at 16). continuous: each turn draws from a seed of
    # (seed, scenario, rollout, turn), so scenario i plays alike at any --scenarios and --batch-size. Not part of
    # SUITE: both engines play the same suite, from different random streams; the results record which.
    engine: str = "lockstep"
    # Reuse the pairings a stopped run into the same ``out`` finished, if it ran with the same settings and code:
    # each pairing plays from the suite's seed on its own, so the result equals one uninterrupted run.
    resume: bool = False
    # Play only these of the suite's sellers (None: all). Each pairing plays from the suite's seed on its own, so a
    # pairing's episodes equal the full suite's: a study of the sellers a model never met plays only their pairings.
    # Names as the suite lists them ("scripted:hardliner" or "hardliner"), an LLM persona as "#hostile".
    sellers: list[str] | None = None


@dataclass
class SuiteResult:
    rows: list[dict]
    summary: dict
    out: Path = field(default=Path("."))


RUN_FILE = "suite_run.json"  # the settings and code of the run that writes the folder, read back by --resume


def _run_record(config: SuiteConfig, stamp: RunStamp, sellers: list[str]) -> dict:
    """What must be equal for a stopped run's pairings to be reused: everything that changes an episode (the batch
    size too: lockstep draws one stream per batch), and the code and libraries that played it."""
    return {"suite_version": SUITE_VERSION, "buyer": config.buyer, "seller_model": config.seller_model,
            "catalog": config.catalog, "scenarios": config.scenarios, "rollouts": config.rollouts, "seed": config.seed,
            "batch_size": config.batch_size, "engine": config.engine, "sellers": sellers,
            "source": stamp.code["source"], "libraries": stamp.code["libraries"],
            "commit": stamp.code["commit"], "started": stamp.started}


# Recorded, not compared: the package's own files ("source") decide the episodes, so a commit that changes only
# docs or tests, or another checkout of the same code, may resume; the sellers list may differ pairing by pairing
# (each plays alone), so a resumed run may also add or drop sellers.
_NOT_COMPARED = ("commit", "started", "sellers")


def _start_or_resume(out: Path, config: SuiteConfig, stamp: RunStamp, sellers: list[str]) -> dict | None:
    """Write the run record for a new run (clearing an earlier run's episodes, which a later --resume would
    otherwise take for this run's), or check a stopped run's for --resume; returns the stopped run's record."""
    record = _run_record(config, stamp, sellers)
    path = out / RUN_FILE
    if not config.resume:
        for stale in [*(out / "episodes").glob("*.jsonl"), *(out / "episodes").glob("*.partial"), out / "summary.json"]:
            stale.unlink(missing_ok=True)
        path.write_text(json.dumps(record, indent=2) + "\n")
        return None
    if not path.is_file():
        raise ParleyError(f"--resume: {out} holds no suite run to resume ({RUN_FILE} is missing); "
                          "run without --resume to start one there")
    before = json.loads(path.read_text())
    changed = [k for k in record if k not in _NOT_COMPARED and before.get(k) != record[k]]
    if changed:
        what = "; ".join(f"{k}: {before.get(k)!r} then, {record[k]!r} now" for k in changed)
        if "source" in changed:
            what += " (the source digest covers every file of the parley package: the code itself differs)"
        raise ParleyError(f"--resume: the run in {out} played with other settings or code ({what}); its pairings "
                          "would not match this run's. Resume with the same settings, or run without --resume "
                          "(or into another --out) to start over")
    path.write_text(json.dumps({**record, "started": before["started"]}, indent=2) + "\n")  # the sellers now asked
    return before


def _write_episodes(path: Path, episodes: list[BargainEpisode]) -> None:
    """Through a side file: a run stopped mid-write leaves no partial file for --resume to take as played."""
    partial = path.with_name(path.name + ".partial")
    with partial.open("w") as f:
        for e in episodes:
            f.write(json.dumps(e.to_dict(), ensure_ascii=False) + "\n")
    partial.replace(path)


def _read_episodes(path: Path) -> list[BargainEpisode]:
    """A finished pairing's episodes, read back by --resume; a damaged file is refused, naming it and the fix."""
    rows = read_jsonl(path)
    try:
        return [BargainEpisode.from_dict(row) for row in rows]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ParleyError(f"--resume: {path} holds a record that is not an episode ({type(exc).__name__}: {exc}); "
                          "delete the file to play that pairing again") from None


def _slug(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", spec).strip("_")[:80] or "agent"


def _suite_sellers(config: SuiteConfig) -> list[str]:
    """Every seller spec of the suite, in its order (the LLM personas only with a seller model)."""
    sellers = list(SUITE["scripted_sellers"])
    if config.seller_model:
        sellers += [f"{config.seller_model}#{p}" for p in SUITE["llm_seller_personas"]]
    return sellers


def _sellers(config: SuiteConfig) -> list[str]:
    """The seller specs this run plays, in the suite's order: all of them, or the subset ``config.sellers`` names."""
    if config.sellers is None:
        return _suite_sellers(config)
    named = {_seller_spec(name, config) for name in config.sellers}
    return [s for s in _suite_sellers(config) if s in named]


def _seller_spec(name: str, config: SuiteConfig) -> str:
    """A --sellers name as the suite spells the seller: "hardliner" -> "scripted:hardliner", "#hostile" -> the
    seller model with that persona. Anything else is refused, listing the names that work."""
    name = name.strip()
    if name.startswith("#"):
        persona = name[1:]
        if persona not in SUITE["llm_seller_personas"]:
            raise ParleyError(f"--sellers: {name!r} is not one of the suite's LLM seller personas; use one of "
                              + ", ".join("#" + p for p in SUITE["llm_seller_personas"]))
        if not config.seller_model:
            raise ParleyError(f"--sellers: {name!r} is an LLM seller, but --no-llm-sellers leaves no model to play "
                              "it; drop --no-llm-sellers (--seller-model plays the personas, smollm2 by default)")
        return f"{config.seller_model}#{persona}"
    spec = name if name.startswith("scripted:") else f"scripted:{name}"
    if spec not in SUITE["scripted_sellers"]:
        raise ParleyError(f"--sellers: {name!r} is not one of the suite's sellers; use "
                          + ", ".join(s.removeprefix("scripted:") for s in SUITE["scripted_sellers"])
                          + " or an LLM persona: " + ", ".join("#" + p for p in SUITE["llm_seller_personas"]))
    return spec


def _subset_note(cfg: dict) -> str:
    """The report's words for a run of some of the suite's sellers (summaries from before --sellers: all)."""
    sellers = cfg.get("sellers", "all")
    if sellers == "all":
        return ""
    return "; <b>only these sellers were played</b> (--sellers): " + html.escape(", ".join(sellers))


def _deterministic(spec: str) -> bool:
    return spec.startswith("scripted:")


def _replicas(scenarios: list[Scenario], rollouts: int) -> list[Scenario]:
    """Each scenario ``rollouts`` times, with its rollout in the id (an episode id must be unique in a batch)."""
    if rollouts == 1:
        return scenarios
    return [replace(s, id=replica_id(s.id, r)) for r in range(rollouts) for s in scenarios]


def _seed_keys(n_scenarios: int, rollouts: int) -> list[int]:
    """The continuous engine's seed key of each replica in ``_replicas`` order: scenario i's rollout r is
    ``r * 1_000_000 + i``, whatever the number of scenarios (rollout 0 is the plain index, as without replicas)."""
    return [r * 1_000_000 + i for r in range(rollouts) for i in range(n_scenarios)]


def run_suite(config: SuiteConfig, show_progress: bool = True, cache: BackendCache | None = None) -> SuiteResult:
    # Everything cheap is checked before any model loads.
    if config.engine not in ENGINES:
        raise ParleyError(f"unknown engine {config.engine!r}: use --engine lockstep or --engine continuous")
    if config.scenarios < 2:
        raise ParleyError(f"--scenarios must be at least 2 (one MI and one CI), got {config.scenarios}")
    if config.rollouts < 1:
        raise ParleyError(f"--rollouts must be at least 1, got {config.rollouts}")
    hint = "the suite runs unattended"
    check_persona(parse_spec(config.buyer, allow=UNATTENDED, what="buyer", hint=hint), Role.BUYER)
    if config.seller_model is not None:
        parse_spec(config.seller_model, allow=LLM, what="seller model", personas=False,
                   hint="the LLM seller personas are played by this model; --no-llm-sellers plays scripted sellers only")
    if config.buyer.removeprefix("scripted:") in SELLER_ONLY:
        raise ParleyError(f"{config.buyer} only plays the seller; pick a buyer")
    if config.sellers is not None and not config.sellers:
        raise ParleyError("--sellers names no seller; leave it out to play them all")
    sellers = _sellers(config)  # refuses an unknown --sellers name now, before any model loads
    scenario_config = ScenarioConfig(**SUITE["scenarios"], catalog=config.catalog)
    scenarios = sample_scenarios(SUITE["split"], config.scenarios, config.seed, scenario_config)
    protocol = ProtocolConfig(**{**SUITE["protocol"], "first_mover": Role(SUITE["protocol"]["first_mover"])})
    settings = GenerationSettings(**SUITE["generation"], batch_size=config.batch_size)
    out = output_folder(config.out)
    (out / "episodes").mkdir(exist_ok=True)
    stamp = RunStamp()
    stopped = _start_or_resume(out, config, stamp, sellers)
    reused: list[str] = []

    buyers = [config.buyer] + [b for b in SUITE["baseline_buyers"] if config.baselines and b != config.buyer]
    pairs = [(b, s) for s in sellers for b in buyers]
    cache = cache or BackendCache()
    rows: list[dict] = []
    with Progress(TextColumn("[bold]eval bargain[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), disable=not show_progress) as progress:
        plays = {p: len(scenarios) * (1 if _deterministic(p[0]) and _deterministic(p[1]) else config.rollouts) for p in pairs}
        task = progress.add_task("", total=sum(plays.values()))
        done = 0
        for buyer_spec, seller_spec in pairs:
            progress.update(task, description=f"{buyer_spec} vs {seller_spec}")
            rollouts = plays[(buyer_spec, seller_spec)] // len(scenarios)
            name = f"{_slug(buyer_spec)}__vs__{_slug(seller_spec)}.jsonl"
            path = out / "episodes" / name
            if stopped is not None and path.is_file():  # played by the stopped run: no model loads for it
                episodes = _read_episodes(path)
                prompt = episodes[0].prompts.get(Role.BUYER.value) if episodes else None
                reused.append(name)
            else:
                buyer = build_agent(buyer_spec, Role.BUYER, settings, cache)
                seller = build_agent(seller_spec, Role.SELLER, settings, cache)
                continuous = config.engine == "continuous"
                episodes = run_bargains(_replicas(scenarios, rollouts), buyer, seller, protocol, seed=config.seed,
                                        batch_size=config.batch_size, engine=config.engine,
                                        seed_keys=_seed_keys(len(scenarios), rollouts) if continuous else None,
                                        on_turn=lambda finished, total, base=done: progress.update(task, completed=base + finished))
                _write_episodes(path, episodes)
                # The prompt the buyer read: a spec without #persona may play the one its model trained under.
                prompt = getattr(buyer, "prompt_id", None)
            done += len(episodes)
            progress.update(task, completed=done)
            rows.append({"buyer": buyer_spec, "buyer_prompt": prompt, "seller": seller_spec,
                         "baseline": buyer_spec != config.buyer, "rollouts": rollouts, "episodes_file": f"episodes/{name}",
                         "metrics": bargain_metrics(episodes, seed=config.seed)})
    summary = {
        "suite": SUITE, "suite_version": SUITE_VERSION, **stamp.fields(),
        "config": {"buyer": config.buyer, "seller_model": config.seller_model, "catalog": config.catalog or "packaged",
                   "scenarios": config.scenarios, "rollouts": config.rollouts, "seed": config.seed,
                   "engine": config.engine,
                   "sellers": "all" if sellers == _suite_sellers(config) else sellers},
        "scenario_mix": {"mutual": sum(s.interest == "mutual" for s in scenarios),
                         "conflicting": sum(s.interest == "conflicting" for s in scenarios)},
        "llm_sellers": bool(config.seller_model),
        "seconds": stamp.seconds(1),
        "rows": rows,
    }
    if stopped is not None:  # the seconds above are this run's; the reused pairings were played by the stopped one
        summary["resumed"] = {"stopped_run_started": stopped["started"], "pairings_reused": reused}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    if config.report:
        write_suite_report(out, summary)
    return SuiteResult(rows, summary, out)


# ---------------------------------------------------------------- tables and the report page

TABLE_COLUMNS = (  # (group, metric, header)
    ("mutual", "deal_rate", "MI deal"),
    ("mutual", "buyer_reward", "MI reward [95% CI]"),
    ("mutual", "captured_room", "MI captured room"),
    ("mutual", "overshoot_rate", "MI overshoot"),
    ("conflicting", "ci_rational_exit", "CI rational exit"),
    ("conflicting", "buyer_reward", "CI reward"),
    ("all", "first_offer_ratio", "first offer / listing"),
    ("all", "buyer_format_error_rate", "format errors (buyer)"),
    ("all", "seller_format_error_rate", "format errors (seller)"),
    ("all", "budget_leak_rate", "budget leaks"),
    ("all", "mean_turns", "turns"),
)


TERMINAL_COLUMNS = (  # what fits a terminal; the rest is in summary.json and the report
    ("mutual", "deal_rate", "MI deal"),
    ("mutual", "buyer_reward", "MI reward [CI]"),
    ("mutual", "captured_room", "MI room"),
    ("conflicting", "ci_rational_exit", "CI exit"),
    ("all", "buyer_format_error_rate", "fmt err"),
    ("all", "budget_leak_rate", "leaks"),
)


def cell(row: dict, group: str, metric: str, ci: bool = False, digits: int = 3) -> str:
    stat = row["metrics"][group][metric]
    if stat["mean"] is None:
        return "–"
    sign = "+" if "reward" in metric else ""
    if ci:
        sep = ", " if digits > 2 else ","
        return f"{stat['mean']:{sign}.{digits}f} [{stat['ci95'][0]:{sign}.{digits}f}{sep}{stat['ci95'][1]:{sign}.{digits}f}]"
    return f"{stat['mean']:{sign}.{digits}f}"


def table_rows(summary: dict) -> list[list[str]]:
    return [[r["seller"], r["buyer"] + (" (baseline)" if r["baseline"] else "")]
            + [cell(r, g, m, ci=h.endswith("[95% CI]")) for g, m, h in TABLE_COLUMNS] for r in summary["rows"]]


def markdown_table(summary: dict) -> str:
    header = ["seller", "buyer"] + [h for _, _, h in TABLE_COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(summary)]
    return "\n".join(lines)


def _plot(summary: dict, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = summary["rows"]
    sellers = list(dict.fromkeys(r["seller"] for r in rows))
    buyers = list(dict.fromkeys(r["buyer"] for r in rows))
    files = []
    for group, metric, label, name in (("mutual", "buyer_reward", "MI: mean buyer reward", "suite_mi_reward.png"),
                                       ("conflicting", "ci_rational_exit", "CI: rational exit (no deal)", "suite_ci_exit.png"),
                                       ("all", "budget_leak_rate", "budget-leak rate", "suite_leaks.png")):
        fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(sellers)), 3.8))
        width = 0.8 / len(buyers)
        for i, b in enumerate(buyers):
            means, lows, highs = [], [], []
            for s in sellers:
                stat = next(r for r in rows if r["buyer"] == b and r["seller"] == s)["metrics"][group][metric]
                m = stat["mean"] if stat["mean"] is not None else np.nan
                means.append(m)
                lows.append(m - stat["ci95"][0] if stat["ci95"] else 0)
                highs.append(stat["ci95"][1] - m if stat["ci95"] else 0)
            ax.bar(np.arange(len(sellers)) + i * width, means, width, yerr=[lows, highs], capsize=2,
                   label=b, alpha=1.0 if i == 0 else 0.55)
        ax.set_xticks(np.arange(len(sellers)) + 0.4 - width / 2, sellers, rotation=25, ha="right", fontsize=7)
        ax.set_title(label)
        ax.axhline(0, color="black", lw=0.6)
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1, 1))
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        files.append(name)
    return files


def write_suite_report(out: Path, summary: dict) -> Path:
    plots = _plot(summary, out)
    header = ["seller", "buyer"] + [h for _, _, h in TABLE_COLUMNS]
    rows_html = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table_rows(summary))
    cfg = summary["config"]
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Parley bargaining suite: {html.escape(cfg['buyer'])}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1300px;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse;font-size:.85em}}td,th{{border:1px solid #ccc;padding:.25em .5em}}img{{max-width:100%}}
.meta{{color:#666}}</style></head><body>
<h1>Bargaining evaluation suite {html.escape(summary['suite_version'])}: <code>{html.escape(cfg['buyer'])}</code></h1>
<p class="meta">{cfg['scenarios']} test-split scenarios ({summary['scenario_mix']['mutual']} MI, {summary['scenario_mix']['conflicting']} CI),
{cfg['rollouts']} rollouts for sampling agents (scripted pairs play once), seed {cfg['seed']}, catalog {html.escape(cfg['catalog'])},
strict protocol; LLM sellers: {html.escape(str(cfg['seller_model']) if summary['llm_sellers'] else 'none')}{_subset_note(cfg)}.
Generated {summary['created']} by parley {html.escape(summary['version'])} in {summary['seconds']} s.
Metric definitions: README, "The bargaining evaluation suite". Every episode: <code>episodes/</code>.</p>
<table><tr>{''.join(f'<th>{html.escape(h)}</th>' for h in header)}</tr>{rows_html}</table>
{''.join(f'<p><img src="{p}" alt="{p}"></p>' for p in plots)}
<h2>Suite definition</h2><pre>{html.escape(json.dumps(summary['suite'], indent=2))}</pre>
</body></html>"""
    path = out / "report.html"
    path.write_text(page)
    return path

