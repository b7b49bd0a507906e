"""Every Parley game as a PettingZoo AEC environment (``pip install parley[pettingzoo]``).

    from parley.adapters.pettingzoo import parley_env
    env = parley_env("casino", split="train")
    env.reset(seed=0)
    for agent in env.agent_iter():
        observation, reward, terminated, truncated, info = env.last()
        action = None if terminated or truncated else my_policy(info["messages"])   # text of one turn
        env.step(action)

Actions are text: one turn, parsed and ruled on by the game's code, exactly as in Parley's own engine. The
observation is the seat's prompt (``info["messages"]``, the chat an LLM sees, rendered by the game's versioned
prompt) encoded as UTF-8 bytes in a ``Box`` of uint8: PettingZoo's ``api_test`` checks every observation's dtype
against its space and has no text space it can check, so text goes as bytes (``text_of(observation)`` decodes).
Rewards come once, at the end: the game's verifiable reward per seat (bargaining surplus, CaSiNo points; in
deliberation the judge's Collective Agency / 10 for both, 0 without agreement). A deal, walk-away or agreement
terminates; running out of turns truncates. Each ``reset(seed=s)`` starts a new sequence of scenarios; the k-th
episode after it plays scenario k of (split, s), so the same seed gives the same scenarios.
"""

from __future__ import annotations

import numpy as np

try:
    from gymnasium import spaces
    from pettingzoo import AECEnv
except ImportError as exc:  # pragma: no cover - the extra is missing
    from parley import ParleyError

    raise ParleyError("the PettingZoo adapter needs its extra: pip install 'parley[pettingzoo]'") from exc

from parley.agents.games import get_players
from parley.agents.spec import BackendCache
from parley.environments.registry import get_environment

MAX_OBSERVATION_BYTES = 32_768
MAX_ACTION_CHARS = 4_000


class TextSpace(spaces.Space):
    """Any text of at most ``max_length`` characters: the action of one turn.

    gymnasium's ``Text`` space only holds characters from a fixed charset (alphanumerics by default); a turn may
    hold any Unicode a model writes, and the game's parser must rule on it, so this space does not restrict it.
    """

    _SAMPLES = ("Hello.", "ACCEPT", "WALK AWAY", "OFFER: $10", "OFFER: food 1, water 2, firewood 0",
                "PROPOSAL: we share the decision.", "ACCEPT #1", "I will not ACCEPT that.", "")

    def __init__(self, max_length: int = MAX_ACTION_CHARS, seed=None) -> None:
        super().__init__(shape=None, dtype=None, seed=seed)
        self.max_length = max_length

    def sample(self, mask=None, probability=None) -> str:
        """A turn a careless policy could write: a move, a refusal, noise (seeded by ``seed()``)."""
        pick = self._SAMPLES[int(self.np_random.integers(len(self._SAMPLES)))]
        noise = "".join(chr(int(c)) for c in self.np_random.integers(32, 0x2FF, size=int(self.np_random.integers(0, 12))))
        return (pick + " " + noise).strip()[: self.max_length]

    def contains(self, x) -> bool:
        return isinstance(x, str) and len(x) <= self.max_length

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"TextSpace(max_length={self.max_length})"

    def __eq__(self, other) -> bool:
        return isinstance(other, TextSpace) and other.max_length == self.max_length


def text_of(observation: np.ndarray) -> str:
    """The prompt text an observation encodes."""
    return bytes(observation).rstrip(b"\0").decode("utf-8")


def _flatten(messages: list[dict]) -> str:
    return "\n\n".join(f"<{m['role']}>\n{m['content']}" for m in messages)


