"""MESO by code: equal value to the addressee, acceptable to everyone, different trade-offs."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mediation_helpers import CASE, LANDLORD, TENANT
from parley.mediation.meso import (MesoError, NoAcceptablePackage, TooFewPackages, feasible, generate_meso, nash_product,
                                   same_package)
from parley.mediation.values import acceptable, check_constraints, check_terms, package_value
from parley.mediation.schemas import NumericIssue, OptionsIssue
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


def test_meso_is_deterministic():
    a = generate_meso(ISSUES, {1: T, 2: L}, 2)
    b = generate_meso(ISSUES, {1: T, 2: L}, 2)
    assert [p.terms for p in a.packages] == [p.terms for p in b.packages]


def _with_rent_reservation(c: Constraints, reservation: float) -> Constraints:
    return c.model_copy(update={"issues": {**c.issues, "Rent": c.issues["Rent"].model_copy(update={"reservation": reservation})}})


def test_no_meso_only_when_proved_and_the_message_names_the_smallest_relaxation():
    greedy = _with_rent_reservation(L, 1590)  # the tenant's reservation is 1450: no rent suits both
    with pytest.raises(NoAcceptablePackage) as info:
        generate_meso(ISSUES, {1: T, 2: greedy}, 1)
    best = info.value.relaxations[0]
    assert "moves its reservation on Rent by" in str(info.value)
    assert best.kind == "reservation" and best.issue == "Rent" and best.party_id in (1, 2)
    # The named amount is enough, and (to the bisection's resolution, 0.6 EUR) no less would do.
    party = {1: T, 2: greedy}[best.party_id]
    sign = 1 if best.party_id == 1 else -1  # the tenant moves its reservation up, the landlord down
    moved = lambda d: {**{1: T, 2: greedy}, best.party_id: _with_rent_reservation(party, party.issues["Rent"].reservation + sign * d)}  # noqa: E731
    assert feasible(ISSUES, moved(best.amount)) and not feasible(ISSUES, moved(best.amount - 0.7))
    assert 139 < best.amount < 141


def test_too_few_distinct_packages_is_said_and_proved_by_exhaustion():
    issues = [OptionsIssue(name="A", options=["x", "y"]), OptionsIssue(name="B", options=["p", "q"])]
    same = {"issues": {"A": {"weight": 1, "ratings": {"x": 1, "y": 0.2}}, "B": {"weight": 1, "ratings": {"p": 1, "q": 0.2}}}}
    other = {"issues": {"A": {"weight": 1, "ratings": {"x": 0.3, "y": 1}}, "B": {"weight": 1, "ratings": {"p": 0.3, "q": 1}}}}
    cons = {1: Constraints.model_validate(same), 2: Constraints.model_validate(other)}
    with pytest.raises(TooFewPackages, match="exist .* widen the tolerance"):
        generate_meso(issues, cons, 1, count=3, tolerance=0.01)


def test_fairness_rules_and_privacy_margin():
    for rule in ("nash", "egalitarian", "kalai-smorodinsky"):
        meso = generate_meso(ISSUES, {1: T, 2: L}, 1, rule=rule)
        assert meso.rule == rule and all(p.efficient for p in meso.packages)
    with pytest.raises(ValueError, match="unknown fairness rule"):
        generate_meso(ISSUES, {1: T, 2: L}, 1, rule="coin-flip")
    # With the margin, no rent sits within 5% of the range (30 EUR) of a reservation (1450 and 1230).
    kept = generate_meso(ISSUES, {1: T, 2: L}, 1, privacy_margin=0.05)
    assert kept.privacy_margin == 0.05 and not kept.notes
    assert all(min(abs(p.terms["Rent"] - 1450), abs(p.terms["Rent"] - 1230)) >= 30 - 1e-6 for p in kept.packages)
    bare = generate_meso(ISSUES, {1: T, 2: L}, 1, privacy_margin=0)
    assert any(abs(p.terms["Rent"] - 1230) < 1e-6 for p in bare.packages)  # what the margin prevents
    assert nash_product({1: bare.packages[0].value, 2: package_value(ISSUES, L, bare.packages[0].terms)}, {1: T, 2: L}) >= \
        nash_product({1: kept.packages[0].value, 2: package_value(ISSUES, L, kept.packages[0].terms)}, {1: T, 2: L})
    # A margin no MESO can keep is dropped, and the MESO says so.
    tight = _with_rent_reservation(L, 1440)
    loose = generate_meso(ISSUES, {1: T, 2: tight}, 1, privacy_margin=0.05)
    assert loose.privacy_margin == 0 and "reservation" in loose.notes[0]


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
    stepped = [NumericIssue(name="Rent", min=1000, max=1600, step=10)]
    check_terms(stepped, {"Rent": 1230})
    with pytest.raises(ValueError, match="multiple of the step 10"):
        check_terms(stepped, {"Rent": 1235})
    with pytest.raises(ValueError, match="larger than the range"):
        NumericIssue(name="Rent", min=1000, max=1600, step=700)


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
    assert meso.spread <= tolerance + 1e-9 and all(p.efficient for p in meso.packages)
    assert all(acceptable(ISSUES, c, p.terms) for p in meso.packages for c in constraints.values())
    assert len({tuple(sorted(p.terms.items())) for p in meso.packages}) == len(meso.packages) >= 3


# ---------------------------------------------------------------- against brute force on small discrete cases


def _small_case(draw):
    issues = []
    for k in range(draw(st.integers(2, 3))):
        if draw(st.sampled_from([True, True, False])):
            issues.append(NumericIssue(name=f"N{k}", min=0, max=10, step=draw(st.sampled_from([0.5, 1, 2.5]))))
        else:
            issues.append(OptionsIssue(name=f"O{k}", options=[f"o{j}" for j in range(draw(st.integers(2, 3)))]))
    constraints = {}
    for pid in range(1, draw(st.integers(2, 3)) + 1):
        prefs = {}
        for issue in issues:
            weight = draw(st.sampled_from([0, 0.5, 1, 2, 3]))
            if isinstance(issue, NumericIssue):
                ideal, reservation = draw(st.lists(st.integers(0, 10), min_size=2, max_size=2, unique=True))
                prefs[issue.name] = {"weight": weight, "ideal": ideal, "reservation": reservation}
            else:
                prefs[issue.name] = {"weight": weight, "ratings": {o: draw(st.sampled_from([0, 0.25, 0.5, 0.75, 1, 1]))
                                                                   for o in issue.options}}
        if not any(p["weight"] for p in prefs.values()):
            prefs[issues[0].name]["weight"] = 1
        constraints[pid] = Constraints.model_validate({"issues": prefs, "min_value": draw(st.sampled_from([0, 0, 0.1, 0.3]))})
    return issues, constraints


def _grid(issue):
    if isinstance(issue, OptionsIssue):
        return issue.options
    n = round((issue.max - issue.min) / issue.step)
    return [issue.min + k * issue.step for k in range(n + 1)]


def _enumerate(issues, constraints, margin=0.0):
    """Every package on the grid acceptable to all (keeping the privacy margin), with every party's value."""
    out = []
    for combo in itertools.product(*[_grid(i) for i in issues]):
        terms = dict(zip([i.name for i in issues], combo))
        if margin and any(abs(terms[i.name] - c.issues[i.name].reservation) < margin * (i.max - i.min) - 1e-9
                          for i in issues if isinstance(i, NumericIssue) for c in constraints.values()):
            continue
        values = {pid: package_value(issues, c, terms) for pid, c in constraints.items()}
        if all(v is not None and v >= c.min_value - 1e-9 for v, c in zip(values.values(), constraints.values())):
            out.append((terms, values))
    return out


