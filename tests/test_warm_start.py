"""Warm start: teacher turns become SFT targets under the trainee's own prompts; the run builds on them."""

from __future__ import annotations

import json
import shutil

import pytest
from transformers import AutoTokenizer

from parley import ParleyError
from parley.environments.bargain import ProtocolConfig, Role
from parley.environments.scenarios import sample_scenarios
from parley.training.config import load_config
from parley.training.warm_start import deliberation_teacher_examples, episode_sequences, teacher_examples
from training_helpers import tiny_overrides

PROTOCOL = ProtocolConfig(max_turns=8, first_mover=Role.BUYER)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_teacher_examples_are_the_teachers_turns_under_the_trainees_prompts():
    from parley.agents.spec import build_agent
    from parley.rollout.bargain import run_bargains

    examples, summary = teacher_examples(["scripted:linear"], "scripted:boulware", Role.BUYER, PROTOCOL, episodes=6, seed=3)
    # The same episodes, replayed: the recorded completions are exactly the buyer's turns, in order.
    replay = run_bargains(sample_scenarios("train", 6, seed=3 + 1_000), build_agent("scripted:linear", Role.BUYER),
                          build_agent("scripted:boulware", Role.SELLER), PROTOCOL, seed=3)
    expected = [(e.scenario.id, t.text) for e in replay for t in e.turns if t.role is Role.BUYER]
    assert [(x["episode"], x["completion"][0]["content"]) for x in examples] == expected
    assert summary["examples"] == len(expected) and summary["teachers"]["scripted:linear"]["episodes"] == 6
    deals = sum(e.outcome.deal for e in replay) / 6
    assert summary["teachers"]["scripted:linear"]["agreement_rate"] == pytest.approx(deals)
    for x in examples:
        scenario = next(e.scenario for e in replay if e.scenario.id == x["episode"])
        system = x["prompt"][0]
        assert system["role"] == "system" and f"${scenario.budget:,.2f}" in system["content"]
        assert x["prompt"][-1]["role"] == "user"  # the trainee answers the latest message
        own = [m["content"] for m in x["prompt"] if m["role"] == "assistant"]
        earlier = [t for ep, t in expected if ep == x["episode"]][:len(own)]
        assert own == earlier  # the history shows the teacher's earlier turns as the trainee's own


def test_episode_sequences_train_exactly_the_teacher_turns(tokenizer):
    examples, _ = teacher_examples(["scripted:linear"], "scripted:linear", Role.BUYER, PROTOCOL, episodes=4, seed=0)
    sequences = episode_sequences(examples, tokenizer)
    assert len(sequences) == 4  # one per episode
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    for sequence in sequences:
        ids, mask = sequence["input_ids"], sequence["completion_mask"]
        assert len(ids) == len(mask)
        spans, current = [], []
        for token, bit in zip(ids + [None], mask + [0]):
            if bit:
                current.append(token)
            elif current:
                spans.append(current)
                current = []
        episode = [x for x in examples if tokenizer.decode(spans[0][:-1]) == x["completion"][0]["content"]][0]["episode"]
        turns = [x for x in examples if x["episode"] == episode]
        assert [tokenizer.decode(s[:-1]) for s in spans] == [x["completion"][0]["content"] for x in turns]
        assert all(s[-1] == end for s in spans)  # the trainee learns to stop
        for turn, span_start in zip(turns, _starts(mask)):
            prompt = tokenizer(tokenizer.apply_chat_template(turn["prompt"], add_generation_prompt=True, tokenize=False),
                               add_special_tokens=False)["input_ids"]
            assert ids[:span_start] == prompt  # each turn is trained on exactly the context it is played in


def _starts(mask):
    return [i for i, bit in enumerate(mask) if bit and (i == 0 or not mask[i - 1])]


def test_a_turn_whose_prompt_does_not_show_the_previous_turn_starts_a_new_sequence(tokenizer):
    examples, _ = teacher_examples(["scripted:linear"], "scripted:linear", Role.BUYER, PROTOCOL, episodes=1, seed=0)
    assert len(examples) >= 3
    last_own = max(i for i, m in enumerate(examples[2]["prompt"]) if m["role"] == "assistant")
    examples[2]["prompt"][last_own] = {"role": "assistant", "content": "a turn the teacher never wrote"}
    sequences = episode_sequences(examples, tokenizer)
    assert len(sequences) == 2
    assert sum(len(_starts(s["completion_mask"])) for s in sequences) == len(examples)


