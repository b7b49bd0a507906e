"""The games, as the environment floor knows them: how to build one, its sides and its scenarios.

Every floor above finds a game here (or in its own floor's registry, keyed by the same name) and never
branches on the name. The PettingZoo and verifiers adapters serve every game registered here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from parley.registry import Registry
from parley.environments.contract import TurnBasedEnv


@dataclass(frozen=True)
class GameEnvironment:
    name: str
    description: str
    # Names of the sides, in the order of ``env.agents`` (PettingZoo agent names, CLI labels).
    agent_names: tuple[str, ...]
    default_max_turns: int
    # max_turns -> a fresh environment
    make_env: Callable[[int], TurnBasedEnv]
    # (split, n, seed) -> n scenarios: a pure function of (split, seed, index)
    scenarios: Callable[[str, int, int], list]
    # the most a side's reward can be, to bring it to [0, 1] for engines that expect that (CaSiNo: 36 points)
    reward_scale: float = 1.0

    def scenario(self, split: str, seed: int, index: int):
        """Scenario ``index`` of (split, seed), as ``scenarios(split, index + 1, seed)[-1]`` would give, without
        drawing the whole prefix again for every episode: the drawn prefix is kept and doubled when outgrown
        (an adapter asks for scenario 0, 1, 2, ... one episode at a time)."""
        pool = _POOLS.get((self.name, split, seed), [])
        if index >= len(pool):
            pool = self.scenarios(split, max(index + 1, 2 * len(pool)), seed)
            _POOLS[(self.name, split, seed)] = pool
        return pool[index]


_POOLS: dict[tuple[str, str, int], list] = {}


ENVIRONMENTS: Registry[GameEnvironment] = Registry("game")
register_environment = ENVIRONMENTS.register
get_environment = ENVIRONMENTS.lookup


def _bargain_env(max_turns: int):
    from parley.environments.bargain import BargainEnv, ProtocolConfig

    return BargainEnv(ProtocolConfig(max_turns=max_turns))


def _bargain_scenarios(split: str, n: int, seed: int) -> list:
    from parley.environments.scenarios import sample_scenarios

    return sample_scenarios(split, n, seed)


def _deliberation_env(max_turns: int):
    from parley.environments.deliberation import DeliberationConfig, DeliberationEnv

    return DeliberationEnv(DeliberationConfig(max_turns=max_turns))


def _deliberation_scenarios(split: str, n: int, seed: int) -> list:
    from parley.environments.dilemmas import sample_dilemmas

    return sample_dilemmas(split, n, seed)


def _casino_env(max_turns: int):
    from parley.environments.casino import CasinoConfig, CasinoEnv

    return CasinoEnv(CasinoConfig(max_turns=max_turns))


def _casino_scenarios(split: str, n: int, seed: int) -> list:
    from parley.environments.casino import sample_casino

    return sample_casino(split, n, seed)


register_environment(GameEnvironment(
    "bargain", "a buyer with a private budget bargains with a regulated seller over a real product",
    ("buyer", "seller"), 10, _bargain_env, _bargain_scenarios))
register_environment(GameEnvironment(
    "deliberation", "two personas deliberate over a moral dilemma until one accepts the other's proposal",
    ("persona_0", "persona_1"), 8, _deliberation_env, _deliberation_scenarios))
register_environment(GameEnvironment(
    "casino", "two campers split food, water and firewood packages, each with private priorities (CaSiNo)",
    ("camper_0", "camper_1"), 10, _casino_env, _casino_scenarios, reward_scale=36.0))
