"""`parley train`: TRL's GRPOTrainer with our multi-turn rollouts and evaluations, for any registered game.

The run directory (its layout, resume, the files each checkpoint needs) is training/run_dir.py; the TRL and PEFT
settings are training/setup.py; the game's rollout, rewards and scenarios come from training/games.py.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

from parley import ParleyError
from parley.training.config import TrainConfig
from parley.training.games import get_game
from parley.run_files import HELD_OUT, read_best
from parley.training.run_dir import jsonl_append, save_best, truncate_jsonl, write_model_records
from parley.training.setup import generation_settings, lora_config, precision, rich_progress
from parley.training.episode_rollout import EpisodeRollout

SELF_PLAY_FILE = "self_play_opponent.pt"


class SignalWatch:
    """Says once when GRPO has learned nothing for ``patience`` steps in a row: every group's rewards were equal
    (TRL's ``frac_reward_zero_std`` = 1), so every advantage, and the policy gradient, was zero. A run in that state
    spends its hours replaying its starting model; the deliberation warm start under rubric v2 did exactly that
    (docs/benchmarks.md), and nothing in the logs said so but a column of zeros."""

    FLAT_STD = 1e-6  # a mean within-group reward std below this is float noise, not spread

    def __init__(self, patience: int = 3) -> None:
        self.patience, self.streak, self.said = patience, 0, False

    def update(self, logs: dict) -> str | None:
        flat = logs.get("frac_reward_zero_std")
        if flat is None:
            return None
        # TRL calls a group flat only when its std is within 1e-8 of 0; equal rewards summed from several reward
        # functions in float32 differ by an ulp (std ~3e-8 at a reward of 0.5: the guided warm start's groups), and
        # their advantages are ~1e-4 of a real one's. A mean group std below FLAT_STD is no signal either.
        flat = max(flat, 1.0 if logs.get("reward_std", 1.0) < self.FLAT_STD else 0.0)
        self.streak = self.streak + 1 if flat >= 1.0 else 0
        if self.streak < self.patience or self.said:
            return None
        self.said = True
        return (f"no learning signal for {self.streak} steps: in every group all rollouts got the same reward "
                f"(mean {logs.get('reward', float('nan')):.3g}), so the reward gives the policy no gradient (only a KL "
                "term, if grpo.beta > 0, moves it). Give the groups a spread: "
                "more rollouts per group (grpo.num_generations), a higher generation.temperature, fresh scenarios in "
                "place of flat groups (grpo.resample_flat_groups), a warm start whose "
                "episodes earn some reward, or a judge/reward that tells the rollouts apart.")


def _callbacks(cfg: TrainConfig, run_dir: Path, rollout: EpisodeRollout):
    from transformers import TrainerCallback

    eval_scenarios = get_game(cfg.env).scenarios(cfg, cfg.evaluation.split, cfg.evaluation.scenarios, cfg.seed + 1)

    class RunFiles(TrainerCallback):
        """metrics.jsonl, per-step timings, evaluations, and the extra files each checkpoint needs."""

        def __init__(self) -> None:
            self.step_began = None
            self.timings = {"rollout": 0.0, "reference": 0.0}
            self.last_timing: dict = {}
            self.signal = SignalWatch()
            self.trainer = None  # set by build_trainer: best/ is written with the trainer's save_model
            self.resampler = None  # set by build_trainer under grpo.resample_flat_groups: its counts go in metrics
            self.best = read_best(run_dir)  # a resumed run keeps the best model it had

        def on_train_begin(self, args, state, control, **kw):
            evals = run_dir / "evals.jsonl"
            done = [json.loads(line)["step"] for line in evals.read_text().splitlines()] if evals.is_file() else []
            if state.global_step not in done:
                self.evaluate(state.global_step)

        def on_step_begin(self, args, state, control, **kw):
            if self.step_began is None:
                self.step_began = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            total = time.perf_counter() - self.step_began
            self.step_began = None
            t = dict(self.timings)
            self.timings = {"rollout": 0.0, "reference": 0.0}
            self.last_timing = {"time/step_s": total, "time/rollout_s": t["rollout"], "time/reference_s": t["reference"],
                                "time/policy_update_s": max(0.0, total - t["rollout"] - t["reference"])}
            if state.global_step % cfg.evaluation.every == 0 or state.global_step == state.max_steps:
                self.evaluate(state.global_step)

        def on_log(self, args, state, control, logs=None, **kw):
            counts = self.resampler.last if self.resampler is not None else {}
            record = {"step": state.global_step, **(logs or {}), **self.last_timing, **counts}
            jsonl_append(run_dir / "metrics.jsonl", record)
            message = self.signal.update(logs or {})
            if message:
                from rich.console import Console

                Console(stderr=True).print(f"[yellow]warning: {message}[/]")
                jsonl_append(run_dir / "warnings.jsonl", {"step": state.global_step, "warning": message})

        def on_save(self, args, state, control, **kw):
            checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if checkpoint.is_dir():
                write_model_records(checkpoint, cfg)
                if rollout.self_play is not None:
                    import torch

                    torch.save(rollout.self_play.state_dict(), checkpoint / SELF_PLAY_FILE)

        def evaluate(self, step: int) -> None:
            seed = cfg.seed + 12_345  # the same episodes' randomness at every evaluation
            spent = dict(self.timings)
            metrics, samples = rollout.evaluate(eval_scenarios, seed)
            record = {"step": step, **metrics}
            if cfg.evaluation.opponents:
                held_out, held_out_samples = rollout.evaluate_against(cfg.evaluation.opponents, eval_scenarios, seed)
                record.update({f"{HELD_OUT}{key}": value for key, value in held_out.items()})
            self.timings = spent  # evaluation time is not training-step time
            jsonl_append(run_dir / "evals.jsonl", record)
            self.keep_if_best(record)
            if cfg.evaluation.samples:
                self.save_samples(run_dir / "samples", step, samples)
                if cfg.evaluation.opponents:
                    self.save_samples(run_dir / "samples" / "heldout", step, held_out_samples)

        def keep_if_best(self, record: dict) -> None:
            name = cfg.evaluation.best_metric
            if name is None:
                return
            if name not in record:
                metrics = ", ".join(k for k in record if k != "step")
                raise ParleyError(f"evaluation.best_metric: the evaluation records no metric {name!r}; this game's "
                                  f"are: {metrics}")
            value = record[name]
            if value is None or (isinstance(value, float) and math.isnan(value)):
                return  # e.g. a rate over no episodes: nothing to compare
            if not isinstance(value, (int, float)):
                raise ParleyError(f"evaluation.best_metric: {name} is not a number ({value!r}); name a metric, "
                                  "e.g. mean_reward, not its CI")
            if self.best is not None and not (value > self.best["value"] if cfg.evaluation.greater_is_better
                                              else value < self.best["value"]):
                return  # ties keep the earlier model
            self.best = {"metric": name, "value": value, "step": record["step"],
                         "greater_is_better": cfg.evaluation.greater_is_better}
            save_best(self.trainer, run_dir, cfg, self.best)

        def save_samples(self, folder: Path, step: int, samples: list[dict]) -> None:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"step-{step}.jsonl").write_text(
                "".join(json.dumps(e) + "\n" for e in samples[: cfg.evaluation.samples]))

    return RunFiles()


def _grpo_args(cfg: TrainConfig, run_dir: Path):
    from trl import GRPOConfig

    g = cfg.grpo
    batch = g.num_generations * g.scenarios_per_step
    if batch % g.gradient_accumulation_steps:
        raise ParleyError(f"grpo.num_generations x grpo.scenarios_per_step ({batch}) must be divisible by "
                          f"grpo.gradient_accumulation_steps ({g.gradient_accumulation_steps})")
    cuda, bf16 = precision(cfg)
    if g.use_vllm and not cuda:
        raise ParleyError("grpo.use_vllm needs a GPU; set grpo.use_vllm=false to generate with transformers")
    return GRPOConfig(
        output_dir=str(run_dir),
        per_device_train_batch_size=batch // g.gradient_accumulation_steps,
        gradient_accumulation_steps=g.gradient_accumulation_steps,
        steps_per_generation=g.gradient_accumulation_steps,
        num_generations=g.num_generations,
        num_iterations=g.num_iterations,
        learning_rate=g.learning_rate, lr_scheduler_type=g.lr_scheduler_type, warmup_steps=g.warmup_steps,
        max_steps=g.max_steps, max_grad_norm=g.max_grad_norm,
        beta=g.beta, epsilon=g.epsilon, scale_rewards=g.scale_rewards, loss_type=g.loss_type,
        max_completion_length=cfg.generation.max_new_tokens,  # per turn (vLLM's max_tokens)
        temperature=cfg.generation.temperature, top_p=cfg.generation.top_p, top_k=cfg.generation.top_k,
        save_strategy="steps", save_steps=g.save_steps, save_total_limit=g.save_total_limit,
        logging_steps=g.logging_steps, report_to=g.report_to,
        bf16=bf16, use_cpu=not cuda, gradient_checkpointing=g.gradient_checkpointing,
        use_vllm=g.use_vllm, vllm_mode=g.vllm_mode, vllm_gpu_memory_utilization=g.vllm_gpu_memory_utilization,
        seed=cfg.seed, data_seed=cfg.seed, disable_dropout=True, shuffle_dataset=True,
        remove_unused_columns=False, log_completions=False, save_only_model=False,
        dataloader_num_workers=0,
    )


def _load_policy(cfg: TrainConfig):
    from parley.models.loading import load_model_spec, plain_copy

    model, tokenizer = load_model_spec(cfg.model)
    model = plain_copy(model)
    model.train()
    return model, tokenizer


def _warm_started(cfg: TrainConfig, run_dir: Path, model, tokenizer, progress: bool):
    """The warm-started policy: loaded when an earlier (killed) attempt finished it, else trained now.

    A run killed during the warm start redoes it from the beginning: it takes minutes, not hours.
    """
    from parley.models.loading import load_causal_lm
    from parley.training.warm_start import DONE_FILE, completed, run_warm_start

    folder = completed(run_dir)
    if folder is not None:
        dtype = json.loads((folder / DONE_FILE).read_text())["dtype"]
        model, tokenizer = load_causal_lm(str(folder), dtype=dtype)
        return model.train(), tokenizer
    if model is None:
        model, tokenizer = _load_policy(cfg)
    examples, summary = get_game(cfg.env).teacher_examples(cfg, generation_settings(cfg))
    model, _ = run_warm_start(cfg, run_dir, model, tokenizer, examples, summary, progress)
    return model, tokenizer


def build_trainer(cfg: TrainConfig, run_dir: Path, model=None, tokenizer=None, progress: bool = False):
    """A ready GRPOTrainer (``model``/``tokenizer`` given: tests pass a tiny model)."""
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from datasets import Dataset

    from parley.training.shared_prefix import SharedPrefixGRPOTrainer

    if model is None:
        model, tokenizer = _load_policy(cfg)
    game = get_game(cfg.env)
    scenarios = game.scenarios(cfg, cfg.environment.split, cfg.environment.scenarios, cfg.seed)
    settings = generation_settings(cfg)
    rollout, rewards = game.environment(cfg, scenarios, settings)
    # The prompt column carries the scenario id: rollout_func receives only prompts, and builds the
    # real chat prompt itself (the trainee's first prompt depends on who moves first).
    dataset = Dataset.from_list([{"prompt": s.id} for s in scenarios])
    peft_config = lora_config(cfg)
    files = _callbacks(cfg, run_dir, rollout)
    rollout_func = rollout
    if cfg.grpo.resample_flat_groups:
        from parley.training.flat_groups import FlatGroupResampler

        rollout_func = files.resampler = FlatGroupResampler(rollout, rewards, cfg.grpo.resample_flat_groups, cfg.seed)
        rewards = rollout_func.rewards  # TRL reads back the scores the resampler computed
    trainer = SharedPrefixGRPOTrainer(
        model=model, processing_class=tokenizer, reward_funcs=rewards,
        args=_grpo_args(cfg, run_dir), train_dataset=dataset, peft_config=peft_config,
        rollout_func=rollout_func, callbacks=[files], share_prompt_prefix=cfg.grpo.share_prompt_prefix,
        score_loss_tokens_only=cfg.grpo.score_loss_tokens_only,
    )
    files.trainer = trainer
    if files.resampler is not None:
        from parley.training.flat_groups import check_single_process

        check_single_process(trainer)
    if progress:
        rich_progress(trainer)
    rollout.attach(trainer, merge_lora=cfg.grpo.merged_rollouts)
    if cfg.grpo.save_rollouts:
        rollout.rollouts_dir = run_dir / "rollouts"
    _time_phases(trainer, rollout, files)
    return trainer, rollout


def _time_phases(trainer, rollout: EpisodeRollout, files) -> None:
    """Split each step's wall time into rollout / reference forward / policy update.

    TRL's own profiling only reports to wandb/trackio. The rollout is ours to time. The reference (and
    old-policy) forwards are timed with PyTorch's public module hooks: every forward of the policy (or of
    a separate reference model) that runs without grad and outside the rollout is one of them. That
    relies on no private TRL method, so a TRL upgrade cannot silently break it (tests/test_training.py
    checks the figures stay plausible).
    """
    import torch

    play = rollout.play
    state = {"in_rollout": False, "began": None}

    def timed_play(*a, **kw):
        began = time.perf_counter()
        state["in_rollout"] = True
        try:
            return play(*a, **kw)
        finally:
            state["in_rollout"] = False
            files.timings["rollout"] += time.perf_counter() - began

    rollout.play = timed_play

    def before(module, args):
        if not torch.is_grad_enabled() and not state["in_rollout"] and state["began"] is None:
            state["began"] = time.perf_counter()

    def after(module, args, output):
        if state["began"] is not None:
            files.timings["reference"] += time.perf_counter() - state["began"]
            state["began"] = None

    for model in {id(m): m for m in (trainer.model, getattr(trainer, "ref_model", None)) if m is not None}.values():
        model.register_forward_pre_hook(before)
        model.register_forward_hook(after)


def train(cfg: TrainConfig, run_dir: Path, checkpoint: Path | None = None, model=None, tokenizer=None,
          progress: bool = False) -> Path:
    """Train (or continue from ``checkpoint``); returns the folder of the final model."""
    if cfg.warm_start.enabled:
        model, tokenizer = _warm_started(cfg, run_dir, model, tokenizer, progress)
    trainer, rollout = build_trainer(cfg, run_dir, model, tokenizer, progress)
    if checkpoint is not None:
        step = int(checkpoint.name.split("-")[-1])
        for name in ("metrics.jsonl", "evals.jsonl"):
            truncate_jsonl(run_dir / name, step)
        if rollout.self_play is not None and (checkpoint / SELF_PLAY_FILE).is_file():
            import torch

            rollout.self_play.load_state_dict(torch.load(checkpoint / SELF_PLAY_FILE, weights_only=True))
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    final = run_dir / "final"
    trainer.save_model(str(final))
    write_model_records(final, cfg)
    return final