def test_deliberation_teachers_play_both_personas_and_are_judged():
    from parley.environments.deliberation import DeliberationConfig

    examples, summary = deliberation_teacher_examples(["scripted:stance"], "self", "scripted:rules",
                                                      DeliberationConfig(max_turns=6), episodes=4, seed=2)
    stats = summary["teachers"]["scripted:stance"]
    # Stance teachers propose their own stance, persona 0 accepts #2 (persona 1's stance: its own red line),
    # which rubric v2 scores as no agreement (v1 paid 3).
    assert stats["episodes"] == 4 and stats["agreement_rate"] == 1.0 and stats["ca_score_mean"] == 0.0
    assert stats["red_line_violations"] == {"persona_0": 4, "persona_1": 0}
    assert len(examples) == 12 and len({x["episode"] for x in examples}) == 8  # 3 turns, 2 personas, 4 episodes
    for key in {x["episode"] for x in examples}:
        turns = [x for x in examples if x["episode"] == key]
        stance = next(line for line in turns[0]["prompt"][0]["content"].splitlines() if line.startswith("Your stance: "))
        said = [x["completion"][0]["content"] for x in turns]
        assert said[0].endswith("PROPOSAL: " + stance.removeprefix("Your stance: "))  # under its own persona's prompt
        assert said[1:] == (["I can live with that. ACCEPT #2"] if key.endswith("/0") else [])
    with pytest.raises(ParleyError, match="warm_start.teachers entry"):
        load_config("configs/deliberation-smollm2-cpu.yaml", ["warm_start.enabled=true", "warm_start.teachers=[scripted:linear]"])
    with pytest.raises(ParleyError, match="unknown scripted strategy 'stance'"):
        load_config(None, ["warm_start.teachers=[scripted:stance]"])


class _Replay:
    """A backend that 'samples' the teacher's recorded turns, so a TraineeAgent replays the teacher."""

    name = "replay"

    def __init__(self, tokenizer, texts):
        self.tokenizer, self.texts = tokenizer, texts
        self.stop_ids = [tokenizer.convert_tokens_to_ids("<|im_end|>")]

    def generate_ids(self, contexts, settings, seed, keys):
        from parley.models.backends import Completion

        out = []
        for context, key in zip(contexts, keys):
            text = self.texts[key.split("/", 1)[1]].pop(0)
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"] + self.stop_ids
            out.append(Completion(text, prompt_ids=list(context), completion_ids=ids))
        return out


def test_deliberation_sequences_are_the_contexts_the_trainee_is_played_in(tokenizer):
    """Deliberation prompts do not extend each other (the proposal table moves to the latest message),
    so the sequence is spliced as the trainee splices its context; a replaying trainee builds the same ids."""
    from parley.agents.deliberator import DeliberationLLMAgent, ScriptedDeliberator
    from parley.environments.deliberation import DeliberationConfig
    from parley.rollout.deliberation import run_deliberations
    from parley.training.trajectory import TraineeAgent

    protocol = DeliberationConfig(max_turns=6)
    examples, _ = deliberation_teacher_examples(["scripted:stance"], "scripted:deliberator", "scripted:rules", protocol,
                                                episodes=4, seed=5)
    sequences = episode_sequences(examples, tokenizer)
    keys = list(dict.fromkeys(x["episode"] for x in examples))
    assert len(sequences) == len(keys) == 4  # one per episode: the teacher plays one side against the opponent
    texts = {k.rsplit("/", 1)[0]: [x["completion"][0]["content"] for x in examples if x["episode"] == k] for k in keys}
    trainee = TraineeAgent(DeliberationLLMAgent("trainee", backend=_Replay(tokenizer, texts)))
    from parley.environments.dilemmas import load_dilemmas

    pool = {d.id: d for d in load_dilemmas("train")}
    for key, sequence in zip(keys, sequences):
        episode, side = key.rsplit("/", 1)
        agents = [ScriptedDeliberator(), ScriptedDeliberator()]
        agents[int(side)] = trainee
        run_deliberations([pool[episode.split("#", 1)[0]]], tuple(agents), protocol, episode_ids=[episode])
        trajectory = trainee.trajectories[episode]
        assert sequence["input_ids"] == trajectory.context()
        assert sequence["completion_mask"] == [0] * len(trajectory.prompt_ids) + trajectory.env_mask


