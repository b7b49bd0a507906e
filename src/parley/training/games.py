"""The registry of games, as training sees them: the config, the warm start and the trainer take a game from
here by the config's ``env`` and never branch on its name.

A game supplies its training glue as hooks: what its config must satisfy, its default warm-start teachers,
its training scenarios, its rollout function and reward functions, and its teachers' examples. Adding a
game is one module that calls ``register_game`` (tests/test_games.py registers a toy game from the tests
and builds its trainer). The hooks import their glue lazily, so reading a config loads no game's machinery.

Not yet through the registry: ``parley arena`` and the reports (the evaluation floor) still have one entry
point per game; see the issue notes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable

from parley import ParleyError
from parley.registry import Registry

if TYPE_CHECKING:  # the config imports this module to validate ``env``
    from parley.models.generation import GenerationSettings
    from parley.training.config import TrainConfig


@dataclass(frozen=True)
class TrainingGame:
    name: str
    default_teachers: tuple[str, ...]
    # Raise ValueError naming the field when a config does not fit this game (pydantic reports it per field).
    validate: Callable[["TrainConfig"], None]
    # (cfg, split, n, seed) -> scenarios, each with an ``id`` (the dataset's prompt column)
    scenarios: Callable[["TrainConfig", str, int, int], list]
    # (cfg, scenarios, settings) -> (rollout_func object, reward functions)
    environment: Callable[["TrainConfig", list, "GenerationSettings"], tuple]
    # (cfg, settings) -> (prompt-completion examples, summary) for the warm start
    teacher_examples: Callable[["TrainConfig", "GenerationSettings"], tuple[list[dict], dict]]
    # the opponent when the config names none
    default_opponent: str = "self"
    # whether the game's scenarios give personas red lines (rewards.red_line_penalty is refused elsewhere)
    red_lines: bool = False
    # the rollout engines (rollout/) its training episodes can be played with: generation.engine
    engines: tuple[str, ...] = ("lockstep",)


GAMES: Registry[TrainingGame] = Registry("env")
register_game = GAMES.register
get_game = GAMES.lookup


# ---------------------------------------------------------------- bargaining


def field_spec(value: str, **where):
    """``parse_spec`` for a config field: its error as the ValueError pydantic reports per field."""
    from parley.agents.spec import parse_spec

    try:
        return parse_spec(value, **where)
    except ParleyError as exc:
        raise ValueError(str(exc)) from None


def standard_persona_only(cfg) -> None:
    """A game without prompt personas refuses any but the standard one."""
    if cfg.persona != "standard":
        raise ValueError(f"persona {cfg.persona!r}: env {cfg.env} has no trainee personas; leave persona standard")


def _opponent_fields(cfg) -> list[tuple[str, str]]:
    """Every opponent spec the config names, once each, with the field to blame if it does not parse."""
    named = {o: "training opponent" for o in cfg.opponents + cfg.warm_start.opponents}
    named.update({o: "evaluation.opponents entry" for o in cfg.evaluation.opponents or [] if o not in named})
    return list(named.items())


def _bargain_validate(cfg) -> None:
    from parley.agents.bargainer import check_prompt_version, personas_for, split_persona
    from parley.agents.spec import UNATTENDED
    from parley.environments.bargain import Role

    personas = personas_for(Role(cfg.role))
    try:
        if split_persona(cfg.persona)[0] not in personas:
            raise ValueError(f"persona {cfg.persona!r}: a trainee {cfg.role} takes one of {', '.join(personas)}")
        check_prompt_version(Role(cfg.role), cfg.persona)
    except ParleyError as exc:
        raise ValueError(str(exc)) from None

    for opponent, what in _opponent_fields(cfg):
        field_spec(opponent, allow=UNATTENDED, what=what, extra=("self",))
    if cfg.grpo.seating != "alternate":  # the trainee plays cfg.role in every rollout: there is no seat to choose
        raise ValueError("grpo.seating: bargaining has no seats to alternate (the trainee is always "
                         f"the {cfg.role}); remove it")
    if cfg.environment.catalog is not None:
        from parley.environments.catalog import load_catalog

        try:  # a bad product file fails here, naming its rows, before any model loads
            load_catalog(None, cfg.environment.catalog)
        except ParleyError as exc:
            raise ValueError(str(exc)) from None
    for teacher in cfg.warm_start.teachers:
        # a human's turns are not recorded ahead of time, so a person cannot teach
        field_spec(teacher, allow=UNATTENDED, what="warm_start.teachers entry")


def _bargain_scenarios(cfg, split: str, n: int, seed: int) -> list:
    from parley.environments.scenarios import sample_scenarios

    return sample_scenarios(split, n, seed=seed, config=_bargain_scenario_config(cfg))


def _bargain_scenario_config(cfg):
    from parley.environments.scenarios import ScenarioConfig

    e = cfg.environment
    return ScenarioConfig(budget_rule=e.budget_rule, conflict_share=e.conflict_share, catalog=e.catalog)


def _bargain_protocol(cfg):
    from parley.environments.bargain import ProtocolConfig, Role

    e = cfg.environment
    return ProtocolConfig(max_turns=e.max_turns, first_mover=Role(e.first_mover), parser=e.parser, reward=e.reward)


def _bargain_environment(cfg, scenarios: list, settings) -> tuple:
    from parley.environments.bargain import Role
    from parley.training.rewards import reward_functions
    from parley.training.bargain_rollout import BargainRollout

    role = Role(cfg.role)
    rollout = BargainRollout(scenarios, role, cfg.opponents, _bargain_protocol(cfg), settings, seed=cfg.seed,
                             refresh_steps=cfg.self_play_refresh_steps, persona=cfg.persona,
                             engine=cfg.generation.engine, weights=cfg.opponent_weights)
    return rollout, reward_functions(role, cfg.rewards.protocol_penalty, cfg.rewards.leak_penalty,
                                     cfg.rewards.deal_cost)


def _bargain_teachers(cfg, settings) -> tuple[list[dict], dict]:
    from parley.environments.bargain import Role
    from parley.training.warm_start import teacher_examples

    ws = cfg.warm_start
    opponents = [ws.teachers[0] if o == "self" else o for o in ws.opponents]
    scenario_config = _bargain_scenario_config(cfg)
    if ws.budget_rule is not None:
        scenario_config = replace(scenario_config, budget_rule=ws.budget_rule)
    examples, summary = teacher_examples(ws.teachers, opponents, Role(cfg.role), _bargain_protocol(cfg), ws.episodes,
                                         cfg.seed, cfg.environment.split, scenario_config, persona=cfg.persona)
    return examples, {**summary, **_opponent_record(opponents), "budget_rule": scenario_config.budget_rule}


def _opponent_record(opponents: list[str]) -> dict:
    """The warm-start summary's opponent field(s): one opponent as it always was, several as a list."""
    return {"opponent": opponents[0]} if len(opponents) == 1 else {"opponents": opponents}


