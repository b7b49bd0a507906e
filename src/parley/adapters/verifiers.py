"""Every Parley game as a multi-turn verifiers environment (``pip install parley[verifiers]``), so that prime-rl and
other engines built on verifiers (v1 API) can train on it at scale.

The taskset id is ``parley-verifiers`` (the shim package ``parley_verifiers``); the game is a taskset option:

    vf-eval parley-verifiers --env.taskset.game casino --env.taskset.counterpart scripted:greedy ...

or from Python (what tests/test_adapter_verifiers.py does against a local OpenAI-compatible server):

    from parley.adapters.verifiers import environment
    env = environment("casino", counterpart="scripted:logroller")
    episode = await env.run_episode(task, ModelContext(model=..., client=ClientConfig(base_url=...)))

The policy under training is the ``player`` agent (a tool-less chat agent): it plays one seat (even tasks seat 0,
odd tasks seat 1). The counterpart sits inside the environment: a scripted agent, a persona, or a frozen model
(``hf:...``, ``openai:<model>@<url>``), built by Parley's own agent registry, so it never trains. The environment
runs the game host-side with Parley's code: each player reply is one turn, parsed and ruled on exactly as in
Parley; the counterpart's turn and the status line come back as the next user message. The reward is the game's
verifiable reward for the player's seat (bargaining surplus, CaSiNo points / 36), or for deliberation the judge's
Collective Agency / 10 (the judge a Parley judge spec: ``scripted:rules`` or any LLM), recorded as ``reward``.
Tasks are a pure function of (game, split, seed, index).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

try:
    import verifiers.v1 as vf
except ImportError as exc:  # pragma: no cover - the extra is missing
    from parley import ParleyError

    raise ParleyError("the verifiers adapter needs its extra: pip install 'parley[verifiers]'") from exc

from parley.agents.games import get_players
from parley.agents.spec import BackendCache
from parley.environments.registry import get_environment
from parley.models.generation import GenerationSettings

__all__ = ["ParleyTaskset", "ParleyEnv"]

# verifiers imports a taskset by a top-level module name: src/parley_verifiers re-exports this module's classes.
TASKSET_ID = "parley-verifiers"


class ParleyTasksetConfig(vf.TasksetConfig):
    game: str = "casino"
    """A registered Parley game: bargain | deliberation | casino | any registered."""
    split: str = "train"
    """train | validation | test (splits never share products, dilemmas or dialogues)."""
    seed: int = 0
    """Scenario k of the taskset is scenario k of (split, seed)."""
    size: int = 64
    """Number of tasks (episodes)."""
    counterpart: str = ""
    """The other seat, a Parley agent spec; empty: the game's default (bargain scripted:boulware, deliberation
    scripted:deliberator, casino scripted:logroller)."""
    judge: str = ""
    """Deliberation's judge, a Parley judge spec; empty: scripted:rules."""
    max_turns: int = 0
    """Turns of both seats together; 0: the game's default."""


class ParleyTaskData(vf.TaskData):
    info: dict
    """The game, split, seed, index and the player's seat: what the environment rebuilds the episode from."""


class ParleyTask(vf.Task[ParleyTaskData, vf.State, vf.TaskConfig]):
    pass


class ParleyTaskset(vf.Taskset[ParleyTask, ParleyTasksetConfig]):
    def load(self) -> Iterator[ParleyTask]:
        c = self.config
        game = get_environment(c.game)
        for index, scenario in enumerate(game.scenarios(c.split, c.size, c.seed)):
            seat = index % 2
            yield ParleyTask(ParleyTaskData(
                id=f"{c.game}/{c.split}/{c.seed}/{index}", name=f"{scenario.id} ({game.agent_names[seat]})",
                info={"game": c.game, "split": c.split, "seed": c.seed, "index": index, "seat": seat,
                      "counterpart": c.counterpart, "judge": c.judge, "max_turns": c.max_turns}), c.task)


class ParleyEnvConfig(vf.EnvConfig):
    player: vf.AgentConfig = vf.AgentConfig(harness={"id": "null"}, runtime={"type": "subprocess"})
    """The policy: a tool-less chat agent playing one seat. It runs as a local subprocess by default: the game
    needs no sandbox (the chat program only talks to the model endpoint); set ``--env.player.runtime.type`` to
    run it elsewhere."""


class ParleyEnv(vf.Env[ParleyEnvConfig]):
    async def run(self, task, agents):
        info = task.data.info
        game, players = get_environment(info["game"]), get_players(info["game"])
        scenario = game.scenario(info["split"], info["seed"], info["index"])
        env = game.make_env(info["max_turns"] or game.default_max_turns)
        seat_key = env.agents[info["seat"]]
        env.reset(scenario, task.data.id)
        renderer = players.renderer(info["seat"])
        counterpart = players.build(info["counterpart"] or players.default_counterpart, 1 - info["seat"],
                                    GenerationSettings(), _backends())
        score = players.scorer(info["judge"] or players.default_judge, _backends()) if players.scorer else None
        turn = 0

        async def counterpart_moves() -> None:
            nonlocal turn
            while not env.done and env.agent_selection != seat_key:
                other = env.agent_selection
                # a frozen model generates synchronously: off the event loop
                text = (await asyncio.to_thread(counterpart.act, [env.observe(other)], info["seed"] * 1_000 + turn))[0]
                env.step(text)
                turn += 1

        await counterpart_moves()
        messages = renderer.messages(env.observe(seat_key))
        opening = task.data.model_copy(update={"system_prompt": messages[0]["content"], "prompt": messages[-1]["content"]})
        async with agents.player.interaction(type(task)(opening, task.config)) as interaction:
            segment = await interaction.turn()
            while not env.done:
                if segment.terminated:  # the player's own turn limit or a failure: the game ends there
                    break
                env.step(segment.last_reply)
                turn += 1
                await counterpart_moves()
                if env.done:
                    break
                segment = await interaction.turn(renderer.messages(env.observe(seat_key))[-1]["content"])
        trace = interaction.trace
        if env.done:
            rewards = score(env) if score else env.rewards()
            value = float(rewards[seat_key] or 0.0) / game.reward_scale  # CaSiNo points / 36
            trace.info["parley_record"] = env.record()
        else:
            value = 0.0
            trace.info["parley_unfinished"] = True
        trace.record_reward("reward", value, 1.0)
        trace.record_metric("turns", float(turn))


_CACHE: BackendCache | None = None


def _backends() -> BackendCache:
    """One cache per process: a frozen counterpart model loads once, not once per episode."""
    global _CACHE
    if _CACHE is None:
        _CACHE = BackendCache()
    return _CACHE


def environment(game: str, split: str = "train", seed: int = 0, size: int = 64, counterpart: str = "",
                judge: str = "", max_turns: int = 0, player: dict | None = None) -> ParleyEnv:
    """A ready ``ParleyEnv`` for one game (the arguments are the taskset's options; ``player`` the agent config)."""
    get_environment(game)  # a clear error for an unknown game, before verifiers builds anything
    config = vf.resolve_env_config({
        "taskset": {"id": TASKSET_ID, "game": game, "split": split, "seed": seed, "size": size,
                    "counterpart": counterpart, "judge": judge, "max_turns": max_turns},
        **({"player": player} if player else {})})
    return ParleyEnv(config)