def test_warm_start_config_errors():
    with pytest.raises(ParleyError, match="warm_start.teachers.*human"):
        load_config(None, ["warm_start.teachers=[human]"])
    with pytest.raises(ParleyError, match="warm_start.teachers"):
        load_config(None, ["warm_start.teachers=[]"])
    with pytest.raises(ParleyError, match="warm_start.episodes"):
        load_config(None, ["warm_start.episodes=0"])


def test_warm_start_trains_and_grpo_builds_on_it(tiny_model_dir, tmp_path):
    import torch
    from safetensors.torch import load_file

    from parley.models.loading import load_causal_lm
    from parley.training.run_dir import prepare_run
    from parley.training.trainer import train

    overrides = tiny_overrides(tiny_model_dir, tmp_path / "run", "grpo.max_steps=1", "warm_start.enabled=true",
                               "warm_start.episodes=3", "warm_start.epochs=4", "warm_start.learning_rate=0.01",
                               "warm_start.batch_size=1", "persona=guided.v2")
    cfg, run_dir, _ = prepare_run(None, overrides, None)
    train(cfg, run_dir)
    # Every model the run saved plays, as a plain hf: spec, the prompt it trained under (here the compact guided one).
    from parley.agents.spec import parse_spec

    for folder in ("warm_start", "checkpoint-1", "final"):
        assert parse_spec(f"hf:{run_dir / folder}").persona == "guided.v2", folder
        assert parse_spec(f"hf:{run_dir / folder}#standard").persona == "standard", folder
    assert json.loads((run_dir / "final" / "parley_trained.json").read_text()) == {
        "env": "bargain", "role": "buyer", "persona": "guided.v2"}
    summary = json.loads((run_dir / "warm_start" / "warm_start.json").read_text())
    assert summary["sequences"] == 3 and summary["steps"] == 12
    assert summary["last_loss"] < summary["first_loss"]  # it fits the teacher
    warm = load_file(run_dir / "warm_start" / "model.safetensors")
    base = load_file(tiny_model_dir / "model.safetensors")
    assert any(not torch.equal(warm[k], base[k]) for k in base)  # the merged LoRA changed the weights
    assert json.loads((run_dir / "checkpoint-1" / "parley_base.json").read_text()) == {"base": "hf:../warm_start",
                                                                                    "relative": True}
    # The adapter applies to the warm-started weights, found relative to it after the run moves.
    moved = tmp_path / "moved"
    shutil.move(run_dir, moved)
    from peft import PeftModel

    model, _ = load_causal_lm(str(moved / "final"))
    warm_model, _ = load_causal_lm(str(moved / "warm_start"))
    expected = PeftModel.from_pretrained(warm_model, str(moved / "final")).merge_and_unload().state_dict()
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)
    assert any(not torch.equal(loaded[k], base[k]) for k in base)  # not the original base model
    # A resumed run reuses the finished warm start instead of redoing it.
    stamp = (moved / "warm_start" / "warm_start.json").stat().st_mtime_ns
    shutil.rmtree(moved / "final")
    cfg2, run_dir2, checkpoint = prepare_run(None, [], str(moved))
    cfg2 = cfg2.model_copy(update={"output_dir": str(moved)})
    train(cfg2, run_dir2, checkpoint)
    assert (moved / "warm_start" / "warm_start.json").stat().st_mtime_ns == stamp


