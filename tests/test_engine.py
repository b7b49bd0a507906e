"""The batched engine on a tiny random model: batching must not change what greedy decoding says."""

import pytest
import torch

from parley.models.generation import GenerationSettings
from parley.agents.bargainer import BargainLLMAgent
from parley.agents.bargainer import SCRIPTED
from parley.environments.bargain import ProtocolConfig, Role
from parley.environments.scenarios import sample_scenarios
from parley.rollout import run_bargains

SCENARIOS = sample_scenarios("test", 6, seed=0)
PROTOCOL = ProtocolConfig(max_turns=4)


def agent(backend, role, **kw):
    return BargainLLMAgent(name="tiny", backend=backend, role=role, settings=GenerationSettings(max_new_tokens=12, **kw))


def transcripts(episodes):
    return [[t.text for t in e.turns] for e in episodes]


def test_batched_equals_sequential_under_greedy(tiny_backend):
    buyer = agent(tiny_backend, Role.BUYER, do_sample=False)
    seller = agent(tiny_backend, Role.SELLER, do_sample=False)
    batched = run_bargains(SCENARIOS, buyer, seller, PROTOCOL, batch_size=6)
    sequential = run_bargains(SCENARIOS, buyer, seller, PROTOCOL, batch_size=1)
    assert transcripts(batched) == transcripts(sequential)
    assert any(t for tr in transcripts(batched) for t in tr)  # the model did say something


def test_one_generate_call_per_turn_for_the_whole_batch(tiny_backend):
    buyer = agent(tiny_backend, Role.BUYER, do_sample=False)
    before = tiny_backend.stats.calls
    episodes = run_bargains(SCENARIOS, buyer, SCRIPTED["boulware"](), PROTOCOL)
    buyer_turns = max(sum(t.role is Role.BUYER for t in e.turns) for e in episodes)
    assert tiny_backend.stats.calls - before == buyer_turns


def test_same_seed_same_transcripts_when_sampling(tiny_backend):
    buyer = agent(tiny_backend, Role.BUYER, temperature=1.0)
    seller = SCRIPTED["linear"]()
    a = run_bargains(SCENARIOS, buyer, seller, PROTOCOL, seed=7)
    b = run_bargains(SCENARIOS, buyer, seller, PROTOCOL, seed=7)
    c = run_bargains(SCENARIOS, buyer, seller, PROTOCOL, seed=8)
    assert transcripts(a) == transcripts(b)
    assert transcripts(a) != transcripts(c)


def test_completion_ids_are_the_sampled_ids_and_decode_to_the_turn(tiny_backend):
    buyer = agent(tiny_backend, Role.BUYER, temperature=1.0)
    obs = [__import__("parley.environments.bargain", fromlist=["BargainEnv"]).BargainEnv(PROTOCOL)]
    obs[0].reset(SCENARIOS[0])
    buyer.act([obs[0].observe(Role.BUYER)], seed=1)
    comp = buyer.last_completions[0]
    tok = tiny_backend.tokenizer
    ids = comp.completion_ids
    body = ids[:-1] if ids and ids[-1] in tiny_backend.stop_ids else ids
    assert tok.decode(body, skip_special_tokens=True) == comp.text
    assert 0 < len(ids) <= 12
    # The prompt ids are exactly the rendered chat template of the observation, unpadded.
    rendered = tiny_backend.render(buyer.messages(obs[0].observe(Role.BUYER)))
    assert comp.prompt_ids == tok(rendered, add_special_tokens=False)["input_ids"]
    assert tok.pad_token_id not in comp.prompt_ids[:1] or comp.prompt_ids[0] == tok.bos_token_id


