"""GRPO training: config, rewards, token-in/token-out trajectories, masking, loss terms, resume."""

from __future__ import annotations

import json
import math

import pytest
import torch

from parley import ParleyError
from parley.models.generation import GenerationSettings
from parley.agents.bargainer import BargainLLMAgent
from parley.environments.actions import Action, ActionKind
from parley.environments.bargain import Outcome, ProtocolConfig, Role, TurnRecord
from parley.environments.scenarios import sample_scenarios
from parley.rollout.bargain import BargainEpisode, run_bargains
from parley.agents.bargainer import SCRIPTED
from parley.training.config import load_config
from parley.training.rewards import EpisodeReward, RewardError, protocol_penalty, protocol_share, surplus
from parley.training.trajectory import TraineeAgent
from training_helpers import tiny_overrides


# -- config ------------------------------------------------------------------------------------
def test_shipped_configs_validate():
    cpu = load_config("configs/bargain-smollm2-cpu.yaml")
    gpu = load_config("configs/bargain-qwen-gpu.yaml")
    assert cpu.model == "smollm2" and not cpu.grpo.use_vllm
    assert gpu.grpo.use_vllm and gpu.model.startswith("hf:")
    d_cpu, d_gpu = load_config("configs/deliberation-smollm2-cpu.yaml"), load_config("configs/deliberation-qwen-gpu.yaml")
    assert d_cpu.env == d_gpu.env == "deliberation" and d_gpu.judge.startswith("openai:")
    assert d_cpu.grpo.num_generations % 2 == 0 and d_gpu.grpo.num_generations % 2 == 0


@pytest.mark.parametrize("overrides, expected", [
    (["grpo.learnin_rate=0.1"], "grpo.learnin_rate: unknown field"),
    (["grpo.num_generations=1"], "grpo.num_generations"),
    (["grpo.beta=-1"], "grpo.beta"),
    (["model=openai:x@http://h/v1"], "the trainee must be smollm2 or hf:<id-or-path>, not openai"),
    (["opponent=scripted:nobody"], "unknown scripted strategy"),
    (["opponent=human"], "the training opponent must be smollm2, hf:<id-or-path>, openai:<model>@<base_url>, "
                         "scripted:<strategy> or self, not human"),
    (["role=referee"], "role"),
    (["grpo.max_steps=many"], "grpo.max_steps"),
    (["nonsense"], "is not KEY=VALUE"),
    (["generation.engine=paged"], "generation.engine"),
    (["generation.top_k=-1"], "generation.top_k"),
    (["env=deliberation", "generation.engine=continuous"],
     "generation.engine: env deliberation plays its rollouts with lockstep, not continuous"),
    (["generation.engine=continuous", "grpo.use_vllm=true"], "with grpo.use_vllm the turns go to vLLM"),
])
def test_config_errors_name_the_field(overrides, expected):
    with pytest.raises(ParleyError) as info:
        load_config(None, overrides)
    assert expected in str(info.value)


