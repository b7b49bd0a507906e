"""`parley eval deliberation`: single-agent Collective Agency, the pairwise judge in both orders, the report."""

from __future__ import annotations

import json

import pytest

from parley.agents.deliberator import ScriptedDeliberator, SoloResolver, parse_resolution
from parley.agents.pairwise_judge import LLMPairwiseJudge, PairRequest, RulePairwiseJudge, compare, parse_preference
from parley.agents.spec import BackendCache, build_pairwise_judge
from parley.environments.dilemmas import load_dilemmas
from parley.models.generation import GenerationSettings

from fake_openai import FakeOpenAIServer
from test_judge import FakeBackend
from test_rubric_v2 import DILEMMAS, GOOD, GRENADE
from code_helpers import stamped_by_this_code


@pytest.mark.parametrize("text, better", [
    ('{"better": "A", "rationale": "x"}', "first"), ('```json\n{"better": "b"}\n```', "second"),
    ('{"better": "tie"}', "tie"), ('{"better": "Resolution B"}', "second"), ("Better: A, because ...", "first"),
])
def test_parse_preference_reads_the_judges_forms(text, better):
    assert parse_preference(text).better == better


@pytest.mark.parametrize("text", ["", "I like both", '{"better": "C"}', '{"winner": "A"}', None])
def test_an_unreadable_preference_is_a_recorded_failure_never_a_guess(text):
    p = parse_preference(text)
    assert p.better is None and p.failure


class _AlwaysFirst:
    """A maximally position-biased judge: prefers whatever it reads first."""

    def __init__(self):
        self.asked = []

    def prefer(self, pairs, seed=0):
        self.asked.extend(pairs)
        from parley.agents.pairwise_judge import Preference
        return [Preference("first") for _ in pairs]


def test_both_orders_cancel_a_position_biased_judge():
    ds = load_dilemmas("test")[:4]
    judge = _AlwaysFirst()
    outcomes = compare(judge, ds, ["a"] * 4, ["b"] * 4)
    assert len(judge.asked) == 8 and {(p.first, p.second) for p in judge.asked} == {("a", "b"), ("b", "a")}
    assert all(o.winner == "tie" and o.position_bias for o in outcomes)


def test_a_consistent_preference_is_a_win_in_either_order():
    d = DILEMMAS[GRENADE]
    good = next(t for did, t in GOOD if did == GRENADE)
    vague = "We will work together to find a solution that respects everyone's values about the grenade."
    outcomes = compare(RulePairwiseJudge(), [d, d], [good, vague], [vague, good])
    assert [o.winner for o in outcomes] == ["a", "b"] and not any(o.position_bias for o in outcomes)
    assert compare(RulePairwiseJudge(), [d], [vague], [vague])[0].winner == "tie"
    with pytest.raises(ValueError, match="one resolution"):
        compare(RulePairwiseJudge(), [d], [good, vague], [vague])


def test_the_llm_pairwise_judge_retries_then_records_failure():
    d = DILEMMAS[GRENADE]
    backend = FakeBackend([['{"better": "A"}', "no idea"], ["still no idea"]])
    judge = LLMPairwiseJudge(backend, "fake")
    prefs = judge.prefer([PairRequest(d, "x one", "y two"), PairRequest(d, "x", "y")])
    assert prefs[0].better == "first" and prefs[1].better is None and judge.stats.failures == 1
    prompt = backend.prompts[0][0]
    assert "Resolution A: x one" in prompt and "Resolution B: y two" in prompt and d.situation in prompt
    assert len(backend.prompts[1]) == 1  # only the failed one is asked again


def test_pairwise_judging_through_an_openai_compatible_server():
    """Any LLM judge spec works: the judge's answer depends on which text it is shown as A."""
    def reply(body):
        prompt = body["messages"][-1]["content"]
        a = prompt.split("Resolution A: ", 1)[1].split("\n", 1)[0]
        return json.dumps({"better": "A" if "evacuated" in a else "B", "rationale": "the concrete one"})

    d = DILEMMAS[GRENADE]
    good = next(t for did, t in GOOD if did == GRENADE)
    with FakeOpenAIServer(reply=reply) as server:
        judge = build_pairwise_judge(f"openai:fake-model@{server.base_url}", BackendCache())
        outcomes = compare(judge, [d, d], [good, "We will talk about the grenade and the house later on."],
                           ["The soldier will wait near the house and the grenade.", good])
    assert [o.winner for o in outcomes] == ["a", "b"]
    assert len(server.requests) == 4


def test_solo_resolutions_parse_what_the_model_wrote_and_invent_nothing():
    assert parse_resolution("Thinking...\nRESOLUTION: Evacuate first, then act.\n\nExtra notes") == "Evacuate first, then act."
    assert parse_resolution("  no tag here  ") == "no tag here"
    assert parse_resolution("") == "" and parse_resolution(None) == ""
    assert len(parse_resolution("RESOLUTION: " + "x " * 2000)) <= 800


