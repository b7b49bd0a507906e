import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.agents.bargainer import (FINAL_OFFER_TURNS_LEFT, ONLY_PLAYS, SCRIPTED, FinalOfferAgent, HardlinerAgent,
                                     RelativeTitForTatAgent, TimeDependentAgent, TitForTatAgent)
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


@pytest.mark.parametrize("name", ["relative-tit-for-tat", "final-offer"])
def test_the_training_only_sellers_stay_out_of_the_suite(name):
    # Runs that train against them can be tested against the suite's sellers as sellers they never met.
    assert f"scripted:{name}" not in SUITE["scripted_sellers"]
    assert name in SELLERS


def final_offer_game(s, buyer_bids, seller=FinalOfferAgent()):
    """8 turns, buyer first: the buyer bids ``buyer_bids`` (a text is sent as is), the seller answers."""
    env = BargainEnv(ProtocolConfig(max_turns=8))
    env.reset(s)
    for bid in buyer_bids:
        env.step(bid if isinstance(bid, str) else f"OFFER: ${bid:.2f}")
        if env.done:
            break
        env.step(seller.act([env.observe(Role.SELLER)])[0])
        if env.done:
            break
    return env


def linear_at_the_deadline(s):
    """scripted:linear's price on turn 5 of 8 (t = 5/7), the final-offer seller's final offer in ``final_offer_game``."""
    return s.listing_price - 5 / 7 * (s.listing_price - s.floor)


def test_final_offer_concedes_like_linear_then_states_its_final_offer():
    s = SCENARIOS[0]
    env = final_offer_game(s, [1.00, 2.00, 3.00])
    seller_turns = [t for t in env.turns if t.role is Role.SELLER]
    assert [t.action.kind for t in seller_turns] == [ActionKind.OFFER] * 3
    linear = final_offer_game(s, [1.00, 2.00, 3.00], seller=SCRIPTED["linear"]())
    linear_turns = [t for t in linear.turns if t.role is Role.SELLER]
    assert [t.delivered for t in seller_turns[:2]] == [t.delivered for t in linear_turns[:2]]
    final = seller_turns[2]
    assert env.config.max_turns - 5 == FINAL_OFFER_TURNS_LEFT  # turn 5 of 8 is the deadline turn
    assert "final offer" in final.delivered and "walk away" in final.delivered
    assert final.action.price == linear_turns[2].action.price
    assert final.action.price == pytest.approx(linear_at_the_deadline(s), abs=0.011)


def test_final_offer_walks_away_from_a_bid_below_it_and_takes_one_that_meets_it():
    s = SCENARIOS[0]
    final = linear_at_the_deadline(s)
    walked = final_offer_game(s, [1.00, 2.00, 3.00, final - 1.00])
    assert not walked.outcome.deal and walked.outcome.reason == "walked_away"
    assert walked.outcome.closed_by is Role.SELLER
    met = final_offer_game(s, [1.00, 2.00, 3.00, final + 0.02])
    assert met.outcome.deal and met.outcome.price == pytest.approx(final + 0.02, abs=0.006)
    accepted = final_offer_game(s, [1.00, 2.00, 3.00, "ACCEPT"])
    assert accepted.outcome.deal and accepted.outcome.price == pytest.approx(final, abs=0.011)


def test_final_offer_accepts_a_bid_that_reaches_it_before_the_deadline():
    s = SCENARIOS[0]
    env = final_offer_game(s, [s.listing_price])
    assert env.outcome.deal and env.outcome.price == pytest.approx(s.listing_price)


def test_a_splitting_buyer_that_never_accepts_gets_nothing_from_the_final_offer_seller():
    # The lesson it is there to teach: against scripted:linear the same bids end in a deal at the deadline.
    s = SCENARIOS[0]
    bids = [0.5 * s.listing_price, 0.6 * s.listing_price, 0.65 * s.listing_price, 0.7 * s.listing_price]
    assert max(bids) < linear_at_the_deadline(s)
    assert final_offer_game(s, bids).outcome.reason == "walked_away"
    assert final_offer_game(s, bids, seller=SCRIPTED["linear"]()).outcome.deal


def test_final_offer_with_the_seller_opening_ends_on_the_buyers_last_turn():
    # Seller first: its turns are 0, 2, 4, 6; turn 6 (2 left) is the final offer and the buyer's turn 7 ends it.
    s = SCENARIOS[0]
    env = BargainEnv(ProtocolConfig(max_turns=8, first_mover=Role.SELLER))
    env.reset(s)
    seller = FinalOfferAgent()
    texts = []
    for _ in range(4):
        texts.append(seller.act([env.observe(Role.SELLER)])[0])
        env.step(texts[-1])
        env.step("OFFER: $1.00")
    assert ["final" in t for t in texts] == [False, False, False, True]
    assert env.done and env.outcome.reason != "walked_away"


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