def test_the_warm_started_policy_comes_back_without_activation_checkpointing(tiny_model_dir, tmp_path):
    """TRL's SFT turns checkpointing on by default; left on, GRPO recomputed every activation in its update
    and its shared-prompt pass could keep no K/V cache."""
    from parley.training.run_dir import prepare_run
    from parley.training.trainer import _warm_started

    overrides = tiny_overrides(tiny_model_dir, tmp_path / "run", "warm_start.enabled=true", "warm_start.episodes=2",
                               "warm_start.batch_size=1")
    cfg, run_dir, _ = prepare_run(None, overrides, None)
    model, _ = _warm_started(cfg, run_dir, None, None, progress=False)
    assert model.is_activation_checkpointing is False
    on, _, _ = prepare_run(None, tiny_overrides(tiny_model_dir, tmp_path / "on", "warm_start.enabled=true",
                                                "warm_start.episodes=2", "warm_start.batch_size=1",
                                                "grpo.gradient_checkpointing=true"), None)
    model, _ = _warm_started(on, tmp_path / "on", None, None, progress=False)
    assert model.is_activation_checkpointing is True  # a run that asks for it keeps it


# -- rejection sampling: the model's own resolutions, kept when the judge passes them -----------------------------
class _RoundResolver:
    """Resolves dilemmas alone: round k answers from ``rounds[k]`` (dilemma id -> text, "" otherwise)."""

    def __init__(self, rounds):
        self.rounds, self.seeds = rounds, []

    def resolve(self, dilemmas, seed=0):
        round_ = self.rounds[len(self.seeds) % len(self.rounds)]
        self.seeds.append(seed)
        return [round_.get(d.id, "I think we should talk more about it.") for d in dilemmas]


def _good_and_bad():
    from test_rubric_v2 import ADVERSARIAL, GOOD, GRENADE

    good = dict(GOOD)
    crossing = dict((d, t) for d, t in ADVERSARIAL["crosses_own_red_line"])
    return good, crossing, GRENADE


def test_filtered_teacher_keeps_a_dilemmas_best_resolution_only_when_the_judge_passes_it():
    from parley.agents.deliberator import FilteredResolutionTeacher
    from parley.agents.judge import RuleJudge
    from parley.environments.deliberation import DeliberationObservation
    from parley.environments.dilemmas import load_dilemmas

    good, crossing, grenade = _good_and_bad()
    train = {d.id: d for d in load_dilemmas("train")}
    in_train = [i for i in good if i in train]
    assert grenade in in_train and len(in_train) >= 2
    drawn = [train[i] for i in in_train] + [d for d in train.values() if d.id not in good][:3]
    # Round 0 crosses a red line everywhere it can; round 1 writes the good resolution for all but the grenade.
    resolver = _RoundResolver([{i: crossing[i] for i in crossing if i in train},
                               {i: good[i] for i in in_train if i != grenade}])
    teacher = FilteredResolutionTeacher(resolver, RuleJudge(), samples=2)
    kept = teacher.select(drawn + drawn[:1], seed=4)  # a repeated dilemma is resolved once per round
    assert len(set(resolver.seeds)) == 2  # each round draws with its own seed
    assert [d.id for d in kept] == [i for i in in_train if i != grenade]  # the grenade only ever crossed a line
    assert teacher.chosen == {i: good[i] for i in in_train if i != grenade}
    assert teacher.report["kept"] == len(kept) and teacher.report["judged"] == 2 * (len(drawn)) \
        and teacher.report["kept_mean_score"] >= 7
    d = kept[0]
    first = DeliberationObservation("e", 0, d, (), (), 0, 6)
    assert teacher.act([first]) == [f"PROPOSAL: {good[d.id]}"]
    with pytest.raises(ValueError, match="no kept resolution"):
        teacher.act([DeliberationObservation("e", 0, train[grenade], (), (), 0, 6)])
    # Nothing scores above a bar no verdict reaches: nothing is kept
    strict = FilteredResolutionTeacher(_RoundResolver([good]), RuleJudge(), samples=1, min_score=10)
    assert strict.select(drawn) == [] and strict.chosen == {}


