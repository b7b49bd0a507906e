"""LLM negotiators: a persona prompt, the dialogue as chat messages, any generation backend."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Sequence

from parley.models import prompts
from parley.models.backends import Backend, Completion, Conversation
from parley.models.generation import GenerationSettings
from parley.environments.protocol import Observation, Role

SELLER_PERSONAS = ("standard", "hostile", "manipulative")
BUYER_PERSONAS = ("standard",)


def prompt_name(role: Role, persona: str) -> str:
    return "buyer" if role is Role.BUYER else f"seller_{persona}"


def _money(value: float | None) -> str:
    return "none" if value is None else f"${value:,.2f}"


@dataclass
class LLMAgent:
    name: str
    backend: Backend
    role: Role
    persona: str = "standard"
    settings: GenerationSettings = field(default_factory=GenerationSettings)
    reuse_cache: bool = True  # keep each dialogue's K/V between turns (local models)
    last_completions: list[Completion] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        # Not id(self): ids of collected objects are reused, and a stale cache entry would be found.
        self._session_ns = uuid.uuid4().hex
        self.prompt_id, self._template = prompts.load(prompt_name(self.role, self.persona))

    def messages(self, obs: Observation) -> Conversation:
        """System prompt, then the dialogue; each user message ends with the status at that point.

        Past messages render exactly as they did when they were new, so consecutive turns share
        their token prefix and the backend's K/V cache covers all but the newest messages.
        """
        system = self._template.render(
            title=obs.title, category=obs.category, description=obs.description,
            listing_price=obs.listing_price, private_value=obs.private_value, max_turns=obs.max_turns,
        )
        other = obs.role.other.value.capitalize()
        # The private value is repeated next to the offers: a small model compares the numbers it sees
        # together far more reliably than one it must recall from the system prompt (docs/benchmarks.md:
        # the trained 135M buyer's over-budget deals were mostly bids a few cents to dollars over budget).
        limit = f"Your {'budget' if obs.role is Role.BUYER else 'floor'}: {_money(obs.private_value)}."

        def status(after_turns: int) -> str:
            own, theirs = obs.standing_for(after_turns) if obs.standing else (obs.own_offer, obs.other_offer)
            return (f"[Turn {after_turns + 1} of {obs.max_turns}. {other}'s current offer: {_money(theirs)}. "
                    f"Your current offer: {_money(own)}. {limit}]")

        messages: Conversation = [{"role": "system", "content": system}]
        opening = "The negotiation starts. Make your opening move."
        for index, (speaker, text) in enumerate(obs.history):
            if speaker is obs.role:
                if len(messages) == 1:  # chat templates expect a user turn first
                    messages.append({"role": "user", "content": f"{opening}\n{status(index)}"})
                messages.append({"role": "assistant", "content": text})
            else:
                messages.append({"role": "user", "content": f"{other}: {text}\n{status(index + 1)}"})
        if messages[-1]["role"] != "user":
            messages.append({"role": "user", "content": (f"{opening}\n" if len(messages) == 1 else "") + status(obs.turn)})
        if obs.notices:
            messages[-1]["content"] += " " + " ".join(obs.notices)
        return messages

    def act(self, observations: Sequence[Observation], seed: int) -> list[str]:
        conversations = [self.messages(o) for o in observations]
        keys = [self.session_key(o.episode_id) for o in observations] if self.reuse_cache else None
        self.last_completions = self.backend.generate(conversations, self.settings, seed, keys=keys)
        return [clean_turn(c.text, self.role) for c in self.last_completions]

    def session_key(self, episode_id: str) -> str:
        return f"{self._session_ns}/{episode_id}/{self.role.value}"

    def forget(self, episode_ids: Sequence[str]) -> None:
        """Drop the cached dialogue state of finished episodes."""
        forget = getattr(self.backend, "forget", None)
        if forget:
            forget([self.session_key(e) for e in episode_ids])


def clean_turn(text: str, role: Role) -> str:
    """Drop a leading speaker label and anything after the model starts writing the other side's turn."""
    text = text.strip()
    text = re.sub(rf"^\s*{role.value}\s*:\s*", "", text, flags=re.IGNORECASE)
    cut = re.search(rf"\n\s*{role.other.value}\s*:", text, flags=re.IGNORECASE)
    return (text[: cut.start()] if cut else text).strip()
