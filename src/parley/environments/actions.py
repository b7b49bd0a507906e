"""Extract at most one bargaining action from a free-text turn.

Agents are told to end a turn with one tag: ``OFFER: $123.45``, ``ACCEPT`` or ``WALK AWAY``.
Small models often don't, so when no tag is present a conservative fallback reads first-person
phrasings ("I can offer you $150", "I accept", "I'm walking away"). Anything else is a plain
message. The parser never raises: garbage in, ``ActionKind.NONE`` out.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from enum import Enum

MAX_PRICE = 1e9


class ActionKind(str, Enum):
    OFFER = "offer"
    ACCEPT = "accept"
    WALK = "walk"
    NONE = "none"


@dataclass(frozen=True)
class Action:
    kind: ActionKind = ActionKind.NONE
    price: float | None = None
    source: str | None = None  # "tag" (explicit) or "heuristic" (fallback phrasing)
    matched: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["kind"] = self.kind.value
        d["notes"] = list(self.notes)
        return d


def format_action(action: Action) -> str:
    """The canonical tag for an action (what scripted agents write)."""
    if action.kind is ActionKind.OFFER:
        return f"OFFER: ${action.price:,.2f}"
    if action.kind is ActionKind.ACCEPT:
        return "ACCEPT"
    if action.kind is ActionKind.WALK:
        return "WALK AWAY"
    return ""


_NUMBER = r"(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?![\deE])\s*([kK]\b)?"
_PRICE = re.compile(r"\$\s*" + _NUMBER + r"|" + _NUMBER.replace("(", "(?P<bare>", 1) + r"\s*(?:dollars|usd|bucks)\b",
                    re.IGNORECASE)

# Tags: upper-case words, or any case inside brackets. Upper case keeps prose such as
# "I can't accept that" from reading as an acceptance.
_TAG = re.compile(
    r"\[\s*(?i:(?P<b_offer>offer)\s*[:=]?\s*(?P<b_price>[^\]]{0,40})|(?P<b_accept>accept(?:ed)?)|(?P<b_walk>walk[\s_-]*away))\s*\]"
    r"|\b(?P<offer>OFFER)\b\s*[:=]?\s*(?P<price>\$?\s*[\d.,]+(?:\s*[kK])?)(?!\w)"
    r"|\b(?P<accept>ACCEPT(?:ED)?)\b"
    r"|\b(?P<walk>WALK[\s_-]*AWAY)\b"
)

_NEGATION = re.compile(r"(?i)\b(not|never|no|cannot|can't|won't|don't|wouldn't|couldn't)\b|n't\b")
_OFFER_VERB = re.compile(
    r"(?i)\b(offer(?:ing)?|pay|propose|counter(?:[- ]offer)?|how about|what about|can do|could do|"
    r"settle (?:on|for|at)|meet (?:you )?at|go (?:as )?(?:low|high) as|let's say|i'll do|i will do|"
    r"take it for|sell (?:it )?(?:to you )?for|price (?:is|of))\b"
)
_ACCEPT_PHRASE = re.compile(
    r"(?i)\b(i (?:happily |gladly )?accept|i'll accept|i will accept|(?:it's|it is|that's|that is|we have) a deal|"
    r"deal!|you've got a deal|you have a deal|i'll take it|sold!)"
)
_WALK_PHRASE = re.compile(
    r"(?i)\bi(?:'m| am|'ll| will)? (?:walk(?:ing)? away|(?:leav(?:e|ing)|end(?:ing)?) (?:the|this) (?:negotiation|deal|conversation))"
)


def parse_price(text: str) -> float | None:
    """First price in ``text`` ("$1,299.99", "$1.2k", "450 dollars"), or None."""
    match = _PRICE.search(text)
    if not match:
        return None
    return _price_from_match(match)


def _price_from_match(match: re.Match) -> float | None:
    groups = match.groups()
    # _PRICE has two alternatives of three groups each: ($-prefixed) or (bare number + "dollars").
    whole, frac, k = groups[0:3] if groups[0] is not None else groups[3:6]
    try:
        value = float(whole.replace(",", "") + (frac or ""))
    except (TypeError, ValueError):
        return None
    if k:
        value *= 1000
    if not math.isfinite(value) or value <= 0 or value >= MAX_PRICE:
        return None
    return round(value, 2)


# "offer" as a noun that names someone's standing offer ("the seller's current offer: $300",
# "your offer of $50") reports a price; it does not make one. Small models echo such status lines.
_MENTION = re.compile(r"(?i)\b(current|seller's|buyer's|your|their|his|her|listing|asking|previous|last|standing)\s+$")


def _mentioned(text: str, start: int) -> bool:
    return bool(_MENTION.search(text[max(0, start - 20):start]))


def _negated(text: str, start: int) -> bool:
    window = text[max(0, start - 25):start]
    return bool(_NEGATION.search(window))


def _from_tags(text: str) -> Action | None:
    matches = list(_TAG.finditer(text))
    if not matches:
        return None
    notes: list[str] = []
    if len(matches) > 1:
        notes.append(f"{len(matches)} action tags; kept the last")
    m = matches[-1]
    if m.group("offer") or m.group("b_offer"):
        price = parse_price(m.group("price") or m.group("b_price") or "")
        if price is None:
            # "OFFER: 120" (no $) is a valid tag too.
            raw = (m.group("price") or m.group("b_price") or "").strip()
            price = parse_price("$" + raw.lstrip("$ ")) if raw else None
        if price is None:
            return Action(ActionKind.NONE, None, "tag", m.group(0), tuple(notes + ["offer tag without a valid price"]))
        return Action(ActionKind.OFFER, price, "tag", m.group(0), tuple(notes))
    if m.group("accept") or m.group("b_accept"):
        return Action(ActionKind.ACCEPT, None, "tag", m.group(0), tuple(notes))
    return Action(ActionKind.WALK, None, "tag", m.group(0), tuple(notes))


def _from_phrasing(text: str) -> Action | None:
    for verb in _OFFER_VERB.finditer(text):
        if _negated(text, verb.start()) or _mentioned(text, verb.start()):
            continue
        tail = text[verb.end():verb.end() + 40]
        price_match = _PRICE.search(tail)
        if price_match:
            price = _price_from_match(price_match)
            if price is not None:
                return Action(ActionKind.OFFER, price, "heuristic", verb.group(0) + tail[:price_match.end()])
    for phrase, kind in ((_ACCEPT_PHRASE, ActionKind.ACCEPT), (_WALK_PHRASE, ActionKind.WALK)):
        for m in phrase.finditer(text):
            if not _negated(text, m.start()):
                return Action(kind, None, "heuristic", m.group(0))
    return None


def parse_action(text: object) -> Action:
    """The single action in a turn, or ``ActionKind.NONE`` for a plain message. Never raises."""
    if not isinstance(text, str) or not text.strip():
        return Action()
    text = text[:20_000]  # bound regex work on hostile input
    return _from_tags(text) or _from_phrasing(text) or Action()
