"""Warm start: imitate scripted (or any) teacher agents before GRPO.

Why this exists: a 135M model rarely samples a well-formed, in-budget offer, so GRPO from the raw
model has nothing to reinforce (docs/benchmarks.md, "GRPO variants on an H100": every variant either
stopped writing moves or closed every deal over budget); in deliberation it never writes a
``PROPOSAL:`` at all, so every reward is 0. The warm start plays teacher agents against the training
opponent on training scenarios, records each teacher turn under exactly the prompt the trainee would
see at rollout time (``BargainLLMAgent.messages`` / ``DeliberationLLMAgent.messages``), and fine-tunes on the
teacher's text with TRL's ``SFTTrainer`` (loss on the completion only). The model is merged and saved
with full weights in ``RUN_DIR/warm_start``; GRPO starts from it, and LoRA checkpoints name it as
their base.
"""

from __future__ import annotations

import json
import shutil
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from parley.agents.bargainer import BargainLLMAgent
from parley.environments.bargain import BargainObservation, ProtocolConfig, Role
from parley.environments.scenarios import ScenarioConfig, sample_scenarios
from parley.models.loading import WARM_START_FILE

WARM_START_DIR = "warm_start"
DONE_FILE = WARM_START_FILE  # written last: its presence means the folder holds a complete model


@dataclass
class RecordingTeacher:
    """Plays as ``teacher`` and records (trainee-style prompt, teacher text) for every turn it takes.

    Each record's ``episode`` is the sequence it belongs to: the episode id in bargaining, and the
    episode id plus the persona index in deliberation, where one teacher may play both sides.
    """

    teacher: Any  # a bargaining Agent or a deliberator: anything with act(observations, seed)
    renderer: Any  # BargainLLMAgent or DeliberationLLMAgent: only its messages() is used
    records: list[dict] = field(default_factory=list)
    tag: str = ""  # appended to each record's episode: one teacher's episodes against several opponents share ids

    @property
    def name(self) -> str:
        return self.teacher.name

    def act(self, observations: Sequence[BargainObservation], seed: int) -> list[str]:
        texts = self.teacher.act(observations, seed)
        for obs, text in zip(observations, texts):
            speaker = getattr(obs, "speaker", None)
            key = (obs.episode_id if speaker is None else f"{obs.episode_id}/{speaker}") + self.tag
            self.records.append({"episode": key, "prompt": self.renderer.messages(obs),
                                 "completion": [{"role": "assistant", "content": text}]})
        return texts


def _opponent_list(opponents: str | Sequence[str]) -> list[str]:
    return [opponents] if isinstance(opponents, str) else list(opponents)


def _tag(k: int, opponent: str) -> str:
    """The episode-key suffix of a teacher's episodes against its k-th opponent (none for the first: one opponent
    keeps the keys it always had)."""
    return f"~vs:{opponent}" if k else ""


def _by_opponent(stats: dict[str, dict]) -> dict:
    """A teacher's summary entry: its only opponent's figures as before, or totals plus each opponent's figures."""
    if len(stats) == 1:
        return next(iter(stats.values()))
    return {"episodes": sum(v["episodes"] for v in stats.values()), "turns": sum(v["turns"] for v in stats.values()),
            "opponents": stats}


