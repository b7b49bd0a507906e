"""`parley scenarios generate`: only valid, new scenarios are written, each with its provenance."""

from __future__ import annotations

import json

from parley.models.backends import Completion
from parley.environments.dilemma_generation import generate_dilemmas, write_dilemmas
from parley.environments.dilemmas import load_dilemmas

GOOD = {"situation": "Your neighbour asks you to water her plants while you are on a deadline at work.",
        "options": ["I help my neighbour.", "I focus on my deadline."],
        "values_a": ["kindness"], "values_b": ["responsibility at work"], "stakeholders": ["you", "your neighbour"]}


class Scripted:
    def __init__(self, answers):
        self.answers = list(answers)

    def generate(self, conversations, settings, seed, keys=None):
        return [Completion(self.answers.pop(0) if self.answers else "no more") for _ in conversations]


def test_valid_new_scenarios_are_kept_and_the_rest_counted(tmp_path):
    packaged = load_dilemmas()[0]
    twin = {"situation": packaged.situation, "options": list(packaged.options),
            "values_a": ["x"], "values_b": ["y"], "stakeholders": ["you"]}
    same_stance = dict(GOOD, options=["I help.", "I help."], situation="Another situation entirely, about help.")
    answers = [f"Here you go:\n```json\n{json.dumps(GOOD)}\n```", "I cannot do that.", json.dumps(twin),
               json.dumps(dict(GOOD, options=["only one"])), json.dumps(GOOD), json.dumps(same_stance)]
    report = generate_dilemmas(Scripted(answers), "fake-model", n=3, seed=5, max_attempts=6, batch_size=3)
    assert len(report.written) == 1 and report.attempts == 6
    assert report.duplicates == 2  # the packaged twin and the repeat of GOOD
    assert report.invalid == {"no JSON object": 1, "options must be a list of exactly two non-empty strings": 1,
                              "invalid generated scenario": 1}
    d = report.written[0]
    assert d.source["generated_by"] == "fake-model" and d.source["prompt"].startswith("dilemma_generator.v")
    assert d.personas[0].stance == "I help my neighbour." and "I focus on my deadline." in d.personas[0].red_lines[0]
    path = tmp_path / "gen.jsonl"
    write_dilemmas(report.written, path)
    assert [x.id for x in load_dilemmas(path=path)] == [d.id]


def test_cli_reports_a_bad_model_spec(tmp_path):
    from typer.testing import CliRunner

    from parley.cli.main import app

    result = CliRunner().invoke(app, ["scenarios", "generate", "--model", "scripted:linear", "--out", str(tmp_path / "x.jsonl")])
    assert result.exit_code == 2 and "--model must be smollm2" in result.output
