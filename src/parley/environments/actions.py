"""Extract at most one bargaining action from a free-text turn, in one of two modes.

Agents are told to end a turn with one tag: ``OFFER: $123.45``, ``ACCEPT`` or ``WALK AWAY``.

- **strict** (the RLVR bargaining paper's protocol): the turn must *end* with exactly one action, in capitals,
  starting its line or a new sentence, and no other action tag may appear anywhere in the turn. Anything else
  is a format error (``Action.kind is NONE`` with the reason in ``notes``).
- **lenient** (the default): the last tag anywhere counts, and when no tag is present a conservative fallback
  reads first-person phrasings ("I can offer you $150", "I accept", "I'm walking away").

A wrong parse corrupts the verifiable reward (a refusal read as ACCEPT closes a deal the speaker refused);
a missed one only costs a turn. So the lenient reader skips every tag or phrasing it cannot attribute to the
speaker as a move: negated ("I will not ACCEPT"), refused ("I refuse to ACCEPT"), quoted or reported ("you
said ACCEPT"), conditional ("if I ACCEPT ...") or asked ("ACCEPT?"); and it reads no price from scientific
notation, a price that rounds to zero, a negative amount, a discount ("$20 off") or a number with another unit
("OFFER: 3 years"). The parser never raises: garbage in, ``ActionKind.NONE`` out.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Iterator, Literal

MAX_PRICE = 1e9
ParseMode = Literal["lenient", "strict"]
PARSE_MODES = ("lenient", "strict")


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
    span: tuple[int, int] | None = None  # where ``matched`` lies in the turn's text

    def to_dict(self) -> dict:
        d = asdict(self)
        d["kind"] = self.kind.value
        d["notes"] = list(self.notes)
        d.pop("span")
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Action":
        """The action ``to_dict`` wrote (without its span, which it does not keep)."""
        return cls(kind=ActionKind(d["kind"]), price=d["price"], source=d["source"], matched=d["matched"],
                   notes=tuple(d["notes"]))


def format_action(action: Action) -> str:
    """The canonical tag for an action (what scripted agents write)."""
    if action.kind is ActionKind.OFFER:
        return f"OFFER: ${action.price:,.2f}"
    if action.kind is ActionKind.ACCEPT:
        return "ACCEPT"
    if action.kind is ActionKind.WALK:
        return "WALK AWAY"
    return ""


# A number ends where no digit, exponent or further decimal follows: "1.5e3" and "1,5" are not read as "1".
_NUMBER = r"(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?![\deE]|[.,]\d)\s*([kK]\b)?"
_PRICE = re.compile(r"(?<![-\w])\$\s*" + _NUMBER + r"|(?<![-\w.,$])" + _NUMBER.replace("(", "(?P<bare>", 1)
                    + r"\s*(?:dollars|usd|bucks)\b", re.IGNORECASE)
# What follows an amount that makes it something other than a price for the item.
_NOT_A_PRICE_AFTER = re.compile(r"(?i)\s*(?:%|percent\b|off\b|discount\b|less\b|more\b|cheaper\b|extra\b|per\b|/|a (?:month|year|week|day)\b)")

# Tags: upper-case words, or any case inside brackets. Upper case keeps prose such as
# "I can't accept that" from reading as an acceptance.
_TAG = re.compile(
    r"\[\s*(?i:(?P<b_offer>offer)\s*[:=]?\s*(?P<b_price>[^\]]{0,40})|(?P<b_accept>accept(?:ed)?)|(?P<b_walk>walk[\s_-]*away))\s*\]"
    r"|\b(?P<offer>OFFER)\b\s*[:=]?\s*(?P<price>\$?\s*[\d.,]+(?:\s*[kK])?)(?!\w)"
    r"|\b(?P<offer_bad>OFFER)\b"  # an OFFER tag with no number after it: a tag, but not a move
    r"|\b(?P<accept>ACCEPT(?:ED)?)\b"
    r"|\b(?P<walk>WALK[\s_-]*AWAY)\b"
)

_NEGATION = re.compile(
    r"(?i)\b(not|never|no(?!\s*[,.!])|cannot|can't|won't|don't|wouldn't|couldn't|shouldn't|refuse[sd]?|refusing|"
    r"decline[sd]?|declining|reject(?:s|ed|ing)?|unable|nor|neither)\b|n't\b"
)
# Words that make what follows someone else's words or a hypothetical, not the speaker's move.
_REPORTED = re.compile(
    r"(?i)\b(said|says|say|saying|wrote|write|writes|typed|type|asked|ask|told|tell|claim(?:s|ed)?|mention(?:s|ed)?|"
    r"quote[sd]?|if|unless|whether|would you|will you|do you|did you|should i|could i|can i|before i|until)\b"
)
_QUOTES = "\"“”«»`"
_CLAUSE_END = re.compile(r"[.!?;\n]")
_CLAUSE_START = re.compile(r"[.!?;,\n]|\bbut\b", re.IGNORECASE)

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
# Someone other than the speaker as the subject right before a verb: "you want me to pay $300?".
_OTHER_SUBJECT = re.compile(r"(?i)\b(you|you'd|you'll|you're|he|she|they|they'd|seller|buyer|it|someone|others?)\b[^.!?;\n]*$")


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
    value = round(value, 2) if math.isfinite(value) else value
    # Checked after rounding: "$0.004" is a price of zero, which no one can offer.
    if not math.isfinite(value) or value <= 0 or value >= MAX_PRICE:
        return None
    return value


def iter_prices(text: str) -> Iterator[tuple[re.Match, float]]:
    """Every amount in ``text`` that reads as a price for the item, with its value (discounts and rates excluded)."""
    for m in _PRICE.finditer(text):
        if _NOT_A_PRICE_AFTER.match(text, m.end()):
            continue
        value = _price_from_match(m)
        if value is not None:
            yield m, value


def parse_price(text: str) -> float | None:
    """First price in ``text`` ("$1,299.99", "$1.2k", "450 dollars"), or None."""
    return next((value for _, value in iter_prices(text)), None)


# "offer" as a noun that names someone's standing offer ("the seller's current offer: $300",
# "your offer of $50") reports a price; it does not make one. Small models echo such status lines.
_MENTION = re.compile(r"(?i)\b(current|seller's|buyer's|your|their|his|her|listing|asking|previous|last|standing)\s+$")


def _mentioned(text: str, start: int) -> bool:
    return bool(_MENTION.search(text[max(0, start - 20):start]))


def _clause_before(text: str, start: int, width: int = 40) -> str:
    """The words before ``start`` back to the start of their clause (at most ``width`` characters)."""
    window = text[max(0, start - width):start]
    ends = list(_CLAUSE_START.finditer(window))
    return window[ends[-1].end():] if ends else window


def _quoted(text: str, start: int) -> bool:
    line = text[text.rfind("\n", 0, start) + 1:start]
    if sum(line.count(q) for q in "\"`") % 2 or line.count("“") > line.count("”") or line.count("«") > line.count("»"):
        return True
    return bool(re.search(r"(?:^|[\s(:])['‘]\s*$", line))  # 'ACCEPT' (an apostrophe inside a word is not a quote)


def _disowned(text: str, start: int, end: int) -> str | None:
    """Why the words at [start, end) are not the speaker's move, or None when they are."""
    before = _clause_before(text, start)
    if _NEGATION.search(before):
        return "negated"
    if _REPORTED.search(before):
        return "reported or conditional"
    if _quoted(text, start):
        return "quoted"
    if re.match(r"\s*\?", text[end:end + 3]):
        return "asked"
    return None