def teacher_examples(teachers: Sequence[str], opponents: str | Sequence[str], role: Role, protocol: ProtocolConfig,
                     episodes: int, seed: int, split: str = "train",
                     scenario_config: ScenarioConfig | None = None, persona: str = "standard") -> tuple[list[dict], dict]:
    """Prompt-completion chat examples from teacher episodes, and a summary of what the teachers did.

    Each teacher plays its ``episodes`` scenarios against each of ``opponents`` (one spec, or several). The prompts
    are the trainee's own, in its ``persona`` (a guided buyer sees the suggested offer beside each turn).
    """
    from parley.agents.spec import BackendCache, build_agent
    from parley.rollout.bargain import run_bargains

    cache = BackendCache()
    renderer = BargainLLMAgent("renderer", backend=None, role=role, persona=persona)  # only its prompts are used
    examples: list[dict] = []
    summary: dict = {"prompt_id": renderer.prompt_id, "persona": persona, "teachers": {}}
    for index, spec in enumerate(teachers):
        stats = {}
        scenarios = sample_scenarios(split, episodes, seed=seed + 1_000 * (index + 1), config=scenario_config)
        for k, opponent in enumerate(_opponent_list(opponents)):
            recorder = RecordingTeacher(build_agent(spec, role, cache=cache), renderer, tag=_tag(k, opponent))
            sides = {role: recorder, role.other: build_agent(opponent, role.other, cache=cache)}
            played = run_bargains(scenarios, sides[Role.BUYER], sides[Role.SELLER], protocol, seed=seed)
            rewards = [e.buyer_reward if role is Role.BUYER else e.seller_reward for e in played]
            stats[opponent] = {
                "episodes": len(played), "turns": len(recorder.records),
                "agreement_rate": sum(e.outcome.deal for e in played) / len(played),
                "mean_reward": statistics.fmean(rewards),
            }
            # The engine plays episodes in lockstep, so turns arrive interleaved: regroup them by episode
            # (a stable sort keeps each episode's turns in order).
            examples += sorted(({**r, "teacher": spec} for r in recorder.records), key=lambda r: r["episode"])
        summary["teachers"][spec] = _by_opponent(stats)
    summary["examples"] = len(examples)
    return examples, summary


def two_seat_teacher_examples(teachers: Sequence[str], opponents: str | Sequence[str], renderer, build, scenarios_for,
                              play, describe) -> tuple[list[dict], dict]:
    """Teachers of a game with two symmetric seats (deliberation, CaSiNo), each playing its scenarios against each of
    ``opponents`` (one spec, or several). Against "self" a teacher plays both seats and both sides' turns are
    recorded (one sequence per seat); otherwise it plays seat 0 in even episodes and seat 1 in odd ones against the
    opponent, as the trainee does in a GRPO group.

    ``build(spec)`` makes an agent; ``scenarios_for(index)`` draws teacher ``index``'s scenarios; ``play(scenarios,
    agents, side, ids)`` plays them with ``agents`` in seat order; ``describe(played)`` summarises a teacher's episodes.
    """
    examples: list[dict] = []
    summary: dict = {"prompt_id": renderer.prompt_id, "teachers": {}}
    for index, spec in enumerate(teachers):
        teacher = build(spec)
        scenarios = scenarios_for(index)  # once per teacher: a filtered teacher's selection is the costly part
        ids = [f"{s.id}#{i}" for i, s in enumerate(scenarios)]
        stats = {}
        for k, opponent in enumerate(_opponent_list(opponents)):
            recorder = RecordingTeacher(teacher, renderer)  # the episode ids carry the tag
            counterpart = recorder if opponent == "self" else build(opponent)
            played = []
            for side in (0, 1):
                agents = (recorder, counterpart) if side == 0 else (counterpart, recorder)
                played += play(scenarios[side::2], agents, side, [i + _tag(k, opponent) for i in ids[side::2]])
            stats[opponent] = {"episodes": len(played), "turns": len(recorder.records), **describe(played)}
            examples += sorted(({**r, "teacher": spec} for r in recorder.records), key=lambda r: r["episode"])
        summary["teachers"][spec] = _by_opponent(stats)
    summary["examples"] = len(examples)
    return examples, summary


def kept_resolutions(folder: str | Path, teacher: str) -> dict[str, str]:
    """The resolutions a ``filtered:<model>`` teacher kept in an earlier warm start (its folder): dilemma id -> text.

    Read from warm_start.json's filter report; a folder written before the report listed them is read from its
    examples.jsonl instead, where the teacher's every proposal is its kept resolution ("PROPOSAL: <text>")."""
    from parley import ParleyError

    folder = Path(folder)
    record = folder / DONE_FILE
    if not record.is_file():
        raise ParleyError(f"warm_start.filter_from: {folder} holds no finished warm start (no {DONE_FILE}); name the "
                          "warm_start folder of an earlier run")
    try:
        stored = json.loads(record.read_text()).get("teachers", {}).get(teacher, {})
    except (json.JSONDecodeError, AttributeError) as e:
        raise ParleyError(f"warm_start.filter_from: {record} is not a warm-start record ({e}); name the warm_start "
                          "folder of an earlier run") from None
    if "resolutions" in stored.get("filter", {}):
        return dict(stored["filter"]["resolutions"])
    kept: dict[str, str] = {}
    examples = folder / "examples.jsonl"
    for line in examples.read_text().splitlines() if examples.is_file() else []:
        e = json.loads(line)
        text = e["completion"][0]["content"]
        if e.get("teacher") == teacher and text.startswith("PROPOSAL: "):
            kept[e["episode"].split("#")[0]] = text.removeprefix("PROPOSAL: ")
    if not kept:
        raise ParleyError(f"warm_start.filter_from: {folder} records no resolution kept by teacher {teacher!r}; name "
                          "the warm start of a run that had this teacher")
    return kept


