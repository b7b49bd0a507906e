"""Bargaining environment: catalog, scenarios, action parser, protocol and verifiable rewards."""

from parley.environments.actions import Action, ActionKind, parse_action
from parley.environments.catalog import Product, load_catalog
from parley.environments.protocol import BargainEnv, Observation, Outcome, ProtocolConfig, Role, TurnRecord
from parley.environments.rewards import buyer_reward, seller_reward
from parley.environments.scenarios import Scenario, ScenarioConfig, sample_scenarios

__all__ = [
    "Action", "ActionKind", "parse_action", "Product", "load_catalog", "BargainEnv", "Observation",
    "Outcome", "ProtocolConfig", "Role", "TurnRecord", "buyer_reward", "seller_reward", "Scenario",
    "ScenarioConfig", "sample_scenarios",
]