def _dominates(a: dict, b: dict) -> bool:
    return all(a[q] >= b[q] - 1e-9 for q in b) and any(a[q] > b[q] + 1e-7 for q in b)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from([0.05, 0.1, 0.2, 0.25]), st.sampled_from([0.0, 0.1]), st.sampled_from(["nash", "egalitarian"]),
       st.sampled_from([2, 3]))
def test_meso_keeps_every_guarantee_against_full_enumeration(data, tolerance, margin, rule, count):
    issues, constraints = _small_case(data.draw)
    acceptable_packages = _enumerate(issues, constraints)
    try:
        meso = generate_meso(issues, constraints, 1, count=count, tolerance=tolerance, rule=rule, privacy_margin=margin)
    except NoAcceptablePackage:
        event("no acceptable package")
        assert acceptable_packages == []  # 5. infeasible only when nothing is acceptable
        return
    except TooFewPackages as exc:
        event(f"too few (proved: {exc.proved})")
        if exc.proved:  # then exactly exc.found distinct efficient packages lie in the band
            pool = _enumerate(issues, constraints)  # the error comes from the run without the margin
            band = [v for _, v in pool if exc.low - 1e-9 <= v[1] <= exc.high + 1e-9]
            efficient = [v for v in band if not any(_dominates(o, v) for o in band)]
            assert len(efficient) <= exc.found < count
        return
    event("meso")
    assert acceptable_packages
    pool = _enumerate(issues, constraints, meso.privacy_margin)
    band = [(t, v) for t, v in pool if meso.low - 1e-9 <= v[1] <= meso.high + 1e-9]
    assert meso.high - meso.low <= tolerance + 1e-12
    assert len(meso.packages) == count
    for p in meso.packages:
        values = {pid: package_value(issues, c, p.terms) for pid, c in constraints.items()}
        assert meso.low - 1e-9 <= values[1] <= meso.high + 1e-9                             # 1. equal value
        assert all(acceptable(issues, c, p.terms) for c in constraints.values())           # 2. acceptable
        assert any(t == p.terms for t, _ in pool)                                           # on the grid, margin kept
        assert not any(_dominates(other, values) for _, other in band), p.terms  # 3. efficient in the band
    for a, b in itertools.combinations(meso.packages, 2):                                   # 4. distinct
        assert not same_package(issues, a.terms, b.terms)
    again = generate_meso(issues, constraints, 1, count=count, tolerance=tolerance, rule=rule, privacy_margin=margin)
    assert [p.terms for p in again.packages] == [p.terms for p in meso.packages]            # 6. deterministic
    if rule == "nash":  # the anchor is the Nash package of everything acceptable (within the margin kept)
        best = max(nash_product(v, constraints) for _, v in pool)
        first = {pid: package_value(issues, c, meso.packages[0].terms) for pid, c in constraints.items()}
        assert nash_product(first, constraints) >= best * (1 - 1e-3) - 1e-12


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