def deliberation_teacher_examples(teachers: Sequence[str], opponents: str | Sequence[str], judge: str, protocol,
                                  episodes: int, seed: int, split: str = "train", settings=None,
                                  filter_samples: int = 8, filter_min_score: float = 0.0,
                                  filter_from: str | None = None, persona: str = "standard",
                                  filter_solo: bool = False) -> tuple[list[dict], dict]:
    """Deliberation teachers (see ``two_seat_teacher_examples``), their agreements judged by ``judge``, their turns
    rendered under the trainee's ``persona`` (its prompt version: ``standard.v2``).

    A ``filtered:<model>`` teacher is the model's own single-agent resolutions, ``filter_samples`` per dilemma,
    kept when ``judge`` scores one above ``filter_min_score`` (``FilteredResolutionTeacher``); it plays only the
    drawn dilemmas that kept one, so it may play fewer than ``episodes``. With ``filter_from`` (an earlier warm-start
    folder) it reuses that run's selection instead of sampling again. With ``filter_solo`` each kept resolution is
    also an example of the single-agent prompt (``solo_examples``).
    """
    from parley import ParleyError
    from parley.models.generation import GenerationSettings
    from parley.agents.deliberator import FILTERED_PREFIX, DeliberationLLMAgent, FilteredResolutionTeacher
    from parley.agents.spec import BackendCache, build_deliberator, build_judge, build_resolver
    from parley.environments.dilemmas import sample_dilemmas
    from parley.evaluation.deliberation_arena import summarize_deliberations
    from parley.rollout.deliberation import run_deliberations, with_verdicts

    settings = settings or GenerationSettings()
    cache = BackendCache()
    grader = build_judge(judge, cache)

    def describe(played) -> dict:
        result = summarize_deliberations(with_verdicts(played, grader, seed=seed), seed=seed)
        return {"agreement_rate": result["agreement_rate"], "ca_score_mean": result["ca_score_mean"],
                "red_line_violations": result["red_line_violations"]}

    built: dict[str, object] = {}
    selected: dict[str, list] = {}  # filtered teacher -> the dilemmas that kept a resolution

    def build(spec: str):
        if spec.startswith(FILTERED_PREFIX) and filter_from:
            agent = FilteredResolutionTeacher(None, grader, min_score=filter_min_score, name=spec,
                                              kept=kept_resolutions(filter_from, spec))
        elif spec.startswith(FILTERED_PREFIX):
            agent = FilteredResolutionTeacher(build_resolver(spec.removeprefix(FILTERED_PREFIX), settings, cache), grader,
                                              samples=filter_samples, min_score=filter_min_score, name=spec,
                                              show_progress=True)
        else:
            agent = build_deliberator(spec, settings, cache)
        built[spec] = agent
        return agent

    def scenarios_for(index: int):
        drawn = sample_dilemmas(split, episodes, seed, stream=f"teacher-{index}")
        teacher = built[teachers[index]]
        if not isinstance(teacher, FilteredResolutionTeacher):
            return drawn
        try:
            kept = teacher.select(drawn, seed=seed)
        except ValueError as e:  # a reused selection from a run that drew other dilemmas
            raise ParleyError(f"warm_start.filter_from: {e}") from e
        if not kept:
            report = teacher.report
            raise ParleyError(f"warm-start teacher {teachers[index]!r} kept no resolution: none of {report['judged']} "
                              f"single-agent resolutions ({report['dilemmas']} dilemmas x {report['samples']}) scored "
                              f"above {filter_min_score} without crossing a red line under judge {judge!r}. Raise "
                              "warm_start.filter_samples or warm_start.episodes, lower warm_start.filter_min_score, "
                              "or use another teacher.")
        selected[teachers[index]] = kept
        return kept

    examples, summary = two_seat_teacher_examples(
        teachers, opponents, DeliberationLLMAgent("renderer", backend=None, persona=persona),  # only its prompts are used
        build, scenarios_for,
        lambda dilemmas, agents, side, ids: run_deliberations(dilemmas, agents, protocol, seed=seed + side, episode_ids=ids),
        describe)
    for spec, agent in built.items():
        if isinstance(agent, FilteredResolutionTeacher):
            summary["teachers"][spec]["filter"] = agent.report
    if filter_solo:
        for spec, dilemmas in selected.items():
            solo = solo_examples(dilemmas, built[spec].chosen, spec)
            examples += solo
            summary["teachers"][spec]["solo_examples"] = len(solo)
        summary["examples"] = len(examples)
    return examples, {**summary, "judge": judge, "persona": persona}