register_game(TrainingGame("bargain", ("scripted:linear",), _bargain_validate, _bargain_scenarios,
                           _bargain_environment, _bargain_teachers, default_opponent="scripted:boulware",
                           engines=("lockstep", "continuous")))


# ---------------------------------------------------------------- deliberation


def _deliberation_validate(cfg) -> None:
    from parley.agents.deliberator import FILTERED_PREFIX, DeliberationLLMAgent
    from parley.agents.seated import seated_prompt_version
    from parley.agents.spec import LLM, SCRIPTED_DELIBERATORS, parse_deliberator, split_judge

    try:
        seated_prompt_version(DeliberationLLMAgent, cfg.persona)
    except ParleyError as exc:
        raise ValueError(str(exc)) from None
    try:
        split_judge(cfg.judge)
    except ParleyError as exc:
        raise ValueError(str(exc)) from None
    for opponent, what in _opponent_fields(cfg):
        try:  # a fixed LLM opponent may read its own prompt version (smollm2#standard.v2); 'self' follows cfg.persona
            parse_deliberator(opponent, what=what, extra=("self",))
        except ParleyError as exc:
            raise ValueError(str(exc)) from None
    for teacher in cfg.warm_start.teachers:
        if teacher.startswith(FILTERED_PREFIX):  # the model's own resolutions, filtered by the judge
            field_spec(teacher.removeprefix(FILTERED_PREFIX), allow=LLM, what=f"warm_start.teachers entry {teacher!r} "
                       f"(after {FILTERED_PREFIX!r} comes a language model)", personas=False)
            continue
        field_spec(teacher, allow=LLM, what="warm_start.teachers entry", personas=False, extra=SCRIPTED_DELIBERATORS)
    if cfg.grpo.num_generations % 2:
        raise ValueError("deliberation needs an even grpo.num_generations: the trainee plays each persona "
                         "in half of every group")


def _deliberation_scenarios(cfg, split: str, n: int, seed: int) -> list:
    from parley.environments.dilemmas import sample_dilemmas

    return sample_dilemmas(split, n, seed)


