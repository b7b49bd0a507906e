"""The games, as the agents floor knows them: who may sit at each seat, how a seat's prompt is rendered, and how
a judged game scores what code cannot. The PettingZoo and verifiers adapters take a game's players from here,
keyed by the environment registry's name, and never branch on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from parley.registry import Registry
from parley.models.generation import GenerationSettings


@dataclass(frozen=True)
class GamePlayers:
    name: str
    # seat index -> an LLM agent used only to render that seat's prompt (its ``messages(observation)``)
    renderer: Callable[[int], Any]
    # (spec, seat index, settings, backend cache) -> an agent for that seat (scripted, LLM, ...); ParleyError if
    # the spec cannot sit there
    build: Callable[[str, int, GenerationSettings, Any], Any]
    # the judge a game needs to score what code cannot (deliberation), as (judge spec, cache) -> a scorer that
    # maps a finished environment to each seat's reward; None: the environment's own rewards are complete
    scorer: Callable[[str, Any], Callable[[Any], dict]] | None = None
    default_counterpart: str = ""
    default_judge: str = ""


PLAYERS: Registry[GamePlayers] = Registry("game")
register_players = PLAYERS.register
get_players = PLAYERS.lookup


# ---------------------------------------------------------------- bargaining: seat 0 buyer, seat 1 seller

def _bargain_renderer(seat: int):
    from parley.agents.bargainer import BargainLLMAgent
    from parley.environments.bargain import BargainEnv

    return BargainLLMAgent("renderer", backend=None, role=BargainEnv.agents[seat])


def _bargain_build(spec: str, seat: int, settings, cache):
    from parley.agents.spec import UNATTENDED, build_agent, parse_spec
    from parley.environments.bargain import BargainEnv

    role = BargainEnv.agents[seat]
    return build_agent(parse_spec(spec, allow=UNATTENDED, what=role.value), role, settings, cache)


register_players(GamePlayers("bargain", _bargain_renderer, _bargain_build, default_counterpart="scripted:boulware"))


# ---------------------------------------------------------------- deliberation

def _deliberation_renderer(seat: int):
    from parley.agents.deliberator import DeliberationLLMAgent

    return DeliberationLLMAgent("renderer", backend=None)


def _deliberation_build(spec: str, seat: int, settings, cache):
    from parley.agents.spec import build_deliberator

    return build_deliberator(spec, settings, cache)


def _deliberation_scorer(judge_spec: str, cache):
    """Collective Agency / 10 of the agreement for both personas (0 without one; the judge's failure: 0 and logged
    in the verdict, since an adapter's reward must be a number)."""
    from parley.agents.judge import JudgeRequest
    from parley.agents.spec import build_judge

    judge = build_judge(judge_spec, cache)

    def score(env) -> dict:
        rewards = env.rewards()
        if env.outcome.agreed:
            verdict = judge.judge([JudgeRequest(env.dilemma, env.outcome.proposal.text)])[0]
            rewards = {side: (verdict.score or 0.0) / 10.0 for side in rewards}
        return rewards

    return score


register_players(GamePlayers("deliberation", _deliberation_renderer, _deliberation_build, _deliberation_scorer,
                             default_counterpart="scripted:deliberator", default_judge="scripted:rules"))


# ---------------------------------------------------------------- CaSiNo

def _casino_renderer(seat: int):
    from parley.agents.camper import CamperLLMAgent

    return CamperLLMAgent("renderer", backend=None)


def _casino_build(spec: str, seat: int, settings, cache):
    from parley.agents.spec import build_camper

    return build_camper(spec, settings, cache)


register_players(GamePlayers("casino", _casino_renderer, _casino_build, default_counterpart="scripted:logroller"))
