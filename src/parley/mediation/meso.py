"""MESO: multiple equivalent simultaneous offers, computed by code from private constraints.

Each party's value of a package is additive (the standard multi-issue model of negotiation
analysis): the weighted mean of per-issue values in [0, 1]. A numeric issue is worth 0 at the
party's reservation value and 1 at its ideal, linear in between and unacceptable beyond the
reservation; an option is worth the party's rating, and a rating of 0 is unacceptable.

A MESO for party P is ``count`` packages whose values to P differ by at most ``tolerance`` and
which trade the issues as differently as possible, all acceptable to every party. The value level
is that of the Nash bargaining package (the feasible package maximising the product of every
party's gain over its reservation), so the mediator does not favour P or the others.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field

from parley.mediation.schemas import Constraints, NumericIssue, NumericPreference, OptionsIssue

Terms = dict[str, float | str]


class MesoError(ValueError):
    """No MESO exists under these constraints; the message says what to relax."""


def check_constraints(issues: list, constraints: Constraints) -> None:
    """Raise ValueError naming the issue and the field when constraints do not fit the case's issues."""
    names = {i.name for i in issues}
    unknown = sorted(set(constraints.issues) - names)
    if unknown:
        raise ValueError(f"unknown issue(s) {unknown}; this case's issues are {sorted(names)}")
    missing = sorted(names - set(constraints.issues))
    if missing:
        raise ValueError(f"missing preferences for issue(s) {missing}")
    for issue in issues:
        pref = constraints.issues[issue.name]
        if isinstance(issue, NumericIssue):
            if not isinstance(pref, NumericPreference):
                raise ValueError(f"issue {issue.name!r} is numeric: give weight, ideal and reservation")
            for label in ("ideal", "reservation"):
                value = getattr(pref, label)
                if not issue.min <= value <= issue.max:
                    raise ValueError(f"issue {issue.name!r}: {label} {value} is outside the range [{issue.min}, {issue.max}]")
            if pref.ideal == pref.reservation:
                raise ValueError(f"issue {issue.name!r}: ideal and reservation must differ")
        else:
            if isinstance(pref, NumericPreference) or set(pref.ratings) != set(issue.options):
                raise ValueError(f"issue {issue.name!r}: rate every option exactly once: {issue.options}")
    if sum(p.weight for p in constraints.issues.values()) <= 0:
        raise ValueError("at least one issue needs a weight above 0")


def check_terms(issues: list, terms: Terms) -> None:
    """Raise ValueError when a package does not set every issue to a value the issue allows."""
    names = [i.name for i in issues]
    if sorted(terms) != sorted(names):
        raise ValueError(f"a package sets exactly these issues: {names}")
    for issue in issues:
        value = terms[issue.name]
        if isinstance(issue, NumericIssue):
            if isinstance(value, str) or not math.isfinite(value) or not issue.min <= value <= issue.max:
                raise ValueError(f"issue {issue.name!r}: {value!r} is not a number in [{issue.min}, {issue.max}]")
        elif value not in issue.options:
            raise ValueError(f"issue {issue.name!r}: {value!r} is not one of {issue.options}")


def issue_value(issue, pref, value) -> float | None:
    """This party's value of one issue's setting in [0, 1], or None when it is unacceptable."""
    if isinstance(issue, NumericIssue):
        t = (float(value) - pref.reservation) / (pref.ideal - pref.reservation)
        return None if t < -1e-9 else min(1.0, max(0.0, t))
    rating = pref.ratings[value]
    return None if rating <= 0 else rating


def package_value(issues: list, constraints: Constraints, terms: Terms) -> float | None:
    """Weighted mean of issue values; None when any issue is unacceptable to this party."""
    total_weight = sum(p.weight for p in constraints.issues.values())
    value = 0.0
    for issue in issues:
        pref = constraints.issues[issue.name]
        v = issue_value(issue, pref, terms[issue.name])
        if v is None:
            return None
        value += pref.weight * v
    return value / total_weight


def _meets_minimum(value: float | None, constraints: Constraints) -> bool:
    return value is not None and value >= constraints.min_value - 1e-9


def acceptable(issues: list, constraints: Constraints, terms: Terms) -> bool:
    return _meets_minimum(package_value(issues, constraints, terms), constraints)


