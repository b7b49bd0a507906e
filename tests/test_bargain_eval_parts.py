"""Issue 16's parts, each on hand-made input: budget rules, user catalogs, strict turns in the environment,
the paper's reward, budget leaks in the record, and every metric on hand-played episodes."""

import json
import math
from dataclasses import replace

import pytest

from parley import ParleyError
from parley.environments.bargain import BargainEnv, ProtocolConfig, Role
from parley.environments.catalog import hash_split, load_catalog, read_catalog
from parley.environments.scenarios import Scenario, ScenarioConfig, is_conflict_index, sample_scenarios
from parley.evaluation.bargain_metrics import bargain_metrics
from parley.rollout.bargain import BargainEpisode

S = sample_scenarios("test", 1, seed=2)[0]  # an MI scenario: floor < budget < listing


# -- budget rules ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("share", [0.0, 0.25, 0.5, 0.3, 1.0])
def test_mixed_rule_gives_exactly_the_configured_share_of_ci(share):
    scenarios = sample_scenarios("test", 40, seed=1, config=ScenarioConfig(budget_rule="mixed", conflict_share=share))
    ci = [s for s in scenarios if s.interest == "conflicting"]
    assert len(ci) == math.floor(40 * share + 1e-9)
    for s in ci:
        assert s.budget < s.floor and s.budget >= s.floor * (1 - 0.30) - 0.01
    for s in scenarios:
        if s.interest == "mutual":
            assert s.floor <= s.budget < s.listing_price