def test_a_model_resolves_dilemmas_alone_from_the_solo_prompt():
    ds = load_dilemmas("test")[:2]
    backend = FakeBackend([["RESOLUTION: the one plan"]])
    solo = SoloResolver(backend, "fake", GenerationSettings(max_new_tokens=20))
    assert solo.resolve(ds) == ["the one plan", "the one plan"]
    prompt = backend.prompts[0][0]
    assert ds[0].situation in prompt and all(p.stance in prompt for p in ds[0].personas) and "RESOLUTION:" in prompt
    assert ScriptedDeliberator(proposal="stance").resolve(ds) == [ds[0].personas[0].stance, ds[1].personas[0].stance]


def test_eval_deliberation_cli_end_to_end(tmp_path, tiny_model_dir):
    from typer.testing import CliRunner

    from parley.cli.main import app

    out = tmp_path / "e"
    result = CliRunner().invoke(app, ["eval", "deliberation", "--agent", f"hf:{tiny_model_dir}", "--baseline",
                                      "scripted:stance", "--dilemmas", "4", "--max-turns", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["eval_version"] == "deliberation-eval.v1" and summary["judge"]["rubric"] == "judge_collective_agency.rules.v2"
    assert stamped_by_this_code(summary)
    agent, baseline = summary["rows"]
    assert not agent["baseline"] and baseline["baseline"] and len(summary["dilemmas"]) == 4
    # the stance baseline alone proposes its own stance: the other persona's red line, every time it is read
    solo = [json.loads(line) for line in (out / "solo-scripted_stance.jsonl").read_text().splitlines()]
    assert all(s["verdict"]["score"] == 0.0 for s in solo) and baseline["solo"]["red_line_rate"]["mean"] == 1.0
    p = summary["pairwise"]
    assert p["wins"] + p["losses"] + p["ties"] == 4 and len((out / "pairwise.jsonl").read_text().splitlines()) == 4
    assert (out / "report.html").exists() and (out / "deliberation_eval.png").exists()
    assert "win rate" in result.output and "same single-agent answer" not in result.output
    bad = CliRunner().invoke(app, ["eval", "deliberation", "--agent", "scripted:stance", "--baseline", "scripted:stance",
                                   "--out", str(out)])
    assert bad.exit_code == 2 and "baseline is the agent itself" in bad.output
    bad = CliRunner().invoke(app, ["eval", "deliberation", "--agent", "scripted:stance", "--judge", "smollm2#v5",
                                   "--out", str(out)])
    assert bad.exit_code == 2 and "rubric version" in bad.output


def test_a_model_that_answers_every_dilemma_alike_is_named_not_scored_silently(tmp_path, monkeypatch):
    """Every deliberator warm-started under deliberator.v2 answered the single-agent prompt with "I can live with
    that." (16 of 16): its single-agent CA was 0 and every pairwise comparison a tie, and the table alone did not say
    why. The evaluation counts the distinct answers and names a model that gave one answer to half the dilemmas."""
    import parley.evaluation.deliberation_eval as ev

    real = ev.build_resolver

    def resolver(spec, settings, cache):  # the agent answers like the v2 warm starts; the baseline as it is
        if spec == "scripted:deliberator":
            return SoloResolver(FakeBackend([["I can live with that."]]), spec, settings)
        return real(spec, settings, cache)

    monkeypatch.setattr(ev, "build_resolver", resolver)
    summary = ev.run_deliberation_eval(ev.DeliberationEvalConfig(
        agent="scripted:deliberator", baseline="scripted:stance", dilemmas=4, seed=0, out=tmp_path / "e"),
        show_progress=False)
    agent, baseline = summary["rows"]
    assert agent["solo"]["distinct"] == 1 and agent["solo"]["most_repeated"] == {"text": "I can live with that.", "count": 4}
    assert agent["solo"]["ca"]["mean"] == 0.0 and summary["pairwise"]["wins"] == 0
    assert baseline["solo"]["distinct"] == 4  # each dilemma's own stance
    [warning] = ev.solo_warnings(summary)
    assert "scripted:deliberator gave the same single-agent answer to 4 of 4 dilemmas" in warning
    assert "I can live with that." in warning and "filter_solo" in warning
    assert warning in ev.markdown_table(summary)
    assert "same single-agent answer to 4 of 4" in (tmp_path / "e" / "report.html").read_text()
    # one answer repeated by fewer than half, and empty answers (counted apart), are not a warning
    rows = [{"model": "m", "solo": ev._repeats(texts)} for texts in
            (["a", "a", "b", "c", "d"], ["", "", "", "x"], ["a", "b"])]
    assert [r["solo"]["most_repeated"]["count"] for r in rows] == [2, 1, 1]
    assert ev.solo_warnings({"dilemmas": [1, 2, 3, 4, 5], "rows": rows[:1]}) == []
    assert ev.solo_warnings({"dilemmas": [1, 2, 3, 4], "rows": rows[1:2]}) == []
    assert ev.solo_warnings({"dilemmas": [1, 2], "rows": rows[2:]}) == []
    assert len(ev.solo_warnings({"dilemmas": [1, 2, 3, 4], "rows": [{"model": "m", "solo": ev._repeats(["a"] * 2 + ["b", "c"])}]})) == 1
