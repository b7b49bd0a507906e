"""The MESO engine Parley shipped before the solver (grid sampling), kept only as the benchmark's baseline.

Numeric issues on an 11-point grid, every option; above 20,000 grid points a seeded uniform sample.
The value level is the Nash package among the sampled feasible ones; then the packages in the value
band farthest apart. This is the code the MESO quality benchmark compares against: do not use it.
"""

from __future__ import annotations

import itertools
import math
import random

from parley.mediation.meso import Meso, MesoError, MesoPackage, _position
from parley.mediation.schemas import OptionsIssue
from parley.mediation.values import issue_value, meets_minimum, package_value


def _grid(issue, steps: int) -> list:
    if isinstance(issue, OptionsIssue):
        return list(issue.options)
    span = issue.max - issue.min
    step = span / (steps - 1)
    digits = max(0, -math.floor(math.log10(step / 100))) if step > 0 else 2
    return [round(issue.min + k * step, digits) for k in range(steps)]


def candidates(issues: list, steps: int = 11, limit: int = 20_000, seed: int = 0) -> list[dict]:
    grids = [_grid(i, steps) for i in issues]
    names = [i.name for i in issues]
    size = math.prod(len(g) for g in grids)
    if size <= limit:
        combos = itertools.product(*grids)
    else:
        rng = random.Random(seed)
        combos = (tuple(rng.choice(g) for g in grids) for _ in range(limit))
    return [dict(zip(names, combo)) for combo in combos]


def legacy_meso(issues, constraints, party_id, count=3, tolerance=0.05, seed=0) -> Meso:
    pool = candidates(issues, seed=seed)
    feasible = []
    for terms in pool:
        values = {pid: package_value(issues, c, terms) for pid, c in constraints.items()}
        if all(meets_minimum(v, constraints[pid]) for pid, v in values.items()):
            feasible.append((terms, values))
    if len(feasible) < count:
        raise MesoError(f"only {len(feasible)} package(s) on the search grid are acceptable to every party; "
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
            key = (round(gap, 9), others(i))
            if best_key is None or key > best_key:
                best, best_key = i, key
        if best is None or best_key[0] <= 0:
            break
        chosen.append(best)
    if len(chosen) < count:
        raise MesoError(f"only {len(chosen)} distinct package(s) are worth the same to this party within a "
                        f"tolerance of {tolerance}; widen the tolerance or ask for fewer packages")
    own = constraints[party_id]
    packages = [MesoPackage(terms=band[i][0], value=band[i][1][party_id],
                            issue_values={iss.name: issue_value(iss, own.issues[iss.name], band[i][0][iss.name])
                                          for iss in issues}) for i in chosen]
    return Meso(party_id=party_id, target=target, tolerance=tolerance, packages=packages,
                low=target - tolerance / 2, high=target + tolerance / 2)
