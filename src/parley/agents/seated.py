"""What the LLM agents of the two-seat games (deliberation, CaSiNo) share: the dialogue as chat messages seen from
one seat, and batched generation keyed by episode and seat, so one model can play both seats of one episode."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import ClassVar, Sequence

from parley import ParleyError
from parley.models import prompts
from parley.models.backends import Backend, Completion, Conversation
from parley.models.generation import GenerationSettings


def seat_dialogue(system: str, history: Sequence[tuple[int, str]], me: int, other_label: str, opening: str,
                  status: str) -> Conversation:
    """System prompt, then the dialogue from seat ``me``: its own turns as the assistant, the other's as the user
    (``other_label: text``); the last user message ends with ``status`` (written by code: offers, proposals,
    turns left, notices). A chat template expects a user turn first, so ``opening`` leads when ``me`` speaks first."""
    messages: Conversation = [{"role": "system", "content": system}]
    for speaker, text in history:
        if speaker == me:
            if len(messages) == 1:
                messages.append({"role": "user", "content": opening})
            messages.append({"role": "assistant", "content": text})
        else:
            messages.append({"role": "user", "content": f"{other_label}: {text}"})
    if messages[-1]["role"] != "user":
        messages.append({"role": "user", "content": opening if len(messages) == 1 else ""})
    messages[-1]["content"] = (messages[-1]["content"] + "\n" + status).strip()
    return messages


def seated_prompt_version(agent_class, persona: str) -> int | None:
    """The prompt version ``persona`` (``standard`` or ``standard.vN``) gives a seated agent of ``agent_class``, or a
    ParleyError naming what is wrong: these games have one persona, whose prompt comes in versions."""
    from parley.agents.bargainer import split_persona

    name, version = split_persona(persona)
    if name != "standard":
        raise ParleyError(f"persona {persona!r}: {agent_class.PROMPT} agents have one persona, standard, "
                          f"optionally with a prompt version (standard.v2)")
    prompts.check_version(agent_class.PROMPT, version, f"persona {persona!r}: ")
    return version or agent_class.DEFAULT_PROMPT_VERSION


@dataclass
class SeatedLLMAgent:
    """An LLM for either seat of a two-seat game (the observation's ``speaker`` says which), on any backend.
    A game's agent sets ``PROMPT`` and writes ``messages(observation)``; ``persona`` picks the prompt's version
    (``standard.v2``), and without a version it plays ``DEFAULT_PROMPT_VERSION`` (None: the newest)."""

    PROMPT = ""
    DEFAULT_PROMPT_VERSION: ClassVar[int | None] = None

    name: str
    backend: Backend
    settings: GenerationSettings = field(default_factory=GenerationSettings)
    persona: str = "standard"
    last_completions: list[Completion] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        # Not id(self): ids of collected objects are reused, and a stale cache entry would be found.
        self._ns = uuid.uuid4().hex
        self.prompt_id, self._template = prompts.load(self.PROMPT, seated_prompt_version(type(self), self.persona))

    def messages(self, obs) -> Conversation:
        raise NotImplementedError

    def act(self, observations: Sequence, seed: int) -> list[str]:
        keys = [f"{self._ns}/{o.episode_id}/{o.speaker}" for o in observations]
        self.last_completions = self.backend.generate([self.messages(o) for o in observations], self.settings, seed, keys=keys)
        return [c.text.strip() for c in self.last_completions]

    def forget(self, episode_ids: Sequence[str]) -> None:
        forget = getattr(self.backend, "forget", None)
        if forget:
            forget([f"{self._ns}/{e}/{s}" for e in episode_ids for s in (0, 1)])
