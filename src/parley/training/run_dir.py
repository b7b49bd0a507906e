"""A training run's directory: what it holds, how a run starts in it or resumes from it.

Layout::

    config.yaml          the resolved config (what ran; --resume reads it back)
    code.json            the git commit (and whether the tree was dirty) and the library versions, at the start
                         and at each resume
    metrics.jsonl        one line per logged step (TRL's metrics + our timings)
    evals.jsonl          one line per evaluation: behaviour metrics of the trainee
    warnings.jsonl       what the run warned about while training (e.g. no learning signal), if anything
    samples/step-N.jsonl transcripts from that evaluation
    warm_start/          with warm_start.enabled: the SFT'd model GRPO starts from, its teacher examples
    checkpoint-N/        TRL checkpoints (weights or LoRA adapter, optimizer, scheduler, RNG)
    best/                with evaluation.best_metric: the model that scored best on it at an evaluation (step 0, the
                         starting model, included), saved as final/ is; best/best.json names the metric, step and value
    final/               the trained model, loadable with from_pretrained / `hf:RUN_DIR/final`; beside it (and in each
                         checkpoint) parley_trained.json, the game, seat and prompt persona it trained under, and
                         for a LoRA adapter parley_base.json, its base model
    runs/                TensorBoard events (report_to)
    report.html          `parley report RUN_DIR`
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from parley import ParleyError
from parley.code_version import CODE_FILE, code_version, recorded_code
from parley.run_files import BEST_DIR, BEST_FILE
from parley.training.config import TrainConfig, load_config


def jsonl_append(path: Path, record: dict) -> None:
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def truncate_jsonl(path: Path, after_step: int) -> None:
    """Drop lines logged after ``after_step`` (a killed run logged steps its checkpoint does not have)."""
    if not path.is_file():
        return
    keep = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line).get("step", 0) <= after_step]
    path.write_text("".join(line + "\n" for line in keep))


def latest_checkpoint(run_dir: Path) -> Path | None:
    checkpoints = [p for p in run_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()
                   and (p / "trainer_state.json").is_file()]
    return max(checkpoints, key=lambda p: int(p.name.split("-")[-1]), default=None)


def write_model_records(folder: Path, cfg: TrainConfig) -> None:
    """What a saved model needs to be played as trained: the game, seat and prompt persona it trained under (read
    back by `hf:` specs, models/loading.py ``recorded_persona``) and, for a LoRA adapter, its base model."""
    from parley.models.loading import BASE_FILE, TRAINED_FILE

    (folder / TRAINED_FILE).write_text(json.dumps({"env": cfg.env, "role": cfg.role, "persona": cfg.persona}) + "\n")
    if (folder / "adapter_config.json").is_file():
        from parley.training.warm_start import WARM_START_DIR

        # After a warm start the adapter sits on the warm-started weights, which live in the run
        # directory: name them relative to the adapter so the run directory can be moved.
        base = {"base": f"hf:../{WARM_START_DIR}", "relative": True} if cfg.warm_start.enabled else {"base": cfg.model}
        (folder / BASE_FILE).write_text(json.dumps(base) + "\n")


def save_best(trainer, run_dir: Path, cfg: TrainConfig, best: dict) -> None:
    """Write the trainer's model to best/ as final/ is written. It goes to a side folder first, then replaces
    best/: a run killed while saving keeps its previous best whole."""
    folder, partial = run_dir / BEST_DIR, run_dir / f"{BEST_DIR}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    trainer.save_model(str(partial))
    write_model_records(partial, cfg)
    (partial / BEST_FILE).write_text(json.dumps(best) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)


def trained_seed(agent: str) -> int | str:
    """The seed of the training run behind an ``hf:RUN/<model>`` spec (``final``, a checkpoint, ``warm_start``: the
    run folder's config.yaml), else the spec itself. Tables use it to print a spread across seeds only when their
    rows come from distinct seeds: two settings of one seed are not a spread."""
    import yaml

    path = Path(agent.partition("#")[0].removeprefix("hf:")) if agent.startswith("hf:") else None
    config = path.parent / "config.yaml" if path else None
    if config and config.is_file():
        seed = (yaml.safe_load(config.read_text()) or {}).get("seed")
        if seed is not None:
            return seed
    return agent


def prepare_run(config_path: str | None, overrides: list[str], resume: str | None) -> tuple[TrainConfig, Path, Path | None]:
    if resume:
        run_dir = Path(resume)
        if not (run_dir / "config.yaml").is_file():
            raise ParleyError(f"{run_dir} is not a training run directory (no config.yaml); start one with parley train CONFIG")
        if config_path or overrides:
            raise ParleyError("--resume continues a run exactly as configured; do not pass a config or --set with it")
        cfg = load_config(run_dir / "config.yaml")
        checkpoint = latest_checkpoint(run_dir)
        record_code(run_dir, resumed=True)
        return cfg, run_dir, checkpoint
    cfg = load_config(config_path, overrides)
    run_dir = Path(cfg.output_dir)
    if latest_checkpoint(run_dir) is not None:
        raise ParleyError(f"{run_dir} already holds a training run; continue it with `parley train --resume {run_dir}` "
                          f"or choose another output_dir (--set output_dir=...)")
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("metrics.jsonl", "evals.jsonl"):
        (run_dir / stale).unlink(missing_ok=True)
    for stale in (BEST_DIR, f"{BEST_DIR}.partial"):  # an earlier run's best would compete with this run's models
        shutil.rmtree(run_dir / stale, ignore_errors=True)
    from parley.training.warm_start import WARM_START_DIR

    shutil.rmtree(run_dir / WARM_START_DIR, ignore_errors=True)  # made under another config
    (run_dir / "config.yaml").write_text(cfg.to_yaml())
    record_code(run_dir)
    return cfg, run_dir, None


def record_code(run_dir: Path, resumed: bool = False) -> None:
    """Note the code that runs now: ``started`` for a new run (replacing any earlier run's record), then one entry
    per resume (a run may span commits)."""
    if resumed:
        record = recorded_code(run_dir) or {}
        record.setdefault("resumed", []).append(code_version())
    else:
        record = {"started": code_version()}
    (run_dir / CODE_FILE).write_text(json.dumps(record, indent=2) + "\n")
