"""The same seed gives the same transcripts as before the floors refactor (issue 15): bargaining with scripted
agents and with a tiny LLM buyer (token by token), and judged scripted deliberation, against a recording
made with the code before it (tests/data/recorded_episodes.json; tests/recorded_episodes.py)."""

from __future__ import annotations

import json
from pathlib import Path

from recorded_episodes import record

RECORDED = Path(__file__).parent / "data" / "recorded_episodes.json"


def test_transcripts_match_the_recording(tiny_model_dir):
    now = json.loads(json.dumps(record(str(tiny_model_dir)), sort_keys=True))
    before = json.loads(RECORDED.read_text())
    assert now.keys() == before.keys()
    for kind in before:
        assert len(now[kind]) == len(before[kind])
        for a, b in zip(now[kind], before[kind]):
            assert a == b, (kind, a.get("id"))
