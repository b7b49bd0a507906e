"""Behaviour metrics of one side across a set of episodes, and the rule that names training phases.

The persuasion lexicon is a documented list of regular expressions (docs/design.md, "Strategy
phases"): a turn counts as persuasion when it gives the other side a *reason* (a budget or market
argument, a competing offer, a quality objection, an appeal to a quick or fair deal), not when it
only states a number.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Iterator, Sequence

import numpy as np

from parley.agents.bargainer import menu_moves
from parley.environments.actions import ActionKind
from parley.environments.bargain import Role
from parley.rollout.bargain import BargainEpisode

PERSUASION_LEXICON: dict[str, str] = {
    "budget": r"\b(my|our) (budget|limit|max(imum)?)\b|\bcan(no|')?t afford\b|\bmore than I can\b",
    "market": r"\b(market|going rate|elsewhere|other (sellers?|stores?|shops?)|online|cheaper|compar\w+|amazon|competitor)\b",
    "competing_offer": r"\b(another|other|better) (offer|deal|quote|price)\b|\bfound it for\b",
    "quality": r"\b(used|wear|scratch\w*|old(er)? model|condition|defect\w*|warranty|refurbished)\b",
    "deal_appeal": r"\b(fair|reasonable|meet (you )?(in the )?middle|win-win|compromise|quick(ly)? (deal|sale)|today|right now|cash)\b",
    "relationship": r"\b(loyal|repeat|regular) customer\b|\b(buy|order) more\b|\brecommend\b|\breview\b",
}
_LEXICON = {name: re.compile(pattern, re.IGNORECASE) for name, pattern in PERSUASION_LEXICON.items()}


def persuasion_tactics(text: str) -> list[str]:
    return [name for name, pattern in _LEXICON.items() if pattern.search(text or "")]


def _mean(values) -> float | None:
    return float(np.mean(values)) if len(values) else None


def behaviour_metrics(episodes: Sequence[BargainEpisode], role: Role = Role.BUYER) -> dict:
    """Strategy fingerprint of ``role``: how it opens, concedes, closes and argues."""
    n = len(episodes)
    if not n:
        return {"episodes": 0}
    openings, concessions, lengths, persuasive, turns_own = [], [], [], [], 0
    reward = []
    for e in episodes:
        listing = e.scenario.listing_price
        own = [t for t in e.turns if t.role is role]
        turns_own += len(own)
        offers = [t.action.price for t in own if t.effect == "offer"]
        if offers:
            openings.append(offers[0] / listing)
        if len(offers) > 1:
            sign = 1.0 if role is Role.BUYER else -1.0  # a buyer concedes upward, a seller downward
            steps = [sign * (b - a) / listing for a, b in zip(offers, offers[1:])]
            concessions.append(float(np.mean(steps)))
        for t in own:
            lengths.append(len(t.text.split()))
            persuasive.append(bool(persuasion_tactics(t.text)))
        reward.append(e.buyer_reward if role is Role.BUYER else e.seller_reward)
    deals = [e for e in episodes if e.outcome.deal]
    return {
        "episodes": n,
        "mean_reward": _mean(reward),
        "agreement_rate": len(deals) / n,
        "opening_offer_ratio": _mean(openings),
        "mean_concession": _mean(concessions),
        "deadlock_rate": sum(e.outcome.reason == "max_turns" for e in episodes) / n,
        "walk_away_rate": sum(e.outcome.reason == "walked_away" and e.outcome.closed_by is role for e in episodes) / n,
        "over_budget_rate": sum(e.outcome.deal and e.outcome.price > e.scenario.budget + 1e-9 for e in episodes) / n,
        "mean_turns": _mean([e.outcome.turns for e in episodes]),
        "mean_message_words": _mean(lengths),
        "persuasion_rate": _mean([float(p) for p in persuasive]),
        "action_rate": (sum(t.action.kind.value != "none" for e in episodes for t in e.turns if t.role is role)
                        / turns_own) if turns_own else None,
        **(menu_choice_shares(episodes) if role is Role.BUYER else {}),
    }


# -- the menu buyer's choices --------------------------------------------------------------------
MENU_CHOICES = ("hold", "split", "accept", "other")


def menu_turns(turns: Sequence[tuple[str, str, float | None, str]], budget: float,
               listing: float) -> Iterator[tuple[str, float | None, list, float | None]]:
    """Each buyer turn as (action kind, price, the menu it was shown, the seller's standing offer then). ``turns``
    are (role, action kind, price, effect) in order, so an episode read back from its JSONL record walks the same
    as one in memory. One walk of the standing offers, for every reader of the menu (``menu_choices``, the
    benchmarks' off-menu counts)."""
    own = theirs = None
    for role, kind, price, effect in turns:
        if role == "buyer":
            yield kind, price, menu_moves(own, theirs, budget, listing), theirs
        if effect == "offer":
            own, theirs = (price, theirs) if role == "buyer" else (own, price)


def menu_choice(kind: str, price: float | None, moves: list) -> str:
    """The menu move one buyer turn took (see ``menu_choices``)."""
    if kind == "accept" and moves[-1].kind is ActionKind.ACCEPT:
        return "accept"
    if kind == "offer":
        offers = [m.price for m in moves if m.kind is ActionKind.OFFER]
        if price == offers[0]:
            return "hold"
        if price in offers[1:]:
            return "split"
    return "other"


def menu_choices(turns: Sequence[tuple[str, str, float | None, str]], budget: float, listing: float) -> list[str]:
    """Which move of the menu (agents/bargainer.py ``menu_moves``) each buyer turn took: ``hold`` (its own standing
    offer, or the low anchor before it has one), ``split``, ``accept`` (an affordable offer), or ``other`` (a move
    not on the menu, or no valid move). ``turns`` are (role, action kind, price, effect) in order, so an episode
    read back from its JSONL record counts the same as one in memory. A move that is both hold and split is hold.

    What GRPO changes in a menu buyer is this choice, so the shares per buyer turn are its strategy.
    """
    return [menu_choice(kind, price, moves) for kind, price, moves, _ in menu_turns(turns, budget, listing)]


def episode_menu_choices(e: BargainEpisode) -> list[str]:
    turns = [(t.role.value, t.action.kind.value, t.action.price, t.effect) for t in e.turns]
    return menu_choices(turns, e.scenario.budget, e.scenario.listing_price)


def menu_choice_shares(episodes: Sequence[BargainEpisode]) -> dict:
    """The share of the buyer's turns that took each menu move (``menu_hold`` ... ``menu_other``), and the share
    of its last turns that accepted (``menu_last_accept``): where holding out turns into a deal."""
    choices = [episode_menu_choices(e) for e in episodes]
    flat = [c for cs in choices for c in cs]
    last = [cs[-1] for cs in choices if cs]
    shares = {f"menu_{c}": (flat.count(c) / len(flat) if flat else None) for c in MENU_CHOICES}
    return {**shares, "menu_last_accept": (last.count("accept") / len(last)) if last else None}


# -- phases ------------------------------------------------------------------------------------
PHASES = ("naive", "anchoring", "deadlock", "persuasion")


@dataclass(frozen=True)
class PhaseRule:
    """Label each evaluation by the first rule that holds, in this order:

    1. deadlock    deadlock_rate >= deadlock_at (most episodes run out of turns);
    2. persuasion  persuasion_rate >= persuasion_at and agreement_rate >= agreement_at;
    3. anchoring   opening_offer_ratio <= anchor_at (opens far below the listing);
    4. naive       otherwise (opens near the listing, accepts, or writes no offers at all).

    A phase starts where the label changes and the new label holds for ``persist`` consecutive
    evaluations (one noisy evaluation does not open a phase).
    """

    deadlock_at: float = 0.5
    persuasion_at: float = 0.3
    agreement_at: float = 0.3
    anchor_at: float = 0.7
    persist: int = 2

    def label(self, m: dict) -> str:
        if (m.get("deadlock_rate") or 0) >= self.deadlock_at:
            return "deadlock"
        if (m.get("persuasion_rate") or 0) >= self.persuasion_at and (m.get("agreement_rate") or 0) >= self.agreement_at:
            return "persuasion"
        opening = m.get("opening_offer_ratio")
        if opening is not None and opening <= self.anchor_at:
            return "anchoring"
        return "naive"

    def to_dict(self) -> dict:
        return asdict(self)


def detect_phases(points: Sequence[tuple[int, dict]], rule: PhaseRule | None = None) -> list[dict]:
    """``[(step, metrics)]`` in step order -> ``[{"phase", "start", "end"}]`` covering every step."""
    rule = rule or PhaseRule()
    if not points:
        return []
    labels = [rule.label(m) for _, m in points]
    steps = [s for s, _ in points]
    segments = [{"phase": labels[0], "start": steps[0], "end": steps[0]}]
    i = 1
    while i < len(labels):
        current = segments[-1]["phase"]
        run = 1
        while i + run < len(labels) and labels[i + run] == labels[i]:
            run += 1
        if labels[i] != current and run >= rule.persist:
            segments.append({"phase": labels[i], "start": steps[i], "end": steps[i + run - 1]})
        else:
            segments[-1]["end"] = steps[i + run - 1]
        i += run
    return segments