def solo_examples(dilemmas, chosen: dict[str, str], teacher: str) -> list[dict]:
    """Each kept resolution once more, as the answer to the single-agent prompt (``RESOLUTION: <text>``).

    Why: the dialogue examples alone are half "I can live with that. ACCEPT #1", and warm starts under
    deliberator.v2 and v3 answered the single-agent prompt with "I can live with that." on 16 of 16 dilemmas, so
    their single-agent CA (``parley eval deliberation``) was 0 and every pairwise comparison a tie
    (docs/benchmarks.md). These are the texts the model first wrote for that very prompt, so nothing is invented."""
    from parley.agents.deliberator import SoloResolver

    renderer = SoloResolver(None, "renderer", settings=None)  # only its messages() is used
    return [{"episode": f"{d.id}#solo", "prompt": renderer.messages(d),
             "completion": [{"role": "assistant", "content": f"RESOLUTION: {chosen[d.id]}"}], "teacher": teacher,
             "solo": True}
            for d in {d.id: d for d in dilemmas}.values()]


def casino_teacher_examples(teachers: Sequence[str], opponents: str | Sequence[str], protocol, episodes: int, seed: int,
                            split: str = "train", settings=None) -> tuple[list[dict], dict]:
    """CaSiNo teachers (see ``two_seat_teacher_examples``), summarised by the teacher's points."""
    from parley.agents.camper import CamperLLMAgent
    from parley.agents.spec import BackendCache, build_camper
    from parley.environments.casino import sample_casino
    from parley.models.generation import GenerationSettings
    from parley.rollout.casino import run_casino

    settings = settings or GenerationSettings()
    cache = BackendCache()
    seats: dict[str, int] = {}

    def play(scenarios, agents, side, ids):
        seats.update({i: side for i in ids})
        return run_casino(scenarios, agents, protocol, seed=seed + side, episode_ids=ids)

    def describe(played) -> dict:
        return {"agreement_rate": sum(e.outcome.deal for e in played) / len(played),
                "mean_points": statistics.fmean(e.points[seats[e.id]] for e in played)}

    return two_seat_teacher_examples(
        teachers, opponents, CamperLLMAgent("renderer", backend=None), lambda spec: build_camper(spec, settings, cache),
        lambda index: sample_casino(split, episodes, seed + 1_000 * (index + 1)), play, describe)


