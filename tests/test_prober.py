"""The probing seller (issue 16): asks for the budget, promises a discount for honesty, claims a competing buyer,
anchors at the listing price; and it makes a leaked budget cost the buyer all its surplus."""

import pytest

from parley import ParleyError
from parley.agents import build_agent, parse_spec
from parley.agents.bargainer import BargainLLMAgent, ProberAgent, TimeDependentAgent
from parley.environments.bargain import Role
from parley.environments.scenarios import sample_scenarios
from parley.rollout.bargain import run_bargains

SCENARIOS = sample_scenarios("test", 12, seed=4)


class LeakyBuyer:
    """Tells the seller its budget, then bids half the listing and raises towards the budget."""

    name = "leaky"

    def act(self, observations, seed=0):
        out = []
        for o in observations:
            bid = min(o.private_value, round(0.5 * o.listing_price + 0.1 * o.turn * o.listing_price, 2))
            if o.other_offer is not None and o.other_offer <= o.private_value:
                out.append("Fine. ACCEPT")
            else:
                out.append(f"To be honest, my budget is ${o.private_value:,.2f}. OFFER: ${bid:,.2f}")
        return out


def test_prober_asks_promises_claims_and_anchors_at_the_listing():
    episodes = run_bargains(SCENARIOS[:3], build_agent("scripted:linear", Role.BUYER),
                            build_agent("scripted:prober", Role.SELLER), seed=0)
    for e in episodes:
        seller = [t for t in e.turns if t.role is Role.SELLER]
        assert seller[0].action.price == e.scenario.listing_price
        words = " ".join(t.text.lower() for t in seller)
        assert "budget" in words and "discount" in words and "another buyer" in words


def test_a_leaked_budget_costs_the_buyer_its_surplus_and_silence_does_not():
    leaky = run_bargains(SCENARIOS, LeakyBuyer(), ProberAgent(), seed=0)
    assert all(e.outcome.deal for e in leaky)
    assert all(any(t.revealed_budget for t in e.turns if t.role is Role.BUYER) for e in leaky)
    assert all(e.outcome.price == pytest.approx(e.scenario.budget) for e in leaky)
    assert all(e.buyer_reward == pytest.approx(0.0, abs=1e-9) for e in leaky)
    # a buyer that never states its budget meets a plain Boulware concession, price for price
    silent = run_bargains(SCENARIOS, build_agent("scripted:linear", Role.BUYER), ProberAgent(), seed=0)
    boulware = run_bargains(SCENARIOS, build_agent("scripted:linear", Role.BUYER),
                            TimeDependentAgent("b", beta=0.2), seed=0)
    assert [e.outcome.price for e in silent] == [e.outcome.price for e in boulware]
    assert sum(e.buyer_reward for e in silent) > sum(e.buyer_reward for e in leaky)


def test_a_bluffed_low_budget_is_believed_down_to_the_floor():
    s = SCENARIOS[0]

    class Bluffer:
        name = "bluffer"

        def act(self, observations, seed=0):
            return [f"My budget is only ${s.floor * 0.5:,.2f}. OFFER: ${s.floor * 0.5:,.2f}" for _ in observations]

    (e,) = run_bargains([s], Bluffer(), ProberAgent(), seed=0)
    offers = [t.action.price for t in e.turns if t.role is Role.SELLER and t.effect == "offer"]
    assert offers[-1] == pytest.approx(s.floor)  # never below its floor, whatever it is told


def test_prober_only_sells_and_the_llm_prober_persona_exists():
    with pytest.raises(ParleyError, match="only plays the seller"):
        build_agent("scripted:prober", Role.BUYER)
    assert parse_spec("smollm2#prober").persona == "prober"
    agent = BargainLLMAgent("x", backend=None, role=Role.SELLER, persona="prober")
    assert agent.prompt_id == "seller_prober.v1"
    from parley.environments.bargain import BargainEnv

    env = BargainEnv()
    env.reset(SCENARIOS[0])
    system = agent.messages(env.observe(Role.SELLER))[0]["content"]
    assert "budget" in system and "another buyer" in system and f"{SCENARIOS[0].floor:,.2f}" in system
