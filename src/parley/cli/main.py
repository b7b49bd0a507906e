"""The ``parley`` command line."""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from parley import ParleyError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Train, evaluate and serve LLM negotiators.")
console = Console()
err_console = Console(stderr=True, soft_wrap=True)

AGENT_HELP = ("agent spec: smollm2 | smollm2:<shipped> | hf:<id-or-path> | openai:<model>@<base_url> (LLM specs take "
              "#hostile, #manipulative or #prober as seller persona, #guided or #menu as buyer persona) | "
              "scripted:boulware|linear|conceder|hardliner|tit-for-tat|relative-tit-for-tat|final-offer|splitter|"
              "menu|prober")


@contextmanager
def user_errors():
    """User mistakes end in one clear line and exit code 2, never a traceback."""
    try:
        yield
    except ParleyError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        raise typer.Exit(130)


def _print_table(title: str, caption: str, headers: list[str], rows: list[list[str]], dim: list[bool] | None = None,
                 left: tuple[str, ...] = (), wrap: bool = True) -> None:
    """A results table: the ``left`` columns left-aligned and never wrapped, figures right-aligned (wrapped only
    if ``wrap``); dim rows are baselines."""
    table = Table(title=title, caption=caption, box=box.SIMPLE)
    for header in headers:
        table.add_column(header, justify="left" if header in left else "right", no_wrap=header in left or not wrap)
    for i, row in enumerate(rows):
        table.add_row(*(escape(c) for c in row), style="dim" if dim and dim[i] else None)
    (console if console.is_terminal else Console(width=140)).print(table)  # a log file is not a narrow terminal


