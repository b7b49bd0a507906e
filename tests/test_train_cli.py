"""End to end through the command line: train 2 GRPO steps on a tiny model, report, evaluate the checkpoint."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from parley.cli.main import app
from training_helpers import tiny_overrides

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_train_report_and_arena_on_the_checkpoint(tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    # beta > 0: the KL term needs the reference forward, whose time is reported apart.
    sets = [x for o in tiny_overrides(tiny_model_dir, out, "grpo.beta=0.04", "evaluation.best_metric=mean_reward")
            for x in ("--set", o)]
    result = run("train", "configs/bargain-smollm2-cpu.yaml", *sets, "--no-progress")
    assert result.exit_code == 0, result.output
    assert "trained model" in result.output
    best = json.loads((out / "best" / "best.json").read_text())
    assert f"best model by mean_reward: {out / 'best'} (step {best['step']}" in result.output.replace("\n", "")
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [m for m in metrics if "loss" in m]
    assert [m["step"] for m in steps] == [1, 2]
    assert all("rewards/surplus/mean" in m and m["time/step_s"] > 0 for m in steps)
    # The phases, timed through public hooks (no private TRL method): each is there and they add up.
    for m in steps:
        assert m["time/rollout_s"] > 0 and m["time/reference_s"] > 0 and m["time/policy_update_s"] >= 0
        assert m["time/rollout_s"] + m["time/reference_s"] <= m["time/step_s"] + 1e-6
    evals = [json.loads(line) for line in (out / "evals.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evals] == [0, 1, 2]
    assert {"opening_offer_ratio", "deadlock_rate", "persuasion_rate", "over_budget_rate"} <= set(evals[0])
    assert (out / "samples" / "step-2.jsonl").is_file()
    warm = json.loads((out / "warm_start" / "warm_start.json").read_text())  # the shipped config warm-starts
    assert warm["teachers"]["scripted:linear"]["episodes"] == 2 and warm["sequences"] == 2
    assert (out / "checkpoint-2" / "optimizer.pt").is_file() and (out / "final" / "adapter_config.json").is_file()
    resolved = (out / "config.yaml").read_text()
    assert "max_steps: 2" in resolved and f"hf:{tiny_model_dir}" in resolved
    html = (out / "report.html").read_text()
    assert "behaviour.png" in html and (out / "behaviour.png").stat().st_size > 1000

    result = run("report", out)
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and json.loads((out / "phases.json").read_text())["phases"]

    for checkpoint in (out / "checkpoint-2", out / "final", out / "best"):
        arena = run("arena", "--buyer", f"hf:{checkpoint}", "--seller", "scripted:linear", "--episodes", 2,
                    "--max-turns", 2, "--max-new-tokens", 4, "--out", tmp_path / f"arena-{checkpoint.name}", "--no-report")
        assert arena.exit_code == 0, arena.output

    again = run("train", "configs/bargain-smollm2-cpu.yaml", *sets)
    assert again.exit_code == 2 and "--resume" in again.output


def test_train_user_errors_are_one_line(tmp_path):
    result = run("train", tmp_path / "nope.yaml")
    assert result.exit_code == 2 and "does not exist" in result.output and "Traceback" not in result.output
    result = run("train", "configs/bargain-smollm2-cpu.yaml", "--set", "grpo.num_generations=1")
    assert result.exit_code == 2 and "grpo.num_generations" in result.output
    result = run("train")
    assert result.exit_code == 2 and "--resume" in result.output
    result = run("report", tmp_path)
    assert result.exit_code == 2 and "not a training run directory" in result.output


def test_the_evaluate_hint_names_the_game_and_seat_the_model_trained_in():
    from parley.cli.main import evaluate_hint
    from parley.training.config import load_config

    cases = [("configs/bargain-smollm2-cpu.yaml", ["persona=standard"], "--env bargain --buyer"),
             ("configs/bargain-smollm2-cpu.yaml", ["role=seller", "persona=standard"], "--env bargain --seller"),
             ("configs/deliberation-smollm2-cpu.yaml", [], "--env deliberation --agent"),
             ("configs/casino-smollm2-cpu.yaml", [], "--env casino --agent")]
    for path, sets, expected in cases:
        assert evaluate_hint(load_config(path, sets), "runs/x/final") == f"parley arena {expected} hf:runs/x/final"
    # A guided (or compact) buyer is evaluated under the prompt it trained on, not the standard one.
    for path, persona in (("configs/bargain-smollm2-guided-cpu.yaml", "guided"), ("configs/bargain-smollm2-guided-cpu.yaml", "guided.v2"),
                          ("configs/bargain-smollm2-cpu.yaml", "standard.v2")):
        cfg = load_config(path, [f"persona={persona}"])
        assert evaluate_hint(cfg, "runs/x/final") == f"parley arena --env bargain --buyer hf:runs/x/final#{persona}"
    # The shipped CPU configs train on the compact prompt (buyer.v2) since 2026-12-06.
    assert load_config("configs/bargain-smollm2-cpu.yaml").persona == "standard.v2"
    assert load_config("configs/bargain-smollm2-guided-cpu.yaml").persona == "guided.v2"
