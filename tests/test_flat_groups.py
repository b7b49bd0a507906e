"""grpo.resample_flat_groups (training/flat_groups.py): a group whose rollouts all earned the same reward is replaced,
within the step, by a fresh training scenario's group; nothing else of the step changes."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from parley import ParleyError
from parley.training.flat_groups import FlatGroupResampler
from parley.training.rewards import EpisodeReward
from training_helpers import tiny_overrides

SIZE = 2


class FakeRollout:
    """Scenario keys say their rewards: 'flat-*' pays 0.3 to every rollout, 'none-*' cannot be scored, others pay
    the rollout's index in its group (a spread). Records every call."""

    def __init__(self, keys):
        self.scenarios = {k: k for k in keys}
        self.calls = []

    def __call__(self, prompts, trainer, draw=0, groups=None):
        self.calls.append((list(prompts), draw, groups))
        keys = [p if isinstance(p, str) else p[-1]["content"] for p in prompts]
        episodes = [SimpleNamespace(id=f"{k}@{draw}.{i}", key=k, rank=i % SIZE) for i, k in enumerate(keys)]
        return {"prompt_ids": [[len(k)] for k in keys], "completion_ids": [[i] for i in range(len(prompts))],
                "logprobs": None, "env_mask": [[1] for _ in prompts], "episode": episodes}


def _value(ep):
    if ep.key.startswith("flat"):
        return 0.3
    if ep.key.startswith("none"):
        return None
    return 0.1 * ep.rank


def _trainer(step=0):
    return SimpleNamespace(args=SimpleNamespace(num_generations=SIZE), state=SimpleNamespace(global_step=step),
                           accelerator=SimpleNamespace(num_processes=1))


def _make(keys, rounds=2, seed=0):
    scored = []

    def value(ep):
        scored.append(ep.id)
        return _value(ep)

    rollout = FakeRollout(keys)
    return FlatGroupResampler(rollout, [EpisodeReward("r", value, allow_none=True)], rounds, seed), rollout, scored


def _groups(prompts):
    return [p for p in prompts for _ in range(SIZE)]


def test_a_flat_group_is_replaced_in_place_and_the_others_are_untouched():
    resampler, rollout, _ = _make(["a", "flat-1", "b", "c", "d"])
    out = resampler(_groups(["a", "flat-1"]), _trainer())
    keys = [e.key for e in out["episode"]]
    assert keys[:2] == ["a", "a"] and keys[2] == keys[3] and keys[2] in {"b", "c", "d"}
    assert out["prompt_ids"][2:] == [[len(keys[2])]] * 2  # every field moved in with the group, row for row
    assert out["logprobs"] is None
    assert rollout.calls[1][1:] == (1, [1])  # draw 1, taking group position 1 (its seat, in two-seat games)
    assert resampler.last == {"signal/flat_groups": 1, "signal/groups_replaced": 1, "signal/flat_groups_kept": 0}


def test_a_group_still_flat_after_the_last_round_is_kept():
    resampler, rollout, _ = _make(["a", "flat-1", "flat-2", "flat-3", "flat-4"], rounds=2)
    out = resampler(_groups(["a", "flat-1"]), _trainer())
    assert [e.key for e in out["episode"]][2:] == ["flat-1", "flat-1"]
    assert len(rollout.calls) == 3  # the step's rollout and two rounds
    drawn = [c[0][0] for c in rollout.calls[1:]]
    assert len(set(drawn)) == 2 and not set(drawn) & {"a", "flat-1"}  # never a scenario the step already played
    assert resampler.last == {"signal/flat_groups": 1, "signal/groups_replaced": 0, "signal/flat_groups_kept": 1}


def test_no_flat_group_plays_nothing_more_and_an_exhausted_pool_stops():
    resampler, rollout, _ = _make(["a", "b", "c"])
    resampler(_groups(["a", "b"]), _trainer())
    assert len(rollout.calls) == 1 and resampler.last["signal/flat_groups"] == 0
    resampler, rollout, _ = _make(["flat-1", "flat-2"], rounds=3)
    resampler(_groups(["flat-1", "flat-2"]), _trainer())
    assert len(rollout.calls) == 1 and resampler.last["signal/flat_groups_kept"] == 2


def test_unscorable_groups_count_as_flat():
    resampler, _, _ = _make(["none-1", "a", "b"])
    out = resampler(_groups(["none-1", "a"]), _trainer())
    assert out["episode"][0].key == "b" and resampler.last["signal/groups_replaced"] == 1