def _deliberation_environment(cfg, scenarios: list, settings) -> tuple:
    from parley.agents.spec import BackendCache, build_judge
    from parley.environments.deliberation import DeliberationConfig
    from parley.training.deliberation_rollout import (DeliberationRollout, collective_agency, no_agreement,
                                                      own_red_line, proposed_red_line, red_line)
    from parley.training.rewards import EpisodeReward

    backends = BackendCache()
    rollout = DeliberationRollout(scenarios, cfg.opponents, DeliberationConfig(max_turns=cfg.environment.max_turns),
                                  settings, build_judge(cfg.judge, backends), seed=cfg.seed,
                                  refresh_steps=cfg.self_play_refresh_steps, backends=backends,
                                  seating=cfg.grpo.seating, persona=cfg.persona, weights=cfg.opponent_weights)
    rewards = [EpisodeReward("collective_agency", collective_agency, allow_none=True)]
    for name, charge in (("red_line", red_line), ("own_red_line", own_red_line),
                         ("proposed_red_line", proposed_red_line), ("no_agreement", no_agreement)):
        value = getattr(cfg.rewards, f"{name}_penalty")
        if value > 0:
            rewards.append(EpisodeReward(name, lambda ep, charge=charge, value=value: charge(ep, value), allow_none=True))
    return rollout, rewards


def _deliberation_teachers(cfg, settings) -> tuple[list[dict], dict]:
    from parley.environments.deliberation import DeliberationConfig
    from parley.training.warm_start import deliberation_teacher_examples

    ws = cfg.warm_start
    examples, summary = deliberation_teacher_examples(ws.teachers, ws.opponents, cfg.judge,
                                                      DeliberationConfig(max_turns=cfg.environment.max_turns),
                                                      ws.episodes, cfg.seed, cfg.environment.split, settings,
                                                      ws.filter_samples, ws.filter_min_score, ws.filter_from,
                                                      persona=cfg.persona, filter_solo=ws.filter_solo)
    return examples, {**summary, **_opponent_record(ws.opponents)}


register_game(TrainingGame("deliberation", ("scripted:stance",), _deliberation_validate, _deliberation_scenarios,
                           _deliberation_environment, _deliberation_teachers, red_lines=True))


# ---------------------------------------------------------------- CaSiNo


def _casino_validate(cfg) -> None:
    from parley.agents.spec import LLM, SCRIPTED_CAMPERS

    standard_persona_only(cfg)
    for opponent, what in _opponent_fields(cfg):
        field_spec(opponent, allow=LLM, what=what, personas=False, extra=("self", *SCRIPTED_CAMPERS))
    for teacher in cfg.warm_start.teachers:
        field_spec(teacher, allow=LLM, what="warm_start.teachers entry", personas=False, extra=SCRIPTED_CAMPERS)
    if cfg.grpo.num_generations % 2:
        raise ValueError("casino needs an even grpo.num_generations: the trainee plays each camper in half of every group")


def _casino_scenarios(cfg, split: str, n: int, seed: int) -> list:
    from parley.environments.casino import sample_casino

    return sample_casino(split, n, seed)


def _casino_environment(cfg, scenarios: list, settings) -> tuple:
    from parley.environments.casino import CasinoConfig
    from parley.training.casino_rollout import CasinoRollout, points_share, refused_move_share
    from parley.training.rewards import EpisodeReward

    rollout = CasinoRollout(scenarios, cfg.opponents, CasinoConfig(max_turns=cfg.environment.max_turns), settings,
                            seed=cfg.seed, refresh_steps=cfg.self_play_refresh_steps, seating=cfg.grpo.seating,
                            weights=cfg.opponent_weights)
    penalty = cfg.rewards.protocol_penalty
    return rollout, [EpisodeReward("points", points_share),
                     EpisodeReward("protocol", lambda episode: -penalty * refused_move_share(episode))]


def _casino_teachers(cfg, settings) -> tuple[list[dict], dict]:
    from parley.environments.casino import CasinoConfig
    from parley.training.warm_start import casino_teacher_examples

    ws = cfg.warm_start
    examples, summary = casino_teacher_examples(ws.teachers, ws.opponents, CasinoConfig(max_turns=cfg.environment.max_turns),
                                                ws.episodes, cfg.seed, cfg.environment.split, settings)
    return examples, {**summary, **_opponent_record(ws.opponents)}


register_game(TrainingGame("casino", ("scripted:logroller",), _casino_validate, _casino_scenarios,
                           _casino_environment, _casino_teachers, default_opponent="scripted:logroller"))
