"""The same seed gives the same transcripts as before the floors refactor (issue 15): bargaining with scripted
agents and with a tiny LLM buyer (token by token), and judged scripted deliberation, against a recording
made with the code before it (tests/data/recorded_episodes.json; tests/recorded_episodes.py).

Fields added to the records since (issue 16: a scenario's ``interest``, a turn's ``format_error`` and
``revealed_budget``) are allowed; every recorded field must still hold the recorded value."""

from __future__ import annotations

import json
from pathlib import Path

from recorded_episodes import record

RECORDED = Path(__file__).parent / "data" / "recorded_episodes.json"


def _recorded_part(now, before):
    """``now`` cut down to the keys ``before`` has, recursively: new fields may appear, none may change."""
    if isinstance(before, dict) and isinstance(now, dict):
        return {k: _recorded_part(now[k], v) if k in now else "<missing>" for k, v in before.items()}
    if isinstance(before, list) and isinstance(now, list) and len(before) == len(now):
        return [_recorded_part(a, b) for a, b in zip(now, before)]
    return now


def test_transcripts_match_the_recording(tiny_model_dir):
    now = json.loads(json.dumps(record(str(tiny_model_dir)), sort_keys=True))
    before = json.loads(RECORDED.read_text())
    assert now.keys() == before.keys()
    for kind in before:
        assert len(now[kind]) == len(before[kind])
        for a, b in zip(now[kind], before[kind]):
            assert _recorded_part(a, b) == b, (kind, a.get("id"))
