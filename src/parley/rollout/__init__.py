"""Batched multi-turn dialogue engine: one lockstep loop (lockstep.py) and one module per game."""

from parley.rollout.bargain import BargainEpisode, run_bargains
from parley.rollout.casino import CasinoEpisode, run_casino
from parley.rollout.deliberation import DeliberationEpisode, run_deliberations
from parley.rollout.lockstep import play_lockstep

__all__ = ["BargainEpisode", "run_bargains", "CasinoEpisode", "run_casino", "DeliberationEpisode", "run_deliberations",
           "play_lockstep"]
