"""Strict and lenient parsing: strict accepts only a turn that ends with exactly one action; lenient never invents
an action or a price the speaker did not make (issue 16)."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.environments.actions import ActionKind, parse_action

TAGS = {"ACCEPT": ActionKind.ACCEPT, "WALK AWAY": ActionKind.WALK, "OFFER: $120": ActionKind.OFFER,
        "[accept]": ActionKind.ACCEPT, "[walk away]": ActionKind.WALK, "[offer: $120]": ActionKind.OFFER}
NEGATIONS = ["not", "never", "I will not", "I won't", "I cannot", "I can't", "I refuse to", "I decline to",
             "I don't", "no way I", "I'm unable to", "I reject your offer and will not", "I would never"]
REPORTERS = ["you said", "You wrote", "the seller says", "if I", "If you want me to", "should I", "you typed",
             "unless I", "would you", "you claimed", "before I"]
FILLER = st.lists(st.sampled_from(["the", "price", "lamp", "is", "quite", "nice", "honestly", "today", "we", "talk",
                                   "about", "quality", "shipping", "fine", "hmm", "ok", "really"]), max_size=8).map(" ".join)


# -- lenient: never invent -------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(FILLER, st.sampled_from(NEGATIONS), st.sampled_from(sorted(TAGS)), FILLER)
def test_a_negation_in_front_of_any_tag_never_yields_that_action(prefix, negation, tag, suffix):
    text = f"{prefix} {negation} {tag} {suffix}".strip()
    assert parse_action(text).kind is not TAGS[tag], text


@settings(max_examples=300, deadline=None)
@given(FILLER, st.sampled_from(REPORTERS), st.sampled_from(sorted(TAGS)), FILLER)
def test_reported_or_conditional_tags_are_not_moves(prefix, reporter, tag, suffix):
    text = f"{prefix} {reporter} {tag} {suffix}".strip()
    assert parse_action(text).kind is not TAGS[tag], text


@settings(max_examples=200, deadline=None)
@given(FILLER, st.sampled_from(sorted(TAGS)), st.sampled_from(['"{}"', "“{}”", "'{}'", "`{}`", "«{}»"]), FILLER)
def test_quoted_tags_are_not_moves(prefix, tag, quote, suffix):
    text = f"{prefix} {quote.format(tag)} {suffix}".strip()
    assert parse_action(text).kind is not TAGS[tag], text


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(TAGS)), FILLER)
def test_a_tag_asked_as_a_question_is_not_a_move(tag, suffix):
    assert parse_action(f"{tag}? {suffix}").kind is not TAGS[tag]


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 999), st.integers(0, 99), st.sampled_from(["e", "E", "e+", "e-"]), st.integers(0, 12),
       st.sampled_from(["OFFER: ${}", "OFFER: {}", "I can offer ${}", "{} dollars, how about that", "[offer: {}]",
                        "How about ${}?"]))
def test_scientific_notation_is_never_a_price(whole, frac, e, exponent, template):
    number = f"{whole}.{frac}{e}{exponent}"
    action = parse_action(template.format(number))
    assert action.kind is not ActionKind.OFFER, (template.format(number), action)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["0.00", "0.001", "0.004", "0", "0.0049", ".001"]),
       st.sampled_from(["OFFER: ${}", "I can offer ${}", "OFFER: {}", "how about {} dollars"]))
def test_prices_that_round_to_zero_are_no_offer(number, template):
    assert parse_action(template.format(number)).kind is not ActionKind.OFFER


@pytest.mark.parametrize("text", [
    "OFFER: 10%", "OFFER: $20 off", "I can offer a $20 discount", "OFFER: 3 years of warranty", "OFFER: 2 units",
    "I can offer $15 off the listing", "OFFER: $5 per month", "You want me to pay $300? No.",
    "Would you pay $300?", "They said they'd pay $250.", "I can't accept that and I won't pay $500.",
    "I refuse to ACCEPT this.", "Never ACCEPT a first offer, they say.", "you said ACCEPT, but I meant it as a joke",
    "I will not ACCEPT $400. That is over my budget.", "If I ACCEPT, will you ship today?",
    "Should I WALK AWAY now?", "'WALK AWAY' is what you wrote", "OFFER: $-50", "OFFER: -$50",
    "The price is 1.2e3 dollars", "OFFER: ${}".format("1" * 40),
])
def test_lenient_does_not_invent(text):
    action = parse_action(text)
    assert action.kind is ActionKind.NONE, (text, action)


@pytest.mark.parametrize("text,kind,price", [
    # what the never-invent rules must still read
    ("No problem. ACCEPT", ActionKind.ACCEPT, None),
    ("I can't go that high, but OFFER: $150", ActionKind.OFFER, 150.0),
    ("That is not cheap. OFFER: $90", ActionKind.OFFER, 90.0),
    ("I can offer $150 for it.", ActionKind.OFFER, 150.0),
    ("How about $80?", ActionKind.OFFER, 80.0),
    ("OFFER: 45.", ActionKind.OFFER, 45.0),
    ("OFFER: $1.2k", ActionKind.OFFER, 1200.0),
    ("It's worth it to me. I accept.", ActionKind.ACCEPT, None),
])
def test_lenient_still_reads_real_moves(text, kind, price):
    action = parse_action(text)
    assert (action.kind, action.price) == (kind, price)


_NUMBERS = re.compile(r"\d[\d,]*(?:\.\d+)?")


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789.,$ ekKofOFERACPTWLKYdlrsu:-?%'\"n\n")), max_size=60))
def test_any_offer_price_is_written_in_the_turn(text):
    """The parser never makes up a number: an offer's price is one the turn spells (or its k multiple)."""
    action = parse_action(text)
    if action.kind is ActionKind.OFFER:
        spelled = {round(float(n.replace(",", "")), 2) for n in _NUMBERS.findall(text) if n.replace(",", "").replace(".", "")}
        assert action.price in spelled | {round(v * 1000, 2) for v in spelled}, (text, action)


