"""Batched multi-turn dialogue engine."""

from parley.rollout.engine import Episode, run_episodes

__all__ = ["Episode", "run_episodes"]
