"""The agent contract of every game: a batch of observations in, one text turn per observation out."""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable


@runtime_checkable
class Agent(Protocol):
    name: str

    def act(self, observations: Sequence[Any], seed: int) -> list[str]:
        """One turn of text per observation (each game's own observation type). ``seed`` makes sampling
        reproducible."""
        ...