def test_config_file_errors(tmp_path):
    with pytest.raises(ParleyError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("grpo: [1, 2")
    with pytest.raises(ParleyError, match="not valid YAML"):
        load_config(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ParleyError, match="must be a mapping"):
        load_config(bad)


def test_generation_top_k_reaches_the_sampler_and_trl(tmp_path):
    from parley.training.setup import generation_settings
    from parley.training.trainer import _grpo_args

    assert generation_settings(load_config(None, [])).top_k == 50  # what every run before the field sampled with
    off = load_config(None, ["generation.top_k=0"])
    assert generation_settings(off).top_k == 0
    assert _grpo_args(off, tmp_path).top_k == 0  # TRL's own generation (vLLM) samples as ours does
    assert _grpo_args(load_config(None, []), tmp_path).top_k == 50


def test_overrides_are_typed_yaml():
    cfg = load_config(None, ["grpo.max_steps=3", "lora.enabled=false", "grpo.report_to=[]", "grpo.learning_rate=1e-5"])
    assert cfg.grpo.max_steps == 3 and cfg.lora.enabled is False and cfg.grpo.report_to == []
    assert cfg.grpo.learning_rate == pytest.approx(1e-5)


# -- rewards -----------------------------------------------------------------------------------
def _episode(turns, outcome, budget=100.0, floor=60.0):
    scenario = sample_scenarios("train", 1, seed=0)[0]
    import dataclasses

    from parley.environments.rewards import buyer_reward, seller_reward

    scenario = dataclasses.replace(scenario, listing_price=150.0, budget=budget, floor=floor)
    # the rewards the environment would have recorded (training reads the episode's own, in its variant)
    return BargainEpisode(scenario, turns, outcome, buyer_reward(scenario, outcome), seller_reward(scenario, outcome))


def _turn(i, role, kind, price=None, effect="offer", violations=()):
    return TurnRecord(i, role, "text", "text", Action(kind, price), effect, list(violations))


def test_surplus_and_protocol_rewards_by_hand():
    turns = [_turn(0, Role.BUYER, ActionKind.OFFER, 70.0), _turn(1, Role.SELLER, ActionKind.OFFER, 90.0),
             _turn(2, Role.BUYER, ActionKind.NONE, effect="message"), _turn(3, Role.SELLER, ActionKind.NONE, effect="message"),
             _turn(4, Role.BUYER, ActionKind.ACCEPT, effect="accept")]
    ep = _episode(turns, Outcome(True, 90.0, "accepted", 5, Role.BUYER))
    assert surplus(ep, Role.BUYER) == pytest.approx((100 - 90) / (100 - 60))
    assert surplus(ep, Role.SELLER) == pytest.approx((90 - 60) / (100 - 60))
    assert protocol_share(ep, Role.BUYER) == pytest.approx(1 / 3)
    assert protocol_penalty(ep, Role.BUYER, 0.3) == pytest.approx(-0.1)
    over = _episode(turns, Outcome(True, 120.0, "accepted", 5, Role.BUYER))
    assert surplus(over, Role.BUYER) == -1.0
    none = _episode(turns, Outcome(False, None, "max_turns", 5, None))
    assert surplus(none, Role.BUYER) == 0.0


def test_a_failing_reward_names_the_episode():
    ep = _episode([], Outcome(False, None, "max_turns", 0, None))

    def broken(_):
        raise ZeroDivisionError("boom")

    with pytest.raises(RewardError, match=ep.scenario.id):
        EpisodeReward("broken", broken)(episode=[ep])
    with pytest.raises(RewardError, match="nan"):
        EpisodeReward("nan", lambda _: math.nan)(episode=[ep])
    assert EpisodeReward("ok", lambda _: 0.5)(episode=[ep, ep]) == [0.5, 0.5]


# -- token-in, token-out -----------------------------------------------------------------------
class SpyBackend:
    """Wraps a backend and records exactly what generation produced."""

    def __init__(self, inner):
        self.inner, self.name, self.tokenizer, self.stop_ids = inner, inner.name, inner.tokenizer, inner.stop_ids
        self.calls = []

    def generate_ids(self, prompt_ids, settings, seed, keys=None):
        out = self.inner.generate_ids(prompt_ids, settings, seed, keys)
        self.calls.append((keys, [list(p) for p in prompt_ids], out))
        return out

    def forget(self, keys):
        self.inner.forget(keys)


def test_trajectory_holds_exactly_the_sampled_ids_and_masks_the_rest(tiny_backend):
    spy = SpyBackend(tiny_backend)
    settings = GenerationSettings(max_new_tokens=12, batch_size=8)
    trainee = TraineeAgent(BargainLLMAgent("trainee", spy, Role.BUYER, settings=settings))
    scenarios = sample_scenarios("train", 3, seed=1)
    run_bargains(scenarios, trainee, SCRIPTED["linear"](), ProtocolConfig(max_turns=6), seed=3)
    tok = tiny_backend.tokenizer
    for s in scenarios:
        t = trainee.trajectories[s.id]
        sampled = [c.completion_ids for keys, _, outs in spy.calls for k, c in zip(keys, outs) if k.endswith(f"/{s.id}")]
        assert len(sampled) == 3 and t.turns == sampled
        assert [i for i, m in zip(t.completion_ids, t.env_mask) if m] == [x for ids in sampled for x in ids]
        # Each generation call saw exactly the trajectory so far: the prefix never changes.
        contexts = [p for keys, prompts, _ in spy.calls for k, p in zip(keys, prompts) if k.endswith(f"/{s.id}")]
        assert contexts[0] == t.prompt_ids
        for earlier, later in zip(contexts, contexts[1:]):
            assert later[: len(earlier)] == earlier
        # Masked stretches are the template's text between turns: the seller's message and a new header.
        masked = []
        for i, m in enumerate(t.env_mask):
            if not m and (i == 0 or t.env_mask[i - 1]):
                masked.append([])
            if not m:
                masked[-1].append(t.completion_ids[i])
        assert len(masked) == 2
        for stretch in masked:
            text = tok.decode(stretch)
            assert "<|im_start|>user\nSeller:" in text and text.endswith("<|im_start|>assistant\n")


class ScriptedIdsBackend:
    """Returns fixed "sampled" ids: a non-canonical tokenisation that decode+encode would change."""

    def __init__(self, tokenizer, ids):
        from parley.models.backends import GenerationStats

        self.tokenizer, self.name, self.stats = tokenizer, "scripted-ids", GenerationStats()
        self.stop_ids = [tokenizer.convert_tokens_to_ids("<|im_end|>")]
        self.ids = ids

    def generate_ids(self, prompt_ids, settings, seed, keys=None):
        from parley.models.backends import Completion

        return [Completion(self.tokenizer.decode(self.ids), list(p), self.ids + self.stop_ids) for p in prompt_ids]

    def forget(self, keys):
        pass


def test_non_canonical_sampled_ids_survive_verbatim(tiny_backend):
    tok = tiny_backend.tokenizer
    pieces = [tok(w, add_special_tokens=False)["input_ids"] for w in ("hel", "lo", " wal", "k", "ing")]
    ids = [i for p in pieces for i in p]
    assert tok(tok.decode(ids), add_special_tokens=False)["input_ids"] != ids  # re-encoding would drift
    trainee = TraineeAgent(BargainLLMAgent("trainee", ScriptedIdsBackend(tok, ids), Role.BUYER))
    scenario = sample_scenarios("train", 1, seed=2)[0]
    episode = run_bargains([scenario], trainee, SCRIPTED["hardliner"](), ProtocolConfig(max_turns=4), seed=0)[0]
    assert [t.role for t in episode.turns] == [Role.BUYER, Role.SELLER] * 2
    t = trainee.trajectories[scenario.id]
    stop = tok.convert_tokens_to_ids("<|im_end|>")
    assert t.turns == [ids + [stop], ids + [stop]]
    assert [i for i, m in zip(t.completion_ids, t.env_mask) if m] == (ids + [stop]) * 2


def test_trainee_on_the_continuous_engine_records_what_lockstep_records_under_greedy(tiny_backend):
    """The engine decides when a turn is decoded, not what the trainee's sequence holds: under greedy decoding the
    trajectories (prompt, every id, the mask, the turns) are the same as lockstep's, and the episodes too."""
    settings = GenerationSettings(max_new_tokens=12, batch_size=8, do_sample=False)
    scenarios = sample_scenarios("train", 3, seed=1)
    played = {}
    for engine, slots in (("lockstep", 8), ("continuous", 2), ("continuous", 8)):
        trainee = TraineeAgent(BargainLLMAgent("trainee", tiny_backend, Role.BUYER, settings=settings))
        episodes = run_bargains(scenarios, trainee, SCRIPTED["linear"](), ProtocolConfig(max_turns=6), seed=3,
                                batch_size=slots, engine=engine)
        played[engine, slots] = ([[t.text for t in e.turns] for e in episodes],
                                 [(t.prompt_ids, t.completion_ids, t.env_mask, t.turns)
                                  for t in (trainee.trajectories[s.id] for s in scenarios)])
    assert played["continuous", 2] == played["lockstep", 8] == played["continuous", 8]
    assert all(turns for _, _, _, turns in played["lockstep", 8][1])


def test_trainee_on_the_continuous_engine_sends_the_environment_exactly_its_sampled_turns(tiny_backend):
    """Sampling: each masked-in stretch of the trajectory is the ids of one turn, and the environment received
    that turn's decoded, cleaned text."""
    from parley.agents.bargainer import clean_turn

    settings = GenerationSettings(max_new_tokens=12, batch_size=4, temperature=1.0)
    trainee = TraineeAgent(BargainLLMAgent("trainee", tiny_backend, Role.BUYER, settings=settings))
    scenarios = sample_scenarios("train", 4, seed=2)
    episodes = run_bargains(scenarios, trainee, SCRIPTED["linear"](), ProtocolConfig(max_turns=6), seed=5,
                            batch_size=3, engine="continuous")
    tok = tiny_backend.tokenizer
    stop = set(tiny_backend.stop_ids)
    for scenario, episode in zip(scenarios, episodes):
        t = trainee.trajectories[scenario.id]
        said = [turn.text for turn in episode.turns if turn.role is Role.BUYER]
        assert len(t.turns) == len(said) > 0
        for ids, text in zip(t.turns, said):
            body = ids[:-1] if ids[-1] in stop else ids
            assert clean_turn(tok.decode(body, skip_special_tokens=True), Role.BUYER) == text
        assert [i for i, m in zip(t.completion_ids, t.env_mask) if m] == [i for ids in t.turns for i in ids]


# -- the trainer (tiny model, seconds) ---------------------------------------------------------
@pytest.fixture
def tiny_trainer(tiny_model_dir, tmp_path):
    from parley.training.run_dir import prepare_run
    from parley.training.trainer import build_trainer

    def make(*extra):
        cfg, run_dir, _ = prepare_run(None, tiny_overrides(tiny_model_dir, tmp_path / "run", *extra), None)
        trainer, rollout = build_trainer(cfg, run_dir)
        return trainer, rollout, run_dir

    return make


@pytest.mark.parametrize("engine", ["lockstep", "continuous"])
def test_loss_sees_the_sampled_ids_under_the_env_mask_and_advantages_are_group_relative(tiny_trainer, engine):
    trainer, rollout, _ = tiny_trainer("grpo.scale_rewards=none", f"generation.engine={engine}")
    assert rollout.engine == engine
    seen = {}
    original = trainer._compute_loss

    def spy(model, inputs):
        seen.setdefault("inputs", []).append({k: v for k, v in inputs.items() if isinstance(v, torch.Tensor)})
        return original(model, inputs)

    trainer._compute_loss = spy
    generated = []
    play = rollout.play

    def record(*a, **kw):
        episodes, trajectories = play(*a, **kw)
        if len(episodes) == 4:  # a training rollout (evaluation plays 2)
            generated.append((episodes, trajectories))
        return episodes, trajectories

    rollout.play = record
    trainer.args.max_steps = 1
    trainer.train()
    episodes, trajectories = generated[0]
    batch = seen["inputs"][0]
    rewards = torch.tensor([surplus(e, Role.BUYER) + protocol_penalty(e, Role.BUYER, 0.2) for e in episodes])
    expected = rewards - rewards.view(-1, 2).mean(dim=1).repeat_interleave(2)
    # TRL shuffles rows before the update: find each row's trajectory by its (sampled, unique) ids.
    matched = set()
    for row in range(batch["completion_ids"].shape[0]):
        width = int(batch["completion_mask"][row].sum())
        ids = batch["completion_ids"][row, :width].tolist()
        j = next(j for j, t in enumerate(trajectories) if t.completion_ids == ids)
        matched.add(j)
        t = trajectories[j]
        assert batch["tool_mask"][row, :width].tolist() == t.env_mask
        mask = (batch["completion_mask"][row] * batch["tool_mask"][row]).bool()
        assert batch["completion_ids"][row][mask].tolist() == [i for turn in t.turns for i in turn]
        assert batch["prompt_ids"][row][batch["prompt_mask"][row].bool()].tolist() == t.prompt_ids
        assert batch["advantages"].flatten()[row].item() == pytest.approx(expected[j].item(), abs=1e-5)
    assert matched == set(range(len(trajectories)))


def test_group_std_scaling(tiny_trainer):
    trainer, rollout, _ = tiny_trainer("grpo.scale_rewards=group")
    out = rollout([s for s in rollout.scenarios for _ in range(2)], trainer)
    # TRL reads the group from consecutive rows: both rollouts of a scenario are separate episodes.
    ids = [e.scenario.id for e in out["episode"]]
    assert len(set(ids)) == len(ids)
    assert [i.split("@")[0] for i in ids] == [s for s in rollout.scenarios for _ in range(2)]


def test_clipping_and_kl_terms_match_a_hand_computed_loss(tiny_trainer):
    trainer, _, _ = tiny_trainer("grpo.beta=0.5", "grpo.epsilon=0.2", "grpo.loss_type=grpo")
    model = trainer.model
    model.eval()
    prompt = torch.tensor([[11, 12, 13]])
    completion = torch.tensor([[21, 22, 23, 24]])
    with torch.no_grad():
        logps, _, _ = trainer._get_per_token_logps_and_entropies(
            model, torch.cat([prompt, completion], 1), torch.ones(1, 7, dtype=torch.long), 4)
    # Ratios exp(+0.5) (clipped at 1.2), exp(-0.1) (inside), 1, and a masked token with a wild ratio.
    old = logps - torch.tensor([[0.5, -0.1, 0.0, 9.0]])
    ref = logps + torch.tensor([[0.3, -0.2, 0.0, 5.0]])
    advantage = 2.0
    inputs = {"prompt_ids": prompt, "prompt_mask": torch.ones_like(prompt), "completion_ids": completion,
              "completion_mask": torch.ones_like(completion), "tool_mask": torch.tensor([[1, 1, 1, 0]]),
              "advantages": torch.tensor([advantage]), "old_per_token_logps": old, "ref_per_token_logps": ref,
              "num_items_in_batch": torch.tensor(3.0)}
    with torch.no_grad():
        loss = trainer._compute_loss(model, inputs)
    expected = []
    for ratio, d in [(math.exp(0.5), 0.3), (math.exp(-0.1), -0.2), (1.0, 0.0)]:
        clipped = min(max(ratio, 0.8), 1.2)
        policy = -min(ratio * advantage, clipped * advantage)
        # k3 estimator of KL(pi || ref), importance-weighted by the ratio (TRL's use_bias_correction_kl default).
        kl = (math.exp(d) - d - 1) * ratio
        expected.append(policy + 0.5 * kl)
    assert loss.item() == pytest.approx(sum(expected) / 3, rel=1e-4)


@pytest.mark.parametrize("warm", [[], ["warm_start.enabled=true"]], ids=["raw", "warm-start"])
def test_resume_continues_bit_for_bit(tiny_model_dir, tmp_path, warm):
    from parley.training.run_dir import latest_checkpoint, prepare_run
    from parley.training.trainer import train

    def weights(folder):
        from safetensors.torch import load_file

        return load_file(folder / "adapter_model.safetensors")

    cfg, straight, _ = prepare_run(None, tiny_overrides(tiny_model_dir, tmp_path / "straight", "grpo.max_steps=3", *warm), None)
    train(cfg, straight)
    cfg, killed, _ = prepare_run(None, tiny_overrides(tiny_model_dir, tmp_path / "killed", "grpo.max_steps=3", *warm), None)
    # Simulate a kill after step 2: train 2 steps, keep checkpoint-2, and drop what came after.
    import shutil

    short = cfg.model_copy(update={"grpo": cfg.grpo.model_copy(update={"max_steps": 2})})
    train(short, killed)
    shutil.rmtree(killed / "final")
    state = json.loads((killed / "checkpoint-2" / "trainer_state.json").read_text())
    state["max_steps"] = 3
    (killed / "checkpoint-2" / "trainer_state.json").write_text(json.dumps(state))
    with (killed / "metrics.jsonl").open("a") as f:  # a half-logged step 3 from the killed process
        f.write(json.dumps({"step": 3, "loss": 123.0}) + "\n")
    cfg2, run_dir, checkpoint = prepare_run(None, [], str(killed))
    assert checkpoint == latest_checkpoint(killed) and checkpoint.name == "checkpoint-2"
    # The run records the code that started it and each resume (this checkout's commit, or None outside git).
    from parley.code_version import code_version

    code = json.loads((killed / "code.json").read_text())
    assert code["started"] == code_version() and code["resumed"] == [code_version()]
    # ... and the libraries it ran under: another transformers samples other tokens from the same seed
    assert code["started"]["libraries"]["torch"] == torch.__version__
    import transformers

    assert code["started"]["libraries"]["transformers"] == transformers.__version__
    train(cfg2, run_dir, checkpoint)
    a, b = weights(straight / "final"), weights(killed / "final")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    logged = [json.loads(line) for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert 123.0 not in [m.get("loss") for m in logged]
    # Each step's training metrics are logged once, the killed run's step 3 replaced by the resumed one.
    assert [m["step"] for m in logged if "loss" in m] == [1, 2, 3]


def test_a_new_run_refuses_to_overwrite_and_resume_refuses_overrides(tiny_model_dir, tmp_path):
    from parley.training.run_dir import prepare_run
    from parley.training.trainer import train

    cfg, run_dir, _ = prepare_run(None, tiny_overrides(tiny_model_dir, tmp_path / "r", "grpo.max_steps=1"), None)
    train(cfg, run_dir)
    with pytest.raises(ParleyError, match="already holds a training run"):
        prepare_run(None, tiny_overrides(tiny_model_dir, tmp_path / "r"), None)
    with pytest.raises(ParleyError, match="do not pass a config"):
        prepare_run(None, ["grpo.max_steps=5"], str(run_dir))
    with pytest.raises(ParleyError, match="not a training run directory"):
        prepare_run(None, [], str(tmp_path))


@pytest.mark.parametrize("merged", [True, False])
def test_self_play_opponent_is_frozen_and_refreshed(tiny_trainer, merged):
    trainer, rollout, _ = tiny_trainer("opponent=self", "self_play_refresh_steps=2",
                                       f"grpo.merged_rollouts={str(merged).lower()}")
    opponent = rollout.self_play
    assert opponent is not None and all(not p.requires_grad for p in opponent.model.parameters())
    assert (opponent.merged is not None) is merged
    policy = trainer.accelerator.unwrap_model(trainer.model)
    policy.eval()
    ids = torch.randint(5, policy.config.vocab_size, (2, 9), generator=torch.Generator().manual_seed(0))

    def gap():
        with torch.no_grad():
            return (opponent.model(input_ids=ids).logits - policy(input_ids=ids).logits).abs().max().item()

    assert gap() < 1e-4
    with torch.no_grad():
        for n, p in policy.named_parameters():
            if "lora_" in n:
                p.add_(0.5)
    opponent.maybe_refresh(policy, step=1)
    assert opponent.refreshed_at == 0
    assert gap() > 1e-2  # frozen: the policy moved, the copy did not
    opponent.maybe_refresh(policy, step=2)
    assert opponent.refreshed_at == 2 and gap() < 1e-4


def test_resuming_self_play_under_the_other_merge_setting_is_refused(tiny_trainer):
    _, merged, _ = tiny_trainer("opponent=self", "grpo.merged_rollouts=true")
    saved = merged.self_play.state_dict()
    _, plain, _ = tiny_trainer("opponent=self", "grpo.merged_rollouts=false")
    with pytest.raises(ParleyError, match="merged_rollouts"):
        plain.self_play.load_state_dict(saved)


class AcceptAtOnce:
    name = "accept-at-once"

    def act(self, observations, seed=0):
        return ["ACCEPT"] * len(observations)


def test_trainee_as_seller_including_episodes_where_it_never_speaks(tiny_trainer):
    trainer, rollout, _ = tiny_trainer("role=seller", "opponent=scripted:boulware")
    out = rollout([s for s in rollout.scenarios for _ in range(2)], trainer)
    for episode, completion, mask in zip(out["episode"], out["completion_ids"], out["env_mask"]):
        assert episode.agents["seller"] == "trainee"
        assert sum(mask) > 0  # the seller spoke at least once (the scripted buyer never accepts the listing)
        assert len(completion) == len(mask)
    rollout._opponents = [AcceptAtOnce()]  # the buyer accepts the listing before the seller speaks
    out = rollout([next(iter(rollout.scenarios))] * 2, trainer)
    assert all(e.outcome.deal and len(e.turns) == 1 for e in out["episode"])
    assert all(sum(m) == 0 and len(c) == 1 for c, m in zip(out["completion_ids"], out["env_mask"]))
    assert all(len(p) > 20 for p in out["prompt_ids"])
    assert [r for r in trainer.reward_funcs[0](episode=out["episode"])] == [1.0, 1.0]  # sold at listing: clipped max


def _sellers_by_step(trainer, rollout, steps: int) -> list[set]:
    """The sellers each training step's group of two met, one scenario throughout."""
    scenario = next(iter(rollout.scenarios))
    seen = []
    for step in range(steps):
        trainer.state.global_step = step
        seen.append({e.agents["seller"] for e in rollout([scenario] * 2, trainer)["episode"]})
    return seen


def test_a_mix_of_opponents_takes_turns_by_step_and_deals_out_evaluation(tiny_trainer):
    trainer, rollout, _ = tiny_trainer("opponent=[scripted:linear, scripted:boulware, scripted:hardliner]")
    seen = _sellers_by_step(trainer, rollout, 4)
    names = [rollout.opponent(k).name for k in range(3)]
    assert len(set(names)) == 3 and seen == [{names[0]}, {names[1]}, {names[2]}, {names[0]}]  # a group meets one opponent
    episodes, _ = rollout.play(list(rollout.scenarios.values())[:4], seed=0)
    assert [e.agents["seller"] for e in episodes] == [names[0], names[1], names[2], names[0]]
    assert [e.scenario.id for e in episodes] == list(rollout.scenarios)[:4]  # order kept


def test_a_weighted_mix_meets_the_heavy_opponent_more_often_and_evaluates_one_each(tiny_trainer):
    """opponent_weights gives one seller more training steps (a seller cannot be listed twice); evaluation and the
    warm start are the unweighted mix's, so a weighted run is validated on the same scenarios and sellers."""
    trainer, rollout, _ = tiny_trainer("opponent=[scripted:linear, scripted:boulware, scripted:hardliner]",
                                       "opponent_weights=[1, 3, 1]")
    seen = [next(iter(s)) for s in _sellers_by_step(trainer, rollout, 10)]
    assert seen[:5].count("scripted:boulware") == 3 and seen[5:] == seen[:5]  # a cycle of 5 steps, repeated
    assert seen[:5].count("scripted:linear") == seen[:5].count("scripted:hardliner") == 1
    cycle = seen[:5]  # spread through the cycle, not in a run (3 of 5 must meet across the cycles' seam)
    assert all(a != b for a, b in zip(cycle, cycle[1:]) if a == "scripted:boulware")
    episodes, _ = rollout.play(list(rollout.scenarios.values())[:3], seed=0)
    assert [e.agents["seller"] for e in episodes] == ["scripted:linear", "scripted:boulware", "scripted:hardliner"]


def test_save_rollouts_writes_each_training_steps_episodes_with_their_group(tiny_trainer):
    """grpo.save_rollouts: what GRPO compared, step by step (the evaluation samples only show the policy)."""
    trainer, rollout, run_dir = tiny_trainer("opponent=[scripted:linear, scripted:boulware]", "grpo.save_rollouts=true",
                                             "grpo.num_generations=2")
    scenarios = list(rollout.scenarios)[:2]
    for step in range(2):
        trainer.state.global_step = step
        out = rollout([scenarios[0]] * 2 + [scenarios[1]] * 2, trainer)
        records = [json.loads(line) for line in (run_dir / "rollouts" / f"step-{step}.jsonl").read_text().splitlines()]
        assert [r["group"] for r in records] == [0, 0, 1, 1] and {r["step"] for r in records} == {step}
        assert [r["id"] for r in records] == [e.id for e in out["episode"]]
        assert [r["reward"] for r in records] == [e.to_dict()["reward"] for e in out["episode"]]
        assert {r["agents"]["seller"] for r in records} == {["scripted:linear", "scripted:boulware"][step]}
    trainer.state.global_step = 0  # a resumed run plays step 0 again: the file is replaced, not doubled
    rollout([scenarios[0]] * 2, trainer)
    assert len((run_dir / "rollouts" / "step-0.jsonl").read_text().splitlines()) == 2
    _, quiet, _ = tiny_trainer("opponent=scripted:linear")
    assert quiet.rollouts_dir is None


def test_a_two_seat_game_takes_the_weights_too(tiny_trainer):
    """Deliberation and CaSiNo build their rollouts through TwoSeatRollout: the weights reach its schedule."""
    trainer, rollout, _ = tiny_trainer("env=deliberation", "opponent=[self, scripted:stance]", "opponent_weights=[1, 2]",
                                       "warm_start.enabled=false", "environment.max_turns=2")
    rollout.attach(trainer)
    assert rollout.schedule == [1, 0, 1]
    assert [rollout.step_opponent(k) is rollout.self_play.agent for k in range(4)] == [False, True, False, False]


def test_weighted_cycles_count_each_entry_its_weight_and_equal_weights_keep_the_plain_order():
    from parley.training.episode_rollout import weighted_cycle

    assert weighted_cycle([1, 1, 1, 1]) == [0, 1, 2, 3]  # a run without weights trains as before
    for weights in ([1, 1, 1, 1, 1, 3], [2, 1], [5, 2, 1], [4]):
        cycle = weighted_cycle(weights)
        assert [cycle.count(i) for i in range(len(weights))] == weights
    cycle = weighted_cycle([1, 1, 1, 1, 1, 3])  # the heavy entry never plays twice running within a cycle
    assert cycle.count(5) == 3 and all(a != b for a, b in zip(cycle, cycle[1:]))
    with pytest.raises(ValueError, match="whole numbers >= 1"):
        weighted_cycle([1, 0])


@pytest.mark.parametrize("value, error", [
    ("[]", "empty list"), ("[self, self]", "twice"),
    ("[scripted:linear, scripted:linear]", "twice"), ("[scripted:linear, scripted:nobody]", "training opponent"),
])
def test_opponent_mix_errors_name_the_problem(value, error):
    with pytest.raises(ParleyError, match=error):
        load_config(None, [f"opponent={value}"])


@pytest.mark.parametrize("opponent, weights, error", [
    ("scripted:linear", "[2]", "opponent names one"),
    ("[scripted:linear, scripted:boulware]", "[1]", "one whole number >= 1 for each of the mix's 2"),
    ("[scripted:linear, scripted:boulware]", "[1, 0]", "one whole number >= 1"),
    ("[scripted:linear, scripted:boulware]", "[1, 1, 1]", "each of the mix's 2 opponents"),
    ("[scripted:linear, scripted:boulware]", "[1, two]", "opponent_weights"),
])
def test_opponent_weight_errors_name_the_problem(opponent, weights, error):
    with pytest.raises(ParleyError, match=error):
        load_config(None, [f"opponent={opponent}", f"opponent_weights={weights}"])


def test_a_mix_with_self_play_alternates_the_frozen_copy_and_the_fixed_opponent(tiny_trainer):
    """A deliberator that only meets a copy of itself never meets an opponent that proposes a red line; a mix such as
    [self, scripted:stance] trains against both, each step's groups against one of them."""
    trainer, rollout, _ = tiny_trainer("opponent=[self, scripted:boulware]", "self_play_refresh_steps=1")
    seen = _sellers_by_step(trainer, rollout, 3)
    assert seen == [{"self"}, {"scripted:boulware"}, {"self"}]
    assert rollout.self_play is not None and rollout.self_play.refreshed_at == 2  # refreshed although step 1 was scripted
    assert rollout.opponent(0) is rollout.self_play.agent and rollout.opponent(1).name == "scripted:boulware"


def test_held_out_opponents_play_the_evaluation_scenarios_and_leave_the_training_ones_in_place(tiny_trainer):
    trainer, rollout, _ = tiny_trainer("opponent=scripted:linear",
                                       "evaluation.opponents=[scripted:boulware, scripted:hardliner]")
    scenarios = list(rollout.scenarios.values())[:3]
    metrics, samples = rollout.evaluate_against(["scripted:boulware", "scripted:hardliner"], scenarios, seed=5)
    assert [e["agents"]["seller"] for e in samples] == ["scripted:boulware", "scripted:hardliner", "scripted:boulware"]
    assert [e["scenario"]["id"] for e in samples] == [s.id for s in scenarios]
    assert {"mean_reward", "mean_reward_ci95", "over_budget_rate"} <= set(metrics)
    # ... and the run still trains and evaluates against linear, also after a held-out evaluation that failed
    assert _sellers_by_step(trainer, rollout, 1) == [{"scripted:linear"}]
    broken = rollout._held_out[("scripted:boulware", "scripted:hardliner")]
    rollout._held_out[("scripted:boulware",)] = [None]  # an agent that cannot play
    with pytest.raises(AttributeError):
        rollout.evaluate_against(["scripted:boulware"], scenarios, seed=5)
    assert rollout.opponent(0).name == "scripted:linear"
    assert rollout.evaluate_against(["scripted:boulware", "scripted:hardliner"], scenarios, seed=5)[1] == samples
    assert rollout._held_out[("scripted:boulware", "scripted:hardliner")] is broken  # built once


def test_a_run_records_its_held_out_evaluation_beside_the_training_one(tiny_model_dir, tmp_path):
    from parley.evaluation.training_report import write_training_report
    from parley.training.run_dir import prepare_run
    from parley.training.trainer import train

    cfg, run_dir, _ = prepare_run(None, tiny_overrides(
        tiny_model_dir, tmp_path / "run", "grpo.max_steps=1", "warm_start.enabled=false", "opponent=scripted:linear",
        "evaluation.opponents=[scripted:conceder]"), None)
    train(cfg, run_dir)
    evals = [json.loads(line) for line in (run_dir / "evals.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evals] == [0, 1]
    for e in evals:
        assert e["heldout/mean_reward"] is not None and len(e["heldout/mean_reward_ci95"]) == 2
        assert set(e) >= {"heldout/" + k for k in e if k != "step" and not k.startswith("heldout/")}
    trained = [json.loads(x) for x in (run_dir / "samples" / "step-1.jsonl").read_text().splitlines()]
    held = [json.loads(x) for x in (run_dir / "samples" / "heldout" / "step-1.jsonl").read_text().splitlines()]
    assert {e["agents"]["seller"] for e in trained} == {"scripted:linear"}
    assert {e["agents"]["seller"] for e in held} == {"scripted:conceder"}
    assert trained[0]["scenario"]["id"] == held[0]["scenario"]["id"]  # the same scenarios, another seller
    html = write_training_report(run_dir).read_text()
    assert "held-out reward" in html and "generalisation gap" in html


def test_a_deliberation_run_evaluates_against_a_held_out_opponent_too(tiny_trainer):
    """Every game's evaluate plays through ``play``: a self-play deliberator is evaluated against the scripted stance
    too, and its frozen copy is back in place afterwards."""
    trainer, rollout, _ = tiny_trainer("env=deliberation", "opponent=self", "evaluation.opponents=[scripted:stance]",
                                       "warm_start.enabled=false", "environment.max_turns=2")
    rollout.attach(trainer)
    dilemmas = list(rollout.scenarios.values())[:2]
    metrics, samples = rollout.evaluate_against(["scripted:stance"], dilemmas, seed=3)
    assert "mean_reward" in metrics and len(samples) == 2
    assert all("scripted:stance" in json.dumps(e["agents"]) for e in samples), samples[0]["agents"]
    assert rollout.opponent(0) is rollout.self_play.agent


@pytest.mark.parametrize("value, error", [
    ("[scripted:linear]", "scripted:linear is a training opponent"), ("[self]", "not a held-out opponent"),
    ("[scripted:boulware, scripted:boulware]", "twice"), ("[]", "evaluation.opponents"),
    ("[scripted:nobody]", "evaluation.opponents entry"),
])
def test_held_out_opponent_errors_name_the_problem(value, error):
    with pytest.raises(ParleyError, match=error):
        load_config(None, ["opponent=scripted:linear", f"evaluation.opponents={value}"])


def test_a_one_entry_mix_is_that_opponent():
    cfg = load_config(None, ["opponent=[scripted:linear]"])
    assert cfg.opponent == "scripted:linear" and cfg.opponents == ["scripted:linear"]
    assert load_config(None, ["opponent=[scripted:linear, smollm2#hostile]"]).opponents == ["scripted:linear", "smollm2#hostile"]


@pytest.mark.parametrize("warm", [False, True], ids=["raw", "warm-start"])
def test_deliberation_training_step_with_the_rule_judge(tiny_model_dir, tmp_path, warm):
    from parley.training.run_dir import prepare_run
    from parley.training.trainer import train

    penalty = ["rewards.red_line_penalty=0.5", "rewards.own_red_line_penalty=0.3",
               "rewards.proposed_red_line_penalty=0.2", "rewards.no_agreement_penalty=0.1"] if warm else []
    cfg, run_dir, _ = prepare_run("configs/deliberation-smollm2-cpu.yaml", tiny_overrides(
        tiny_model_dir, tmp_path / "d", "grpo.max_steps=1", "grpo.num_generations=2", "environment.max_turns=4",
        f"warm_start.enabled={str(warm).lower()}", "warm_start.teachers=[scripted:stance]", *penalty), None)
    # (the shipped config's filtered:smollm2 teacher would load the real SmolLM2; tests/test_warm_start.py covers it)
    assert cfg.env == "deliberation" and cfg.opponent == "self"
    train(cfg, run_dir)
    if warm:
        summary = json.loads((run_dir / "warm_start" / "warm_start.json").read_text())
        assert summary["teachers"]["scripted:stance"]["agreement_rate"] == 1.0 and summary["steps"] >= 1
        assert json.loads((run_dir / "checkpoint-1" / "parley_base.json").read_text())["base"] == "hf:../warm_start"
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert "rewards/collective_agency/mean" in metrics[0]
    assert ("rewards/red_line/mean" in metrics[0]) == warm  # the penalty is its own logged reward, only when set
    assert ("rewards/own_red_line/mean" in metrics[0]) == ("rewards/proposed_red_line/mean" in metrics[0]) == warm
    assert ("rewards/no_agreement/mean" in metrics[0]) == warm
    evals = [json.loads(line) for line in (run_dir / "evals.jsonl").read_text().splitlines()]
    assert {"agreement_rate", "ca_score_mean", "red_line_violations"} <= set(evals[0])
    from parley.evaluation.training_report import write_training_report

    page = write_training_report(run_dir).read_text()
    assert "ca score mean" in page and "opening offer" not in page


def test_deliberation_config_errors():
    with pytest.raises(ParleyError, match="judge"):
        load_config("configs/deliberation-smollm2-cpu.yaml", ["judge=scripted:boulware"])
    with pytest.raises(ParleyError, match="opponent"):
        load_config("configs/deliberation-smollm2-cpu.yaml", ["opponent=scripted:linear"])
    with pytest.raises(ParleyError, match="even grpo.num_generations"):
        load_config("configs/deliberation-smollm2-cpu.yaml", ["grpo.num_generations=3"])


def _judged_episode(agreed: bool, verdict: dict | None):
    """A deliberation episode as the reward functions read it: agreed or not, with the judge's verdict (None: the
    judge failed, so an agreement has no score)."""
    from types import SimpleNamespace as NS

    score = 0.0 if not agreed else (None if verdict is None else verdict["score"])
    return NS(id="x", outcome=NS(agreed=agreed), verdict=verdict, score=score)


def test_the_red_line_penalty_puts_a_crossing_below_no_agreement():
    """Rubric v2 scores a red-line crossing 0, the value of no agreement, so GRPO cannot tell them apart;
    rewards.red_line_penalty makes the crossing strictly worse, and leaves every other outcome's reward alone."""
    from parley.training.deliberation_rollout import collective_agency, red_line

    ep = _judged_episode

    none = ep(False, None)
    crossed = ep(True, {"score": 0.0, "red_line_violations": ["Sam"]})
    good = ep(True, {"score": 7.0, "red_line_violations": []})
    unjudged = ep(True, None)
    funcs = [EpisodeReward("collective_agency", collective_agency, allow_none=True),
             EpisodeReward("red_line", lambda e: red_line(e, 0.5), allow_none=True)]
    per_func = [f(episode=[none, crossed, good, unjudged]) for f in funcs]
    assert per_func[1] == [0.0, -0.5, 0.0, None]  # an unjudged agreement stays out of the advantages
    total = [sum(v) if None not in v else None for v in zip(*per_func)]
    assert total == [0.0, -0.5, 0.7, None] and total[1] < total[0] < total[2]


def test_the_seat_penalties_charge_only_the_seat_they_name():
    """The typical crossing: one side proposes its own stance, the other accepts. red_line charges both seats;
    own_red_line only the trainee whose persona's line it is (it yielded, or proposed the other's stance);
    proposed_red_line only the trainee whose proposal, crossing either line, was accepted."""
    from types import SimpleNamespace as NS

    from parley.training.deliberation_rollout import own_red_line, proposed_red_line

    personas = [NS(name="Alex"), NS(name="Sam")]

    def ep(agreed, verdict, side, by=0):
        score = 0.0 if not agreed else (None if verdict is None else verdict["score"])
        return NS(id="x", dilemma=NS(personas=personas), outcome=NS(agreed=agreed, proposal=NS(by=by) if agreed else None),
                  verdict=verdict, score=score, agent_side=side)

    sams_line = {"score": 0.0, "red_line_violations": ["Sam"]}  # Alex's stance adopted
    both = {"score": 0.0, "red_line_violations": ["Alex", "Sam"]}
    good = {"score": 7.0, "red_line_violations": []}
    episodes = [ep(True, sams_line, 1, by=0),  # Alex proposed her stance, the trainee (Sam) accepted
                ep(True, sams_line, 0, by=0),  # the trainee (Alex) proposed her stance, Sam accepted
                ep(True, sams_line, 1, by=1),  # the trainee (Sam) proposed Alex's stance
                ep(True, both, 0, by=1), ep(False, None, 1), ep(True, good, 1, by=1), ep(True, None, 0)]
    own = EpisodeReward("own_red_line", lambda e: own_red_line(e, 0.3), allow_none=True)
    proposed = EpisodeReward("proposed_red_line", lambda e: proposed_red_line(e, 0.3), allow_none=True)
    assert own(episode=episodes) == [-0.3, 0.0, -0.3, -0.3, 0.0, 0.0, None]
    assert proposed(episode=episodes) == [0.0, -0.3, -0.3, 0.0, 0.0, 0.0, None]
    for charge in (own_red_line, proposed_red_line):  # an evaluation episode has no trainee seat: say so
        with pytest.raises(ValueError, match="agent_side"):
            charge(ep(True, sams_line, None), 0.3)


def test_the_no_agreement_charge_orders_crossing_below_holding_out_below_a_clean_agreement():
    """With red_line and no_agreement together, for the seat that accepts: a crossing pays least, then no agreement,
    then any clean agreement, even one the judge scores 0. So an acceptor that refuses everything pays, which the
    red-line penalties alone never made it do; and the config refuses a charge that would put holding out below a
    crossing."""
    from parley.training.deliberation_rollout import collective_agency, no_agreement, red_line

    ep = _judged_episode

    none = ep(False, None)
    crossed = ep(True, {"score": 0.0, "red_line_violations": ["Sam"]})
    vague = ep(True, {"score": 0.0, "red_line_violations": []})
    good = ep(True, {"score": 7.0, "red_line_violations": []})
    unjudged = ep(True, None)
    funcs = [EpisodeReward("collective_agency", collective_agency, allow_none=True),
             EpisodeReward("red_line", lambda e: red_line(e, 0.15), allow_none=True),
             EpisodeReward("no_agreement", lambda e: no_agreement(e, 0.1), allow_none=True)]
    per_func = [f(episode=[none, crossed, vague, good, unjudged]) for f in funcs]
    assert per_func[2] == [-0.1, 0.0, 0.0, 0.0, 0.0]  # an agreement, judged or not, is not charged
    total = [sum(v) if None not in v else None for v in zip(*per_func)]
    assert total[4] is None and total[1] < total[0] < total[2] < total[3]
    assert load_config("configs/deliberation-smollm2-cpu.yaml", ["rewards.red_line_penalty=0.15",
                                                                 "rewards.no_agreement_penalty=0.1"]).rewards.no_agreement_penalty == 0.1
    for shared in ("0.1", "0.0"):
        with pytest.raises(ParleyError, match=r"no_agreement_penalty \(0.1\) must be below rewards.red_line_penalty"):
            load_config("configs/deliberation-smollm2-cpu.yaml", [f"rewards.red_line_penalty={shared}",
                                                                  "rewards.no_agreement_penalty=0.1"])
    for other in ("bargain", "casino"):
        with pytest.raises(ParleyError, match=rf"rewards.no_agreement_penalty: deliberation only \(env {other}"):
            load_config(f"configs/{other}-smollm2-cpu.yaml", ["rewards.no_agreement_penalty=0.1"])


@pytest.mark.parametrize("name", ["red_line_penalty", "own_red_line_penalty", "proposed_red_line_penalty"])
def test_the_red_line_penalties_are_refused_where_there_are_no_red_lines(name):
    for other in ("bargain", "casino"):
        with pytest.raises(ParleyError, match=rf"rewards.{name}: env {other} has no red lines \(deliberation only\)"):
            load_config(f"configs/{other}-smollm2-cpu.yaml", [f"rewards.{name}=0.5"])
    with pytest.raises(ParleyError, match=name):
        load_config("configs/deliberation-smollm2-cpu.yaml", [f"rewards.{name}=-1"])
    assert getattr(load_config("configs/deliberation-smollm2-cpu.yaml", [f"rewards.{name}=0.5"]).rewards, name) == 0.5


def test_a_judge_failure_is_unscorable_not_zero():
    from parley.training.deliberation_rollout import collective_agency

    class Ep:
        id = "x"

        def __init__(self, score):
            self.score = score

    reward = EpisodeReward("collective_agency", collective_agency, allow_none=True)
    assert reward(episode=[Ep(7.0), Ep(None), Ep(0.0)]) == [0.7, None, 0.0]


def test_a_run_without_learning_signal_is_called_out_once():
    """Three steps in a row where every group's rewards were equal (zero advantages, zero gradient) give one warning
    that says why and what to change; a step with spread resets the count."""
    from parley.training.trainer import SignalWatch

    watch = SignalWatch(patience=3)
    said = [watch.update({"frac_reward_zero_std": f, "reward": 0.0}) for f in (1.0, 1.0, 0.5, 1.0, 1.0)]
    assert said == [None] * 5  # the spread at step 3 broke the streak
    message = watch.update({"frac_reward_zero_std": 1.0, "reward": 0.0})
    assert message and "no learning signal for 3 steps" in message and "num_generations" in message
    assert watch.update({"frac_reward_zero_std": 1.0}) is None  # once
    assert SignalWatch().update({"loss": 0.1}) is None  # a log line without the column (TRL's final summary)


def test_groups_equal_up_to_float_noise_count_as_no_signal():
    """Logged by the guided warm start's GRPO steps: every rollout of a group got the same surplus, but the summed
    float32 rewards differed by an ulp, so TRL's frac_reward_zero_std read 0 while the advantages were noise."""
    from parley.training.trainer import SignalWatch

    watch = SignalWatch(patience=2)
    noisy = {"frac_reward_zero_std": 0.0, "reward": 0.4828, "reward_std": 3.186e-08}
    assert watch.update(noisy) is None
    assert "no learning signal for 2 steps" in watch.update(noisy)
    spread = SignalWatch(patience=1)
    assert spread.update({"frac_reward_zero_std": 0.0, "reward": 0.2, "reward_std": 0.05}) is None


@pytest.mark.parametrize("seating", ["alternate", "group"])
def test_two_seat_groups_alternate_seats_or_keep_one_seat_per_group(tiny_model_dir, tmp_path, seating):
    """With 'group' a GRPO group's advantages compare rollouts that played the same seat: against scripted:stance
    the seat decides whether the red line is on the table first, which an alternating group mixes into the
    advantage. Groups of 2, 2 scenarios a step: the seats over the 4 rollouts of a step, and the next step's."""
    from parley.training.run_dir import prepare_run
    from parley.training.trainer import build_trainer

    cfg, run_dir, _ = prepare_run("configs/deliberation-smollm2-cpu.yaml", tiny_overrides(
        tiny_model_dir, tmp_path / "d", "opponent=scripted:stance", "warm_start.enabled=false",
        f"grpo.seating={seating}"), None)
    trainer, rollout = build_trainer(cfg, run_dir)
    a, b = list(rollout.scenarios)[:2]
    seats = []
    for step in (0, 1):
        trainer.state.global_step = step
        episodes = rollout([a, a, b, b], trainer)["episode"]
        sides = [rollout.sides[e.id] for e in episodes]
        assert all(e.agents[1 - s] == "scripted:stance" for e, s in zip(episodes, sides))  # the trainee sat there
        assert [e.agent_side for e in episodes] == sides  # what the own_red_line reward reads
        seats.append(sides)
    assert seats == ([[0, 1, 0, 1]] * 2 if seating == "alternate" else [[0, 0, 1, 1], [1, 1, 0, 0]])


def test_bargaining_refuses_seating_by_group():
    with pytest.raises(ParleyError, match="grpo.seating: bargaining has no seats"):
        load_config("configs/bargain-smollm2-cpu.yaml", ["grpo.seating=group"])


def test_two_seat_rollout_refuses_an_unknown_seating():
    """The config's Literal guards `parley train`; code that builds a rollout itself gets the same refusal, not
    a silent fall-back to alternating seats."""
    from parley.environments.deliberation import DeliberationConfig
    from parley.environments.dilemmas import sample_dilemmas
    from parley.training.deliberation_rollout import DeliberationRollout

    with pytest.raises(ValueError, match="seating must be one of alternate, group, not 'groups'"):
        DeliberationRollout(sample_dilemmas("train", 2, 0), "scripted:stance", DeliberationConfig(max_turns=4),
                            GenerationSettings(max_new_tokens=8), judge=None, seed=0, seating="groups")


def test_trained_seed_reads_the_run_folder_of_any_saved_model(tmp_path):
    """The seed tables print a spread only across distinct training seeds; the seed comes from the model's run folder."""
    from parley.training.run_dir import trained_seed

    (tmp_path / "final").mkdir()
    (tmp_path / "config.yaml").write_text("seed: 2\nenv: deliberation\n")
    assert trained_seed(f"hf:{tmp_path}/final") == trained_seed(f"hf:{tmp_path}/warm_start#standard.v2") == 2
    assert trained_seed("scripted:linear") == "scripted:linear" and trained_seed("hf:some/hub-id") == "hf:some/hub-id"


def _scripted_metric(monkeypatch, values):
    """Evaluations whose mean_reward is read off ``values`` in turn (the real episodes still play), so that which
    model best/ must hold is known in advance."""
    from parley.training.bargain_rollout import BargainRollout

    real, queue = BargainRollout.evaluate, list(values)

    def evaluate(self, scenarios, seed):
        metrics, samples = real(self, scenarios, seed)
        return {**metrics, "mean_reward": queue.pop(0)}, samples

    monkeypatch.setattr(BargainRollout, "evaluate", evaluate)
    return queue


def _rewards_with_a_spread(monkeypatch):
    """The tiny model's episodes all score alike, so GRPO would never move it; seeded noise gives each group a
    spread, so that each step changes the weights and best/ can be told apart from the last model."""
    import random

    from parley.training.rewards import EpisodeReward

    rng = random.Random(0)
    monkeypatch.setattr(EpisodeReward, "__call__", lambda self, episode=None, **_: [rng.random() for _ in episode])


def _adapter(folder):
    from safetensors.torch import load_file

    return load_file(folder / "adapter_model.safetensors")


@pytest.mark.parametrize("greater, values, step", [
    (True, [0.1, 0.3, 0.2, 0.3], 1),            # a tie keeps the earlier model
    (False, [0.1, 0.3, 0.2, 0.3], 0),           # lowest: the starting model, before any step
    (True, [float("nan"), 0.1, 0.2, 0.05], 2),  # a NaN evaluation is skipped, not kept
])
def test_best_holds_the_model_of_the_best_evaluation(tiny_model_dir, tmp_path, monkeypatch, greater, values, step):
    from parley.evaluation.training_report import write_training_report
    from parley.training.run_dir import prepare_run
    from parley.training.trainer import train

    queue = _scripted_metric(monkeypatch, values)
    _rewards_with_a_spread(monkeypatch)
    cfg, run_dir, _ = prepare_run(None, tiny_overrides(
        tiny_model_dir, tmp_path / "run", "grpo.max_steps=3", "warm_start.enabled=false", "grpo.save_total_limit=5",
        "evaluation.best_metric=mean_reward", f"evaluation.greater_is_better={str(greater).lower()}"), None)
    train(cfg, run_dir)
    assert queue == []  # steps 0..3 each evaluated once
    best = json.loads((run_dir / "best" / "best.json").read_text())
    assert best == {"metric": "mean_reward", "value": values[step], "step": step, "greater_is_better": greater}
    kept = _adapter(run_dir / "best")
    if step == 0:  # the adapter as initialised: B is zero, so best/ plays as the starting model
        assert all(not v.any() for k, v in kept.items() if "lora_B" in k)
    else:
        expected = _adapter(run_dir / f"checkpoint-{step}")
        assert kept.keys() == expected.keys() and all(torch.equal(kept[k], expected[k]) for k in kept)
    assert any(not torch.equal(kept[k], v) for k, v in _adapter(run_dir / "final").items())  # not simply the last
    records = json.loads((run_dir / "best" / "parley_trained.json").read_text())
    assert records["persona"] == cfg.persona and (run_dir / "best" / "parley_base.json").is_file()
    assert not (run_dir / "best.partial").exists()
    html = write_training_report(run_dir).read_text()
    assert f"the model of step {step}" in html and ("no training step beat it" in html) == (step == 0)


def test_a_resumed_run_keeps_the_best_it_had(tiny_model_dir, tmp_path, monkeypatch):
    """Killed after step 2 with best/ from step 1 (0.5): the resumed step 3 scores 0.4 and must not replace it."""
    from parley.training.run_dir import prepare_run
    from parley.training.trainer import train

    _scripted_metric(monkeypatch, [0.1, 0.5, 0.2])
    cfg, run_dir, _ = prepare_run(None, tiny_overrides(
        tiny_model_dir, tmp_path / "run", "grpo.max_steps=3", "warm_start.enabled=false",
        "evaluation.best_metric=mean_reward"), None)
    train(cfg.model_copy(update={"grpo": cfg.grpo.model_copy(update={"max_steps": 2})}), run_dir)
    state = json.loads((run_dir / "checkpoint-2" / "trainer_state.json").read_text())
    state["max_steps"] = 3
    (run_dir / "checkpoint-2" / "trainer_state.json").write_text(json.dumps(state))
    assert json.loads((run_dir / "best" / "best.json").read_text())["step"] == 1
    monkeypatch.undo()  # the next evaluations read a new list
    _scripted_metric(monkeypatch, [0.4])
    cfg, run_dir, checkpoint = prepare_run(None, [], str(run_dir))
    train(cfg, run_dir, checkpoint)
    assert json.loads((run_dir / "best" / "best.json").read_text())["step"] == 1
    # a new run in the same folder starts its own best: the old one is gone before it trains
    import shutil

    for stale in run_dir.glob("checkpoint-*"):
        shutil.rmtree(stale)
    prepare_run(None, tiny_overrides(tiny_model_dir, run_dir, "warm_start.enabled=false"), None)
    assert not (run_dir / "best").exists()


def test_best_metric_errors_name_the_problem(tiny_model_dir, tmp_path):
    from parley.training.run_dir import prepare_run
    from parley.training.trainer import train

    with pytest.raises(ParleyError, match="evaluation.best_metric: heldout/mean_reward .* evaluation.opponents"):
        load_config(None, ["evaluation.best_metric=heldout/mean_reward"])
    load_config(None, ["opponent=scripted:linear", "evaluation.opponents=[scripted:boulware]",
                       "evaluation.best_metric=heldout/mean_reward"])
    cfg, run_dir, _ = prepare_run(None, tiny_overrides(
        tiny_model_dir, tmp_path / "run", "warm_start.enabled=false", "evaluation.best_metric=mean_rewrad"), None)
    with pytest.raises(ParleyError, match="no metric 'mean_rewrad'.*mean_reward, agreement_rate"):
        train(cfg, run_dir)
    cfg, run_dir, _ = prepare_run(None, tiny_overrides(
        tiny_model_dir, tmp_path / "ci", "warm_start.enabled=false", "evaluation.best_metric=mean_reward_ci95"), None)
    with pytest.raises(ParleyError, match="mean_reward_ci95 is not a number"):
        train(cfg, run_dir)