def test_left_padding_keeps_rows_independent(tiny_backend):
    short = [{"role": "user", "content": "hi"}]
    long = [{"role": "user", "content": "hello " * 40}]
    s = GenerationSettings(max_new_tokens=8, do_sample=False)
    alone = tiny_backend.generate([short], s, seed=0)[0].completion_ids
    together = tiny_backend.generate([long, short], s, seed=0)[1].completion_ids
    assert alone == together
    assert tiny_backend.tokenizer.padding_side == "left"
    assert torch.get_default_dtype() == torch.float32


def test_prefix_cache_reuse_gives_the_same_greedy_transcripts_with_less_prefill(tiny_backend):
    plain = [agent(tiny_backend, role, do_sample=False) for role in (Role.BUYER, Role.SELLER)]
    cached = [agent(tiny_backend, role, do_sample=False) for role in (Role.BUYER, Role.SELLER)]
    for a in plain:
        a.reuse_cache = False
    protocol = ProtocolConfig(max_turns=6)
    before = tiny_backend.stats.prompt_tokens
    expected = run_bargains(SCENARIOS, *plain, protocol)
    plain_prefill = tiny_backend.stats.prompt_tokens - before
    before = tiny_backend.stats.prompt_tokens
    got = run_bargains(SCENARIOS, *cached, protocol)
    cached_prefill = tiny_backend.stats.prompt_tokens - before
    assert transcripts(got) == transcripts(expected)
    assert cached_prefill < 0.6 * plain_prefill
    mine = [k for k in tiny_backend._sessions if k.startswith((cached[0]._session_ns, cached[1]._session_ns))]
    assert not mine  # finished episodes are forgotten


def test_prefix_cache_survives_a_changed_history(tiny_backend):
    """A session whose next prompt diverges early (edited history) falls back to the common prefix."""
    s = GenerationSettings(max_new_tokens=6, do_sample=False)
    conv = [{"role": "system", "content": "sys"}, {"role": "user", "content": "hello there"}]
    tiny_backend.generate([conv], s, seed=0, keys=["k"])
    edited = [{"role": "system", "content": "sys"}, {"role": "user", "content": "completely different words"}]
    with_cache = tiny_backend.generate([edited], s, seed=0, keys=["k"])[0].completion_ids
    without = tiny_backend.generate([edited], s, seed=0)[0].completion_ids
    tiny_backend.forget(["k"])
    assert with_cache == without


# -- continuous batching (models/continuous.py, rollout/continuous.py) -------------------------------------------
def _pair(backend, seller_llm: bool, **kw):
    seller = agent(backend, Role.SELLER, **kw) if seller_llm else SCRIPTED["boulware"]()
    return agent(backend, Role.BUYER, **kw), seller


def test_continuous_engine_gives_the_sequential_greedy_transcripts(tiny_backend):
    for seller_llm in (False, True):
        sequential = run_bargains(SCENARIOS, *_pair(tiny_backend, seller_llm, do_sample=False), PROTOCOL, batch_size=1)
        for slots in (1, 3, 32):
            continuous = run_bargains(SCENARIOS, *_pair(tiny_backend, seller_llm, do_sample=False), PROTOCOL,
                                      batch_size=slots, engine="continuous")
            assert transcripts(continuous) == transcripts(sequential), (seller_llm, slots)
    assert any(t for tr in transcripts(sequential) for t in tr)


def test_continuous_sampling_depends_on_the_seed_not_on_the_slot_count(tiny_backend):
    def play(slots, seed):
        return transcripts(run_bargains(SCENARIOS, *_pair(tiny_backend, True, temperature=1.0), PROTOCOL, seed=seed,
                                        batch_size=slots, engine="continuous"))

    assert play(2, 7) == play(6, 7) == play(2, 7)
    assert play(2, 7) != play(2, 8)