_BARE_NUMBER = re.compile(r"(?<![-\w.,])" + _NUMBER)


def _price_at(text: str, start: int) -> tuple[float | None, int, bool]:
    """(price, end, had a $) of the amount starting at ``start``, read in the whole text so that "$1.5e3" is not
    read as "$1" just because the tag's own pattern stopped there."""
    while start < len(text) and text[start] in " \t":
        start += 1
    dollar = text.startswith("$", start)
    m = (_PRICE if dollar else _BARE_NUMBER).match(text, start)
    if m is None or (dollar and m.group(1) is None):
        return None, start, dollar
    return _price_from_match(m), m.end(), dollar


def _tag_action(m: re.Match, text: str, notes: list[str]) -> Action:
    span = (m.start(), m.end())
    if m.group("offer") or m.group("b_offer"):
        group = "price" if m.group("offer") else "b_price"
        price, end, dollar = _price_at(text, m.start(group))
        if price is not None and not dollar and m.group("offer"):
            # A bare number is a price only where nothing but punctuation or the line's end follows it:
            # "OFFER: 3 years of warranty" offers no price of $3.
            if not re.match(r"[ \t]*(?:[.!,;)\]]|dollars\b|usd\b|bucks\b|$)", text[end:], re.IGNORECASE | re.MULTILINE):
                price = None
        if price is not None and _NOT_A_PRICE_AFTER.match(text, end):
            price = None  # "OFFER: $20 off" is a discount, not a price
        if price is None:
            return Action(ActionKind.NONE, None, "tag", m.group(0), tuple(notes + ["offer tag without a valid price"]), span)
        return Action(ActionKind.OFFER, price, "tag", m.group(0), tuple(notes), span)
    if m.group("offer_bad"):
        return Action(ActionKind.NONE, None, "tag", m.group(0), tuple(notes + ["offer tag without a valid price"]), span)
    if m.group("accept") or m.group("b_accept"):
        return Action(ActionKind.ACCEPT, None, "tag", m.group(0), tuple(notes), span)
    return Action(ActionKind.WALK, None, "tag", m.group(0), tuple(notes), span)


