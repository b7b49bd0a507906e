"""Training configuration: one YAML file, every field overridable with ``--set section.field=value``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from parley import ParleyError
from parley.agents.spec import LOCAL
from parley.run_files import HELD_OUT
from parley.training.games import field_spec, get_game


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoraSection(_Section):
    enabled: bool = True
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    target_modules: str | list[str] = "all-linear"


class EnvironmentSection(_Section):
    split: Literal["train", "validation", "test"] = "train"
    scenarios: int = Field(64, ge=1, description="distinct training scenarios drawn from the split")
    max_turns: int = Field(6, ge=1)
    first_mover: Literal["buyer", "seller"] = "buyer"
    # bargaining only (README, "The bargaining evaluation suite")
    parser: Literal["lenient", "strict"] = Field("lenient", description="bargain: strict counts any turn that does "
                                                 "not end with exactly one action as a format error, with a notice")
    reward: Literal["surplus", "paper"] = Field("surplus", description="bargain: the buyer's reward; paper = "
                                                "(budget - price)/|budget - floor|, malformed action or over budget -1")
    budget_rule: Literal["uniform", "listing-fraction", "mixed"] = Field("uniform", description="bargain: how budgets "
                                                                         "are drawn (environments/scenarios.py)")
    conflict_share: float = Field(0.5, ge=0.0, le=1.0, description="bargain, budget_rule mixed: share of "
                                  "conflicting-interest scenarios (budget below the floor)")
    catalog: str | None = Field(None, description="bargain: a JSONL or CSV product file instead of the packaged catalog")


class GenerationSection(_Section):
    max_new_tokens: int = Field(48, ge=1)
    temperature: float = Field(1.0, gt=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int = Field(50, ge=0, description="sample among the k most likely tokens only, before top_p (0 = off). 50 "
                       "is transformers' default, which every run sampled with before this field existed")
    batch_size: int = Field(32, ge=1)
    engine: Literal["lockstep", "continuous"] = Field(
        "lockstep", description="how rollouts and evaluations play the local model's turns: lockstep (one batched "
        "generate per side per tick) or continuous (an episode's next turn starts as soon as its reply ends, in a "
        "slot engine; rollout/continuous.py). Same sampling distribution, other draws; games list what they take")


class RewardSection(_Section):
    protocol_penalty: float = Field(0.2, ge=0.0, description="subtracted x the share of the trainee's turns "
                                    "that carry no parseable action or break a rule")
    leak_penalty: float = Field(0.0, ge=0.0, description="bargain buyer: subtracted when a message states the "
                                "budget before the deal (environments/secrecy.py)")
    deal_cost: float = Field(0.0, ge=0.0, description="bargain: subtracted for every deal (a transaction cost), so "
                             "a deal at zero surplus pays less than holding out (training/rewards.py, deal_cost)")
    red_line_penalty: float = Field(0.0, ge=0.0, description="deliberation: subtracted when the agreement crosses a "
                                    "persona's red line. The judge already scores such an agreement 0, the value of no "
                                    "agreement, so without a penalty GRPO sees no reason to refuse one "
                                    "(training/deliberation_rollout.py, red_line)")
    own_red_line_penalty: float = Field(0.0, ge=0.0, description="deliberation: subtracted, on top of "
                                        "red_line_penalty, when the agreement crosses the trainee's own persona's red "
                                        "line (it accepted or proposed the other side's stance); the seat whose "
                                        "stance was adopted pays nothing more (training/deliberation_rollout.py, "
                                        "own_red_line). Measured: it taught the accepting seat to propose the "
                                        "other's text back instead of accepting it, which the training opponents "
                                        "accept and which deadlocks when the trained model meets itself "
                                        "(docs/benchmarks.md)")
    proposed_red_line_penalty: float = Field(0.0, ge=0.0, description="deliberation: subtracted, on top of the "
                                             "other two, when the agreement crosses a red line (either persona's) and "
                                             "the trainee made the proposal that was accepted "
                                             "(training/deliberation_rollout.py, proposed_red_line)")
    no_agreement_penalty: float = Field(0.0, ge=0.0, description="deliberation: subtracted when a deliberation ends "
                                        "without an agreement, so that refusing every proposal costs something and "
                                        "a clean agreement (scored 0 or more) pays more than holding out; it must be "
                                        "below red_line_penalty, so that a crossing still pays less than no agreement "
                                        "for both seats (training/deliberation_rollout.py, no_agreement). Measured "
                                        "on one seed: the proposals turned empty and the acceptance did not move "
                                        "(docs/benchmarks.md)")


class WarmStartSection(_Section):
    """Supervised imitation of teacher agents before GRPO (see parley.training.warm_start)."""

    enabled: bool = False
    teachers: list[str] | None = Field(None, min_length=1, description="agent specs whose turns the trainee "
                                       "imitates (scripted or LLM); default scripted:linear, in deliberation scripted:stance")
    episodes: int = Field(64, ge=1, description="teacher episodes per teacher, on the training split")
    epochs: float = Field(2.0, gt=0.0)
    learning_rate: float = Field(2e-4, gt=0.0)
    batch_size: int = Field(8, ge=1)
    budget_rule: Literal["uniform", "listing-fraction", "mixed"] | None = Field(
        None, description="bargain: how the teachers' scenarios draw budgets; default the environment's. A scripted "
        "teacher in a conflicting-interest scenario (budget far below the listing) opens at its budget, and a model "
        "imitating it learns to offer its budget everywhere (docs/benchmarks.md)")
    opponents: list[str] | None = Field(None, min_length=1, description="the teachers' counterparts: each teacher "
                                        "plays its episodes once against each ('self': against itself); default "
                                        "the run's opponent, the first of a mix")
    filter_samples: int = Field(8, ge=1, description="deliberation, filtered:<model> teachers: single-agent "
                                "resolutions the model writes per dilemma before the judge picks the best")
    filter_min_score: float = Field(0.0, description="deliberation, filtered:<model> teachers: a resolution is kept "
                                    "only if the judge scores it above this (and it crosses no red line); the "
                                    "teacher accepts the other side's proposal by the same bar (with filter_from "
                                    "that is all it sets: -1 accepts whatever crosses no red line)")
    filter_from: str | None = Field(None, description="deliberation, filtered:<model> teachers: an earlier run's "
                                    "warm_start folder whose kept resolutions to reuse instead of sampling and judging "
                                    "again (about 18 minutes on our CPU); this run must draw the same dilemmas (its "
                                    "seed, split and episodes). For a second round on the trainee's own turns: "
                                    "model and opponents the earlier warm start (docs/benchmarks.md)")
    filter_solo: bool = Field(False, description="deliberation, filtered:<model> teachers: also train on each kept "
                              "resolution as the answer to the single-agent prompt ('RESOLUTION: <text>'). Without "
                              "it, warm starts under deliberator.v2/v3 answered that prompt with 'I can live with "
                              "that.' (the accept turn, half their examples), so `parley eval deliberation` scored "
                              "their single-agent CA 0 (docs/benchmarks.md)")

    # The teachers are checked in TrainConfig: what a valid teacher is depends on the environment.


class GRPOSection(_Section):
    num_generations: int = Field(8, ge=2, description="rollouts per scenario (the group)")
    scenarios_per_step: int = Field(2, ge=1, description="GRPO groups a step (num_generations rollouts each); the update "
                                    "holds every row's activations at once: 2 groups of 8 bargaining rollouts peaked at "
                                    "16.8 GB on our CPU and gained 8% episodes an hour (docs/benchmarks.md)")
    learning_rate: float = Field(1e-4, gt=0.0)
    lr_scheduler_type: str = "constant"
    warmup_steps: int = Field(0, ge=0)
    max_steps: int = Field(30, ge=1)
    beta: float = Field(0.0, ge=0.0, description="KL coefficient to the frozen reference; 0 skips the reference")
    save_rollouts: bool = Field(False, description="write every training step's episodes to "
                                "rollouts/step-K.jsonl, each with its group, so which moves a group compared can be "
                                "read afterwards (the evaluation samples show the policy, not what GRPO saw); "
                                "about 80 kB a bargaining step of 16 episodes")
    epsilon: float = Field(0.2, gt=0.0)
    scale_rewards: Literal["group", "batch", "none"] = "group"
    loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo"] = "dapo"
    seating: Literal["alternate", "group"] = Field(
        "alternate", description="two-seat games (deliberation, casino): 'alternate' seats within each group (even "
        "rollouts seat 0, odd seat 1); 'group': all of a group's rollouts play one seat, groups alternating, so the "
        "advantage compares like with like (against an opponent that plays the seats differently, e.g. "
        "scripted:stance, an alternating group's advantage mostly says which seat a rollout drew)")
    resample_flat_groups: int = Field(0, ge=0, description="rounds per step that replace each group whose rollouts "
                                      "all earned the same reward (no advantage, no gradient) with a fresh training "
                                      "scenario, all of a round's replacements in one batch: DAPO's dynamic sampling "
                                      "(training/flat_groups.py); 0 keeps TRL's groups as drawn")
    num_iterations: int = Field(1, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    max_grad_norm: float = Field(1.0, gt=0.0)
    save_steps: int = Field(1, ge=1)
    save_total_limit: int | None = Field(3, ge=1)
    logging_steps: int = Field(1, ge=1)
    report_to: list[str] = Field(default_factory=lambda: ["tensorboard"])
    bf16: bool | Literal["auto"] = "auto"
    gradient_checkpointing: bool = False
    share_prompt_prefix: bool = Field(True, description="compute each group's shared prompt once in the log-prob passes "
                                      "(same log-probs and gradients, fewer tokens; training/shared_prefix.py)")
    merged_rollouts: bool = Field(True, description="generate rollouts and evaluations from a plain copy of the policy "
                                  "with its LoRA merged in, rebuilt before each rollout, instead of through PEFT's "
                                  "adapter layers (same function, far fewer kernels per token; "
                                  "training/merged_policy.py)")
    score_loss_tokens_only: bool = Field(True, description="in the loss pass, put only the tokens that carry loss "
                                         "(the trainee's own) through the LM head, not the environment's (same loss "
                                         "and gradients; needs share_prompt_prefix; training/shared_prefix.py)")
    use_vllm: bool = False
    vllm_mode: Literal["colocate", "server"] = "colocate"
    vllm_gpu_memory_utilization: float = Field(0.3, gt=0.0, le=1.0)


class EvaluationSection(_Section):
    every: int = Field(5, ge=1, description="evaluate every N optimizer steps (and before the first)")
    split: Literal["train", "validation", "test"] = "validation"
    scenarios: int = Field(32, ge=1)
    samples: int = Field(4, ge=0, description="transcripts saved per evaluation")
    opponents: list[str] | None = Field(
        None, min_length=1, description="opponents held out of training: each evaluation also plays its scenarios "
        "against these (scenario i meets entry i mod n) and records their metrics as heldout/<metric> in evals.jsonl, "
        "beside the training opponents', so a run sees its own generalisation gap; none may be a training opponent "
        "or 'self'")
    best_metric: str | None = Field(
        None, description="keep the model that scores best on this evals.jsonl metric (e.g. mean_reward, or "
        "heldout/mean_reward with evaluation.opponents) in best/, judged at every evaluation from step 0 (the "
        "starting model) on; best/best.json names the step and value. Training runs all its steps whatever the "
        "metric does: only which model is kept changes")
    greater_is_better: bool = Field(True, description="best_metric: higher is better (false for a rate to keep low, "
                                    "e.g. over_budget_rate)")


class TrainConfig(_Section):
    env: str = Field("bargain", description="the game (training/games.py): bargain | deliberation | casino | any registered")
    model: str = Field("smollm2", description="trainee: smollm2 | hf:<id-or-path>")
    judge: str = Field("scripted:rules", description="deliberation: the Collective Agency judge (an LLM spec or scripted:rules)")
    role: Literal["buyer", "seller"] = "buyer"
    persona: str = Field("standard", description="bargain: the trainee's prompt persona, as an agent spec's #persona "
                         "(a buyer: standard | guided, whose status line suggests the split-the-difference offer | menu, "
                         "whose status line lists the moves it may copy; a "
                         "seller: standard | hostile | manipulative | prober), optionally with its prompt version "
                         "(guided.v2: the compact buyer prompt); deliberation: standard (its prompt v1), standard.v2 (the prompt that "
                         "asks for a third course of action) or standard.v3 (the same without the options' or red lines' "
                         "text, which the model copied); other games: standard")
    opponent: str | list[str] | None = Field(
        None, description="an agent spec, or 'self' for a frozen copy of the trainee, or a list of specs (a mix, "
                          "'self' allowed in it, e.g. [self, scripted:stance]: training step k meets entry k mod n; "
                          "evaluation deals its scenarios out in turn; the warm start plays the first unless "
                          "warm_start.opponents says otherwise); default: the "
                          "game's (bargain scripted:boulware, deliberation self, casino scripted:logroller)")
    opponent_weights: list[int] | None = Field(
        None, description="with a mix: how many training steps of each cycle each entry meets, one whole number >= 1 "
                          "per entry in the mix's order (e.g. [1, 1, 3]: a cycle of 5 steps, the third entry in 3 of "
                          "them, spread through the cycle); default one each. Evaluation still deals its scenarios "
                          "out one each, and the warm start still plays the first entry")
    self_play_refresh_steps: int = Field(10, ge=1, description="with opponent 'self': copy the trainee every K steps")
    seed: int = 0
    output_dir: str = "runs/train"
    lora: LoraSection = Field(default_factory=LoraSection)
    environment: EnvironmentSection = Field(default_factory=EnvironmentSection)
    generation: GenerationSection = Field(default_factory=GenerationSection)
    rewards: RewardSection = Field(default_factory=RewardSection)
    warm_start: WarmStartSection = Field(default_factory=WarmStartSection)
    grpo: GRPOSection = Field(default_factory=GRPOSection)
    evaluation: EvaluationSection = Field(default_factory=EvaluationSection)

    @field_validator("model")
    @classmethod
    def _trainable(cls, value: str) -> str:
        field_spec(value, allow=LOCAL, what="trainee")  # weights it can update: a local model
        return value

    @field_validator("env")
    @classmethod
    def _known_game(cls, value: str) -> str:
        try:
            get_game(value)
        except ParleyError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "TrainConfig":
        game = get_game(self.env)
        if self.warm_start.teachers is None:
            self.warm_start.teachers = list(game.default_teachers)
        if self.opponent is None:
            self.opponent = game.default_opponent
        if isinstance(self.opponent, list):
            if not self.opponent:
                raise ValueError("opponent: an empty list; name at least one opponent")
            if len(self.opponent) == 1:
                self.opponent = self.opponent[0]
            elif len(set(self.opponent)) < len(self.opponent):
                raise ValueError("opponent: the mix names an opponent twice (to meet one more often, give "
                                 "opponent_weights)")
        if self.opponent_weights is not None:
            if isinstance(self.opponent, str):
                raise ValueError("opponent_weights: weighs the entries of a mix, and opponent names one; give "
                                 "opponent a list or drop opponent_weights")
            if len(self.opponent_weights) != len(self.opponent) or min(self.opponent_weights) < 1:
                raise ValueError(f"opponent_weights: {self.opponent_weights} must give one whole number >= 1 for "
                                 f"each of the mix's {len(self.opponent)} opponents, in its order")
        if self.warm_start.opponents is None:
            self.warm_start.opponents = self.opponents[:1]
        elif len(set(self.warm_start.opponents)) < len(self.warm_start.opponents):
            raise ValueError("warm_start.opponents: names an opponent twice")
        self._check_held_out()
        self._check_filter_fields()
        for name in ("red_line_penalty", "own_red_line_penalty", "proposed_red_line_penalty"):
            if getattr(self.rewards, name) and not game.red_lines:  # otherwise the game would silently ignore it
                raise ValueError(f"rewards.{name}: env {self.env} has no red lines (deliberation only); remove it")
        if self.rewards.no_agreement_penalty and not game.red_lines:  # the same games: those judged for red lines
            raise ValueError(f"rewards.no_agreement_penalty: deliberation only (env {self.env} has its own "
                             "no-deal value); remove it")
        if self.rewards.no_agreement_penalty and self.rewards.no_agreement_penalty >= self.rewards.red_line_penalty:
            raise ValueError(f"rewards.no_agreement_penalty ({self.rewards.no_agreement_penalty}) must be below "
                             f"rewards.red_line_penalty ({self.rewards.red_line_penalty}): otherwise agreeing to cross a "
                             "red line pays at least as much as holding out; raise red_line_penalty or lower this")
        if self.generation.engine not in game.engines:
            raise ValueError(f"generation.engine: env {self.env} plays its rollouts with "
                             f"{' or '.join(game.engines)}, not {self.generation.engine}")
        if self.generation.engine == "continuous" and self.grpo.use_vllm:  # vLLM batches continuously itself
            raise ValueError("generation.engine: continuous runs a local model's slots; with grpo.use_vllm the "
                             "turns go to vLLM, which batches them itself: leave generation.engine lockstep")
        game.validate(self)
        if self.grpo.save_steps % self.grpo.num_iterations:
            raise ValueError("grpo.save_steps must be a multiple of grpo.num_iterations so a resume starts on a fresh rollout")
        return self

    def _check_held_out(self) -> None:
        held_out = self.evaluation.opponents or []
        if len(set(held_out)) < len(held_out):
            raise ValueError("evaluation.opponents: names an opponent twice")
        if "self" in held_out:  # a copy of the trainee is what it trains against, not a stranger
            raise ValueError("evaluation.opponents: 'self' is the trainee's own copy, not a held-out opponent; "
                             "name agent specs the run never trains against")
        trained = sorted(set(held_out) & set(self.opponents))
        if trained:
            raise ValueError(f"evaluation.opponents: {', '.join(trained)} is a training opponent, so it is not held "
                             "out; remove it from one of the two lists")
        best = self.evaluation.best_metric
        if best is not None and best.startswith(HELD_OUT) and not held_out:
            raise ValueError(f"evaluation.best_metric: {best} is measured against held-out opponents, and "
                             "evaluation.opponents names none; add them or choose a metric without 'heldout/'")

    def _check_filter_fields(self) -> None:
        """The warm_start.filter_* fields shape a filtered:<model> teacher (deliberation); set without one (in any
        game), they would be silently ignored."""
        from parley.agents.deliberator import FILTERED_PREFIX

        if any(t.startswith(FILTERED_PREFIX) for t in self.warm_start.teachers):
            return
        fields = type(self.warm_start).model_fields
        for name, what in (("filter_from", "reuses kept resolutions"),
                           ("filter_solo", "has single-agent resolutions to show"),
                           ("filter_samples", "samples and judges resolutions"),
                           ("filter_min_score", "samples and judges resolutions")):
            if getattr(self.warm_start, name) == fields[name].default:
                continue  # its default (or set to it): nothing would be ignored
            raise ValueError(f"warm_start.{name}: only a {FILTERED_PREFIX}<model> teacher (deliberation) {what}, and "
                             f"warm_start.teachers names none; add one or remove {name}")

    @property
    def opponents(self) -> list[str]:
        """The opponent spec(s) as a list (one entry unless the config names a mix)."""
        return [self.opponent] if isinstance(self.opponent, str) else list(self.opponent)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def _describe(error: ValidationError, source: str) -> str:
    lines = []
    for e in error.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; `parley train --help` lists the sections)"
        lines.append(f"  {where}: {msg}")
    return f"invalid training config {source}:\n" + "\n".join(lines)


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """``section.field=value`` strings; values are YAML (``grpo.max_steps=2``, ``lora.enabled=false``)."""
    for item in overrides:
        key, eq, raw = item.partition("=")
        if not eq or not key.strip():
            raise ParleyError(f"override {item!r} is not KEY=VALUE (e.g. grpo.max_steps=2)")
        path = key.strip().split(".")
        node = data
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ParleyError(f"override {item!r}: {part!r} is not a section")
            node = child
        try:
            node[path[-1]] = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ParleyError(f"override {item!r}: the value is not valid YAML ({exc})") from exc
    return data


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    data: dict = {}
    source = "(defaults)"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise ParleyError(f"training config {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ParleyError(f"training config {path} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ParleyError(f"training config {path} must be a mapping of sections, got {type(data).__name__}")
    data = apply_overrides(data, overrides or [])
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        raise ParleyError(_describe(exc, source)) from None
