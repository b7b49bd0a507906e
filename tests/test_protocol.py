import pytest

from parley.environments.bargain import REDACTED, BargainEnv, ProtocolConfig, Role
from parley.environments.scenarios import sample_scenarios

S = sample_scenarios("train", 1, seed=1)[0]


def env(**kw):
    e = BargainEnv(ProtocolConfig(**kw))
    e.reset(S)
    return e


def test_turns_alternate_and_offers_stand():
    e = env()
    assert e.agent_selection is Role.BUYER
    e.step("OFFER: $10")
    assert e.agent_selection is Role.SELLER
    obs = e.observe(Role.SELLER)
    assert obs.other_offer == 10.0 and obs.own_offer == S.listing_price
    assert obs.private_value == S.floor and e.observe(Role.BUYER).private_value == S.budget


def test_accepting_the_standing_offer_makes_the_deal_at_that_price():
    e = env()
    e.step(f"OFFER: ${S.floor + 1:.2f}")
    e.step("ACCEPT")
    assert e.done and e.outcome.deal and e.outcome.price == pytest.approx(S.floor + 1)
    assert e.outcome.closed_by is Role.SELLER and e.outcome.turns == 2


def test_buyer_may_accept_the_listing_immediately():
    e = env()
    e.step("ACCEPT")
    assert e.outcome.deal and e.outcome.price == S.listing_price


def test_accept_with_nothing_to_accept_is_invalid_not_a_deal():
    e = env(first_mover=Role.SELLER)
    e.step(f"OFFER: ${S.listing_price:.2f}")
    e.step("ACCEPT")  # buyer accepts the listing: fine
    assert e.outcome.deal
    e = env(first_mover=Role.SELLER, listing_is_offer=False)
    e.step("hello there")
    rec = e.step("ACCEPT")
    assert rec.effect == "invalid" and not e.done
    assert "no offer" in e.observe(Role.BUYER).notices[0]


def test_walk_away_and_max_turns_end_without_deal():
    e = env()
    e.step("WALK AWAY")
    assert e.done and not e.outcome.deal and e.outcome.reason == "walked_away"
    e = env(max_turns=3)
    for _ in range(3):
        e.step("just chatting")
    assert e.done and e.outcome.reason == "max_turns" and e.outcome.turns == 3
    with pytest.raises(RuntimeError):
        e.step("more")


def test_garbage_is_a_plain_message():
    e = env()
    rec = e.step("\x00\x01 ??? $$$ OFFER: banana")
    assert rec.effect == "message" and not e.done


def test_seller_cannot_offer_below_floor_and_the_price_never_reaches_the_buyer():
    e = env()
    e.step("OFFER: $1")
    low = round(S.floor * 0.5, 2)
    rec = e.step(f"Fine, ${low:.2f} it is. OFFER: ${low:.2f}")
    assert rec.effect == "blocked" and "offer_below_floor" in rec.violations
    assert f"{low:.2f}" not in rec.delivered and REDACTED in rec.delivered
    assert e.observe(Role.BUYER).other_offer == S.listing_price  # the blocked offer does not stand
    assert not e.done
    assert "blocked" in e.observe(Role.SELLER).notices[0]


def test_seller_cannot_offer_above_listing():
    e = env()
    e.step("OFFER: $1")
    rec = e.step(f"OFFER: ${S.listing_price * 2:.2f}")
    assert "offer_above_listing" in rec.violations and e.observe(Role.BUYER).other_offer == S.listing_price


def test_seller_cannot_accept_below_floor():
    e = env()
    e.step(f"OFFER: ${S.floor - 1:.2f}")
    rec = e.step("ACCEPT")
    assert "accept_below_floor" in rec.violations and not e.done


def test_seller_floor_is_redacted_when_revealed():
    e = env()
    e.step("OFFER: $1")
    rec = e.step(f"My absolute minimum is ${S.floor:.2f}, but OFFER: ${S.listing_price:.2f}")
    assert "revealed_floor" in rec.violations
    assert f"{S.floor:.2f}" not in rec.delivered
    assert rec.effect == "offer"  # the valid offer still stands
    assert e.observe(Role.BUYER).history[-1][1] == rec.delivered


def test_seller_may_offer_exactly_its_floor():
    e = env()
    e.step("OFFER: $1")
    rec = e.step(f"OFFER: ${S.floor:.2f}")
    assert rec.effect == "offer" and not rec.violations


def test_buyer_is_not_regulated_and_can_overpay():
    e = env()
    e.step(f"OFFER: ${S.budget + 50:.2f}")
    e.step("ACCEPT")
    assert e.outcome.price > S.budget
