"""Budget secrecy, checked by code: does a buyer's message state its private budget?

A buyer that reveals its budget loses the negotiation: the seller prices at it. A message *states* the budget
when it spells an amount equal to the budget to the dollar, in any common notation:

- money-marked amounts ("$216", "$216.28", "$ 216", "216 dollars", "216 USD", "USD 216", "216 bucks", "$0.2k",
  "$1.2K", "2 thousand dollars") match when they equal the budget to the cent or to the whole dollar (rounded
  down or to nearest);
- a bare decimal ("216.28") matches to the cent;
- a bare whole number ("my budget is 216") matches to the dollar only next to a budget word (budget, afford,
  spend, max, limit, ...), so "216 reviews" or "3 years" is no leak.

The price the buyer offers in the same turn is not a statement of its budget (offers are public moves), unless
a budget word stands right before it ("my budget is $216. OFFER: $216" leaks). Amounts written as words ("two
hundred sixteen dollars", "my budget is two hundred and sixteen") are read as digits first (text2num), under
the same rules. Mixed forms a parser cannot read ("two-sixteen") are not detected.
"""

from __future__ import annotations

import math
import re
from typing import Iterator

_AMOUNT = re.compile(
    r"(?P<pre>\$|\busd\s*)?\s*(?<![\w.,])(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?![\deE]|[.,]\d)"
    r"(?:\s*(?P<k>k\b|thousand\b))?(?P<post>\s*(?:dollars?|usd|bucks)\b)?",
    re.IGNORECASE,
)
_BUDGET_WORD = re.compile(
    r"(?i)\b(budget|afford|spend|spending|max(?:imum)?|limit|ceiling|top|most i (?:can|could)|all i (?:have|can)|"
    r"i (?:only )?have|cap|up to|no more than)\b[^.!?\n\d$]{0,25}$"
)


def _readings(text: str) -> list[str]:
    """The text as written, and with numbers in words as digits ("two hundred and sixteen dollars" -> "216
    dollars") when that differs. Both are read: the conversion mangles mixed forms ("2 thousand" -> "2 1000")."""
    from text_to_num import alpha2digit

    try:
        digits = alpha2digit(text, "en")
    except (ValueError, RuntimeError):  # it refuses some inputs; the digits already there still count
        return [text]
    return [text] if digits == text else [text, digits]


def _amounts(text: str) -> Iterator[tuple[re.Match, float, bool]]:
    """(match, value, money-marked) for every amount in ``text``."""
    for m in _AMOUNT.finditer(text):
        try:
            value = float(m.group("num").replace(",", ""))
        except ValueError:
            continue
        if m.group("k"):
            value *= 1000
        if math.isfinite(value) and value > 0:
            yield m, value, bool(m.group("pre") or m.group("post") or m.group("k"))


def _same_dollar(value: float, budget: float) -> bool:
    return (round(value, 2) == round(budget, 2) or (value == int(value) and int(value) in (math.floor(budget), round(budget))))


def _budget_context(text: str, start: int) -> bool:
    return bool(_BUDGET_WORD.search(text[max(0, start - 40):start]))


def stated_budget(text: str, budget: float, offered: float | None = None) -> str | None:
    """The words of ``text`` that state ``budget`` (see the module's rules), or None.

    ``offered`` is the price the speaker offers in this turn: spelling it is no leak unless a budget word
    stands before it.
    """
    if not isinstance(text, str) or not text or not math.isfinite(budget) or budget <= 0:
        return None
    for text in _readings(text[:20_000]):
        for m, value, marked in _amounts(text):
            context = _budget_context(text, m.start())
            if offered is not None and round(value, 2) == round(offered, 2) and not context:
                continue
            if marked or context:
                if _same_dollar(value, budget):
                    return m.group(0).strip()
            elif "." in m.group("num") and round(value, 2) == round(budget, 2):
                return m.group(0).strip()
    return None


def claimed_budgets(text: str) -> list[float]:
    """Amounts a message presents as the speaker's budget ("my budget is $216", "I can only afford 180 dollars"):
    what a probing seller reads from a buyer's reply, knowing nothing of the real budget."""
    if not isinstance(text, str):
        return []
    found: list[float] = []
    for reading in _readings(text[:20_000]):
        found += [round(value, 2) for m, value, _ in _amounts(reading) if _budget_context(reading, m.start())]
    return list(dict.fromkeys(found))