def test_every_prefix_of_a_mixed_draw_keeps_the_share():
    assert all(sum(is_conflict_index(i, 0.5) for i in range(n)) == n // 2 for n in range(1, 60))


def test_listing_fraction_rule_prices_at_the_fraction_and_ci_is_where_the_low_is_above_it():
    scenarios = sample_scenarios("test", 140, seed=0, config=ScenarioConfig(budget_rule="listing-fraction"))
    for s in scenarios:
        assert s.budget == round(0.8 * s.listing_price, 2)
        assert (s.interest == "conflicting") == (s.floor > s.budget)
    assert 0 < sum(s.interest == "conflicting" for s in scenarios) < 140  # the real catalog has both kinds


def test_uniform_rule_is_unchanged_and_always_mi():
    a = sample_scenarios("test", 30, seed=5)
    b = sample_scenarios("test", 30, seed=5, config=ScenarioConfig(budget_rule="uniform"))
    assert a == b and all(s.interest == "mutual" for s in a)


def test_scenarios_are_a_pure_function_of_split_seed_and_index():
    config = ScenarioConfig(budget_rule="mixed", conflict_share=0.5)
    long = sample_scenarios("test", 30, seed=9, config=config)
    assert sample_scenarios("test", 11, seed=9, config=config) == long[:11]


@pytest.mark.parametrize("kw,words", [
    ({"budget_rule": "half"}, "unknown budget rule"),
    ({"listing_fraction": 1.5}, "listing_fraction"),
    ({"conflict_share": -0.1}, "conflict_share"),
    ({"conflict_gap_low": 0.5, "conflict_gap_high": 0.2}, "conflict gap"),
])
def test_bad_scenario_configs_are_named(kw, words):
    with pytest.raises(ParleyError, match=words):
        ScenarioConfig(**kw)


def test_scenario_records_its_interest_and_reads_back():
    ci = replace(S, budget=round(S.floor * 0.9, 2))
    d = json.loads(json.dumps(ci.to_dict()))
    assert d["interest"] == "conflicting" and Scenario.from_dict(d) == ci


# -- user catalogs ----------------------------------------------------------------------------------------
def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_example_catalog_loads_and_splits_by_hash(repo_root):
    products = read_catalog(repo_root / "examples" / "catalog.csv")
    assert len(products) >= 20 and all(p.split == hash_split(p.id) for p in products)
    assert {p.split for p in products} == {"train", "validation", "test"}
    scenarios = sample_scenarios("test", 5, seed=0, config=ScenarioConfig(catalog=str(repo_root / "examples" / "catalog.csv")))
    assert all(s.product.source == "user:catalog.csv" for s in scenarios)


def test_jsonl_catalog_with_dollar_strings_and_lowest_price(tmp_path):
    path = _write(tmp_path, "c.jsonl", json.dumps({"title": "Lamp", "category": "home", "listing_price": "$1,200.50",
                                                   "lowest_price": "$900", "split": "test"}) + "\n\n")
    (p,) = read_catalog(path)
    assert (p.listing_price, p.lowest_price, p.split) == (1200.5, 900.0, "test")
    assert load_catalog("test", path) == [p]


@pytest.mark.parametrize("name,text,words", [
    ("c.csv", "title,category,listing_price,floor\nLamp,home,100,120\n", "line 2.*floor.*above the listing"),
    ("c.csv", "title,category,listing_price\nLamp,home,100\n", "line 2.*'floor' or 'lowest_price'"),
    ("c.csv", "title,category,listing_price,floor\nLamp,home,abc,50\n", "line 2, field 'listing_price'"),
    ("c.csv", "title,category,listing_price,floor\n,home,100,50\n", "line 2, field 'title'"),
    ("c.csv", "title,category,listing_price,floor\nLamp,home,-3,50\n", "line 2, field 'listing_price'"),
    ("c.csv", "title,category,listing_price,floor\nLamp,home,100,50\nLamp,home,90,40\n", "line 3, field 'id'.*repeats line 2"),
    ("c.csv", "title,category,listing_price,floor,split\nLamp,home,100,50,dev\n", "line 2, field 'split'"),
    ("c.jsonl", '{"title": "Lamp"\n', "line 1: not valid JSON"),
    ("c.jsonl", '[1, 2]\n', "line 1: expected a JSON object"),
    ("c.jsonl", "", "has no products"),
    ("c.xlsx", "x", "unknown catalog format"),
    ("c.csv", "title,category,listing_price,floor\nLamp,home,nan,50\n", "line 2, field 'listing_price'"),
])
def test_catalog_errors_name_the_line_and_field(tmp_path, name, text, words):
    with pytest.raises(ParleyError, match=words):
        read_catalog(_write(tmp_path, name, text))


def test_missing_catalog_and_empty_split_are_named(tmp_path):
    with pytest.raises(ParleyError, match="does not exist"):
        load_catalog("test", tmp_path / "nope.csv")
    path = _write(tmp_path, "c.csv", "title,category,listing_price,floor,split\nLamp,home,100,50,train\n")
    with pytest.raises(ParleyError, match="no products in the test split"):
        load_catalog("test", path)


# -- the environment: strict turns, paper reward, leaks ---------------------------------------------------------
def play(scenario, turns, **protocol) -> BargainEpisode:
    env = BargainEnv(ProtocolConfig(**protocol))
    env.reset(scenario)
    for text in turns:
        if env.done:
            break
        env.step(text)
    if not env.done:
        raise AssertionError("hand-played episode did not finish")
    rewards = env.rewards()
    return BargainEpisode(env.scenario, env.turns, env.outcome, rewards[Role.BUYER], rewards[Role.SELLER])


def test_strict_mode_counts_format_errors_and_tells_the_speaker():
    env = BargainEnv(ProtocolConfig(parser="strict", max_turns=4))
    env.reset(S)
    record = env.step("I can offer you $10 for it.")  # a phrasing: lenient reads it, strict does not
    assert record.format_error and record.effect == "message" and env.offers[Role.BUYER] is None
    env.step("OFFER: $99")
    assert any("Format error" in n for n in env.observe(Role.BUYER).notices)
    lenient = BargainEnv(ProtocolConfig(max_turns=4))
    lenient.reset(S)
    assert not lenient.step("I can offer you $10 for it.").format_error


def test_paper_reward_penalises_a_malformed_turn_and_uses_the_absolute_span():
    price = round((S.floor + S.budget) / 2, 2)
    clean = play(S, [f"OFFER: ${price:.2f}", "ACCEPT"], reward="paper", parser="strict")
    assert clean.buyer_reward == pytest.approx((S.budget - price) / (S.budget - S.floor))
    sloppy = play(S, ["hello there", "OFFER: $1", f"OFFER: ${price:.2f}", "ACCEPT"], reward="paper", parser="strict")
    assert sloppy.outcome.deal and sloppy.buyer_reward == -1.0
    surplus = play(S, ["hello there", "OFFER: $1", f"OFFER: ${price:.2f}", "ACCEPT"], parser="strict")
    assert surplus.buyer_reward == pytest.approx(clean.buyer_reward)  # Parley's surplus ignores format


@pytest.mark.parametrize("talk", ["hello there", "I will not ACCEPT that.", "Did you say ACCEPT?", "What is its condition?"])
def test_lenient_paper_reward_lets_plain_talk_pass(talk):
    # Lenient mode allows turns without a move; only a tag it cannot read is a malformed action.
    price = round((S.floor + S.budget) / 2, 2)
    chatty = play(S, [talk, "OFFER: $1", f"OFFER: ${price:.2f}", "ACCEPT"], reward="paper")
    assert chatty.outcome.deal and chatty.turns[0].format_error and not chatty.turns[0].malformed
    assert chatty.buyer_reward == pytest.approx((S.budget - price) / (S.budget - S.floor))
    assert bargain_metrics([chatty], seed=0)["all"]["paper_reward"]["mean"] == pytest.approx(chatty.buyer_reward)


@pytest.mark.parametrize("bad", ["OFFER: $abc", "OFFER: 3 years of warranty", "OFFER: $20 off"])
def test_lenient_paper_reward_punishes_an_unreadable_tag(bad):
    price = round((S.floor + S.budget) / 2, 2)
    episode = play(S, [bad, "OFFER: $1", f"OFFER: ${price:.2f}", "ACCEPT"], reward="paper")
    assert episode.outcome.deal and episode.turns[0].malformed and episode.buyer_reward == -1.0
    assert episode.to_dict()["turns"][0]["malformed"] is True


def test_ci_rewards_are_finite_and_any_deal_is_over_budget():
    ci = replace(S, budget=round(S.floor * 0.8, 2))
    deal = play(ci, [f"OFFER: ${S.floor:.2f}", "ACCEPT"])
    assert deal.buyer_reward == -1.0 and 0 <= deal.seller_reward <= 1
    walk = play(ci, ["WALK AWAY"])
    assert walk.buyer_reward == 0.0 and walk.seller_reward == 0.0


def test_a_buyer_stating_its_budget_is_recorded_but_an_offer_at_it_is_not():
    text = f"My budget is ${S.budget:,.2f}, honestly. OFFER: ${S.floor:.2f}"
    episode = play(S, [text, "ACCEPT"])
    assert episode.turns[0].revealed_budget and episode.to_dict()["turns"][0]["revealed_budget"]
    at_budget = play(S, [f"OFFER: ${S.budget:.2f}", "ACCEPT"])
    assert at_budget.turns[0].revealed_budget is None


# -- metrics on hand-made episodes -------------------------------------------------------------------------------
def test_every_metric_on_hand_made_episodes():
    room = S.listing_price - S.floor
    mid = round(S.floor + 0.5 * (S.budget - S.floor), 2)
    over = round(S.budget + 1, 2)
    ci = replace(S, id="ci", budget=round(S.floor * 0.8, 2))
    episodes = [
        # MI: opens at 40% of listing, deal at mid (in budget), one strict format error before
        play(S, ["hmm", "OFFER: $999999", f"OFFER: ${0.4 * S.listing_price:.2f}", "OFFER: $1", f"OFFER: ${mid:.2f}", "ACCEPT"],
             parser="strict", max_turns=10),
        # MI: deal over budget after leaking the budget
        play(replace(S, id="b"), [f"My budget is ${S.budget:.2f}. OFFER: ${over:.2f}", "ACCEPT"], parser="strict"),
        # CI: walks away (rational exit)
        play(ci, ["WALK AWAY"], parser="strict"),
        # CI: deals at the floor (over its budget)
        play(replace(ci, id="ci2"), [f"OFFER: ${S.floor:.2f}", "ACCEPT"], parser="strict"),
    ]
    m = bargain_metrics(episodes, seed=0)
    allm, mi, cim = m["all"], m["mutual"], m["conflicting"]
    assert allm["episodes"] == 4 and mi["episodes"] == 2 and cim["episodes"] == 2
    assert allm["deal_rate"]["mean"] == 0.75
    assert mi["overshoot_rate"]["mean"] == 0.5 and cim["overshoot_rate"]["mean"] == 0.5
    assert cim["ci_rational_exit"]["mean"] == 0.5 and mi["ci_rational_exit"]["n"] == 0
    assert mi["first_offer_ratio"]["mean"] == pytest.approx((0.4 + over / S.listing_price) / 2, abs=1e-4)
    assert mi["captured_room"]["mean"] == pytest.approx(((S.listing_price - mid) + (S.listing_price - over)) / room / 2)
    # buyer turns: 3 in the first episode (1 error: "hmm"), 1, 1, 1 -> 1 of 6
    assert allm["buyer_format_error_rate"]["mean"] == pytest.approx(1 / 6)
    # the seller's "OFFER: $999999" is a valid action (blocked by the rules), "OFFER: $1" below the floor too
    assert allm["seller_format_error_rate"]["mean"] == 0.0
    assert mi["budget_leak_rate"]["mean"] == 0.5 and cim["budget_leak_rate"]["mean"] == 0.0
    expected = [(S.budget - mid) / (S.budget - S.floor), -1.0, 0.0, -1.0]
    assert allm["buyer_reward"]["mean"] == pytest.approx(sum(expected) / 4)
    assert allm["paper_reward"]["mean"] == pytest.approx((-1.0 - 1.0 + 0.0 - 1.0) / 4)  # the first had a format error
    assert allm["mean_turns"]["mean"] == pytest.approx((6 + 2 + 1 + 2) / 4)
    lo, hi = allm["buyer_reward"]["ci95"]
    assert lo <= allm["buyer_reward"]["mean"] <= hi


def test_metrics_of_no_episodes_are_empty_not_errors():
    m = bargain_metrics([], seed=0)
    assert m["all"]["episodes"] == 0 and m["all"]["deal_rate"]["mean"] is None


# -- training: the same options reach the trainer -------------------------------------------------------------
def test_leak_penalty_is_a_reward_function_of_its_own():
    from parley.training.rewards import reward_functions

    leaky = play(S, [f"My budget is ${S.budget:.2f}. OFFER: ${S.floor:.2f}", "ACCEPT"])
    quiet = play(S, [f"OFFER: ${S.floor:.2f}", "ACCEPT"])
    funcs = {f.__name__: f for f in reward_functions(Role.BUYER, 0.2, leak_penalty=0.5)}
    assert funcs["budget_leak"](episode=[leaky, quiet]) == [-0.5, 0.0]
    assert funcs["surplus"](episode=[leaky]) == [leaky.buyer_reward]
    assert "budget_leak" not in {f.__name__ for f in reward_functions(Role.BUYER, 0.2)}


def test_budget_offer_rate_counts_offers_of_exactly_the_budget_that_the_leak_rate_exempts():
    at_budget = play(S, [f"OFFER: ${S.budget:.2f}", "ACCEPT"])
    below = play(S, [f"OFFER: ${S.budget - 0.01:.2f}", "ACCEPT"])
    m = bargain_metrics([at_budget, below], seed=0)["all"]
    assert m["budget_offer_rate"]["mean"] == 0.5 and m["budget_leak_rate"]["mean"] == 0.0


def test_deal_cost_makes_a_deal_at_the_budget_pay_less_than_holding_out():
    from parley.training.rewards import reward_functions

    at_budget = play(S, [f"OFFER: ${S.budget:.2f}", "ACCEPT"])
    held_out = play(S, [f"OFFER: ${S.floor / 2:.2f}", f"OFFER: ${S.budget * 2:.2f}"], max_turns=2)
    bargained = play(S, [f"OFFER: ${S.floor:.2f}", "ACCEPT"])
    assert at_budget.outcome.deal and not held_out.outcome.deal and bargained.outcome.deal
    funcs = reward_functions(Role.BUYER, 0.2, deal_cost_value=0.05)
    assert "deal_cost" in {f.__name__ for f in funcs}
    totals = [sum(f(episode=[ep])[0] for f in funcs) for ep in (at_budget, held_out, bargained)]
    assert totals[0] == pytest.approx(-0.05) and totals[1] == 0.0   # without the cost both would be 0
    assert totals[2] == pytest.approx(bargained.buyer_reward - 0.05) and totals[2] > totals[1]
    assert "deal_cost" not in {f.__name__ for f in reward_functions(Role.BUYER, 0.2)}


def test_training_config_carries_parser_reward_budget_rule_and_catalog(repo_root, tmp_path):
    from parley.training.config import TrainConfig
    from parley.training.games import _bargain_protocol, _bargain_scenarios

    cfg = TrainConfig(environment={"parser": "strict", "reward": "paper", "budget_rule": "mixed", "conflict_share": 0.25,
                                   "catalog": str(repo_root / "examples" / "catalog.csv")})
    protocol = _bargain_protocol(cfg)
    assert (protocol.parser, protocol.reward) == ("strict", "paper")
    scenarios = _bargain_scenarios(cfg, "train", 8, 0)
    assert sum(s.interest == "conflicting" for s in scenarios) == 2
    assert all(s.product.source == "user:catalog.csv" for s in scenarios)
    bad = tmp_path / "bad.csv"
    bad.write_text("title,category,listing_price\nLamp,home,10\n")
    with pytest.raises(ValueError, match="line 2"):
        TrainConfig(environment={"catalog": str(bad)})


def test_the_cluster_bootstrap_resamples_whole_scenarios():
    """evaluation/stats.py cluster_bootstrap_ci: one value per cluster is the plain bootstrap, draw for draw; five
    copies of each value (five sellers that played a scenario alike) give the interval of the values themselves,
    where the plain bootstrap, counting every copy as a draw, gives one about sqrt(5) times narrower."""
    import random

    import pytest

    from parley.evaluation.stats import bootstrap_ci, cluster_bootstrap_ci

    rng = random.Random(3)
    values = [rng.uniform(-1, 1) for _ in range(40)]
    assert cluster_bootstrap_ci(values, list(range(40))) == bootstrap_ci(values)
    copies, clusters = values * 5, list(range(40)) * 5
    clustered, plain = cluster_bootstrap_ci(copies, clusters), bootstrap_ci(copies)
    assert clustered == pytest.approx(bootstrap_ci(values), abs=1e-12)
    width = lambda ci: ci[1] - ci[0]  # noqa: E731
    assert 1.8 < width(clustered) / width(plain) < 2.7
    # clusters of unequal size: the statistic is the mean of every value drawn, so the point estimate sits inside
    uneven = cluster_bootstrap_ci([0.0, 0.0, 0.0, 1.0], ["a", "a", "a", "b"])
    assert uneven[0] <= 0.25 <= uneven[1]
    assert cluster_bootstrap_ci([0.5, 0.7], ["x", "x"]) == (0.6, 0.6)  # one cluster: no spread to estimate
    with pytest.raises(ValueError, match="3 values but 2 cluster labels"):
        cluster_bootstrap_ci([1.0, 2.0, 3.0], ["a", "b"])


def test_suite_metrics_resample_scenarios_not_their_replicas():
    """The suite plays each scenario --rollouts times (ids <scenario>/r<k>). Four replicas that played alike carry
    no more evidence than one play, so every metric's CI over them (the ratio metrics' too) must be the CI of one play
    per scenario, not an interval about twice as narrow; the means are unchanged."""
    from parley.evaluation.bargain_metrics import replica_id, scenario_of

    scenarios = sample_scenarios("test", 12, seed=5, config=ScenarioConfig(budget_rule="mixed", conflict_share=0.0))
    once = []
    for i, s in enumerate(scenarios):  # a spread of outcomes: deals at various prices, format errors, no deal
        price = round(s.floor + (s.budget - s.floor) * (i % 4) / 4, 2)
        turns = ["hello", f"OFFER: ${price:.2f}", "ACCEPT"] if i % 3 else [f"OFFER: ${price:.2f}", "REJECT", "WALK AWAY"]
        once.append(play(s, turns, parser="strict"))
    replicated = [replace(e, scenario=replace(e.scenario, id=replica_id(e.scenario.id, r))) for r in range(4)
                  for e in once]
    assert {scenario_of(e.scenario.id) for e in replicated} == {s.id for s in scenarios}
    one, four = bargain_metrics(once, seed=0)["all"], bargain_metrics(replicated, seed=0)["all"]
    assert one["deal_rate"]["mean"] not in (0.0, 1.0) and one["buyer_format_error_rate"]["mean"] > 0
    for metric in ("deal_rate", "buyer_reward", "buyer_format_error_rate"):
        assert four[metric]["mean"] == pytest.approx(one[metric]["mean"])
        assert four[metric]["ci95"] == pytest.approx(one[metric]["ci95"], abs=1e-9), metric
        assert four[metric]["n"] == 4 * one[metric]["n"]
