"""General-capability retention eval: the shipped subset, answer extraction, and a run on a tiny model."""

from __future__ import annotations

import json

import pytest

from parley import ParleyError
from parley.models.backends import Completion
from parley.evaluation.general import extract_answer, is_correct, load_problems, run_general_eval
from code_helpers import stamped_by_this_code


def test_subset_is_real_and_sourced():
    problems = load_problems()
    assert len(problems) == 200 and len({p.id for p in problems}) == 200
    assert all(p.source.startswith("openai/grade-school-math") and float(p.answer) == float(p.answer) for p in problems)


@pytest.mark.parametrize("reply, value", [
    ("6 + 12 = 18\nAnswer: 18", 18.0), ("She makes $1,200 in total.", 1200.0), ("The answer is -3.5.", -3.5),
    ("First 3, then 4. Answer: 7. Check: 3+4", 7.0), ("no idea", None),
])
def test_extract_answer(reply, value):
    assert extract_answer(reply) == value


class Oracle:
    """Answers every question correctly except the ones it is told to miss."""

    def __init__(self, miss=()):
        self.answers = {p.question: p.answer for p in load_problems()}
        self.miss = set(miss)

    def generate(self, conversations, settings, seed, keys=None):
        assert settings.do_sample is False
        out = []
        for c in conversations:
            q = c[0]["content"].split("\n\n", 1)[1]
            out.append(Completion("I think 0." if q in self.miss else f"Reasoning... Answer: {self.answers[q]}"))
        return out


def test_accuracy_is_what_the_replies_earn(tmp_path):
    problems = load_problems()
    summary = run_general_eval(Oracle(miss=[problems[0].question, problems[3].question]), n=10, batch_size=4, out=tmp_path)
    assert summary["accuracy"] == pytest.approx(0.8)
    assert stamped_by_this_code(json.loads((tmp_path / "general_summary.json").read_text()))
    rows = [json.loads(line) for line in (tmp_path / "general.jsonl").read_text().splitlines()]
    assert [r["correct"] for r in rows].count(False) == 2 and rows[0]["correct"] is False
    with pytest.raises(ParleyError, match="between 1 and 200"):
        run_general_eval(Oracle(), n=500)
    assert is_correct("Answer: 18.0", "18") and not is_correct("Answer: 19", "18")


def test_runs_on_a_tiny_model(tiny_backend):
    summary = run_general_eval(tiny_backend, n=3, max_new_tokens=8, batch_size=3)
    assert summary["n"] == 3 and 0.0 <= summary["accuracy"] <= 1.0
