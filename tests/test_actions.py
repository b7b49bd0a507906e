import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.environments.actions import Action, ActionKind, format_action, parse_action, parse_price


@pytest.mark.parametrize("text,kind,price", [
    ("OFFER: $1,299.99", ActionKind.OFFER, 1299.99),
    ("Hmm, too high for me. OFFER: 45", ActionKind.OFFER, 45.0),
    ("[offer: $99]", ActionKind.OFFER, 99.0),
    ("OFFER: $1.2k", ActionKind.OFFER, 1200.0),
    ("Fine. ACCEPT", ActionKind.ACCEPT, None),
    ("sounds good [accept]", ActionKind.ACCEPT, None),
    ("This is going nowhere. WALK AWAY", ActionKind.WALK, None),
    # fallback phrasings of small models
    ("The bike is $300. I can offer you $150 for it.", ActionKind.OFFER, 150.0),
    ("How about 80 dollars?", ActionKind.OFFER, 80.0),
    ("That's a deal!", ActionKind.ACCEPT, None),
    ("I am walking away.", ActionKind.WALK, None),
    # negations and mere mentions are plain messages
    ("I can't accept $300, that is too much.", ActionKind.NONE, None),
    ("I will not pay $500 for this.", ActionKind.NONE, None),
    ("The listing says $300.", ActionKind.NONE, None),
    # echoed status lines name standing offers; they are not offers
    ("[Turn 1 of 10. Seller's current offer: $389.99]", ActionKind.NONE, None),
    ("[Turn 3 of 8. Seller's current offer: $237.60. Your current offer: none. Your budget: $216.28.]", ActionKind.NONE, None),
    ("Your offer of $50 is too low.", ActionKind.NONE, None),
    ("The seller's offer: $549.95. I offer $400.", ActionKind.OFFER, 400.0),
    ("", ActionKind.NONE, None),
    # malformed tag prices never become offers
    ("OFFER: $0", ActionKind.NONE, None),
    ("OFFER: $-5", ActionKind.NONE, None),
    ("OFFER: 99999999999999999999", ActionKind.NONE, None),
    ("OFFER: $1e400", ActionKind.NONE, None),
])
def test_parse_examples(text, kind, price):
    action = parse_action(text)
    assert action.kind is kind
    assert action.price == price


def test_last_tag_wins_and_is_noted():
    action = parse_action("OFFER: $100 ... actually ACCEPT")
    assert action.kind is ActionKind.ACCEPT
    assert any("kept the last" in n for n in action.notes)


def test_explicit_tag_beats_phrasing():
    assert parse_action("I could offer $10 but OFFER: $12").price == 12.0


def test_non_string_input_is_a_plain_message():
    assert parse_action(None).kind is ActionKind.NONE
    assert parse_action(42).kind is ActionKind.NONE


def test_parse_price_units():
    assert parse_price("$ 1,234") == 1234.0
    assert parse_price("about 12.5 bucks") == 12.5
    assert parse_price("no number") is None


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_garbage_never_crashes_and_prices_are_sane(text):
    action = parse_action(text)
    assert isinstance(action, Action)
    if action.kind is ActionKind.OFFER:
        assert action.price is not None and math.isfinite(action.price) and 0 < action.price < 1e9
    else:
        assert action.price is None


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80),
       st.sampled_from(["OFFER", "ACCEPT", "WALK AWAY", "$", "[", "]", ":", "k", "dollars", "\n"]), st.text(max_size=80))
def test_fuzz_tag_fragments_never_crash(prefix, fragment, suffix):
    parse_action(prefix + fragment + suffix)


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value="0.01", max_value="999999.99", places=2), st.sampled_from(["", "Sure. ", "well\n"]))
def test_canonical_offer_round_trips(price, prefix):
    action = Action(ActionKind.OFFER, float(price))
    parsed = parse_action(prefix + format_action(action))
    assert parsed.kind is ActionKind.OFFER and parsed.price == pytest.approx(float(price))
