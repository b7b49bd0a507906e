"""The value model every MESO computation and every page shares.

A party's value of a package is additive (the standard multi-issue model of negotiation analysis): the
weighted mean of per-issue values in [0, 1]. A numeric issue is worth 0 at the party's reservation value
and 1 at its ideal, linear in between, capped at 1 past the ideal and unacceptable past the reservation;
an option is worth the party's rating, and a rating of 0 is unacceptable. A package is acceptable to a
party when every issue is acceptable and the whole is worth at least the party's ``min_value``.
"""

from __future__ import annotations

import hashlib
import json
import math

from parley.mediation.schemas import Constraints, NumericIssue, NumericPreference

Terms = dict[str, float | str]

# Values are compared with this slack (a millionth of the value scale): the solver meets rows to about 1e-7.
EPS = 1e-6


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


def on_grid(issue: NumericIssue, value: float) -> bool:
    """Whether ``value`` lies on the issue's resolution (always, for a continuous issue)."""
    if issue.step is None:
        return True
    k = (value - issue.min) / issue.step
    return abs(k - round(k)) <= 1e-6


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
            if not on_grid(issue, value):
                raise ValueError(f"issue {issue.name!r}: {value!r} is not a multiple of the step {issue.step} from {issue.min}")
        elif value not in issue.options:
            raise ValueError(f"issue {issue.name!r}: {value!r} is not one of {issue.options}")


def issue_value(issue, pref, value) -> float | None:
    """This party's value of one issue's setting in [0, 1], or None when it is unacceptable."""
    if isinstance(issue, NumericIssue):
        t = (float(value) - pref.reservation) / (pref.ideal - pref.reservation)
        return None if t < -EPS else min(1.0, max(0.0, t))
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


def meets_minimum(value: float | None, constraints: Constraints) -> bool:
    return value is not None and value >= constraints.min_value - EPS


def acceptable(issues: list, constraints: Constraints, terms: Terms) -> bool:
    return meets_minimum(package_value(issues, constraints, terms), constraints)


def canonical_terms(issues: list, terms: Terms) -> Terms:
    """The terms in the case's issue order, numbers as floats rounded to 9 significant digits.

    Two packages with the same canonical terms are the same package, whichever MESO or counter-proposal
    they came from: 1300, 1300.0 and 1299.9999999999 all read 1300.0.
    """
    out: Terms = {}
    for issue in issues:
        value = terms[issue.name]
        out[issue.name] = value if isinstance(value, str) else float(f"{float(value):.9g}")
    return out


def terms_key(issues: list, terms: Terms) -> str:
    """A fixed-length identity of a package's terms (sha256 of its canonical JSON)."""
    canonical = json.dumps(canonical_terms(issues, terms), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