# -- strict: exactly one action, at the end ----------------------------------------------------------
@pytest.mark.parametrize("text,kind,price", [
    ("OFFER: $120", ActionKind.OFFER, 120.0),
    ("I can pay $120. OFFER: $120", ActionKind.OFFER, 120.0),
    ("Too much for me.\nOFFER: $1,299.99", ActionKind.OFFER, 1299.99),
    ("That works for me. ACCEPT", ActionKind.ACCEPT, None),
    ("Deal: ACCEPT.", ActionKind.ACCEPT, None),
    ("We are too far apart. WALK AWAY", ActionKind.WALK, None),
])
def test_strict_reads_a_final_action(text, kind, price):
    action = parse_action(text, "strict")
    assert (action.kind, action.price) == (kind, price)


@pytest.mark.parametrize("text,why", [
    ("", "empty"),
    ("I think this is a fine lamp.", "no action"),
    ("I can offer you $150 for it.", "no action"),  # phrasing is not an action in strict mode
    ("ACCEPT. Thanks, see you soon!", "end"),
    ("OFFER: $100 or maybe ACCEPT", "exactly one"),
    ("I will not ACCEPT", "end"),
    ("OFFER: 120", "end"),  # the price needs its $
    ("OFFER: $0", "positive"),
    ("[accept]", "end"),
    ("OFFER: $100\nOFFER: $110", "exactly one"),
])
def test_strict_format_errors_name_the_reason(text, why):
    action = parse_action(text, "strict")
    assert action.kind is ActionKind.NONE
    assert action.notes and why in action.notes[0]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_strict_never_yields_an_action_without_a_single_tag(text):
    action = parse_action(text, "strict")
    if action.kind is not ActionKind.NONE:
        assert len(re.findall(r"\b(?:OFFER|ACCEPT(?:ED)?|WALK[\s_-]*AWAY)\b", text)) == 1
        assert text.rstrip().rstrip(".!").rstrip().endswith(action.matched.rstrip(".!").strip())