def test_filtered_teacher_warm_starts_on_judged_resolutions_or_says_why_not(monkeypatch, tokenizer):
    import parley.agents.spec as spec
    from parley.agents.deliberator import SoloResolver, parse_resolution
    from parley.environments.deliberation import DeliberationConfig
    from parley.environments.dilemmas import load_dilemmas

    good, _, _ = _good_and_bad()
    n_train = len(load_dilemmas("train"))
    monkeypatch.setattr(spec, "build_resolver", lambda raw, settings, cache: _RoundResolver([good]))
    examples, summary = deliberation_teacher_examples(["filtered:smollm2"], "self", "scripted:rules",
                                                      DeliberationConfig(max_turns=6), episodes=n_train, seed=1)
    stats = summary["teachers"]["filtered:smollm2"]
    kept = [i for i in good if i in {d.id for d in load_dilemmas("train")}]
    assert stats["filter"]["kept"] == len(kept) and stats["episodes"] == len(kept)
    assert stats["agreement_rate"] == 1.0 and stats["ca_score_mean"] >= 7   # the agreements are the kept texts
    proposals = {x["completion"][0]["content"] for x in examples if "PROPOSAL:" in x["completion"][0]["content"]}
    assert proposals == {f"PROPOSAL: {good[i]}" for i in kept}
    # the other seat accepts at once: as many accepts as proposals to learn from, two turns an episode
    accepts = [x for x in examples if x["completion"][0]["content"] == "I can live with that. ACCEPT #1"]
    assert len(accepts) == len(kept) and len(examples) == 2 * len(kept)
    # warm_start.filter_solo: each kept resolution once more, as the answer to the single-agent prompt, which is
    # rendered exactly as `parley eval deliberation` renders it; the dialogue examples are the same as without it
    with_solo, solo_summary = deliberation_teacher_examples(["filtered:smollm2"], "self", "scripted:rules",
                                                            DeliberationConfig(max_turns=6), episodes=n_train, seed=1,
                                                            filter_solo=True)
    solo = [x for x in with_solo if x.get("solo")]
    assert [x for x in with_solo if not x.get("solo")] == examples
    assert len(solo) == len(kept) == solo_summary["teachers"]["filtered:smollm2"]["solo_examples"]
    assert solo_summary["examples"] == len(examples) + len(kept) and "solo_examples" not in stats
    by_id = {d.id: d for d in load_dilemmas("train")}
    renderer = SoloResolver(None, "renderer", settings=None)
    for x in solo:
        dilemma = x["episode"].removesuffix("#solo")
        assert x["prompt"] == renderer.messages(by_id[dilemma])
        assert x["completion"] == [{"role": "assistant", "content": f"RESOLUTION: {good[dilemma]}"}]
        assert parse_resolution(x["completion"][0]["content"]) == good[dilemma]  # what the evaluation will read
    # each solo example is a sequence of its own, its loss on the resolution only
    tok = tokenizer
    sequences = episode_sequences(with_solo, tok)
    assert len(sequences) == len(episode_sequences(examples, tok)) + len(kept)
    last = sequences[-1]
    trained = tok.decode([i for i, m in zip(last["input_ids"], last["completion_mask"]) if m])
    assert trained.startswith("RESOLUTION: ") and "Dilemma:" not in trained
    # A model whose resolutions never pass: a clear error, not an empty warm start
    monkeypatch.setattr(spec, "build_resolver", lambda raw, settings, cache: _RoundResolver([{}]))
    with pytest.raises(ParleyError, match="kept no resolution.*filter_samples"):
        deliberation_teacher_examples(["filtered:smollm2"], "self", "scripted:rules", DeliberationConfig(max_turns=6),
                                      episodes=4, seed=1)


