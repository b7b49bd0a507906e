"""Token-in, token-out recording of the trainee's side of a multi-turn dialogue.

The trainee's sequence is built from token ids only: the first prompt is the chat template's
rendering, each of its turns is appended as exactly the ids it sampled, and everything between
two of its turns (end of turn, the other side's message, the next generation header) is appended
as the tokenisation of that text *only*. A sampled turn is never decoded and re-encoded, which in
multi-turn RL silently changes the tokens the loss is computed on (BPE is not injective).

``env_mask`` marks the trainee's sampled tokens with 1; everything appended by the environment
gets 0, which TRL's GRPOTrainer turns into the loss mask.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Callable, Sequence

from parley.models.backends import Completion

_SENTINEL = "\u2063PARLEY-TURN-END\u2063"


@dataclass
class Trajectory:
    prompt_ids: list[int]
    completion_ids: list[int] = field(default_factory=list)
    env_mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    turns: list[list[int]] = field(default_factory=list)  # the sampled ids of each trainee turn, in order
    last_stopped: bool = True  # whether the latest turn ended with a stop token

    def append_env(self, ids: Sequence[int]) -> None:
        self.completion_ids.extend(ids)
        self.env_mask.extend([0] * len(ids))
        self.logprobs.extend([0.0] * len(ids))

    def append_turn(self, completion: Completion, stopped: bool) -> None:
        ids = list(completion.completion_ids)
        self.turns.append(ids)
        self.completion_ids.extend(ids)
        self.env_mask.extend([1] * len(ids))
        self.logprobs.extend(completion.logprobs if completion.logprobs is not None else [0.0] * len(ids))
        self.last_stopped = stopped

    def context(self) -> list[int]:
        return self.prompt_ids + self.completion_ids


class TraineeAgent:
    """An LLM agent whose model context is kept as token ids, so training sees what was sampled.

    ``llm`` is any agent with ``messages(observation)``, ``backend``, ``settings``, ``name`` and
    ``prompt_id`` (the bargaining ``BargainLLMAgent`` or the ``DeliberationLLMAgent``); ``clean`` turns the
    sampled text into what the environment receives. The backend must offer
    ``generate_ids(prompt_ids, settings, seed, keys)`` (HFBackend does; so does the vLLM backend
    that generates through TRL's engine).
    """

    def __init__(self, llm, clean: Callable[[str], str] | None = None) -> None:
        if not hasattr(llm.backend, "generate_ids"):
            raise TypeError(f"backend {llm.backend.name} cannot generate from token ids; train with a local model")
        if clean is None and hasattr(llm, "role"):
            from parley.agents.bargainer import clean_turn

            clean = lambda text: clean_turn(text, llm.role)  # noqa: E731
        self.clean = clean or str.strip
        self.llm = llm
        self.name = llm.name
        self.prompt_id = llm.prompt_id
        self._ns = uuid.uuid4().hex
        self.tokenizer = llm.backend.tokenizer
        self.trajectories: dict[str, Trajectory] = {}
        stop = [llm.backend.tokenizer.convert_ids_to_tokens(i) for i in llm.backend.stop_ids]
        self._stop_ids = set(llm.backend.stop_ids)
        self._stop_texts = [t for t in stop if isinstance(t, str)]

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _render(self, messages: list[dict], generation_prompt: bool) -> str:
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=generation_prompt, tokenize=False)

    def _between_turns(self, messages: list[dict], last_stopped: bool) -> str:
        return between_turns(self.tokenizer, messages, last_stopped, self._stop_texts)

    def session_key(self, episode_id: str) -> str:
        return f"{self._ns}/{episode_id}"

    @property
    def backend(self):
        return self.llm.backend

    @property
    def settings(self):
        return self.llm.settings

    def _context(self, obs) -> list[int]:
        """The token ids the trainee's next turn continues: its first prompt, or its trajectory so far with the
        environment's text since its last turn appended."""
        messages = self.llm.messages(obs)
        trajectory = self.trajectories.get(obs.episode_id)
        if trajectory is None:
            trajectory = Trajectory(prompt_ids=self._encode(self._render(messages, generation_prompt=True)))
            self.trajectories[obs.episode_id] = trajectory
        else:
            trajectory.append_env(self._encode(self._between_turns(messages, trajectory.last_stopped)))
        return trajectory.context()

    def act(self, observations: Sequence, seed: int) -> list[str]:
        contexts = [self._context(obs) for obs in observations]
        keys = [self.session_key(obs.episode_id) for obs in observations]
        completions = self.llm.backend.generate_ids(contexts, self.llm.settings, seed, keys=keys)
        return [self.reply(obs, completion) for obs, completion in zip(observations, completions)]

    def turn_request(self, obs) -> tuple[list[int], str]:
        """The continuous engine's half of ``act`` (rollout/continuous.py): the context's ids and the session key;
        ``reply`` records the sampled ids when the engine has them."""
        return self._context(obs), self.session_key(obs.episode_id)

    def reply(self, obs, completion: Completion) -> str:
        stopped = bool(completion.completion_ids) and completion.completion_ids[-1] in self._stop_ids
        self.trajectories[obs.episode_id].append_turn(completion, stopped)
        return self.clean(completion.text)

    def forget(self, episode_ids: Sequence[str]) -> None:
        forget = getattr(self.llm.backend, "forget", None)
        if forget:
            forget([self.session_key(e) for e in episode_ids])


def between_turns(tokenizer, messages: list[dict], last_stopped: bool, stop_texts: Sequence[str]) -> str:
    """The text the chat template puts after the latest assistant turn up to the next generation header.

    Shared by the trainee (which appends it after its sampled ids) and the warm start (which builds its
    SFT sequences the same way), so both train on the context the trainee is played in.
    """
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    marked = [dict(m) for m in messages]
    marked[last]["content"] = _SENTINEL
    text = tokenizer.apply_chat_template(marked, add_generation_prompt=True, tokenize=False)
    if text.count(_SENTINEL) != 1:
        raise RuntimeError("the chat template altered the trainee's turn; cannot splice token ids")
    tail = text.split(_SENTINEL, 1)[1]
    if last_stopped:
        # The sampled ids already end with the stop token the template writes after a turn.
        for stop in stop_texts:
            if tail.startswith(stop):
                return tail[len(stop):]
    return tail