def test_continuous_engine_refills_slots_and_reuses_each_dialogue_cache(tiny_backend):
    from parley.models.continuous import Request, SlotEngine

    engine = SlotEngine(tiny_backend.model, tiny_backend.tokenizer, tiny_backend.stop_ids,
                        tiny_backend.tokenizer.pad_token_id, slots=2, context=8)  # the cache must grow, too
    settings = GenerationSettings(max_new_tokens=5, do_sample=False)
    done, busiest = [], 0
    prompts = [tiny_backend.encode([{"role": "user", "content": f"Offer {i} for the lamp."}]) for i in range(5)]
    for i, p in enumerate(prompts):
        engine.submit(Request(prompt=p, seed=i, settings=settings, key=f"d{i}",
                              on_done=lambda c, i=i: done.append((i, c))))
    while engine.pending():
        engine.step()
        busiest = max(busiest, len(engine.busy))
    assert len(done) == 5 and busiest == 2  # five requests through two slots
    done = [c for _, c in sorted(done, key=lambda ic: ic[0])]
    # each completion equals HF generate's greedy answer to the same prompt
    reference = tiny_backend.generate_ids(prompts, settings, seed=0)
    assert [c.completion_ids for c in done] == [r.completion_ids for r in reference]
    # the next turn of dialogue d4 (its K/V still in a slot) runs only its new tokens
    before = engine.stats.prompt_tokens
    follow = prompts[4] + done[4].completion_ids + tiny_backend.encode([{"role": "user", "content": "And?"}])[1:]
    engine.submit(Request(prompt=follow, seed=9, settings=settings, key="d4"))
    engine.run()
    assert engine.stats.prompt_tokens - before < len(follow) - len(prompts[4])


def test_continuous_engine_rejects_unknown_names_and_empty_prompts(tiny_backend):
    import pytest

    from parley.models.continuous import Request, SlotEngine

    with pytest.raises(ValueError, match="unknown engine"):
        run_bargains(SCENARIOS, *_pair(tiny_backend, False, do_sample=False), PROTOCOL, engine="warp")
    with pytest.raises(ValueError, match="at least one prompt token"):
        SlotEngine.of(tiny_backend, slots=1).submit(Request(prompt=[], seed=0, settings=GenerationSettings()))


def test_both_engines_count_forwards_and_kv_reads_for_the_bandwidth_bound(tiny_backend):
    """The counts behind benchmarks/rollout.py's bandwidth figure: one forward per generated token, and attention
    reads every position up to the current one (the slot engine) or the whole static cache (HF generate)."""
    from parley.models.backends import GenerationStats
    from parley.models.continuous import Request, SlotEngine

    settings = GenerationSettings(max_new_tokens=6, do_sample=False)
    prompt = tiny_backend.encode([{"role": "user", "content": "Offer 40 for the lamp."}])
    engine = SlotEngine(tiny_backend.model, tiny_backend.tokenizer, [], tiny_backend.tokenizer.pad_token_id,
                        slots=1, stats=GenerationStats())
    engine.submit(Request(prompt=prompt, seed=0, settings=settings))
    engine.run()
    n, p = 6, len(prompt)  # no stop ids: exactly six tokens, the last never fed back
    assert engine.stats.forwards == n
    assert engine.stats.kv_reads == p + sum(p + i for i in range(1, n))

    before_f, before_kv = tiny_backend.stats.forwards, tiny_backend.stats.kv_reads
    out = tiny_backend.generate_ids([prompt, prompt[:-2]], settings, seed=0)
    steps = max(len(c.completion_ids) for c in out)
    assert tiny_backend.stats.forwards - before_f == steps
    assert tiny_backend.stats.kv_reads - before_kv == 2 * (len(prompt) + 6) * steps