def test_a_second_round_reuses_the_kept_resolutions_and_the_teacher_judges_the_trainees_proposals(monkeypatch, tmp_path):
    """warm_start.filter_from: a later run reads an earlier warm start's selection instead of sampling again (its
    report lists the resolutions; an older folder's examples.jsonl holds them too), and must draw the same dilemmas.
    Against another agent (the earlier warm start, in a second round) the teacher accepts only proposals its judge
    passes and puts its own kept resolution on the table instead of a red-line one."""
    import parley.agents.spec as spec
    from parley.agents.deliberator import ScriptedDeliberator
    from parley.environments.deliberation import DeliberationConfig
    from parley.environments.dilemmas import load_dilemmas
    from parley.training.warm_start import DONE_FILE, kept_resolutions

    good, _, _ = _good_and_bad()
    n_train = len(load_dilemmas("train"))
    config = DeliberationConfig(max_turns=6)
    monkeypatch.setattr(spec, "build_resolver", lambda raw, settings, cache: _RoundResolver([good]))
    examples, summary = deliberation_teacher_examples(["filtered:smollm2"], "self", "scripted:rules", config,
                                                      episodes=n_train, seed=1)
    resolutions = summary["teachers"]["filtered:smollm2"]["filter"]["resolutions"]
    assert resolutions == {i: good[i] for i in resolutions} and len(resolutions) == summary["teachers"][
        "filtered:smollm2"]["filter"]["kept"] >= 2
    earlier = tmp_path / "warm_start"
    earlier.mkdir()
    (earlier / DONE_FILE).write_text(json.dumps(summary))
    (earlier / "examples.jsonl").write_text("".join(json.dumps(e) + "\n" for e in examples))

    def no_sampling(*a, **k):
        raise AssertionError("a reused selection samples nothing")

    monkeypatch.setattr(spec, "build_resolver", no_sampling)
    assert kept_resolutions(earlier, "filtered:smollm2") == resolutions
    again, reused = deliberation_teacher_examples(["filtered:smollm2"], "self", "scripted:rules", config,
                                                  episodes=n_train, seed=1, filter_from=str(earlier))
    assert again == examples
    assert reused["teachers"]["filtered:smollm2"]["filter"]["resolutions"] == resolutions  # a third round reads it
    (earlier / DONE_FILE).write_text(json.dumps({"teachers": {}}))  # a folder from before the report listed them
    assert kept_resolutions(earlier, "filtered:smollm2") == resolutions
    # against an agent that proposes its own stance (a red line of the other persona) and accepts after a turn
    monkeypatch.setattr(spec, "build_deliberator", lambda s, settings, cache: ScriptedDeliberator(proposal="stance"))
    second, stats = deliberation_teacher_examples(["filtered:smollm2"], "trainee", "scripted:rules", config,
                                                  episodes=n_train, seed=1, filter_from=str(earlier))
    texts = [e["completion"][0]["content"] for e in second]
    assert not any("ACCEPT" in t for t in texts)  # never accepts the stance ...
    assert {t for t in texts} == {f"PROPOSAL: {good[i]}" for i in resolutions}  # ... proposes its own instead
    assert stats["teachers"]["filtered:smollm2"]["red_line_violations"] == {"persona_0": 0, "persona_1": 0}
    with pytest.raises(ParleyError, match="filter_from: .*does not draw"):  # another seed draws other dilemmas
        deliberation_teacher_examples(["filtered:smollm2"], "self", "scripted:rules", config, episodes=4, seed=1,
                                      filter_from=str(earlier))
    with pytest.raises(ParleyError, match="filter_from: .*no finished warm start"):
        kept_resolutions(tmp_path, "filtered:smollm2")
    with pytest.raises(ParleyError, match="no resolution kept by teacher 'filtered:other'"):
        kept_resolutions(earlier, "filtered:other")
    (earlier / DONE_FILE).write_text("[1, 2")
    with pytest.raises(ParleyError, match="is not a warm-start record"):
        kept_resolutions(earlier, "filtered:smollm2")
    with pytest.raises(ParleyError, match="filter_from: only a filtered:<model> teacher"):
        load_config("configs/deliberation-smollm2-cpu.yaml", ["warm_start.teachers=[scripted:stance]",
                                                              f"warm_start.filter_from={earlier}"])
    with pytest.raises(ParleyError, match="filter_solo: only a filtered:<model> teacher"):
        load_config("configs/deliberation-smollm2-cpu.yaml", ["warm_start.teachers=[scripted:stance]",
                                                              "warm_start.filter_solo=true"])
    # the same in any game: a bargaining config would otherwise ignore the fields without a word
    for field in ("filter_solo=true", "filter_samples=4", "filter_min_score=3", f"filter_from={earlier}"):
        with pytest.raises(ParleyError, match=f"warm_start.{field.split('=')[0]}: only a filtered:<model> teacher"):
            load_config("configs/bargain-smollm2-cpu.yaml", [f"warm_start.{field}"])
    # at their defaults they ignore nothing, so they pass
    assert load_config("configs/bargain-smollm2-cpu.yaml", ["warm_start.filter_solo=false", "warm_start.filter_samples=8"])
    # reused with filter_solo: the solo examples are the earlier selection's, nothing sampled
    (earlier / DONE_FILE).write_text(json.dumps(summary))
    solo_again, _ = deliberation_teacher_examples(["filtered:smollm2"], "self", "scripted:rules", config,
                                                  episodes=n_train, seed=1, filter_from=str(earlier), filter_solo=True)
    assert {x["completion"][0]["content"] for x in solo_again if x.get("solo")} == \
        {f"RESOLUTION: {t}" for t in resolutions.values()}


