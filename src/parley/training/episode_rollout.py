"""TRL ``rollout_func`` for every game: play whole episodes and hand TRL the trainee's token sequences.

TRL samples the dataset's prompts (here: scenario ids, already repeated ``num_generations`` times
per group) and calls ``rollout(prompts, trainer)``. We play every episode to the end with the
current policy as the trainee and return, per episode, the trainee's first prompt ids, everything
after it (its sampled turns plus the environment's text between them) as ``completion_ids``, and
``env_mask`` (1 = sampled by the trainee). The finished episodes go to the reward functions.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Sequence

from parley import ParleyError
from parley.models.backends import Completion, HFBackend
from parley.models.generation import GenerationSettings
from parley.agents.spec import BackendCache
from parley.training.merged_policy import MergedPolicy, merged_copy
from parley.training.trajectory import TraineeAgent, Trajectory


def rollout_seed(seed: int, step: int, process: int) -> int:
    return (seed * 7_919 + step * 104_729 + process * 1_299_709) % (2**31)


def scenario_key(prompt) -> str:
    """The scenario id a TRL prompt carries: the dataset's prompt column, a string or the last message of a chat."""
    return prompt if isinstance(prompt, str) else prompt[-1]["content"]


class VLLMTrainerBackend:
    """Generates through the trainer's vLLM engine (colocate or server), from token ids."""

    def __init__(self, trainer, tokenizer) -> None:
        self.trainer, self.tokenizer, self.name = trainer, tokenizer, "vllm"
        self.stop_ids = sorted({i for i in (tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>"))
                                if isinstance(i, int) and i != tokenizer.unk_token_id})

    def generate_ids(self, prompt_ids, settings: GenerationSettings, seed: int, keys=None) -> list[Completion]:
        # Sampling parameters (temperature, top_p, max_completion_length) are the trainer's, so
        # vLLM's logprobs match what TRL's importance-sampling correction expects.
        _, completion_ids, logprobs, _ = self.trainer.vllm_generation.generate(
            prompts=[list(p) for p in prompt_ids], images=None, num_generations=1)
        out = []
        for prompt, ids, lps in zip(prompt_ids, completion_ids, logprobs):
            body = ids[:-1] if ids and ids[-1] in self.stop_ids else ids
            flat = [float(lp[0]) if lp and lp[0] is not None else 0.0 for lp in lps]
            out.append(Completion(self.tokenizer.decode(body, skip_special_tokens=True), list(prompt), list(ids), flat))
        return out

    def forget(self, keys) -> None:
        pass

    def clear(self) -> None:
        pass


def _own_forwards(model) -> None:
    """Give a deep copy of the policy its own forward back.

    TRL's GRPOTrainer replaces the policy's ``forward`` with a closure over the original model's bound ``forward``
    (its fused LM head). ``copy.deepcopy`` copies the instance attribute but not the closure, so the "frozen" copy
    would run the live policy's weights: it did, in every self-play run before 2026-12-05. Generation needs no fused
    head, so the copy drops the instance-level override and uses its class's forward, on its own weights."""
    for module in model.modules():
        module.__dict__.pop("forward", None)


class SelfPlayOpponent:
    """A frozen copy of the trainee, refreshed from the policy every ``refresh_steps`` steps. With ``merge_lora``
    (where it applies) the copy is a plain model with the LoRA merged in, as the trainee's rollouts use."""

    def __init__(self, policy, tokenizer, make_agent, refresh_steps: int, merge_lora: bool = True) -> None:
        self.merged = merged_copy(policy) if merge_lora else None
        if self.merged is not None:
            self.model = self.merged.model
        else:
            self.model = copy.deepcopy(policy).eval()
            _own_forwards(self.model)
            for p in self.model.parameters():
                p.requires_grad_(False)
        self.backend = HFBackend(self.model, tokenizer, name="self")
        self.agent = make_agent(self.backend)
        self.refresh_steps = refresh_steps
        self.refreshed_at = 0

    def maybe_refresh(self, policy, step: int) -> None:
        due = step // self.refresh_steps * self.refresh_steps
        if due > self.refreshed_at:
            if self.merged is not None:
                self.merged.sync()
            else:
                self.model.load_state_dict(policy.state_dict())
            self.backend.clear()
            self.refreshed_at = due

    def state_dict(self) -> dict:
        return {"refreshed_at": self.refreshed_at, "weights": self.model.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        mine, saved = set(self.model.state_dict()), set(state["weights"])
        if mine != saved:
            raise ParleyError("the checkpoint's self-play copy was saved with grpo.merged_rollouts="
                             f"{'false' if self.merged is not None else 'true'}; resume with the same setting as the run "
                             "(its config.yaml)")
        self.model.load_state_dict(state["weights"])
        self.refreshed_at = state["refreshed_at"]
        self.backend.clear()


class EpisodeRollout:
    """What every environment's ``rollout_func`` shares: binding to the trainer's policy, the
    opponent (fixed or self-play), seeding, and packing trajectories for TRL. Subclasses say how to
    build agents and play a batch of episodes (``_play``), and how to evaluate (``evaluate``)."""

    def __init__(self, scenarios: Sequence, opponent: str | Sequence[str], settings: GenerationSettings, seed: int,
                 refresh_steps: int = 10, backends: BackendCache | None = None,
                 weights: Sequence[int] | None = None) -> None:
        self.scenarios = {s.id: s for s in scenarios}
        # A mix of opponents: each training step's groups meet one of them, in turn (step % n, or a weighted cycle),
        # so a group's rollouts are compared against the same opponent; evaluation deals its scenarios out in turn,
        # one each whatever the weights, so a weighted run is validated on the same mix as an unweighted one.
        self.opponent_specs = [opponent] if isinstance(opponent, str) else list(opponent)
        self.schedule = weighted_cycle(weights if weights is not None else [1] * len(self.opponent_specs))
        if weights is not None and len(weights) != len(self.opponent_specs):
            raise ValueError(f"{len(weights)} weights for {len(self.opponent_specs)} opponents: give one each")
        self.settings, self.seed, self.refresh_steps = settings, seed, refresh_steps
        self.backends = backends or BackendCache()
        self.policy_backend = None
        self.merged: MergedPolicy | None = None  # the policy's LoRA merged into a plain copy, for generating
        self.self_play: SelfPlayOpponent | None = None
        self._opponents: list = []
        self._held_out: dict[tuple[str, ...], list] = {}
        self.rollouts_dir: Path | None = None  # grpo.save_rollouts: where each training step's episodes are written

    # -- to implement ------------------------------------------------------------------------
    def _llm(self, backend, name: str):
        raise NotImplementedError

    def _fixed_opponent(self, spec: str):
        raise NotImplementedError

    def _play(self, trainee: TraineeAgent, opponent, scenarios: Sequence, seed: int) -> list:
        raise NotImplementedError

    def _silent(self, trainee: TraineeAgent, episode) -> Trajectory:
        raise NotImplementedError

    def evaluate(self, scenarios: Sequence, seed: int) -> tuple[dict, list[dict]]:
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------
    def attach(self, trainer, merge_lora: bool = True) -> None:
        """Bind to the trainer's policy (called once, before training). ``merge_lora``: generate from a plain
        copy with the LoRA merged in, rebuilt before each rollout (training/merged_policy.py), where it applies."""
        policy = trainer.accelerator.unwrap_model(trainer.model)
        tokenizer = trainer.processing_class
        if getattr(trainer, "use_vllm", False):
            self.policy_backend = VLLMTrainerBackend(trainer, tokenizer)
        else:
            self.merged = merged_copy(policy) if merge_lora else None
            self.policy_backend = HFBackend(self.merged.model if self.merged else policy, tokenizer, name="trainee")
        if "self" in self.opponent_specs:
            self.self_play = SelfPlayOpponent(policy, tokenizer, lambda backend: self._llm(backend, "self"),
                                              self.refresh_steps, merge_lora=merge_lora)
        # None stands for the frozen copy, whose agent is read at each call (a refresh keeps the same agent object).
        self._opponents = [None if spec == "self" else self._fixed_opponent(spec) for spec in self.opponent_specs]

    def opponent(self, turn: int = 0):
        """The opponent of the ``turn``-th evaluation scenario (entry ``turn`` mod n of the mix)."""
        fixed = self._opponents[turn % len(self._opponents)]
        return self.self_play.agent if fixed is None else fixed

    def step_opponent(self, step: int):
        """The opponent of training step ``step``: the mix's entry at that step of the weighted cycle."""
        return self.opponent(self.schedule[step % len(self.schedule)])

    def evaluate_against(self, specs: Sequence[str], scenarios: Sequence, seed: int) -> tuple[dict, list[dict]]:
        """``evaluate`` with other opponents than the run trains against (``evaluation.opponents``): the same
        scenarios and seed, scenario i meeting ``specs[i % n]``. Built once, the agents are reused at every
        evaluation; the training opponents are back in place when this returns, whatever happened."""
        key = tuple(specs)
        if key not in self._held_out:
            self._held_out[key] = [self._fixed_opponent(spec) for spec in specs]
        training = self._opponents
        self._opponents = self._held_out[key]  # every game's evaluate plays through ``play``, which deals these
        try:
            return self.evaluate(scenarios, seed)
        finally:
            self._opponents = training

    def _trainee(self) -> TraineeAgent:
        return TraineeAgent(self._llm(self.policy_backend, "trainee"))

    def play(self, scenarios: Sequence, seed: int, step: int | None = None) -> tuple[list, list[Trajectory]]:
        """Episodes of the current policy against the opponent, and the trainee's token trajectory of each.

        ``step`` given (training): that step's opponent plays every scenario; None (evaluation): with a mix of
        opponents, scenario i meets opponent i % n."""
        self.policy_backend.clear()  # the weights changed since the last call: cached K/V is stale
        if self.merged is not None:
            self.merged.sync()
        trainee = self._trainee()
        model = getattr(self.policy_backend, "model", None)
        training = model is not None and model.training
        if training:
            model.eval()  # generation wants its K/V cache, which gradient checkpointing turns off in train mode
        try:
            if step is not None or len(self._opponents) <= 1:
                rival = self.opponent(0) if step is None else self.step_opponent(step)
                episodes = self._play(trainee, rival, scenarios, seed)
            else:
                n = len(self._opponents)
                dealt = [self._play(trainee, self.opponent(k), scenarios[k::n], seed + k) if scenarios[k::n] else []
                         for k in range(n)]
                episodes = [dealt[i % n][i // n] for i in range(len(scenarios))]
        finally:
            if training:
                model.train()
        trajectories = [trainee.trajectories.pop(e.id, None) or self._silent(trainee, e) for e in episodes]
        return episodes, trajectories

    def _unique(self, scenario, episode_id: str, step: int, index: int, group: int):
        return dataclasses.replace(scenario, id=episode_id)

    def _save_rollouts(self, step: int, draw: int, episodes: list, groups: list[int]) -> None:
        """One call's episodes in rollouts/step-K.jsonl: the step's first draw starts the file (a resumed run that
        plays the step again replaces it), its replacement draws are appended."""
        self.rollouts_dir.mkdir(parents=True, exist_ok=True)
        with open(self.rollouts_dir / f"step-{step}.jsonl", "a" if draw else "w") as f:
            for episode, group in zip(episodes, groups):
                f.write(json.dumps({"step": step, "group": group, "draw": draw, **episode.to_dict()}) + "\n")

    def __call__(self, prompts: list, trainer, draw: int = 0, groups: Sequence[int] | None = None) -> dict:
        """TRL's ``rollout_func``. ``draw`` > 0 plays groups that replace flat ones within the same step
        (training/flat_groups.py): other episode ids and another random stream. ``groups``: the step's group
        position of each group in ``prompts`` (a replacement takes the seat its flat group had)."""
        if self.policy_backend is None:
            self.attach(trainer)
        step = trainer.state.global_step
        if self.self_play and not draw:
            self.self_play.maybe_refresh(trainer.accelerator.unwrap_model(trainer.model), step)
        scenarios, step_groups = [], []
        size = getattr(getattr(trainer, "args", None), "num_generations", None) or len(prompts)
        for index, prompt in enumerate(prompts):
            key = scenario_key(prompt)
            if key not in self.scenarios:
                raise KeyError(f"prompt {key!r} is not a scenario id of this run")
            # Each rollout of a group is its own episode: unique id, same scenario.
            # TRL repeats each prompt num_generations times in a row: rollout ``index`` is in group index // size.
            group = index // size if groups is None else groups[index // size]
            episode_id = f"{key}@{step}.{index}" if not draw else f"{key}@{step}.d{draw}.{index}"
            scenarios.append(self._unique(self.scenarios[key], episode_id, step, index, group))
            step_groups.append(group)
        seed = rollout_seed(self.seed, step, trainer.accelerator.process_index)
        if draw:
            seed = (seed + draw * 15_485_863) % (2**31)
        episodes, trajectories = self.play(scenarios, seed, step=step)
        if self.rollouts_dir is not None:
            self._save_rollouts(step, draw, episodes, step_groups)
        vllm = isinstance(self.policy_backend, VLLMTrainerBackend)
        return {
            "prompt_ids": [t.prompt_ids for t in trajectories],
            "completion_ids": [t.completion_ids for t in trajectories],
            # Sampling logprobs only matter for TRL's vLLM importance-sampling correction.
            "logprobs": [t.logprobs for t in trajectories] if vllm else None,
            "env_mask": [t.env_mask for t in trajectories],
            "episode": episodes,
        }


def weighted_cycle(weights: Sequence[int]) -> list[int]:
    """One cycle of training steps of a weighted mix: entry i appears ``weights[i]`` times, spread through the cycle
    rather than in a run, so a heavy opponent does not hold the policy for several steps in a row. This is smooth
    weighted round-robin (nginx's upstream balancing), a few lines that no dependency of ours offers: each turn every
    entry gains its weight, the richest plays and pays the total. Ties go to the earlier entry, so weights of one
    each give 0, 1, ..., n-1: the unweighted mix's order."""
    if not weights or any(w < 1 for w in weights):
        raise ValueError(f"mix weights must be whole numbers >= 1, one per opponent, not {list(weights)}")
    total, credit, cycle = sum(weights), [0] * len(weights), []
    for _ in range(total):
        credit = [c + w for c, w in zip(credit, weights)]
        richest = max(range(len(weights)), key=lambda i: (credit[i], -i))
        credit[richest] -= total
        cycle.append(richest)
    return cycle


def silent_trajectory(trainee: TraineeAgent, observation) -> Trajectory:
    """The trainee never spoke (the other side closed first): its prompt, and one masked stop token."""
    messages = trainee.llm.messages(observation)
    t = Trajectory(prompt_ids=trainee._encode(trainee._render(messages, generation_prompt=True)))
    t.append_env([trainee.llm.backend.stop_ids[0]])
    return t


@dataclasses.dataclass(frozen=True)
class SeatedScenario:
    """A scenario with the unique episode id of one rollout and the seat the trainee plays."""

    id: str
    scenario: object
    side: int


class TwoSeatRollout(EpisodeRollout):
    """Games with two symmetric seats (deliberation, CaSiNo). With ``seating`` "alternate" the trainee plays seat 0
    in the even rollouts of each GRPO group and seat 1 in the odd ones, so neither seat nor the first move is
    favoured within a group; with "group" every rollout of a group plays one seat (group g of step k seat
    (g + k) % 2), so a group's advantages compare rollouts that faced the same seat. Why both: against an opponent
    that plays the seats differently (``scripted:stance`` proposes a red line when it speaks first) an alternating
    group's advantage mostly says which seat a rollout drew, and GRPO then pushes on whatever the unlucky seat's
    rollouts wrote (docs/benchmarks.md). A game says how to play a batch (``_run``), how to reset a fresh
    environment to an episode's start (``_start``) and, optionally, what to do with the finished episodes
    (``_finish``: judge them, mark the trainee's seat)."""

    SEATINGS = ("alternate", "group")

    def __init__(self, scenarios: Sequence, opponent: str | Sequence[str], settings: GenerationSettings, seed: int,
                 refresh_steps: int = 10, backends: BackendCache | None = None, seating: str = "alternate",
                 weights: Sequence[int] | None = None) -> None:
        if seating not in self.SEATINGS:
            raise ValueError(f"seating must be one of {', '.join(self.SEATINGS)}, not {seating!r}")
        super().__init__(scenarios, opponent, settings, seed, refresh_steps, backends, weights=weights)
        self.seating = seating

    def _run(self, scenarios: Sequence, agents: tuple, seed: int, ids: Sequence[str]) -> list:
        raise NotImplementedError

    def _start(self, episode):
        raise NotImplementedError

    def _finish(self, episodes: list, seated: Sequence[SeatedScenario], seed: int) -> list:
        return episodes

    def _unique(self, scenario, episode_id: str, step: int, index: int, group: int):
        side = (group + step) % 2 if self.seating == "group" else index % 2
        return SeatedScenario(episode_id, scenario, side)

    def _play(self, trainee: TraineeAgent, opponent, scenarios: Sequence, seed: int) -> list:
        seated = [k if isinstance(k, SeatedScenario) else SeatedScenario(f"{k.id}#{i}", k, i % 2)
                  for i, k in enumerate(scenarios)]
        episodes: dict = {}
        for side in (0, 1):
            group = [k for k in seated if k.side == side]
            if group:
                agents = (trainee, opponent) if side == 0 else (opponent, trainee)
                for e in self._run([k.scenario for k in group], agents, seed + side, [k.id for k in group]):
                    episodes[e.id] = e
        self.sides = {k.id: k.side for k in seated}
        return self._finish([episodes[k.id] for k in seated], seated, seed)

    def _silent(self, trainee: TraineeAgent, episode) -> Trajectory:
        return silent_trajectory(trainee, self._start(episode).observe(self.sides[episode.id]))
