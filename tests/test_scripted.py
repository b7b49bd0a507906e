import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.agents.bargainer import (ONLY_PLAYS, SCRIPTED, HardlinerAgent, RelativeTitForTatAgent, TimeDependentAgent,
                                     TitForTatAgent)
from parley.evaluation.bargain_suite import SUITE
from parley.environments.actions import ActionKind, parse_action
from parley.environments.bargain import BargainEnv, ProtocolConfig, Role
from parley.environments.scenarios import sample_scenarios
from parley.rollout import run_bargains

SCENARIOS = sample_scenarios("validation", 30, seed=0)
BUYERS = sorted(n for n in SCRIPTED if ONLY_PLAYS.get(n, Role.BUYER) is Role.BUYER)
SELLERS = sorted(n for n in SCRIPTED if ONLY_PLAYS.get(n, Role.SELLER) is Role.SELLER)


def seller_obs(turn, buyer_offer=None, scenario=SCENARIOS[0], max_turns=10):
    env = BargainEnv(ProtocolConfig(max_turns=max_turns, first_mover=Role.SELLER))
    env.reset(scenario)
    for i in range(turn):
        env.step("..." if i % 2 == 0 else (f"OFFER: ${buyer_offer:.2f}" if buyer_offer else "..."))
    return env.observe(env.agent_selection)


def test_boulware_holds_firm_longer_than_linear_and_conceder():
    obs = seller_obs(4)
    b, l, c = (SCRIPTED[n]().target(obs) for n in ("boulware", "linear", "conceder"))
    assert b > l > c
    s = SCENARIOS[0]
    assert SCRIPTED["boulware"]().target(seller_obs(0)) == s.listing_price
    last = seller_obs(9, max_turns=10)
    assert last.role is Role.BUYER  # with the seller opening, turn 9 is the buyer's
    assert TimeDependentAgent("x", beta=1.0).target(seller_obs(8, max_turns=9)) == pytest.approx(s.floor)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 29), st.integers(0, 9), st.sampled_from(SELLERS))
def test_scripted_sellers_never_propose_below_floor_or_above_listing(i, turn, name):
    obs = seller_obs(turn - turn % 2, scenario=SCENARIOS[i])
    if obs.role is not Role.SELLER:
        return
    action = parse_action(SCRIPTED[name]().act([obs])[0])
    assert action.kind in (ActionKind.OFFER, ActionKind.ACCEPT)
    if action.kind is ActionKind.OFFER:
        assert SCENARIOS[i].floor <= action.price <= SCENARIOS[i].listing_price


def test_scripted_sellers_accept_only_at_or_above_their_target():
    s = SCENARIOS[0]
    high = seller_obs(2, buyer_offer=s.listing_price - 0.01)
    assert parse_action(SCRIPTED["conceder"]().act([high])[0]).kind is ActionKind.ACCEPT
    low = seller_obs(2, buyer_offer=s.floor * 0.5)
    for name in SELLERS:
        assert parse_action(SCRIPTED[name]().act([low])[0]).kind is ActionKind.OFFER


def test_hardliner_never_moves():
    agent = HardlinerAgent()
    prices = {parse_action(agent.act([seller_obs(t)])[0]).price for t in (0, 2, 4, 6, 8)}
    assert prices == {SCENARIOS[0].listing_price}


def test_tit_for_tat_mirrors_the_opponent_concession():
    s = SCENARIOS[0]
    env = BargainEnv(ProtocolConfig(max_turns=10))
    env.reset(s)
    env.step("OFFER: $10.00")
    env.step(TitForTatAgent().act([env.observe(Role.SELLER)])[0])  # opens at listing
    env.step("OFFER: $30.00")  # buyer concedes 20
    price = parse_action(TitForTatAgent().act([env.observe(Role.SELLER)])[0]).price
    assert price == pytest.approx(s.listing_price - 20)
    env.step(f"OFFER: ${price:.2f}")
    env.step("OFFER: $25.00")  # buyer retracts: no concession in return
    assert parse_action(TitForTatAgent().act([env.observe(Role.SELLER)])[0]).price == pytest.approx(price)