def test_filtered_teacher_specs_are_checked_in_the_config():
    cfg = load_config("configs/deliberation-smollm2-cpu.yaml", ["warm_start.teachers=[filtered:smollm2]",
                                                                 "warm_start.filter_samples=4"])
    assert cfg.warm_start.teachers == ["filtered:smollm2"] and cfg.warm_start.filter_samples == 4
    with pytest.raises(ParleyError, match="filtered:"):
        load_config("configs/deliberation-smollm2-cpu.yaml", ["warm_start.teachers=[filtered:scripted:stance]"])


def test_bargain_teachers_can_play_their_own_budget_rule():
    """A scripted teacher in a CI scenario opens at its budget; warm-starting on mixed budgets taught the model
    to offer its budget everywhere. warm_start.budget_rule lets the teachers play MI scenarios only."""
    from parley.training.games import _bargain_teachers

    # buyer.v1 (persona standard): the opening is read off its status line below
    mixed = load_config("configs/bargain-smollm2-cpu.yaml", ["environment.budget_rule=mixed", "warm_start.episodes=8",
                                                             "persona=standard"])
    own = load_config("configs/bargain-smollm2-cpu.yaml", ["environment.budget_rule=mixed", "warm_start.episodes=8",
                                                           "warm_start.budget_rule=uniform", "persona=standard"])
    ex_mixed, sum_mixed = _bargain_teachers(mixed, None)
    ex_own, sum_own = _bargain_teachers(own, None)
    assert (sum_mixed["budget_rule"], sum_own["budget_rule"]) == ("mixed", "uniform")

    def opens_at_budget(examples):
        firsts = [x for x in examples if "Your current offer: none" in x["prompt"][-1]["content"]]
        return sum(x["prompt"][-1]["content"].rstrip("]").endswith(x["completion"][0]["content"].split("$")[-1] + ".")
                   for x in firsts), len(firsts)

    at_budget, n = opens_at_budget(ex_mixed)
    assert n == 8 and at_budget >= 2      # the CI half: the teacher's opening offer is its budget
    assert opens_at_budget(ex_own) == (0, 8)
    with pytest.raises(ParleyError, match="budget_rule"):
        load_config("configs/bargain-smollm2-cpu.yaml", ["warm_start.budget_rule=sometimes"])