class ParleyAECEnv(AECEnv):
    """One Parley game behind PettingZoo's AEC API; seats keep the game's order and names."""

    def __init__(self, game: str, split: str = "train", max_turns: int | None = None, judge: str | None = None,
                 render_mode: str | None = None, max_observation_bytes: int = MAX_OBSERVATION_BYTES) -> None:
        super().__init__()
        self.game = get_environment(game)
        self.players = get_players(game)
        if render_mode not in (None, "human", "ansi"):
            from parley import ParleyError

            raise ParleyError(f"render_mode must be human, ansi or None, not {render_mode!r}")
        self.metadata = {"name": f"parley_{game}_v0", "render_modes": ["human", "ansi"], "is_parallelizable": False}
        self.split, self.render_mode = split, render_mode
        self.max_turns = max_turns or self.game.default_max_turns
        self.possible_agents = list(self.game.agent_names)
        self._env = self.game.make_env(self.max_turns)
        self._seat = dict(zip(self.possible_agents, self._env.agents))
        self._renderers = {name: self.players.renderer(i) for i, name in enumerate(self.possible_agents)}
        self._score = (self.players.scorer(judge or self.players.default_judge, BackendCache())
                       if self.players.scorer else lambda env: env.rewards())
        box = spaces.Box(0, 255, shape=(max_observation_bytes,), dtype=np.uint8)
        self.observation_spaces = {a: box for a in self.possible_agents}
        self.action_spaces = {a: TextSpace() for a in self.possible_agents}
        self._seed, self._episode = 0, 0
        self.scenario = None

    def observation_space(self, agent):
        return self.observation_spaces[agent]

    def action_space(self, agent):
        return self.action_spaces[agent]

    def _name(self, seat) -> str:
        return self.possible_agents[list(self._env.agents).index(seat)]

    def reset(self, seed: int | None = None, options: dict | None = None) -> None:
        if seed is not None:
            self._seed, self._episode = seed, 0
            for space in self.action_spaces.values():
                space.seed(seed)
        # Scenario k of (split, seed) is a pure function of both, so the k-th episode after reset(seed) is the same.
        self.scenario = (options or {}).get("scenario") or self.game.scenario(self.split, self._seed, self._episode)
        self._episode += 1
        first = self._env.reset(self.scenario, f"{self.scenario.id}#{self._episode - 1}")
        self.agents = list(self.possible_agents)
        self.rewards = {a: 0.0 for a in self.agents}
        self._cumulative_rewards = {a: 0.0 for a in self.agents}
        self.terminations = {a: False for a in self.agents}
        self.truncations = {a: False for a in self.agents}
        self.infos = {a: self._info(a) for a in self.agents}
        self.agent_selection = self._name(first)

    def _info(self, agent: str) -> dict:
        return {"messages": self._renderers[agent].messages(self._env.observe(self._seat[agent])),
                "scenario": getattr(self.scenario, "id", "")}

    def observe(self, agent: str) -> np.ndarray:
        data = _flatten(self._renderers[agent].messages(self._env.observe(self._seat[agent]))).encode("utf-8")
        space = self.observation_spaces[agent]
        if len(data) > space.shape[0]:
            from parley import ParleyError

            raise ParleyError(f"the {agent} prompt is {len(data)} bytes, over max_observation_bytes={space.shape[0]}: "
                              "raise it when building the environment")
        out = np.zeros(space.shape, dtype=np.uint8)
        out[: len(data)] = np.frombuffer(data, dtype=np.uint8)
        return out

    def step(self, action) -> None:
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        self._cumulative_rewards[agent] = 0.0
        self._clear_rewards()
        self._last = self._env.step(action if isinstance(action, str) else "")
        if self._env.done:
            final = self._score(self._env)
            truncated = getattr(self._env.outcome, "reason", "") == "max_turns"
            for name, seat in self._seat.items():
                self.rewards[name] = float(final[seat] or 0.0)
                self.terminations[name], self.truncations[name] = not truncated, truncated
            self.infos = {a: {**self._info(a), "record": self._env.record()} for a in self.agents}
        else:
            self.infos = {a: self._info(a) for a in self.agents}
            self.agent_selection = self._name(self._env.agent_selection)
        self._accumulate_rewards()
        if self.render_mode == "human":
            print(self.render())

    def render(self) -> str | None:
        if self.render_mode is None:
            return None
        last = getattr(self, "_last", None)
        if last is None:
            return ""
        speaker = getattr(last, "role", getattr(last, "speaker", ""))
        return f"[{getattr(speaker, 'value', speaker)}] {last.text}  ({last.effect})"

    def close(self) -> None:
        pass


def parley_env(game: str, **kwargs) -> ParleyAECEnv:
    """A registered Parley game as a PettingZoo AEC environment (see the module's docstring)."""
    return ParleyAECEnv(game, **kwargs)