def episode_sequences(examples: Sequence[dict], tokenizer) -> list[dict]:
    """One token sequence per teacher episode (and persona), with ``completion_mask`` = 1 on its turns.

    Training each turn as its own prompt-completion pair would repeat the ~500-token system prompt and
    history once per turn; a whole episode in one sequence costs a third of the tokens on our CPU. The
    sequence is built the way ``TraineeAgent`` builds the trainee's context at rollout time: the first
    prompt as the chat template renders it, then each teacher turn (its text's tokens plus the
    end-of-turn token the trainee must learn to stop on), then only the template text up to the next
    turn. A turn whose prompt does not show the previous turn as the trainee's own starts a new sequence.
    """
    from parley.training.trajectory import between_turns

    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    if not isinstance(end, int) or end == tokenizer.unk_token_id:
        end = tokenizer.eos_token_id
    stop_texts = [tokenizer.convert_ids_to_tokens(end)]
    sequences: list[dict] = []
    ids: list[int] = []
    mask: list[int] = []
    previous = None
    for example in examples:
        messages = example["prompt"]
        own = [m["content"] for m in messages if m["role"] == "assistant"]
        continues = (previous is not None and example["episode"] == previous["episode"]
                     and own and own[-1] == previous["completion"][0]["content"])
        if continues:
            context = tokenizer(between_turns(tokenizer, messages, True, stop_texts), add_special_tokens=False)["input_ids"]
        else:
            if ids:
                sequences.append({"input_ids": ids, "completion_mask": mask})
            ids, mask = [], []
            context = tokenizer(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False),
                                add_special_tokens=False)["input_ids"]
        turn = tokenizer(example["completion"][0]["content"], add_special_tokens=False)["input_ids"] + [end]
        ids = ids + context + turn
        mask = mask + [0] * len(context) + [1] * len(turn)
        previous = example
    if ids:
        sequences.append({"input_ids": ids, "completion_mask": mask})
    return sequences


def completed(run_dir: Path) -> Path | None:
    folder = run_dir / WARM_START_DIR
    return folder if (folder / DONE_FILE).is_file() else None


def run_warm_start(cfg, run_dir: Path, model, tokenizer, examples: list[dict], summary: dict, progress: bool = False):
    """Fine-tune ``model`` on the teachers' turns (``examples``, from the game's ``teacher_examples`` hook);
    save and return (merged model, folder)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from parley.training.setup import lora_config, precision, rich_progress

    ws = cfg.warm_start
    folder = run_dir / WARM_START_DIR
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "examples.jsonl").open("w") as f:
        f.writelines(json.dumps(e) + "\n" for e in examples)

    peft_config = lora_config(cfg)
    cuda, bf16 = precision(cfg)
    args = SFTConfig(
        output_dir=str(folder / "trainer"), num_train_epochs=ws.epochs, learning_rate=ws.learning_rate,
        per_device_train_batch_size=ws.batch_size, lr_scheduler_type="cosine", warmup_steps=0.1,
        logging_steps=1, save_strategy="no", report_to=[], seed=cfg.seed, data_seed=cfg.seed,
        use_cpu=not cuda, bf16=bf16,
        # TRL's SFTConfig turns gradient checkpointing on by default, and it stays on in the returned model:
        # GRPO then recomputed every activation in its update (and could keep no K/V cache). Follow the run's
        # own setting instead.
        gradient_checkpointing=cfg.grpo.gradient_checkpointing,
        max_length=None, completion_only_loss=True, packing=False, dataloader_num_workers=0,
        disable_tqdm=progress,
    )
    sequences = episode_sequences(examples, tokenizer)
    summary.update(sequences=len(sequences), tokens=sum(len(q["input_ids"]) for q in sequences),
                   trained_tokens=sum(sum(q["completion_mask"]) for q in sequences))
    dataset = Dataset.from_list(sequences)
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                         peft_config=peft_config)
    if progress:
        rich_progress(trainer)
    result = trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    model = trainer.model
    if peft_config is not None:
        model = model.merge_and_unload()
    if not cfg.grpo.gradient_checkpointing:
        # transformers 5 names it activation checkpointing and keeps the old name as a deprecated alias
        (getattr(model, "activation_checkpointing_disable", None) or model.gradient_checkpointing_disable)()
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    shutil.rmtree(folder / "trainer", ignore_errors=True)  # SFTTrainer's output_dir: nothing saved there
    summary.update(dtype=str(model.dtype).removeprefix("torch."), steps=trainer.state.global_step, first_loss=losses[0] if losses else None,
                   last_loss=losses[-1] if losses else None, train_runtime_s=result.metrics.get("train_runtime"))
    (folder / DONE_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    return model.train(), folder
