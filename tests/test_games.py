"""Games reach the config, the warm start and the trainer through the registry (training/games.py): a toy game
registered from the tests is validated, warm-started and trained without an edit in training or the CLI."""

from __future__ import annotations

import dataclasses

import pytest

from parley import ParleyError
from parley.training import games
from parley.training.config import load_config
from training_helpers import tiny_overrides


@pytest.fixture
def toy():
    """'toy': bargaining over the three cheapest training products only, with its own checks and teachers."""
    bargain = games.get_game("bargain")
    calls: list[str] = []

    def scenarios(cfg, split, n, seed):
        calls.append(f"scenarios:{split}")
        pool = sorted(bargain.scenarios(cfg, split, 40, seed), key=lambda s: s.listing_price)[:3]
        return [dataclasses.replace(pool[k % 3], id=f"toy-{split}-{k}") for k in range(n)]

    def validate(cfg):
        calls.append("validate")
        if cfg.role != "buyer":
            raise ValueError("the toy game trains buyers only")

    def environment(cfg, scenarios, settings):
        calls.append("environment")
        return bargain.environment(cfg, scenarios, settings)

    def teachers(cfg, settings):
        calls.append("teachers")
        return bargain.teacher_examples(cfg, settings)

    games.register_game(games.TrainingGame("toy", ("scripted:conceder",), validate, scenarios, environment, teachers))
    yield calls
    games.GAMES.pop("toy")


def test_unknown_games_are_named_with_the_registered_ones():
    with pytest.raises(ParleyError, match="unknown env 'chess': expected one of bargain, casino, deliberation"):
        load_config(None, ["env=chess"])


def test_a_registered_game_is_validated_by_its_own_rules(toy):
    cfg = load_config(None, ["env=toy"])
    assert cfg.warm_start.teachers == ["scripted:conceder"] and "validate" in toy
    with pytest.raises(ParleyError, match="the toy game trains buyers only"):
        load_config(None, ["env=toy", "role=seller"])


def test_a_registered_game_warm_starts_and_trains_through_the_registry(toy, tiny_model_dir, tmp_path):
    from parley.training.run_dir import prepare_run
    from parley.training.trainer import train

    overrides = tiny_overrides(tiny_model_dir, tmp_path / "run", "env=toy", "grpo.max_steps=1", "warm_start.enabled=true")
    cfg, run_dir, _ = prepare_run(None, overrides, None)
    train(cfg, run_dir)
    assert {"teachers", "environment", "scenarios:train", "scenarios:validation"} <= set(toy)
    samples = (run_dir / "samples").glob("*.jsonl")
    assert any("toy-" in path.read_text() for path in samples)
    assert (run_dir / "final").is_dir()
