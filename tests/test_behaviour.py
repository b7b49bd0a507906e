"""Behaviour metrics, the persuasion lexicon and phase detection, on hand-built episodes."""

from __future__ import annotations

import dataclasses

import pytest

from parley.environments.actions import Action, ActionKind
from parley.environments.bargain import Outcome, Role, TurnRecord
from parley.environments.scenarios import sample_scenarios
from parley.evaluation.behaviour import PhaseRule, behaviour_metrics, detect_phases, persuasion_tactics
from parley.rollout.bargain import BargainEpisode


def _ep(buyer_offers, outcome, texts=None):
    s = dataclasses.replace(sample_scenarios("train", 1, seed=0)[0], listing_price=200.0, budget=150.0, floor=100.0)
    turns = []
    for i, price in enumerate(buyer_offers):
        text = (texts or {}).get(i, f"OFFER: ${price}")
        turns.append(TurnRecord(2 * i, Role.BUYER, text, text, Action(ActionKind.OFFER, price), "offer"))
        turns.append(TurnRecord(2 * i + 1, Role.SELLER, "no", "no", Action(), "message"))
    from parley.environments.rewards import buyer_reward

    return BargainEpisode(s, turns, outcome, buyer_reward(s, outcome), 0.0)


def test_metrics_by_hand():
    a = _ep([100.0, 120.0, 130.0], Outcome(False, None, "max_turns", 6, None),
            texts={0: "That is more than I can afford, other sellers are cheaper. OFFER: $100"})
    b = _ep([160.0], Outcome(True, 170.0, "accepted", 2, Role.BUYER))
    c = _ep([140.0], Outcome(False, None, "walked_away", 2, Role.BUYER))
    m = behaviour_metrics([a, b, c], Role.BUYER)
    assert m["opening_offer_ratio"] == pytest.approx((0.5 + 0.8 + 0.7) / 3)
    assert m["mean_concession"] == pytest.approx(((20 / 200) + (10 / 200)) / 2)  # only episode a has 2+ offers
    assert m["deadlock_rate"] == pytest.approx(1 / 3)
    assert m["walk_away_rate"] == pytest.approx(1 / 3)
    assert m["over_budget_rate"] == pytest.approx(1 / 3)
    assert m["agreement_rate"] == pytest.approx(1 / 3)
    assert m["persuasion_rate"] == pytest.approx(1 / 5)
    assert m["mean_reward"] == pytest.approx(-1 / 3)
    assert m["action_rate"] == 1.0


@pytest.mark.parametrize("text, tactics", [
    ("I found a better offer elsewhere", {"market", "competing_offer"}),
    ("That's over my budget", {"budget"}),
    ("Let's meet in the middle", {"deal_appeal"}),
    ("OFFER: $120", set()),
    ("I'll take it", set()),
])
def test_persuasion_lexicon(text, tactics):
    assert set(persuasion_tactics(text)) == tactics


def test_phase_labels_and_boundaries():
    rule = PhaseRule()
    naive = {"opening_offer_ratio": 0.95, "deadlock_rate": 0.1, "persuasion_rate": 0.0, "agreement_rate": 0.6}
    anchor = {"opening_offer_ratio": 0.4, "deadlock_rate": 0.3, "persuasion_rate": 0.1, "agreement_rate": 0.4}
    dead = {"opening_offer_ratio": 0.4, "deadlock_rate": 0.8, "persuasion_rate": 0.1, "agreement_rate": 0.1}
    persuade = {"opening_offer_ratio": 0.5, "deadlock_rate": 0.2, "persuasion_rate": 0.5, "agreement_rate": 0.5}
    assert [rule.label(m) for m in (naive, anchor, dead, persuade)] == ["naive", "anchoring", "deadlock", "persuasion"]
    points = list(enumerate([naive, naive, anchor, naive, anchor, anchor, dead, dead, persuade, persuade]))
    phases = detect_phases(points, rule)
    # The single anchoring blip at step 2 does not open a phase; step 4 does.
    assert [(p["phase"], p["start"], p["end"]) for p in phases] == [
        ("naive", 0, 3), ("anchoring", 4, 5), ("deadlock", 6, 7), ("persuasion", 8, 9)]
    assert detect_phases([]) == []