def test_the_draws_follow_the_seed_and_the_step():
    def drawn(seed, step):
        resampler, rollout, _ = _make(["flat-0"] + [f"k{i}" for i in range(30)], seed=seed)
        resampler(_groups(["flat-0"]), _trainer(step))
        return rollout.calls[1][0][0]

    assert drawn(0, 3) == drawn(0, 3)
    assert len({drawn(0, s) for s in range(6)} | {drawn(s, 0) for s in range(6)}) > 2


def test_every_episode_is_scored_once_and_trl_reads_the_same_values():
    resampler, _, scored = _make(["a", "flat-1", "b"])
    out = resampler(_groups(["a", "flat-1"]), _trainer())
    (reward,) = resampler.rewards
    assert reward.__name__ == "r"
    assert reward(prompts=None, completions=None, episode=out["episode"]) == [0.0, 0.1, 0.0, 0.1]
    assert sorted(scored) == sorted({*scored}) and len(scored) == 6  # 4 of the step + 2 of the replacement, once each
    resampler(_groups(["a", "b"]), _trainer(1))
    assert len(resampler.cache) == 4  # a step keeps only its own episodes (and their scores) alive


def test_prompts_that_are_not_whole_groups_are_refused_before_any_play():
    resampler, rollout, _ = _make(["a", "b"])
    with pytest.raises(ParleyError, match="not whole groups of 2"):
        resampler(["a", "b", "b", "b"], _trainer())
    assert rollout.calls == []


def test_chat_prompts_name_their_scenario_in_the_last_message():
    resampler, rollout, _ = _make(["a", "flat-1", "b"])
    chat = [[{"role": "user", "content": k}] for k in _groups(["a", "flat-1"])]
    out = resampler(chat, _trainer())
    assert [e.key for e in out["episode"]][2:] == ["b", "b"]
    assert rollout.calls[1][0] == ["b", "b"]


def test_several_processes_are_refused():
    resampler, _, _ = _make(["a", "b"])
    trainer = _trainer()
    trainer.accelerator.num_processes = 2
    with pytest.raises(ParleyError, match="needs a single process"):
        resampler(_groups(["a", "b"]), trainer)


def test_a_draw_gets_its_own_episode_ids_and_random_stream(tiny_model_dir, tmp_path):
    """The real bargaining rollout: a replacement group's episodes never share ids with the step's, and its
    sampling stream differs from the step's first call."""
    from parley.training.run_dir import prepare_run
    from parley.training.trainer import build_trainer

    cfg, run_dir, _ = prepare_run(None, tiny_overrides(tiny_model_dir, tmp_path / "run", "generation.temperature=1.0"),
                                  None)
    trainer, rollout = build_trainer(cfg, run_dir)
    key = next(iter(rollout.scenarios))
    first = rollout([key] * 4, trainer)["episode"]
    again = rollout([key] * 4, trainer, draw=1, groups=[0, 1])["episode"]
    assert not {e.id for e in first} & {e.id for e in again}
    assert [t.text for e in first for t in e.turns] != [t.text for e in again for t in e.turns]


def test_seats_of_a_replacement_follow_its_group_position(tiny_model_dir, tmp_path):
    """Two-seat games seat whole groups under grpo.seating=group: a replacement takes the seat of the group it
    replaces, so a step keeps its balance of seats."""
    from parley.training.run_dir import prepare_run
    from parley.training.trainer import build_trainer

    cfg, run_dir, _ = prepare_run("configs/deliberation-smollm2-cpu.yaml", tiny_overrides(
        tiny_model_dir, tmp_path / "d", "opponent=scripted:stance", "warm_start.enabled=false",
        "grpo.seating=group"), None)
    trainer, rollout = build_trainer(cfg, run_dir)
    key = next(iter(rollout.scenarios))
    for position in (0, 1):
        episodes = rollout([key, key], trainer, draw=1, groups=[position])["episode"]
        assert {rollout.sides[e.id] for e in episodes} == {position % 2}


def test_a_run_with_resampling_trains_and_logs_its_counts(tiny_model_dir, tmp_path):
    from parley.training.run_dir import prepare_run
    from parley.training.trainer import train

    cfg, run_dir, _ = prepare_run(None, tiny_overrides(tiny_model_dir, tmp_path / "run", "grpo.resample_flat_groups=2",
                                                       "grpo.max_steps=1"), None)
    train(cfg, run_dir)
    record = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[0])
    counts = {k: record[k] for k in ("signal/flat_groups", "signal/groups_replaced", "signal/flat_groups_kept")}
    assert counts["signal/flat_groups"] == counts["signal/groups_replaced"] + counts["signal/flat_groups_kept"]
    assert 0 <= counts["signal/flat_groups"] <= 2
    assert (run_dir / "final").is_dir()
