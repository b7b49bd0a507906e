"""CaSiNo, the third game: data from the corpus, a parser that never invents a move, verifiable points,
Pareto efficiency, scripted and LLM campers, and `parley arena --env casino`."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings, strategies as st
from typer.testing import CliRunner

from parley import ParleyError
from parley.agents.camper import SCRIPTED_CAMPERS, CamperLLMAgent
from parley.agents.spec import BackendCache, build_camper
from parley.environments.casino import (
    ALL_SPLITS, ITEMS, MAX_POINTS, WALK_AWAY_POINTS, CasinoConfig, CasinoEnv, load_casino, max_joint_points,
    pareto_optimal, parse_move, points_of, sample_casino,
)
from parley.models.generation import GenerationSettings
from parley.rollout.casino import run_casino
from code_helpers import stamped_by_this_code


def test_the_corpus_is_packaged_with_its_splits_and_human_outcomes():
    splits = {s: load_casino(s) for s in ("train", "validation", "test")}
    assert [len(v) for v in splits.values()] == [900, 30, 100]  # CaSiNo's own split sizes
    ids = [x.id for v in splits.values() for x in v]
    assert len(ids) == len(set(ids))
    first = next(s for s in splits["train"] if s.source["dialogue_id"] == 938)
    # dialogue 938 (the corpus's first): the people scored 22 and 19 points (participant_info.outcomes)
    assert first.human_points() == (22, 19)
    walked = [s for s in splits["train"] if not s.human.deal]
    assert walked and all(s.human_points() == (WALK_AWAY_POINTS, WALK_AWAY_POINTS) for s in walked)
    with pytest.raises(ParleyError, match="unknown split 'dev'"):
        load_casino("dev")


def test_sampling_is_a_pure_function_of_split_seed_and_index():
    a, b = sample_casino("test", 150, 3), sample_casino("test", 150, 3)
    assert [s.id for s in a] == [s.id for s in b]
    assert [s.id for s in a[:100]] != [s.id for s in sample_casino("test", 100, 4)]
    assert len({s.id for s in a}) == 100  # cycles once the split is used up
    assert [s.id for s in sample_casino("test", 5, 3)] == [s.id for s in a[:5]]


def test_points_follow_the_priorities_and_the_split_adds_up():
    s = load_casino("test")[0]
    for share in ALL_SPLITS:
        mine, theirs = points_of(s, share)
        assert 0 <= mine <= MAX_POINTS and 0 <= theirs <= MAX_POINTS
    high = s.campers[0].ranked()[0]
    everything_high = tuple(3 if item == high else 0 for item in ITEMS)
    assert points_of(s, everything_high)[0] == 15


def test_pareto_optimality_by_brute_force():
    s = next(x for x in load_casino("test") if x.campers[0].ranked()[0] != x.campers[1].ranked()[0])
    a_top, b_top = s.campers[0].ranked()[0], s.campers[1].ranked()[0]
    # each takes all of its own top item and splits nothing else: a trade both gain from is left undone
    share = tuple(3 if i == a_top else (0 if i == b_top else 1) for i in ITEMS)
    dominating = [x for x in ALL_SPLITS if points_of(s, x)[0] >= points_of(s, share)[0] and points_of(s, x)[1] >= points_of(s, share)[1]
                  and points_of(s, x) != points_of(s, share)]
    assert pareto_optimal(s, share) == (not dominating)
    best = max(ALL_SPLITS, key=lambda x: sum(points_of(s, x)))
    assert pareto_optimal(s, best) and sum(points_of(s, best)) == max_joint_points(s) > 36


# ---------------------------------------------------------------- the parser never invents a move

@pytest.mark.parametrize("text, kind, share", [
    ("I need water.\nOFFER: food 1, water 3, firewood 0", "offer", (1, 3, 0)),
    ("**OFFER: Firewood=2, food=0, water=1**", "offer", (0, 1, 2)),
    ("Deal!\nACCEPT", "accept", None),
    ("ACCEPT.", "accept", None),
    ("WALK AWAY", "walk", None),
    ("I will not ACCEPT that.", "message", None),
    ("You said ACCEPT, but I did not.", "message", None),
    ("Accept my thanks for the water.", "message", None),
    ("walk away from that offer? never", "message", None),
    ("offer: food 1, water 1, firewood 1", "message", None),  # tags are capitals
    ("OFFER: food 2, water 1", "invalid", None),  # an item missing
    ("OFFER: food 4, water 0, firewood 0", "invalid", None),
    ("OFFER: food 1.5, water 0, firewood 0", "invalid", None),
    ("OFFER: food -1, water 3, firewood 3", "invalid", None),
    ("OFFER: food 1, water 1, firewood 1, food 2", "invalid", None),
    ("OFFER: food 1, water 1, firewood 1\nACCEPT", "invalid", None),  # two moves
    ("ACCEPT food 3 water 3", "invalid", None),
    ("WALK AWAY unless you give me water", "invalid", None),
])
def test_parse_move(text, kind, share):
    move = parse_move(text)
    assert move.kind == kind and move.share == share
    if kind == "invalid":
        assert move.problem


_NEGATIONS = st.sampled_from(["not", "never", "won't", "cannot", "refuse to", "would never"])
_TAGS = st.sampled_from(["ACCEPT", "WALK AWAY", "OFFER: food 3, water 3, firewood 3"])


@settings(max_examples=200, deadline=None)
@given(prefix=st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"), max_size=40).filter(lambda t: t.strip(" \t*_>`#-") != "")
       # a prefix that itself opens with a tag ("ACCEPT not ACCEPT") starts a move line: not this property
       .filter(lambda t: parse_move(t + " x").kind == "message"),
       negation=_NEGATIONS, tag=_TAGS)
def test_a_tag_inside_a_sentence_is_never_a_move(prefix, negation, tag):
    """Whatever words stand before a tag on its line ("I will not ACCEPT"), the tag is no move."""
    assert parse_move(f"{prefix} {negation} {tag}").kind == "message"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_garbage_never_crashes_and_offers_stay_in_range(text):
    move = parse_move(text)
    assert move.kind in ("offer", "accept", "walk", "message", "invalid")
    if move.kind == "offer":
        assert len(move.share) == 3 and all(0 <= n <= 3 for n in move.share)


# ---------------------------------------------------------------- the environment

def _env(max_turns=6, index=0):
    env = CasinoEnv(CasinoConfig(max_turns=max_turns))
    env.reset(load_casino("test")[index])
    return env


def test_a_deal_splits_all_packages_and_scores_each_side_by_its_own_priorities():
    env = _env()
    env.step("I need food.\nOFFER: food 3, water 1, firewood 0")
    assert env.observe(1).other_offer == (3, 1, 0) and env.observe(1).own_offer is None
    env.step("Fine by me.\nACCEPT")
    assert env.done and env.outcome.deal and env.outcome.closed_by == 1
    assert env.outcome.shares == ((3, 1, 0), (0, 2, 3))
    s = env.scenario
    assert env.points() == (s.campers[0].points((3, 1, 0)), s.campers[1].points((0, 2, 3)))
    assert env.rewards() == {0: float(env.points()[0]), 1: float(env.points()[1])}
    record = json.loads(json.dumps(env.record()))
    assert record["points"] == list(env.points()) and record["pareto_optimal"] in (True, False)


def test_no_deal_gives_the_walk_away_points_and_refused_moves_are_explained():
    env = _env(max_turns=4)
    refused = env.step("ACCEPT")  # nothing to accept yet
    assert refused.effect == "refused" and "no offer" in refused.notice and not env.done
    assert env.observe(0).notices == (refused.notice,) and env.observe(1).notices == ()
    bad = env.step("OFFER: food 9, water 0, firewood 0")
    assert bad.effect == "refused" and "0 to 3" in bad.notice
    env.step("WALK AWAY")
    assert env.done and env.outcome.reason == "walked_away" and env.points() == (5, 5)
    env = _env(max_turns=2)
    env.step("Hello")
    env.step("Hi")
    assert env.done and env.outcome.reason == "max_turns" and env.points() == (5, 5)


def test_a_camper_sees_its_own_priorities_never_the_others():
    env = _env(index=3)
    for side in (0, 1):
        obs = env.observe(side)
        assert obs.camper == env.scenario.campers[side]
        other = env.scenario.campers[1 - side]
        assert all(reason not in repr(obs) for reason in other.reasons.values() if reason not in obs.camper.reasons.values())


def test_the_llm_prompt_carries_own_priorities_status_and_notices_only():
    agent = CamperLLMAgent("renderer", backend=None)
    env = _env(index=3)
    env.step("I need water badly.\nOFFER: food 0, water 3, firewood 2")
    env.step("ACCEPT please")  # refused: ACCEPT stands alone
    messages = agent.messages(env.observe(1))
    text = "\n".join(m["content"] for m in messages)
    me, other = env.scenario.campers[1], env.scenario.campers[0]
    assert all(r in text for r in me.reasons.values())
    assert not any(r in text for r in other.reasons.values() if r not in me.reasons.values())
    assert "so you would get food 3, water 0, firewood 1" in messages[-1]["content"]
    assert "ACCEPT stands alone" in messages[-1]["content"] and agent.prompt_id == "camper.v1"


def test_scripted_campers_agree_and_logrollers_find_efficient_trades():
    scenarios = sample_casino("test", 40, 0)
    greedy_fair = run_casino(scenarios, (SCRIPTED_CAMPERS["scripted:greedy"](), SCRIPTED_CAMPERS["scripted:fair"]()))
    logrollers = run_casino(scenarios, (SCRIPTED_CAMPERS["scripted:logroller"](), SCRIPTED_CAMPERS["scripted:logroller"]()))
    assert all(e.outcome.deal for e in logrollers)
    assert all(e.pareto_optimal for e in logrollers)  # trading by the other's revealed offers finds the frontier
    assert sum(e.points[0] for e in greedy_fair) > sum(e.points[1] for e in greedy_fair)  # greedy takes more
    assert sum(sum(e.points) for e in logrollers) >= sum(sum(e.points) for e in greedy_fair)


def test_same_seed_same_transcripts_with_a_tiny_llm(tiny_model_dir):
    settings_ = GenerationSettings(max_new_tokens=16, batch_size=4)
    runs = []
    for _ in range(2):
        cache = BackendCache()
        llm = build_camper(f"hf:{tiny_model_dir}", settings_, cache)
        episodes = run_casino(sample_casino("test", 3, 1), (llm, build_camper("scripted:fair", settings_, cache)),
                              CasinoConfig(max_turns=4), seed=7)
        runs.append([json.dumps(e.to_dict(), sort_keys=True) for e in episodes])
    assert runs[0] == runs[1]
    assert all(json.loads(r)["prompts"] == {"0": "camper.v1"} for r in runs[0])


def test_bad_specs_name_what_a_camper_may_be():
    with pytest.raises(ParleyError, match="the camper must be smollm2, .*scripted:logroller"):
        build_camper("scripted:boulware", GenerationSettings(), BackendCache())


def test_cli_arena_casino_writes_summary_report_and_reference(tmp_path):
    from parley.cli.main import app

    out = tmp_path / "c"
    result = CliRunner().invoke(app, ["arena", "--env", "casino", "--agent", "scripted:greedy", "--opponent",
                                      "scripted:fair", "--episodes", "6", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    lines = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    assert len(lines) == 6 and [line["agent_side"] for line in lines] == [0, 0, 0, 1, 1, 1]
    agent_points = [line["points"][line["agent_side"]] for line in lines]
    assert summary["agent_points_mean"] == pytest.approx(sum(agent_points) / 6)
    deals = [line for line in lines if line["outcome"]["deal"]]
    assert summary["pareto_rate"] == pytest.approx(sum(d["pareto_optimal"] for d in deals) / len(deals))
    assert summary["human_reference"]["joint_points_mean"] > 30 and summary["config"]["env"] == "casino"
    assert stamped_by_this_code(summary["config"])
    html = (out / "report.html").read_text()
    assert "points.png" in html and (out / "points.png").stat().st_size > 1000 and "CC BY 4.0" in html
    wrong = CliRunner().invoke(app, ["arena", "--env", "casino", "--buyer", "smollm2", "--out", str(out)])
    assert wrong.exit_code == 2 and "--buyer does not apply to --env casino" in wrong.output


# ---------------------------------------------------------------- training (env: casino)

def test_casino_config_loads_and_rejects_what_does_not_fit():
    from parley.training.config import load_config

    cfg = load_config("configs/casino-smollm2-cpu.yaml")
    assert cfg.env == "casino" and cfg.opponent == "scripted:logroller" and cfg.grpo.num_generations % 2 == 0
    assert load_config(None, ["env=casino"]).opponent == "scripted:logroller"  # the game's default
    assert load_config(None, []).opponent == "scripted:boulware"  # bargaining's, as before
    with pytest.raises(ParleyError, match="training opponent must be .*scripted:logroller.*not scripted"):
        load_config(None, ["env=casino", "opponent=scripted:boulware"])
    with pytest.raises(ParleyError, match="even grpo.num_generations"):
        load_config(None, ["env=casino", "grpo.num_generations=3"])


def test_casino_warm_starts_and_trains_with_points_as_reward(tiny_model_dir, tmp_path):
    from training_helpers import tiny_overrides

    from parley.training.run_dir import prepare_run
    from parley.training.trainer import train

    overrides = tiny_overrides(tiny_model_dir, tmp_path / "run", "env=casino", "grpo.max_steps=1",
                               "warm_start.enabled=true")
    cfg, run_dir, _ = prepare_run(None, overrides, None)
    train(cfg, run_dir)
    warm = json.loads((run_dir / "warm_start" / "warm_start.json").read_text())
    assert warm["teachers"]["scripted:logroller"]["episodes"] == 2 and warm["prompt_id"] == "camper.v1"
    evals = [json.loads(line) for line in (run_dir / "evals.jsonl").read_text().splitlines()]
    for e in evals:  # the reward the trainer reports is the agent's points / 36
        assert e["mean_reward"] == pytest.approx(e["agent_points_mean"] / 36)
    samples = [json.loads(line) for path in (run_dir / "samples").glob("*.jsonl") for line in path.read_text().splitlines()]
    assert samples and all(s["agent_side"] in (0, 1) and len(s["points"]) == 2 for s in samples)
    assert {s["agents"][s["agent_side"]] for s in samples} == {"trainee"}
    assert (run_dir / "final").is_dir()
    from parley.evaluation.training_report import write_training_report

    page = write_training_report(run_dir).read_text()  # the report takes the game's panels from the registry
    assert "joint points mean" in page and "behaviour.png" in page and "opening offer ratio" not in page
    assert json.loads((run_dir / "phases.json").read_text())["phases"] == []  # price-strategy phases: bargaining only


def test_points_reward_is_the_trainees_own_points():
    from parley.training.casino_rollout import points_share, refused_move_share

    episodes = run_casino(sample_casino("test", 2, 0), (SCRIPTED_CAMPERS["scripted:greedy"](), SCRIPTED_CAMPERS["scripted:fair"]()))
    for e in episodes:
        for side in (0, 1):
            seated = dataclasses.replace(e, agent_side=side)
            assert points_share(seated) == e.points[side] / 36 and refused_move_share(seated) == 0.0
