"""One real arena on the embedded SmolLM2-135M (the model users get by default)."""

import json

import pytest
from typer.testing import CliRunner

from parley.cli.main import app

pytestmark = pytest.mark.integration


def test_real_smollm2_arena(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["arena", "--buyer", "smollm2", "--seller", "scripted:boulware", "--episodes", "3",
                                      "--max-turns", "4", "--max-new-tokens", "32", "--seed", "0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    episodes = [json.loads(l) for l in (out / "episodes.jsonl").read_text().splitlines()]
    assert len(episodes) == 3
    buyer_texts = [t["text"] for e in episodes for t in e["turns"] if t["role"] == "buyer"]
    assert len(buyer_texts) >= 3 and all(isinstance(t, str) for t in buyer_texts)
    assert sum(len(t) for t in buyer_texts) > 20  # the real model wrote text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["generation"]["buyer"]["new_tokens"] > 0
    assert (out / "report.html").exists()