def test_relative_tit_for_tat_mirrors_the_share_conceded_not_the_amount():
    s = SCENARIOS[0]
    env = BargainEnv(ProtocolConfig(max_turns=10))
    env.reset(s)
    seller = RelativeTitForTatAgent()
    env.step("OFFER: $10.00")
    env.step(seller.act([env.observe(Role.SELLER)])[0])  # opens at listing
    assert env.observe(Role.BUYER).other_offer == pytest.approx(s.listing_price)
    env.step("OFFER: $12.00")  # the buyer raises its bid by a fifth: the seller keeps 10/12 of its price
    price = parse_action(seller.act([env.observe(Role.SELLER)])[0]).price
    assert price == pytest.approx(max(s.floor, s.listing_price * 10 / 12), abs=0.01)
    assert price != pytest.approx(s.listing_price - 2)  # what the absolute tit-for-tat would offer
    env.step(f"OFFER: ${price:.2f}")
    env.step("OFFER: $11.00")  # a retraction earns no concession back, and no price rise either
    assert parse_action(seller.act([env.observe(Role.SELLER)])[0]).price == pytest.approx(price)
    env.step(f"OFFER: ${price:.2f}")
    env.step("OFFER: $11.00")  # holding earns nothing
    assert parse_action(seller.act([env.observe(Role.SELLER)])[0]).price == pytest.approx(price)


def test_relative_tit_for_tat_stops_at_its_floor_and_accepts_what_reaches_its_price():
    s = SCENARIOS[0]
    env = BargainEnv(ProtocolConfig(max_turns=10))
    env.reset(s)
    seller = RelativeTitForTatAgent()
    env.step("OFFER: $1.00")
    env.step(seller.act([env.observe(Role.SELLER)])[0])
    env.step(f"OFFER: ${s.floor * 0.9:.2f}")  # a huge jump: the ratio alone would take it far below its floor
    price = parse_action(seller.act([env.observe(Role.SELLER)])[0]).price
    assert price == pytest.approx(s.floor)
    env.step(f"OFFER: ${price:.2f}")
    env.step(f"OFFER: ${s.floor:.2f}")
    assert parse_action(seller.act([env.observe(Role.SELLER)])[0]).kind is ActionKind.ACCEPT


def test_relative_tit_for_tat_as_a_buyer_raises_its_bid_by_the_sellers_share():
    s = SCENARIOS[0]
    env = BargainEnv(ProtocolConfig(max_turns=10, first_mover=Role.SELLER))
    env.reset(s)
    buyer = RelativeTitForTatAgent()
    env.step(f"OFFER: ${s.listing_price:.2f}")
    env.step(buyer.act([env.observe(Role.BUYER)])[0])
    bid = env.observe(Role.SELLER).other_offer
    env.step(f"OFFER: ${s.listing_price * 0.9:.2f}")  # the seller comes down a tenth: the bid rises by 1/0.9
    raised = parse_action(buyer.act([env.observe(Role.BUYER)])[0]).price
    assert raised == pytest.approx(min(s.budget, bid / 0.9), abs=0.02) and raised > bid


def test_the_training_only_seller_stays_out_of_the_suite():
    # Runs that train against it can be tested against the suite's sellers as sellers they never met.
    assert "scripted:relative-tit-for-tat" not in SUITE["scripted_sellers"]
    assert "relative-tit-for-tat" in SELLERS


@pytest.mark.parametrize("buyer", BUYERS)
@pytest.mark.parametrize("seller", SELLERS)
@pytest.mark.parametrize("parser", ["lenient", "strict"])
def test_scripted_pairs_play_clean_episodes(buyer, seller, parser):
    episodes = run_bargains(SCENARIOS[:8], SCRIPTED[buyer](), SCRIPTED[seller](), ProtocolConfig(parser=parser))
    for e in episodes:
        assert not e.violations
        assert all(t.action.kind is not ActionKind.NONE and not t.format_error for t in e.turns)
        assert not any(t.revealed_budget for t in e.turns)  # scripted buyers keep their budget
        if e.outcome.deal:
            assert e.scenario.floor <= e.outcome.price <= e.scenario.budget  # scripted buyers respect budgets