def _from_tags(text: str) -> tuple[Action | None, list[str]]:
    notes: list[str] = []
    kept = []
    for m in _TAG.finditer(text):
        why = _disowned(text, m.start(), m.end())
        if why:
            notes.append(f"{m.group(0).strip()!r} not read as a move ({why})")
        else:
            kept.append(m)
    if not kept:
        return None, notes
    if len(kept) > 1:
        notes.append(f"{len(kept)} action tags; kept the last")
    return _tag_action(kept[-1], text, notes), notes


def _from_phrasing(text: str, notes: list[str]) -> Action | None:
    for verb in _OFFER_VERB.finditer(text):
        if _mentioned(text, verb.start()) or _disowned(text, verb.start(), verb.start()):
            continue
        if _OTHER_SUBJECT.search(_clause_before(text, verb.start(), 30)):
            continue
        tail = text[verb.end():verb.end() + 40]
        for price_match, price in iter_prices(tail):
            if _CLAUSE_END.search(tail[:price_match.start()]):
                break  # the price belongs to another sentence
            if re.match(r"\s*\?", tail[price_match.end():]) and not re.search(r"(?i)how about|what about", verb.group(0)):
                break  # "would you pay $300?" asks, it does not offer
            return Action(ActionKind.OFFER, price, "heuristic", verb.group(0) + tail[:price_match.end()], tuple(notes),
                          (verb.start(), verb.end() + price_match.end()))
    for phrase, kind in ((_ACCEPT_PHRASE, ActionKind.ACCEPT), (_WALK_PHRASE, ActionKind.WALK)):
        for m in phrase.finditer(text):
            if not _disowned(text, m.start(), m.end()):
                return Action(kind, None, "heuristic", m.group(0), tuple(notes), (m.start(), m.end()))
    return None


def _lenient(text: str) -> Action:
    action, notes = _from_tags(text)
    if action is not None:
        return action
    if notes:  # the turn has tags, all disowned: its phrasing says the same disowned thing ("should I ACCEPT?")
        return Action(notes=tuple(notes))
    return _from_phrasing(text, notes) or Action()


_STRICT_END = re.compile(
    r"(?:^|(?<=[.!?:;,\n])|(?<=[.!?:;,)]\s)|(?<=\n)\s*)[ \t]*"
    r"(?:OFFER:[ \t]*\$[ \t]*(?P<price>\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?)|(?P<accept>ACCEPT)|(?P<walk>WALK AWAY))"
    r"[ \t]*[.!]?\s*\Z"
)
_ANY_TAG = re.compile(r"\b(OFFER|ACCEPT(?:ED)?|WALK[\s_-]*AWAY)\b|\[\s*(?i:offer|accept|walk)")


def _strict(text: str) -> Action:
    def error(why: str) -> Action:
        return Action(ActionKind.NONE, None, None, "", (why,))

    tags = _ANY_TAG.findall(text)
    if len(tags) != 1:
        return error("no action tag" if not tags else f"{len(tags)} action tags; a turn must carry exactly one")
    m = _STRICT_END.search(text)
    if m is None:
        return error("the turn must end with its action (OFFER: $<price>, ACCEPT or WALK AWAY) starting a line or sentence")
    span = (m.start(), m.end())
    if m.group("price") is not None:
        value = round(float(m.group("price").replace(",", "")), 2)
        if not 0 < value < MAX_PRICE:
            return error(f"offer price {m.group('price')} is not a positive price")
        return Action(ActionKind.OFFER, value, "tag", m.group(0).strip(), (), span)
    kind = ActionKind.ACCEPT if m.group("accept") else ActionKind.WALK
    return Action(kind, None, "tag", m.group(0).strip(), (), span)


def parse_action(text: object, mode: ParseMode = "lenient") -> Action:
    """The single action in a turn, or ``ActionKind.NONE`` (a plain message, or in strict mode a format error
    whose reason is in ``notes``). Never raises."""
    if not isinstance(text, str) or not text.strip():
        return Action(notes=("empty turn",) if mode == "strict" else ())
    text = text[:20_000]  # bound regex work on hostile input
    return _strict(text) if mode == "strict" else _lenient(text)
