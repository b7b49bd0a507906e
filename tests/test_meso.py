"""MESO by code: equal value to the addressee, acceptable to everyone, different trade-offs."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediation_helpers import CASE, LANDLORD, TENANT
from parley.mediation.meso import (MesoError, acceptable, check_constraints, check_terms, generate_meso, package_value)
from parley.mediation.rationale import TemplateWriter, find_leaks, numbers_in
from parley.mediation.schemas import CaseCreate, Constraints

ISSUES = CaseCreate.model_validate(CASE).issues
T, L = Constraints.model_validate(TENANT), Constraints.model_validate(LANDLORD)


def test_package_value_is_the_weighted_mean_of_issue_values():
    # Rent 1225 is halfway from the tenant's reservation 1450 to its ideal 1000; Term 24 halfway 12->36; June = 1.
    assert package_value(ISSUES, T, {"Rent": 1225, "Term": 24, "Start": "June"}) == pytest.approx((3 * .5 + .5 + 1) / 5)
    assert package_value(ISSUES, T, {"Rent": 1500, "Term": 24, "Start": "June"}) is None  # beyond the reservation
    assert not acceptable(ISSUES, L, {"Rent": 1300, "Term": 36, "Start": "May"})  # term past the landlord's 30


def test_meso_packages_are_equivalent_acceptable_and_different():
    meso = generate_meso(ISSUES, {1: T, 2: L}, party_id=1, count=3, tolerance=0.05)
    assert len(meso.packages) == 3 and meso.spread <= 0.05
    for p in meso.packages:
        assert acceptable(ISSUES, T, p.terms) and acceptable(ISSUES, L, p.terms)
        assert package_value(ISSUES, T, p.terms) == pytest.approx(p.value)
    assert len({tuple(sorted(p.terms.items())) for p in meso.packages}) == 3
    # They trade the issues differently: each package is best for the addressee on a different issue mix.
    assert len({tuple(round(v, 2) for v in p.issue_values.values()) for p in meso.packages}) == 3


def test_meso_is_deterministic_and_names_the_reason_when_impossible():
    a = generate_meso(ISSUES, {1: T, 2: L}, 2, seed=0)
    b = generate_meso(ISSUES, {1: T, 2: L}, 2, seed=0)
    assert [p.terms for p in a.packages] == [p.terms for p in b.packages]
    greedy = Constraints.model_validate({**LANDLORD, "issues": {**LANDLORD["issues"],
                                         "Rent": {"weight": 2, "ideal": 1600, "reservation": 1590}}})
    with pytest.raises(MesoError, match="relaxes a reservation"):
        generate_meso(ISSUES, {1: T, 2: greedy}, 1)
    with pytest.raises(MesoError, match="widen the tolerance"):
        generate_meso(ISSUES, {1: T, 2: L}, 1, count=6, tolerance=0.001)


def test_constraints_and_terms_are_checked_against_the_issues():
    with pytest.raises(ValueError, match="outside the range"):
        check_constraints(ISSUES, Constraints.model_validate({**TENANT, "issues": {**TENANT["issues"],
                          "Term": {"weight": 1, "ideal": 99, "reservation": 12}}}))
    with pytest.raises(ValueError, match="rate every option"):
        check_constraints(ISSUES, Constraints.model_validate({**TENANT, "issues": {**TENANT["issues"],
                          "Start": {"weight": 1, "ratings": {"May": 1}}}}))
    with pytest.raises(ValueError, match="not one of"):
        check_terms(ISSUES, {"Rent": 1200, "Term": 12, "Start": "August"})
    with pytest.raises(ValueError, match="exactly these issues"):
        check_terms(ISSUES, {"Rent": 1200})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.floats(0.1, 5), st.floats(1000, 1600), st.floats(1000, 1600), st.floats(0.1, 5),
                          st.floats(6, 36), st.floats(6, 36), st.floats(0, 0.4)), min_size=2, max_size=3),
       st.floats(0.02, 0.2))
def test_any_meso_returned_keeps_its_promises(parties, tolerance):
    constraints = {}
    for pid, (wr, ir, rr, wt, it, rt, mv) in enumerate(parties):
        if math.isclose(ir, rr) or math.isclose(it, rt):
            return
        constraints[pid] = Constraints.model_validate({"issues": {
            "Rent": {"weight": wr, "ideal": ir, "reservation": rr}, "Term": {"weight": wt, "ideal": it, "reservation": rt},
            "Start": {"weight": 1, "ratings": {"May": 1, "June": 0.5, "July": 0.3}}}, "min_value": mv})
    try:
        meso = generate_meso(ISSUES, constraints, 0, count=3, tolerance=tolerance)
    except MesoError:
        return
    assert meso.spread <= tolerance + 1e-9
    assert all(acceptable(ISSUES, c, p.terms) for p in meso.packages for c in constraints.values())
    assert len({tuple(sorted(p.terms.items())) for p in meso.packages}) == len(meso.packages) >= 3


def test_leak_check_finds_private_numbers_in_any_notation_but_not_public_ones():
    assert numbers_in("pay $1,230.00 or 15% by 30 June") == [1230.0, 15.0, 30.0]
    assert find_leaks("they will not go under $1,230", [L], public={1000, 1600}) == [1230.0]
    assert find_leaks("a 30-month term", [L], public=set()) == [30.0]
    assert find_leaks("a 30-month term", [L], public={30.0}) == []  # the package itself says 30
    assert find_leaks("rent of 1450", [L], public=set()) == []  # the addressee's own number is not a leak


def test_template_rationales_name_what_the_package_gives_and_asks():
    from parley.mediation.rationale import RationaleRequest

    [text] = TemplateWriter().write([RationaleRequest("Lease", "Tenant", {}, ["Rent"], ["Term", "Start"])])
    assert "most on Rent" in text and "Term and Start" in text
