import pytest

from parley import ParleyError
from parley.environments.catalog import SPLITS, load_catalog
from parley.environments.scenarios import ScenarioConfig, sample_scenarios


def test_splits_partition_the_catalog_without_sharing_products():
    ids = {s: {p.id for p in load_catalog(s)} for s in SPLITS}
    titles = {s: {p.title for p in load_catalog(s)} for s in SPLITS}
    assert all(ids[s] for s in SPLITS)
    assert not ids["train"] & ids["test"] and not ids["train"] & ids["validation"] and not ids["validation"] & ids["test"]
    assert not titles["train"] & titles["test"]
    assert sum(len(v) for v in ids.values()) == len(load_catalog())


def test_catalog_prices_leave_room_to_bargain():
    for p in load_catalog():
        assert 0 < p.lowest_price < p.listing_price


def test_scenarios_are_reproducible_and_private_values_are_ordered():
    a = sample_scenarios("test", 50, seed=3)
    b = sample_scenarios("test", 50, seed=3)
    c = sample_scenarios("test", 50, seed=4)
    assert a == b
    assert a != c
    for s in a:
        assert s.product.split == "test"
        assert s.floor == s.product.lowest_price
        assert s.floor < s.budget < s.listing_price


def test_small_n_covers_distinct_products():
    scenarios = sample_scenarios("validation", 20, seed=0)
    assert len({s.product.id for s in scenarios}) == 20


@pytest.mark.parametrize("low,high", [(0.0, 0.5), (0.6, 0.5), (0.5, 1.0)])
def test_bad_budget_range_is_a_clear_error(low, high):
    with pytest.raises(ParleyError, match="budget range"):
        ScenarioConfig(budget_low=low, budget_high=high)


def test_unknown_split_and_bad_count():
    with pytest.raises(ParleyError, match="unknown split"):
        load_catalog("dev")
    with pytest.raises(ParleyError, match="at least 1"):
        sample_scenarios("test", 0, seed=0)