def test_slot_sampler_draws_only_from_transformers_nucleus_and_ignores_other_rows():
    """The batched nucleus (top candidates first, full sort when the nucleus is wider) keeps exactly the tokens
    transformers' TopPLogitsWarper keeps, and a row's draw does not depend on the rows beside it."""
    from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper

    from parley.models.continuous import _next_tokens

    torch.manual_seed(0)
    peaked, flat = torch.randn(1, 2000) * 4, torch.randn(1, 2000) * 0.1  # flat: a nucleus of ~1,800 tokens
    settings = GenerationSettings(temperature=0.7, top_p=0.9, top_k=0)
    for logits in (peaked, flat):
        scores = TopPLogitsWarper(0.9)(None, TemperatureLogitsWarper(0.7)(None, logits.clone()))
        nucleus = set(torch.isfinite(scores[0]).nonzero().flatten().tolist())
        g = torch.Generator().manual_seed(3)
        draws = {_next_tokens(logits, [settings], [g])[0] for _ in range(400)}
        assert draws <= nucleus and len(draws) > 1
    assert len(nucleus) > 256  # the flat row took the full-sort path
    greedy = GenerationSettings(do_sample=False)
    alone = _next_tokens(peaked, [settings], [torch.Generator().manual_seed(5)])
    mixed = _next_tokens(torch.cat([flat, peaked, flat]), [greedy, settings, settings],
                         [torch.Generator().manual_seed(9), torch.Generator().manual_seed(5), torch.Generator().manual_seed(9)])
    assert mixed[1] == alone[0] and mixed[0] == int(flat.argmax())


def test_continuous_engine_prefills_a_shared_prefix_once_and_copies_it(tiny_backend):
    """New dialogues admitted together, or later into free slots, take the K/V of the instructions they share from
    another slot instead of recomputing them, and still say what HF generate says."""
    from parley.models.backends import common_prefix
    from parley.models.continuous import Request, SlotEngine

    engine = SlotEngine.of(tiny_backend, slots=3)
    settings = GenerationSettings(max_new_tokens=4, do_sample=False)
    system = {"role": "system", "content": "You are a careful buyer of second-hand lamps. " * 4}
    prompts = [tiny_backend.encode([system, {"role": "user", "content": f"The seller asks {40 + i} dollars."}])
               for i in range(5)]
    shared = min(common_prefix(prompts[0], p) for p in prompts[1:])
    assert shared >= 30
    done = {}
    before = engine.stats.prompt_tokens
    for i, p in enumerate(prompts):  # three admitted at once, two later into freed slots
        engine.submit(Request(prompt=p, seed=0, settings=settings, key=f"d{i}", on_done=lambda c, i=i: done.__setitem__(i, c)))
    engine.run()
    assert engine.stats.prompt_tokens - before <= sum(len(p) for p in prompts) - 4 * shared
    reference = tiny_backend.generate_ids(prompts, settings, seed=0)
    assert [done[i].completion_ids for i in range(5)] == [r.completion_ids for r in reference]


def test_engines_pass_the_cache_under_this_transformers_name(tiny_backend):
    """transformers renamed ``past_key_values`` to ``cache`` and drops the old name in 5.40: our engines must pass
    the name the installed version reads, so they neither warn now nor break on that release."""
    import inspect
    import warnings

    from transformers.models.llama.modeling_llama import LlamaModel

    from parley.models.compat import CACHE_ARG

    assert CACHE_ARG in inspect.signature(LlamaModel.forward).parameters
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for engine in ("lockstep", "continuous"):
            run_bargains(SCENARIOS[:2], *_pair(tiny_backend, True, do_sample=False), PROTOCOL, batch_size=2,
                         engine=engine)
    stale = [str(w.message) for w in caught if "past_key_values" in str(w.message)]
    assert not stale, stale


def _warped(logits, temperature, top_p=0.9, top_k=0):
    """The probabilities transformers' ``generate`` samples from: its warpers, in its order."""
    from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    scores = TemperatureLogitsWarper(temperature)(None, logits.clone())
    if top_k:
        scores = TopKLogitsWarper(top_k)(None, scores)
    return TopPLogitsWarper(top_p)(None, scores).softmax(-1)[0]


def _tv(p, q):
    return 0.5 * (p - q).abs().sum().item()


