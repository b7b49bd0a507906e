"""Evaluation: the arena, its statistics and its report."""

from parley.evaluation.bargain_arena import BargainArenaConfig, BargainArenaResult, run_bargain_arena
from parley.evaluation.stats import bootstrap_ci, summarize

__all__ = ["BargainArenaConfig", "BargainArenaResult", "run_bargain_arena", "bootstrap_ci", "summarize"]
