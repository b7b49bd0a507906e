"""Evaluation: the arena, its statistics and its report."""

from parley.evaluation.arena import ArenaConfig, ArenaResult, run_arena
from parley.evaluation.stats import bootstrap_ci, summarize

__all__ = ["ArenaConfig", "ArenaResult", "run_arena", "bootstrap_ci", "summarize"]
