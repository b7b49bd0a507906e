"""Random mediation cases for the MESO benchmark and tests: a pure function of (seed, index)."""

from __future__ import annotations

import random

from parley.mediation.schemas import Constraints, NumericIssue, OptionsIssue

UNITS = ["EUR", "months", "days", "%", "units", ""]


def random_case(seed: int, index: int, parties: tuple[int, int] = (2, 6), issues: tuple[int, int] = (2, 8),
                tight_share: float = 0.25) -> tuple[list, dict[int, Constraints]]:
    """Issues and every party's constraints; a ``tight_share`` of cases have tight reservations and minimums."""
    rng = random.Random(f"meso-case/{seed}/{index}")
    n_issues, n_parties = rng.randint(*issues), rng.randint(*parties)
    tight = rng.random() < tight_share
    out = []
    for k in range(n_issues):
        if rng.random() < 0.6:
            low = rng.choice([0, 10, 100, 1000])
            span = rng.choice([10, 30, 100, 600, 5000])
            step = rng.choice([None, span / 60, span / 20, 1]) if span >= 10 else None
            out.append(NumericIssue(name=f"N{k}", min=low, max=low + span, unit=rng.choice(UNITS),
                                    step=step if step and step <= span else None))
        else:
            out.append(OptionsIssue(name=f"O{k}", options=[f"o{j}" for j in range(rng.randint(2, 5))]))
    constraints = {}
    for pid in range(1, n_parties + 1):
        prefs = {}
        for issue in out:
            weight = round(rng.uniform(0.1, 5), 2)
            if isinstance(issue, NumericIssue):
                span = issue.max - issue.min
                cut = rng.uniform(0.35, 0.65) if tight else rng.uniform(0.0, 0.45)
                if rng.random() < 0.5:  # wants it high
                    prefs[issue.name] = {"weight": weight, "ideal": issue.max - rng.uniform(0, 0.1) * span,
                                         "reservation": issue.min + cut * span}
                else:
                    prefs[issue.name] = {"weight": weight, "ideal": issue.min + rng.uniform(0, 0.1) * span,
                                         "reservation": issue.max - cut * span}
            else:
                ratings = {o: round(rng.random(), 2) for o in issue.options}
                if rng.random() < 0.15:
                    ratings[rng.choice(issue.options)] = 0.0
                prefs[issue.name] = {"weight": weight, "ratings": ratings}
        minimum = rng.uniform(0.3, 0.5) if tight else rng.uniform(0.0, 0.3)
        constraints[pid] = Constraints.model_validate({"issues": prefs, "min_value": round(minimum, 3)})
    return out, constraints
