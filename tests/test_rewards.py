import pytest

from parley.environments.bargain import Outcome, Role
from parley.environments.rewards import buyer_reward, seller_reward
from parley.environments.scenarios import sample_scenarios

S = sample_scenarios("train", 1, seed=0)[0]


def deal(price):
    return Outcome(True, price, "accepted", 4, Role.SELLER)


def test_buyer_surplus_is_linear_between_floor_and_budget():
    assert buyer_reward(S, deal(S.floor)) == pytest.approx(1.0)
    assert buyer_reward(S, deal(S.budget)) == pytest.approx(0.0)
    mid = (S.floor + S.budget) / 2
    assert buyer_reward(S, deal(mid)) == pytest.approx(0.5)
    assert seller_reward(S, deal(mid)) == pytest.approx(0.5)


def test_over_budget_is_a_hard_penalty_and_no_deal_is_zero():
    assert buyer_reward(S, deal(S.budget + 0.01)) == -1.0
    assert seller_reward(S, deal(S.budget + 100)) == 1.0  # clipped
    none = Outcome(False, None, "max_turns", 10, None)
    assert buyer_reward(S, none) == 0.0 and seller_reward(S, none) == 0.0


def test_surpluses_sum_to_one_inside_the_zone():
    for price in (S.floor, S.floor + 0.3 * (S.budget - S.floor), S.budget):
        assert buyer_reward(S, deal(price)) + seller_reward(S, deal(price)) == pytest.approx(1.0)
