"""The Collective Agency judge: verdict parsing, retries, caching, cost, and the rule judge's guards."""

from __future__ import annotations

import pytest

from parley.models.backends import Completion, GenerationStats
from parley.agents.judge import JudgeRequest, LLMJudge, RuleJudge, VerdictError, parse_verdict
from parley.environments.dilemmas import load_dilemmas


@pytest.mark.parametrize("text, score, violations", [
    ('{"score": 7, "red_line_violations": [], "resolves_conflict": true, "rationale": "ok"}', 7.0, []),
    ('Sure!\n```json\n{"score": "8/10", "red_line_violations": ["alex"], "rationale": "x"}\n```', 8.0, ["Alex"]),
    ("I would give it a Score: 6/10 because...", 6.0, []),
    ('{"score": 3, "red_line_violations": ["Nobody"]}', 3.0, []),
])
def test_parse_verdict_is_lenient_about_form(text, score, violations):
    v = parse_verdict(text, ["Alex", "Sam"])
    assert v.score == score and v.red_line_violations == violations


@pytest.mark.parametrize("text, why", [
    ("", "no JSON"), ("great agreement!", "no JSON"), ('{"score": 11}', "outside 0-10"),
    ('{"score": "high"}', "not a number"), ('{"rationale": "no score"}', "missing"), ('{"score": true}', "not a number"),
])
def test_parse_verdict_rejects_what_is_not_a_verdict(text, why):
    with pytest.raises(VerdictError, match=why):
        parse_verdict(text)


class FakeBackend:
    """Answers from a script, one list of texts per generate() call."""

    def __init__(self, script):
        self.script, self.prompts, self.stats = list(script), [], GenerationStats()

    def generate(self, conversations, settings, seed, keys=None):
        answers = self.script.pop(0)
        self.prompts.append([c[0]["content"] for c in conversations])
        self.stats.new_tokens += 5 * len(conversations)
        return [Completion(answers[i % len(answers)]) for i in range(len(conversations))]


def _requests():
    d = load_dilemmas("test")
    return [JudgeRequest(d[0], "We will both talk to the family and share the decision."),
            JudgeRequest(d[1], "Something else entirely, agreed by both."),
            JudgeRequest(d[0], "We will both talk to the family and share the decision.")]


def test_batching_retries_caching_and_recorded_failures():
    backend = FakeBackend([['{"score": 9}', "garbage"], ["still garbage"], ["nope"]])
    judge = LLMJudge(backend, "fake", retries=2)
    verdicts = judge.judge(_requests())
    assert verdicts[0].score == 9.0 and verdicts[2].score == 9.0
    assert verdicts[1].score is None and "unparseable after 3 attempts" in verdicts[1].failure
    assert len(backend.prompts[0]) == 2  # the duplicate request was judged once
    assert judge.stats.calls == 3 and judge.stats.judged == 4 and judge.stats.failures == 1
    assert judge.stats.new_tokens == 20
    # Second round: the good verdict comes from the cache; the failure is retried, not cached.
    backend.script = [['{"score": 4}']]
    again = judge.judge(_requests())
    assert again[0].cached and again[0].score == 9.0 and again[1].score == 4.0
    assert judge.stats.cache_hits == 2 and len(backend.prompts[-1]) == 1


def test_the_judge_sees_only_dilemma_personas_and_agreement():
    backend = FakeBackend([['{"score": 5}']])
    judge = LLMJudge(backend, "fake")
    d = load_dilemmas("test")[0]
    judge.judge([JudgeRequest(d, "Proposal text")])
    prompt = backend.prompts[0][0]
    assert d.situation in prompt and "Proposal text" in prompt and judge.rubric_id.startswith("judge_collective_agency.v")
    for p in d.personas:
        assert p.name in prompt and p.stance in prompt and p.red_lines[0] in prompt
    other_rubric = JudgeRequest(d, "Proposal text").key("judge_collective_agency.v1")
    assert other_rubric != JudgeRequest(d, "Proposal text").key(judge.rubric_id)


def test_rule_judge_v1_scores_empty_off_topic_and_dodges_low():
    judge = RuleJudge(1)  # rubric v1, kept for reproducibility (v2: tests/test_rubric_v2.py)
    d = load_dilemmas("train")[0]
    a, b = d.personas
    scores = {name: judge.judge([JudgeRequest(d, text)])[0] for name, text in {
        "empty": "", "short": "Yes agreed.",
        "off_topic": "The weather in Paris is lovely in spring and the museums are open late.",
        "dodge": f"We agree to disagree about {d.situation.split()[5]} and {a.values[0]}.",
        "red_line": f"Final: {b.stance}",
        "both": (f"We will first act together in a way that protects {a.values[0]} and also {b.values[0]}, "
                 "then each of us will explain the plan to everyone affected, and we share responsibility."),
    }.items()}
    assert scores["empty"].score == scores["short"].score == scores["off_topic"].score == 0
    assert scores["dodge"].score <= 2
    assert scores["red_line"].score <= 3 and scores["red_line"].red_line_violations == [a.name]
    assert scores["both"].score >= 7 and not scores["both"].red_line_violations
    # Advocating one side's own stance is not a violation of that side's red line.
    mine = judge.judge([JudgeRequest(d, f"Final: {a.stance} and we explain it to everyone affected together.")])[0]
    assert a.name not in mine.red_line_violations