def test_filtered_teacher_accepts_only_what_it_would_have_kept():
    """Accepting whatever is on the table taught the trainee to yield to a red-line proposal; the teacher now holds
    out (proposes its own again) unless the judge passes the other's proposal by the bar its own resolutions met."""
    from parley.agents.deliberator import FilteredResolutionTeacher
    from parley.agents.judge import RuleJudge
    from parley.environments.deliberation import DeliberationObservation, Proposal
    from parley.environments.dilemmas import load_dilemmas

    good, crossing, _ = _good_and_bad()
    train = {d.id: d for d in load_dilemmas("train")}
    both = [i for i in good if i in train and i in crossing]
    assert both
    d = train[both[0]]
    teacher = FilteredResolutionTeacher(_RoundResolver([good]), RuleJudge(), samples=1)
    assert teacher.select([d]) == [d]

    def facing(text: str, by: int = 0) -> DeliberationObservation:  # the teacher is persona 1, the other proposed
        return DeliberationObservation("e", 1, d, ((by, f"PROPOSAL: {text}"),), (Proposal(1, by, text, 0),), 1, 6)

    assert teacher.act([facing(crossing[d.id])]) == [f"PROPOSAL: {good[d.id]}"]  # a red line: it holds out
    assert teacher.act([facing(good[d.id])]) == ["I can live with that. ACCEPT #1"]
    other = FilteredResolutionTeacher(_RoundResolver([{d.id: "We should think about it."}]), RuleJudge(), samples=1)
    other.chosen = {d.id: "We should think about it."}
    assert other.act([facing(good[d.id])]) == ["I can live with that. ACCEPT #1"]  # not its own text, but it passes
    assert other.act([facing("Let us talk later.")]) == ["PROPOSAL: We should think about it."]  # vague: it holds out
    # its own kept text as the table holds it (cut at a blank line) is its own, accepted without asking the judge
    long = FilteredResolutionTeacher(_RoundResolver([good]), RuleJudge(), samples=1)
    long.chosen = {d.id: good[d.id] + "\n\nA second paragraph the parser cuts."}
    assert long.act([facing(good[d.id])]) == ["I can live with that. ACCEPT #1"] and long._verdicts == {}


def test_a_warm_start_against_several_opponents_plays_each_and_keeps_self_play_as_it_was(monkeypatch):
    import parley.agents.spec as spec
    from parley.environments.deliberation import DeliberationConfig

    good, _, _ = _good_and_bad()
    monkeypatch.setattr(spec, "build_resolver", lambda raw, settings, cache: _RoundResolver([good]))
    from parley.environments.dilemmas import load_dilemmas

    protocol, n = DeliberationConfig(max_turns=6), len(load_dilemmas("train"))
    alone, _ = deliberation_teacher_examples(["filtered:smollm2"], "self", "scripted:rules", protocol, episodes=n, seed=1)
    both, summary = deliberation_teacher_examples(["filtered:smollm2"], ["self", "scripted:stance"], "scripted:rules",
                                                  protocol, episodes=n, seed=1)
    assert both[:len(alone)] == alone  # the first opponent's examples are exactly those of a run with it alone
    stance = both[len(alone):]
    stats = summary["teachers"]["filtered:smollm2"]
    assert set(stats["opponents"]) == {"self", "scripted:stance"} and stats["filter"]["kept"] >= 2
    kept = stats["opponents"]["self"]["episodes"]
    assert stats["opponents"]["scripted:stance"]["episodes"] == kept and stats["episodes"] == 2 * kept
    # against the stance it never accepts (the stance's proposals cross its red line) and the stance takes its plan
    assert stance and all("~vs:scripted:stance/" in x["episode"] for x in stance)
    assert not any("ACCEPT" in x["completion"][0]["content"] for x in stance)
    assert stats["opponents"]["scripted:stance"]["agreement_rate"] == 1.0
    assert stats["opponents"]["scripted:stance"]["red_line_violations"] == {"persona_0": 0, "persona_1": 0}
    # a teacher that opened second saw the stance's proposal before its own turn and answered with a proposal
    assert any("PROPOSAL" in (m["content"] or "") and m["role"] == "user" for x in stance for m in x["prompt"])


def test_warm_start_opponents_default_to_the_runs_first_and_are_checked():
    cfg = load_config("configs/deliberation-smollm2-cpu.yaml", ["opponent=[self, scripted:stance]"])
    assert cfg.warm_start.opponents == ["self"]
    cfg = load_config("configs/deliberation-smollm2-cpu.yaml", ["warm_start.opponents=[self, scripted:stance]"])
    assert cfg.warm_start.opponents == ["self", "scripted:stance"] and cfg.opponents == ["self"]
    with pytest.raises(ParleyError, match="warm_start.opponents: names an opponent twice"):
        load_config("configs/deliberation-smollm2-cpu.yaml", ["warm_start.opponents=[self, self]"])
    with pytest.raises(ParleyError, match="scripted:nobody"):
        load_config("configs/deliberation-smollm2-cpu.yaml", ["warm_start.opponents=[scripted:nobody]"])
