"""What every evaluation summary records about the run itself: the code that played it, when, and how long.

Taken when the run starts, because a long run may outlive the tree it started from (a developer edits, commits or
upgrades a library while it plays); one helper, so that a new entry point cannot forget a field or name it anew.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from parley import __version__
from parley.code_version import code_version


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class RunStamp:
    code: dict = field(default_factory=lambda: code_version())  # looked up when called, so tests can replace it
    started: str = field(default_factory=lambda: utc_now())
    _clock: float = field(default_factory=time.perf_counter, repr=False)

    def seconds(self, digits: int = 2) -> float:
        """Wall-clock seconds since the stamp was taken."""
        return round(time.perf_counter() - self._clock, digits)

    def fields(self) -> dict:
        """The record's fields, ``created`` (the run's end) read now."""
        return {"version": __version__, "code": self.code, "started": self.started, "created": utc_now()}
