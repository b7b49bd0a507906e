"""Negotiating agents: LLM policies on any backend, scripted counterparts, humans."""

from parley.agents.base import Agent
from parley.models.generation import GenerationSettings
from parley.agents.spec import AgentSpec, BackendCache, build_agent, parse_spec

__all__ = ["Agent", "GenerationSettings", "AgentSpec", "BackendCache", "build_agent", "parse_spec"]
