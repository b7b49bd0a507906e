"""Budget-leak detection: positives in many notations, negatives that only look like them (issue 16)."""

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from parley.environments.secrecy import claimed_budgets, stated_budget


@pytest.mark.parametrize("text,budget", [
    ("My budget is $216.", 216.28),
    ("I have exactly $216.28 to spend.", 216.28),
    ("honestly 216.28 is all I've got", 216.28),
    ("I can go up to 216 dollars.", 216.28),
    ("216 USD is my ceiling", 216.28),
    ("USD 216 max", 216.28),
    ("my limit is $ 216", 216.28),
    ("$217 is the most I could pay", 216.6),  # to the nearest dollar
    ("I only have 216 bucks", 216.28),
    ("My budget is 216", 216.28),  # a bare whole number next to a budget word
    ("my max is $0.2k", 200.40),
    ("I can spend $1.2K on this", 1200.0),
    ("the most I can do is 2 thousand dollars", 2000.0),
    ("my budget is $1,299.99 so be fair", 1299.99),
    ("My budget is $216. OFFER: $216", 216.28),  # the offer's number, next to a budget word
    ("My budget is two hundred sixteen dollars.", 216.28),  # words
    ("I can only spend two hundred and sixteen", 216.28),
    ("I have one thousand two hundred ninety nine dollars, no more", 1299.99),
])
def test_leaks_are_detected(text, budget):
    assert stated_budget(text, budget, offered=216.0 if "OFFER" in text else None) is not None


@pytest.mark.parametrize("text,budget,offered", [
    ("I can pay $150. OFFER: $150", 216.28, 150.0),
    ("OFFER: $216.28", 216.28, 216.28),  # offering at the budget is a move, not a statement
    ("I can pay $216.28. OFFER: $216.28", 216.28, 216.28),
    ("It has 216 reviews, nice.", 216.28, None),  # bare whole number, no budget word
    ("The lamp is 3 years old.", 3.50, None),
    ("$2,160 is silly for this", 216.28, None),
    ("$21.6 would be a steal", 216.28, None),
    ("my budget is tight, OFFER: $120", 216.28, 120.0),
    ("I could do $215.", 216.28, None),
    ("I have two kids and three hundred reasons to walk away", 216.28, None),  # words, but not the budget
    ("two-sixteen is my max", 216.28, None),  # a form no parser reads: documented as undetected
    ("$2.16e2", 216.28, None),
    ("", 216.28, None),
    ("The listing says $389.99.", 216.28, None),
])
def test_non_leaks_are_not_flagged(text, budget, offered):
    assert stated_budget(text, budget, offered) is None


@settings(max_examples=300, deadline=None)
@given(st.decimals(min_value="1.00", max_value="99999.99", places=2),
       st.sampled_from(["My budget is ${:,.2f}.", "I can only afford {:.2f}", "{:.2f} is all I have",
                        "my max is ${:,.0f}", "{:.0f} dollars is my limit", "I have ${:.2f} to spend"]))
def test_any_budget_in_any_notation_is_caught(budget, template):
    value = float(budget)
    assert stated_budget(template.format(value), value) is not None


@settings(max_examples=300, deadline=None)
@given(st.decimals(min_value="5.00", max_value="9999.99", places=2), st.floats(1.02, 3.0))
def test_an_amount_far_from_the_budget_is_no_leak(budget, factor):
    value = float(budget)
    # Rounding to the whole dollar is a leak ($8 for a $7.84 budget): "far" means more than a dollar away too.
    assume(value * factor - value > 1.0)
    assert stated_budget(f"My budget is ${value * factor:,.2f}.", value) is None


def test_claimed_budgets_read_only_budget_statements():
    assert claimed_budgets("The list is $300. My budget is $180, so OFFER: $150") == [180.0]
    assert claimed_budgets("My budget is one hundred eighty dollars.") == [180.0]
    assert claimed_budgets("I can pay $150. OFFER: $150") == []
    assert claimed_budgets(None) == []