def _metric_table(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for row in rows:
        table.add_row(*row)
    return table


def _settings(max_new_tokens: int, temperature: float, top_p: float, greedy: bool, batch_size: int, top_k: int = 50):
    from parley.agents import GenerationSettings

    return GenerationSettings(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, top_k=top_k,
                              do_sample=not greedy, batch_size=batch_size)


@app.command()
def arena(
    env: str = typer.Option("bargain", help="the game: bargain | deliberation | casino (any registered game)"),
    buyer: str = typer.Option(None, help="bargain: the buyer (default smollm2); " + AGENT_HELP),
    seller: str = typer.Option(None, help="bargain: the seller (default scripted:boulware); " + AGENT_HELP),
    agent: str = typer.Option(None, help="deliberation, casino: the agent under test (default smollm2): smollm2 | hf:... | "
                                         "openai:... | scripted:deliberator|stance (deliberation) | scripted:logroller|greedy|fair (casino)"),
    opponent: str = typer.Option(None, help="deliberation: the other persona (default: the agent itself); "
                                            "casino: the other camper (default scripted:logroller)"),
    judge: str = typer.Option(None, help="deliberation: the judge (default scripted:rules): smollm2 | hf:... | openai:... | scripted:rules"),
    split: str = typer.Option("test", help="train | validation | test (splits never share products, dilemmas or dialogues)"),
    episodes: int = typer.Option(16, min=1, help="number of negotiations"),
    seed: int = typer.Option(0, help="seed for scenarios and sampling"),
    out: Path = typer.Option(Path("runs/arena"), help="output folder"),
    max_turns: int = typer.Option(10, min=1, help="turns of both sides together"),
    max_new_tokens: int = typer.Option(64, min=1, help="tokens per LLM turn"),
    temperature: float = typer.Option(0.7, help="sampling temperature"),
    top_p: float = typer.Option(0.9, help="nucleus sampling"),
    top_k: int = typer.Option(50, min=0, help="sample among the k most likely tokens, before --top-p (0 = off; 50 is "
                                            "transformers' default)"),
    greedy: bool = typer.Option(False, help="greedy decoding instead of sampling"),
    batch_size: int = typer.Option(32, min=1, help="episodes generated together"),
    report: bool = typer.Option(True, help="write report.html with plots"),
    catalog: Path = typer.Option(None, help="bargain: your own products, a JSONL or CSV file (see examples/catalog.csv)"),
    budget_rule: str = typer.Option(None, help="bargain: uniform (default; always a zone of agreement) | "
                                               "listing-fraction (budget 0.8 x listing) | mixed (half conflicting interest)"),
    parser: str = typer.Option(None, help="bargain: lenient (default) | strict (a turn must end with exactly one action)"),
    reward: str = typer.Option(None, help="bargain: the buyer's reward, surplus (default) | paper"),
    engine: str = typer.Option(None, help="bargain: lockstep (default; one batched turn per side per tick) | continuous "
                                          "(decoding slots refilled as soon as a turn ends; --batch-size slots)"),
) -> None:
    """Run N episodes of a game and write episodes.jsonl, summary.json (and report.html)."""
    with user_errors():
        from parley.evaluation.games import ArenaRequest, get_arena

        game = get_arena(env)
        given = {"buyer": buyer, "seller": seller, "agent": agent, "opponent": opponent, "judge": judge}
        misplaced = [f"--{name}" for name, value in given.items() if value is not None and name not in game.options]
        settings = {"catalog": str(catalog) if catalog else None, "budget_rule": budget_rule, "parser": parser, "reward": reward,
                    "engine": engine}
        misplaced += [f"--{name.replace('_', '-')}" for name, value in settings.items() if value is not None and name not in game.settings]
        if misplaced:
            raise ParleyError(f"{', '.join(misplaced)} does not apply to --env {env}; it takes "
                              + ", ".join([f"--{o}" for o in game.options] + [f"--{o.replace('_', '-')}" for o in game.settings]))
        outcome = game.run(ArenaRequest(
            agents={k: v for k, v in given.items() if k in game.options}, split=split, episodes=episodes, seed=seed,
            out=out, max_turns=max_turns, generation=_settings(max_new_tokens, temperature, top_p, greedy, batch_size, top_k),
            report=report, settings={k: v for k, v in settings.items() if v is not None}), True)
        console.print(_metric_table(outcome.title, outcome.rows))
        console.print("wrote " + ", ".join(str(f) for f in outcome.files))


@app.command()
def play(
    seller: str = typer.Option("scripted:boulware", help=AGENT_HELP),
    split: str = typer.Option("test", help="split to draw the product from"),
    seed: int = typer.Option(0, help="picks the product, budget and floor"),
    max_turns: int = typer.Option(10, min=1),
    max_new_tokens: int = typer.Option(64, min=1),
    catalog: Path = typer.Option(None, help="your own products, a JSONL or CSV file (see examples/catalog.csv)"),
    budget_rule: str = typer.Option("uniform", help="uniform | listing-fraction | mixed"),
    parser: str = typer.Option("lenient", help="lenient | strict (a turn must end with exactly one action)"),
) -> None:
    """Play the buyer yourself against any seller. End a message with OFFER: $X, ACCEPT or WALK AWAY."""
    with user_errors():
        from parley.agents import BackendCache, build_agent, parse_spec
        from parley.agents.human import HumanAgent
        from parley.agents.spec import UNATTENDED
        from parley.environments.bargain import ProtocolConfig, Role
        from parley.environments.scenarios import ScenarioConfig, sample_scenarios
        from parley.rollout.bargain import run_bargains

        spec = parse_spec(seller, allow=UNATTENDED, what="seller")  # you are the buyer
        protocol = ProtocolConfig(max_turns=max_turns, parser=parser)
        scenario = sample_scenarios(split, 1, seed, ScenarioConfig(budget_rule=budget_rule,
                                                                   catalog=str(catalog) if catalog else None))[0]
        seller_agent = build_agent(spec, Role.SELLER, _settings(max_new_tokens, 0.7, 0.9, False, 1), BackendCache())
        p = scenario.product
        console.print(Panel(
            f"[bold]{escape(p.title)}[/]\n{escape(p.description[:400])}\n\nlisting price [bold]${scenario.listing_price:,.2f}[/]"
            f"   your private budget [bold green]${scenario.budget:,.2f}[/]\n"
            "End each message with [bold]OFFER: $X[/], [bold]ACCEPT[/] (the seller's offer) or [bold]WALK AWAY[/].",
            title=f"you are the buyer ({p.category})"))
        episode = run_bargains([scenario], HumanAgent(console=console), seller_agent, protocol, seed=seed)[0]
        last = episode.turns[-1]
        if last.role is Role.SELLER:
            console.print(f"[bold magenta]seller[/]: {escape(last.delivered)}")
        o = episode.outcome
        verdict = f"deal at ${o.price:,.2f}" if o.deal else f"no deal ({o.reason})"
        console.print(Panel(f"{verdict}\nyour surplus (reward): [bold]{episode.buyer_reward:+.3f}[/]   "
                            f"seller floor was ${scenario.floor:,.2f}", title="result"))


@app.command()
def catalog(split: str = typer.Option(None, help="only this split"),
            catalog: Path = typer.Option(None, help="check and show your own product file (JSONL or CSV) instead")) -> None:
    """Show the product catalog: products per split and category (and check a catalog file of your own)."""
    with user_errors():
        from collections import Counter

        from parley.environments.catalog import SPLITS, load_catalog

        products = load_catalog(split, catalog)
        counts = Counter((p.category, p.split) for p in products)
        what = f"{catalog}" if catalog else "real Amazon products"
        table = Table(title=f"catalog: {len(products)} {what}")
        table.add_column("category")
        splits = [split] if split else list(SPLITS)
        for s in splits:
            table.add_column(s, justify="right")
        for cat in sorted({p.category for p in products}):
            table.add_row(cat, *[str(counts[(cat, s)]) for s in splits])
        console.print(table)


@app.command()
def train(
    config: Path = typer.Argument(None, help="training config YAML (see configs/); omit with --resume"),
    set_: list[str] = typer.Option([], "--set", help="override a field: --set grpo.max_steps=2 (repeatable)"),
    resume: Path = typer.Option(None, help="continue the run in this directory from its latest checkpoint"),
    progress: bool = typer.Option(True, help="Rich progress bar with ETA"),
) -> None:
    """Train a negotiator with GRPO against a scripted, LLM or self-play opponent."""
    with user_errors():
        from parley.run_files import BEST_DIR, read_best
        from parley.training.run_dir import prepare_run
        from parley.training.trainer import train as run_training

        if config is None and resume is None:
            raise ParleyError("give a config file (e.g. configs/bargain-smollm2-cpu.yaml) or --resume RUN_DIR")
        cfg, run_dir, checkpoint = prepare_run(str(config) if config else None, list(set_), str(resume) if resume else None)
        if resume is not None and checkpoint is None:
            console.print(f"[yellow]{run_dir} has no checkpoint yet: starting it from step 0[/]")
        elif checkpoint is not None:
            console.print(f"resuming {run_dir} from {checkpoint.name}")
        final = run_training(cfg, run_dir, checkpoint, progress=progress)
        from parley.evaluation.training_report import write_training_report

        report = write_training_report(run_dir)
        console.print(f"trained model: {final}  (evaluate it: {evaluate_hint(cfg, final)})")
        best = read_best(run_dir)
        if best is not None:
            console.print(f"best model by {best['metric']}: {run_dir / BEST_DIR} (step {best['step']}, "
                          f"{best['value']:.3f})  (evaluate it: {evaluate_hint(cfg, run_dir / BEST_DIR)})")
        console.print(f"report: {report}")


def evaluate_hint(cfg, final) -> str:
    """The arena command for a trained model, in its own game and seat (it said --buyer whatever the game was)."""
    from parley.evaluation.games import ARENAS

    try:
        options = ARENAS.lookup(cfg.env).options
    except ParleyError:  # a game with no arena registered
        return f"no arena is registered for env {cfg.env}"
    seat = cfg.role if cfg.role in options else "agent"
    # The persona it trained under. The run's parley_trained.json gives it to hf: specs too; naming it keeps the
    # command right when copied to a run saved before those records existed.
    persona = f"#{cfg.persona}" if cfg.persona != "standard" else ""
    return f"parley arena --env {cfg.env} --{seat} hf:{final}{persona}"


@app.command()
def report(run_dir: Path = typer.Argument(..., help="a training run directory")) -> None:
    """Plot a training run's behaviour metrics, phases and curves on one page (report.html)."""
    with user_errors():
        from parley.evaluation.training_report import write_training_report

        out = write_training_report(run_dir)
        phases = json.loads((run_dir / "phases.json").read_text())["phases"]
        console.print(", ".join(f"{p['phase']} (steps {p['start']}-{p['end']})" for p in phases) or "no evaluations yet")
        console.print(f"wrote {out}")


def _llm_model(model: str):
    """The parsed spec of a language model for --model (no scripted agents, no humans)."""
    from parley.agents.spec import LLM, parse_spec

    return parse_spec(model, allow=LLM, what="--model")


eval_app = typer.Typer(no_args_is_help=True, help="Standard evaluations: the bargaining suite, deliberation, and general skills.")
app.add_typer(eval_app, name="eval")


@eval_app.command("bargain")
def eval_bargain(
    buyer: str = typer.Option(..., help="the buyer under test: smollm2 | hf:<id-or-path> (a training checkpoint too) | "
                                        "openai:<model>@<url> | scripted:<name>"),
    seller_model: str = typer.Option("smollm2", help="the model that plays the LLM seller personas (standard, hostile, "
                                                     "manipulative, prober): smollm2 | hf:... | openai:..."),
    llm_sellers: bool = typer.Option(True, help="--no-llm-sellers: scripted sellers only (fast; the results say so)"),
    catalog: Path = typer.Option(None, help="your own products, a JSONL or CSV file (see examples/catalog.csv)"),
    scenarios: int = typer.Option(128, min=2, help="test-split scenarios, half mutual and half conflicting interest"),
    rollouts: int = typer.Option(4, min=1, help="plays of each scenario by a sampling agent"),
    seed: int = typer.Option(0, help="seed for scenarios and sampling"),
    batch_size: int = typer.Option(32, min=1, help="episodes generated together"),
    baselines: bool = typer.Option(True, help="--no-baselines: leave out the scripted buyers' rows"),
    out: Path = typer.Option(Path("runs/eval-bargain"), help="output folder: summary.json, report.html, episodes/"),
    engine: str = typer.Option("lockstep", help="lockstep (default) | continuous: each turn samples from its own seed, "
                                                "so a scenario plays alike at any --scenarios or --batch-size"),
    resume: bool = typer.Option(False, help="continue a stopped run in --out: the pairings it finished are read back, "
                                            "not played again (the same settings and code are required)"),
    sellers: str = typer.Option(None, help="play only these of the suite's sellers, comma-separated: scripted ones by "
                                           "name (hardliner,tit-for-tat,prober), LLM personas as #hostile; each "
                                           "pairing's episodes equal the full suite's"),
) -> None:
    """The standard bargaining evaluation (a fixed, versioned suite): every scripted seller and LLM seller persona,
    MI and CI scenarios, strict protocol, with the scripted buyers as baselines on the same scenarios."""
    with user_errors():
        from parley.evaluation.bargain_suite import SUITE_VERSION, TERMINAL_COLUMNS, SuiteConfig, cell, run_suite

        result = run_suite(SuiteConfig(buyer=buyer, seller_model=seller_model if llm_sellers else None,
                                       catalog=str(catalog) if catalog else None, scenarios=scenarios, rollouts=rollouts,
                                       seed=seed, batch_size=batch_size, out=out, baselines=baselines, engine=engine,
                                       resume=resume, sellers=None if sellers is None else
                                       [name for name in sellers.split(",") if name.strip()]))
        if "resumed" in result.summary:
            console.print(f"resumed: {len(result.summary['resumed']['pairings_reused'])} pairings read back from {out}")
        mix = result.summary["scenario_mix"]
        _print_table(f"{SUITE_VERSION}: {buyer}, {mix['mutual']} MI + {mix['conflicting']} CI test scenarios, strict protocol",
                     "dim rows: the scripted buyers (baselines); scripted agents without their 'scripted:'; "
                     "every metric with its CI in summary.json and report.html",
                     ["seller", "buyer"] + [h for _, _, h in TERMINAL_COLUMNS],
                     [[row["seller"].removeprefix("scripted:"), row["buyer"].removeprefix("scripted:")]
                      + [cell(row, g, m, ci=h.endswith("]"), digits=2) for g, m, h in TERMINAL_COLUMNS]
                      for row in result.summary["rows"]],
                     dim=[row["baseline"] for row in result.summary["rows"]], left=("seller", "buyer"), wrap=False)
        console.print(f"wrote {result.out / 'summary.json'}, {result.out / 'report.html'} and {result.out / 'episodes'}/")


@eval_app.command("deliberation")
def eval_deliberation(
    agent: str = typer.Option(..., help="the deliberator under test: smollm2 | hf:<id-or-path> (a training checkpoint too) | "
                                        "openai:<model>@<url> | scripted:deliberator | scripted:stance"),
    baseline: str = typer.Option("smollm2", help="compared with on the same dilemmas (typically the untrained model); "
                                                 "'none' for the agent alone"),
    judge: str = typer.Option("scripted:rules", help="scores agreements and resolutions: scripted:rules | smollm2 | hf:... | "
                                                     "openai:...; '#v1' picks the old rubric (e.g. scripted:rules#v1)"),
    pairwise_judge: str = typer.Option(None, help="compares the two models' resolutions (default: the same as --judge)"),
    dilemmas: int = typer.Option(16, min=2, help="held-out dilemmas"),
    split: str = typer.Option("test", help="test | validation | train"),
    max_turns: int = typer.Option(8, min=2, help="self-play messages, both personas together"),
    seed: int = typer.Option(0),
    batch_size: int = typer.Option(16, min=1, help="episodes generated together"),
    out: Path = typer.Option(Path("runs/eval-deliberation"), help="output folder: summary.json, report.html, transcripts"),
) -> None:
    """Deliberation measured as the literature does: self-play (agreement, Collective Agency, red-line rate),
    single-agent Collective Agency, and a pairwise win rate against the baseline judged in both orders."""
    with user_errors():
        from parley.environments.deliberation import DeliberationConfig
        from parley.evaluation.deliberation_eval import (COLUMNS, DeliberationEvalConfig, pairwise_line, run_deliberation_eval,
                                                         solo_warnings, table_rows)
        from parley.models.generation import GenerationSettings

        summary = run_deliberation_eval(DeliberationEvalConfig(
            agent=agent, baseline=None if baseline.lower() == "none" else baseline, judge=judge, pairwise_judge=pairwise_judge,
            split=split, dilemmas=dilemmas, seed=seed, out=out, protocol=DeliberationConfig(max_turns=max_turns),
            generation=GenerationSettings(max_new_tokens=96, batch_size=batch_size)))
        _print_table(f"{summary['eval_version']}: {agent}, {dilemmas} {split} dilemmas, judge {summary['judge']['rubric']}",
                     "self-play: the model plays both personas; single-agent: it resolves each dilemma alone; [95% CI]",
                     list(COLUMNS), table_rows(summary), left=("model",))
        console.print(escape(pairwise_line(summary)))
        for warning in solo_warnings(summary):
            console.print(f"[yellow]{escape(warning)}[/yellow]")
        console.print(f"wrote {out / 'summary.json'} and {out / 'report.html'}")


@eval_app.command("general")
def eval_general(
    model: str = typer.Option("smollm2", help="smollm2 | hf:<id-or-path> (a training checkpoint too) | openai:<model>@<url>"),
    n: int = typer.Option(50, min=1, help="problems from the shipped GSM8K subset (at most 200)"),
    max_new_tokens: int = typer.Option(256, min=16),
    batch_size: int = typer.Option(16, min=1),
    out: Path = typer.Option(None, help="write every reply and the summary here"),
) -> None:
    """Accuracy on a GSM8K subset (greedy): did negotiation training keep the model's general skills?"""
    with user_errors():
        from rich.progress import Progress

        from parley.agents.spec import BackendCache
        from parley.evaluation.general import run_general_eval

        spec = _llm_model(model)
        backend = BackendCache().get(spec)
        with Progress() as progress:
            task = progress.add_task("gsm8k", total=n)
            summary = run_general_eval(backend, n, max_new_tokens, batch_size, out,
                                       on_batch=lambda done, total: progress.update(task, completed=done))
        lo, hi = summary["accuracy_ci95"]
        console.print(f"{model}: GSM8K subset accuracy {summary['accuracy']:.3f} [{lo:.3f}, {hi:.3f}] on {n} problems")


scenarios_app = typer.Typer(no_args_is_help=True, help="Deliberation scenarios: list or synthesise more.")
app.add_typer(scenarios_app, name="scenarios")


@scenarios_app.command("generate")
def scenarios_generate(
    model: str = typer.Option(..., help="smollm2 | hf:<id-or-path> | openai:<model>@<url>"),
    n: int = typer.Option(10, min=1, help="new valid, non-duplicate scenarios to write"),
    out: Path = typer.Option(Path("runs/generated_dilemmas.jsonl"), help="JSONL file (appended; de-duplicated against it)"),
    seed: int = typer.Option(0),
    max_attempts: int = typer.Option(None, help="stop after this many model answers (default 4 x n)"),
) -> None:
    """Synthesise dilemmas with any model: schema-validated, de-duplicated, provenance on every record."""
    with user_errors():
        from rich.progress import Progress

        from parley.agents.spec import BackendCache
        from parley.environments.dilemma_generation import generate_dilemmas, write_dilemmas
        from parley.environments.dilemmas import deduplicate, load_dilemmas

        spec = _llm_model(model)
        existing = load_dilemmas(path=out) if out.is_file() else []
        backend = BackendCache().get(spec)
        with Progress() as progress:
            task = progress.add_task("generating", total=n)
            report = generate_dilemmas(backend, model, n, seed=seed, max_attempts=max_attempts,
                                       on_progress=lambda done, total: progress.update(task, completed=done))
        fresh = deduplicate(report.written, existing)
        write_dilemmas(fresh, out)
        invalid = ", ".join(f"{k}: {v}" for k, v in report.invalid.items()) or "none"
        console.print(f"wrote {len(fresh)} new scenarios to {out} from {report.attempts} answers "
                      f"(duplicates {report.duplicates + len(report.written) - len(fresh)}; invalid: {invalid})")


@app.command()
def serve(
    database_url: str = typer.Option("sqlite:///parley-mediation.db", help="sqlite:///path.db or postgresql://user@host/db"),
    host: str = typer.Option("127.0.0.1", help="interface to listen on (localhost by default)"),
    port: int = typer.Option(8000, min=1, max=65535),
    public_url: str = typer.Option(None, help="the address parties open (e.g. https://mediation.example.org); "
                                   "every invitation link is built from it. Default: http://HOST:PORT"),
    writer: str = typer.Option("template", help="who writes MESO rationales: template (no model) | smollm2 | "
                               "hf:<id-or-path> | openai:<model>@<base_url>"),
    writer_timeout: float = typer.Option(60.0, min=1, help="seconds a rationale writer may take before the draft fails (504)"),
    signup: bool = typer.Option(True, help="let anyone create a mediator account (--no-signup: only "
                                "'parley mediator create')"),
    docs: bool = typer.Option(False, help="serve the interactive API docs at /docs (they load Swagger UI from a CDN)"),
    smtp_url: str = typer.Option(None, help="send invitations and notices by e-mail: smtp://host:25, "
                                 "smtp://user:password@host:587?starttls=1 or smtps://user:password@host:465"),
    mail_from: str = typer.Option(None, help="the sender of those e-mails (default parley@<public host>)"),
    rate_limit: list[str] = typer.Option([], help="NAME=LIMITS to change a rate limit, e.g. meso=60/minute or "
                                         "login=5/minute;20/hour (names: login, passcode, claim, signup, create_case, meso)"),
) -> None:
    """Run the mediation service: mediator accounts, party seats, AI-drafted MESO and the review gate."""
    import os

    import uvicorn

    with user_errors():
        from parley.mediation.app import create_app
        from parley.mediation.db import safe_url
        from parley.mediation.rationale import build_writer

        base = public_url or f"http://{host}:{port}"
        limits = {}
        for item in rate_limit:
            name, sep, spec = item.partition("=")
            if not sep:
                raise ParleyError(f"--rate-limit {item!r}: write NAME=LIMITS, e.g. meso=60/minute")
            limits[name.strip()] = spec.strip()
        application = create_app(database_url, build_writer(writer), public_url=base, allow_signup=signup, docs=docs,
                                 writer_timeout=writer_timeout, secret_key=os.environ.get("PARLEY_SECRET_KEY"),
                                 rate_limits=limits, smtp_url=smtp_url, mail_from=mail_from)
    mailing = f"e-mail via {safe_url(smtp_url)}" if smtp_url else "no e-mail (links are shown to the mediator)"
    console.print(f"Parley mediation on http://{host}:{port}/  (links: {application.state.public_url}; "
                  f"database {safe_url(database_url)}; rationales: {writer}; {mailing})")
    uvicorn.run(application, host=host, port=port, log_level="info")


mediator_app = typer.Typer(no_args_is_help=True, help="Mediator accounts of the mediation service.")
app.add_typer(mediator_app, name="mediator")


@mediator_app.command("create")
def mediator_create(
    email: str = typer.Argument(..., help="the mediator's e-mail (their sign-in name)"),
    database_url: str = typer.Option("sqlite:///parley-mediation.db", help="the service's database"),
    adopt_orphans: bool = typer.Option(False, help="give this mediator the cases stored before accounts existed"),
) -> None:
    """Create a mediator account (asks for the password), so a fresh install is usable without e-mail."""
    from sqlalchemy import update

    with user_errors():
        from parley.mediation import identity
        from parley.mediation.db import Case, open_database

        password = os.environ.get("PARLEY_MEDIATOR_PASSWORD") or typer.prompt(
            "password (at least 10 characters)", hide_input=True, confirmation_prompt=True)
        sessions = open_database(database_url)
        with sessions.begin() as s:
            try:
                mediator = identity.create_mediator(s, email, password)
            except identity.IdentityError as exc:
                raise ParleyError(exc.message) from None
            adopted = 0
            if adopt_orphans:
                adopted = s.execute(update(Case).where(Case.mediator_id.is_(None)).values(mediator_id=mediator.id)).rowcount
    console.print(f"mediator {mediator.email} created (id {mediator.id})" + (f"; adopted {adopted} case(s)" if adopt_orphans else ""))


audit_app = typer.Typer(no_args_is_help=True, help="The mediation service's tamper-evident audit log.")
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    database_url: str = typer.Option(..., help="the service's database (a copy is fine)"),
    case: int = typer.Option(None, help="only this case"),
) -> None:
    """Recompute every case's hash chain; exit 1 naming the first broken row. Prints each head hash to keep elsewhere."""
    with user_errors():
        from parley.mediation import audit
        from parley.mediation.db import make_engine, safe_url
        from sqlalchemy.orm import sessionmaker

        # Read-only: no migration, no write probe (a verify must not change what it checks).
        try:
            with sessionmaker(make_engine(database_url))() as s:
                chains = audit.verify(s, case)
        except ParleyError:
            raise
        except Exception as exc:
            raise ParleyError(f"could not read the audit log in {safe_url(database_url)}: {str(exc).splitlines()[0]}") from None
    table = Table(title="audit chains")
    for col in ("case", "events", "head hash", "status"):
        table.add_column(col)
    broken = None
    for c in chains:
        table.add_row(str(c.case_id), str(c.events), c.head[:16] + "…", "[red]BROKEN[/]" if c.broken else "[green]intact[/]")
        broken = broken or c.broken
    console.print(table)
    if broken is not None:
        err_console.print(f"[bold red]audit chain broken at {escape(str(broken))}[/]")
        raise typer.Exit(1)
    console.print(f"{len(chains)} case chain(s) intact")


db_app = typer.Typer(no_args_is_help=True, help="The mediation service's database.")
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(database_url: str = typer.Option(..., help="the database, as its owner (migrations change the schema)")) -> None:
    """Bring the schema to the current version (and, on PostgreSQL, re-apply the parley_service role's grants)."""
    with user_errors():
        from parley.mediation.db import grant_service_role, make_engine, migrate, safe_url

        try:
            engine = make_engine(database_url)
            changed = migrate(engine)
            if engine.dialect.name == "postgresql":
                with engine.begin() as connection:
                    grant_service_role(connection)
        except ParleyError:
            raise
        except Exception as exc:
            raise ParleyError(f"could not upgrade {safe_url(database_url)}: {str(exc).splitlines()[0]}") from None
    console.print("schema upgraded" if changed else "schema already current")


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
