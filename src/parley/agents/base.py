"""The agent contract: a batch of observations in, one text turn per observation out."""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

from parley.environments.protocol import Observation


@runtime_checkable
class Agent(Protocol):
    name: str

    def act(self, observations: Sequence[Observation], seed: int) -> list[str]:
        """One turn of text per observation. ``seed`` makes sampling reproducible."""
        ...