def _grid(issue, steps: int) -> list:
    if isinstance(issue, OptionsIssue):
        return list(issue.options)
    span = issue.max - issue.min
    # Round to a 1/100 of the step so packages read like offers people make, not float noise.
    step = span / (steps - 1)
    digits = max(0, -math.floor(math.log10(step / 100))) if step > 0 else 2
    return [round(issue.min + k * step, digits) for k in range(steps)]


def candidates(issues: list, steps: int = 11, limit: int = 20_000, seed: int = 0) -> list[Terms]:
    grids = [_grid(i, steps) for i in issues]
    names = [i.name for i in issues]
    size = math.prod(len(g) for g in grids)
    if size <= limit:
        combos = itertools.product(*grids)
    else:  # too many to enumerate: a seeded uniform sample of the grid
        rng = random.Random(seed)
        combos = (tuple(rng.choice(g) for g in grids) for _ in range(limit))
    return [dict(zip(names, combo)) for combo in combos]


def _position(issues: list, terms: Terms) -> list[float]:
    """A package as a point in [0, 1]^k (one-hot for options), to measure how differently packages trade."""
    point: list[float] = []
    for issue in issues:
        if isinstance(issue, NumericIssue):
            point.append((float(terms[issue.name]) - issue.min) / (issue.max - issue.min))
        else:
            point.extend(0.7071 * (terms[issue.name] == o) for o in issue.options)
    return point


@dataclass
class MesoPackage:
    terms: Terms
    value: float                                  # its value to the party it is offered to
    issue_values: dict[str, float] = field(default_factory=dict)  # that party's value per issue


@dataclass
class Meso:
    party_id: int
    target: float
    tolerance: float
    packages: list[MesoPackage]

    @property
    def spread(self) -> float:
        values = [p.value for p in self.packages]
        return max(values) - min(values)


def generate_meso(issues: list, constraints: dict[int, Constraints], party_id: int, count: int = 3,
                  tolerance: float = 0.05, seed: int = 0) -> Meso:
    if party_id not in constraints:
        raise MesoError("that party has not entered its constraints yet")
    pool = candidates(issues, seed=seed)
    feasible = []
    for terms in pool:
        values = {pid: package_value(issues, c, terms) for pid, c in constraints.items()}
        if all(_meets_minimum(v, constraints[pid]) for pid, v in values.items()):
            feasible.append((terms, values))
    if len(feasible) < count:
        raise MesoError(
            f"only {len(feasible)} package(s) on the search grid are acceptable to every party; "
            "no MESO exists unless some party relaxes a reservation value or its minimum package value")

    def nash(item) -> float:
        _, values = item
        return sum(math.log(values[pid] - constraints[pid].min_value + 1e-6) for pid in values)

    anchor = max(feasible, key=nash)
    target = anchor[1][party_id]
    band = [item for item in feasible if abs(item[1][party_id] - target) <= tolerance / 2 + 1e-12]
    points = [_position(issues, t) for t, _ in band]
    chosen = [band.index(anchor)]
    others = lambda i: sum(v for pid, v in band[i][1].items() if pid != party_id)  # noqa: E731
    while len(chosen) < count:
        best, best_key = None, None
        for i in range(len(band)):
            if i in chosen:
                continue
            gap = min(math.dist(points[i], points[j]) for j in chosen)
            key = (round(gap, 9), others(i))  # most different trade-off; then best for the others
            if best_key is None or key > best_key:
                best, best_key = i, key
        if best is None or best_key[0] <= 0:
            break
        chosen.append(best)
    if len(chosen) < count:
        raise MesoError(
            f"only {len(chosen)} distinct package(s) are worth the same to this party within a tolerance of "
            f"{tolerance}; widen the tolerance or ask for fewer packages")
    own = constraints[party_id]
    packages = []
    for i in chosen:
        terms, values = band[i]
        per_issue = {iss.name: issue_value(iss, own.issues[iss.name], terms[iss.name]) for iss in issues}
        packages.append(MesoPackage(terms=terms, value=values[party_id], issue_values=per_issue))
    return Meso(party_id=party_id, target=target, tolerance=tolerance, packages=packages)
