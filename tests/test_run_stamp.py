"""The run record every evaluation summary carries: taken when the run starts, not when it writes its summary."""

import time

from parley.evaluation import run_stamp
from parley.evaluation.run_stamp import RunStamp


def test_the_stamp_keeps_the_code_of_the_start_and_dates_the_end(monkeypatch):
    monkeypatch.setattr(run_stamp, "code_version", lambda: {"commit": "a" * 40, "dirty": False, "libraries": {}})
    stamp = RunStamp()
    # the tree changes while the run plays: a commit lands, the clock moves on
    monkeypatch.setattr(run_stamp, "code_version", lambda: {"commit": "b" * 40, "dirty": True, "libraries": {}})
    monkeypatch.setattr(run_stamp, "utc_now", lambda: "2999-01-01T00:00:00+00:00")
    time.sleep(0.01)
    record = stamp.fields()
    assert record["code"]["commit"] == "a" * 40
    assert record["started"] < record["created"] == "2999-01-01T00:00:00+00:00"
    assert 0.01 <= stamp.seconds(3) < 5
    assert set(record) == {"version", "code", "started", "created"}
