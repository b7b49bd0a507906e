"""The games' environments: one contract (contract.py), one registry (registry.py), one module per game
(bargain.py with its catalog, scenarios, action parser and rewards; deliberation.py with its dilemmas; casino.py)."""

from parley.environments.actions import Action, ActionKind, parse_action
from parley.environments.catalog import Product, load_catalog
from parley.environments.bargain import BargainEnv, BargainObservation, Outcome, ProtocolConfig, Role, TurnRecord
from parley.environments.rewards import buyer_reward, seller_reward
from parley.environments.scenarios import Scenario, ScenarioConfig, sample_scenarios

__all__ = [
    "Action", "ActionKind", "parse_action", "Product", "load_catalog", "BargainEnv", "BargainObservation",
    "Outcome", "ProtocolConfig", "Role", "TurnRecord", "buyer_reward", "seller_reward", "Scenario",
    "ScenarioConfig", "sample_scenarios",
]