def _tv_bound(support, n):
    return 0.6 * (support / n) ** 0.5 + 0.02  # above the sampling noise, ~0.5 * sqrt(2 * support / (pi * n))


@pytest.mark.parametrize("top_k", [0, 20, 50, 300])
def test_slot_sampler_draws_with_the_nucleus_probabilities(top_k):
    """Not only the right support: the slot engine's draws follow the probabilities transformers' temperature,
    top-k and top-p warpers give (what lockstep's ``generate`` samples from), so training on either engine samples
    the same policy. Total variation between 6,000 draws and the exact distribution, on nuclei of ~20 and ~100
    tokens, with top-k off, inside the nucleus, and wider than the sampler's candidates (the full-sort path); the
    bound is tight enough that a sampler skipping the temperature or drawing uniformly over the nucleus fails it."""
    from parley.models.continuous import _next_tokens

    settings, n = GenerationSettings(temperature=0.7, top_p=0.9, top_k=top_k), 6000
    for seed, scale in ((1, 3.0), (2, 2.0)):
        torch.manual_seed(seed)
        logits = torch.randn(1, 2000) * scale
        exact = _warped(logits, 0.7, top_k=top_k)
        support = int((exact > 0).sum())
        assert not top_k or support <= top_k
        draws = _next_tokens(logits.expand(n, -1), [settings] * n, [torch.Generator().manual_seed(i) for i in range(n)])
        empirical = torch.bincount(torch.tensor(draws), minlength=2000).float() / n
        bound = _tv_bound(support, n)
        assert _tv(empirical, exact) < bound, (support, _tv(empirical, exact), bound)
        for wrong in (_warped(logits, 1.0, top_k=top_k), (exact > 0).float() / support):  # no temperature; uniform
            assert _tv(wrong, exact) > 2 * bound, (support, _tv(wrong, exact), bound)


@pytest.mark.parametrize("top_k", [50, 0])
def test_both_engines_sample_what_the_settings_ask_for(tiny_backend, top_k):
    """End to end, on the tiny model's first token (a nucleus of ~380 tokens at temperature 0.7): lockstep's
    ``generate`` and the slot engine both draw from temperature -> top-k -> top-p as the settings say. ``generate``
    fills a top_k left unset with 50, so a backend that passes None would sample top-k 50 where the settings say
    off (the two engines then sampled different policies: the defect this test was written for)."""
    from parley.models.continuous import Request, SlotEngine

    prompt = tiny_backend.encode([{"role": "user", "content": "Offer 3 for the lamp."}])
    settings = GenerationSettings(max_new_tokens=1, temperature=0.7, top_p=0.9, top_k=top_k, batch_size=500)
    with torch.no_grad():
        logits = tiny_backend.model(torch.tensor([prompt])).logits[:, -1].float()
    exact = _warped(logits, 0.7, top_k=top_k)
    support = set((exact > 0).nonzero().flatten().tolist())
    assert top_k or len(support) > 150  # without top-k the nucleus is far wider than 50
    n = 3000
    lockstep = [c.completion_ids[0] for c in tiny_backend.generate_ids([prompt] * n, settings, seed=0)]
    engine = SlotEngine.of(tiny_backend, slots=64)
    slots: dict[int, int] = {}
    for i in range(n):
        engine.submit(Request(prompt=prompt, seed=i, settings=settings,
                              on_done=lambda c, i=i: slots.__setitem__(i, c.completion_ids[0])))
    engine.run()
    for name, draws in (("lockstep", lockstep), ("continuous", [slots[i] for i in range(n)])):
        assert set(draws) <= support, name
        if not top_k:
            assert len(set(draws)) > 50, name  # top-k 50 slipped in
        empirical = torch.bincount(torch.tensor(draws), minlength=exact.shape[0]).float() / n
        bound = _tv_bound(len(support), n)
        assert _tv(empirical, exact) < bound, (name, _tv(empirical, exact), bound)