"""MESO quality: the grid sampler Parley shipped before against the exact solver engine, on random cases.

    python benchmarks/meso_quality.py --cases 200 --seed 0

Each case (2-6 parties, 2-8 issues, numeric with and without steps, option issues, a quarter with tight
reservations and minimums; benchmarks/meso_cases.py) is drafted for its first party by each engine:
the old sampler, the solver with the default 5% privacy margin, and the solver without it. Every package
is then checked by the solver on the full (continuous or stepped) package space:
- dominated: some package in the same value band for the addressee is at least as good for every party
  and better for one (among the packages that keep the privacy margin the engine kept);
- others' gain left: how much more the other parties could have had in total in the band with nobody
  worse off, with no margin: the price the privacy margin pays, and the sampler's waste;
- false infeasible: the engine said no acceptable package exists while the other engine found one;
- Nash product relative to the best package either engine found for the case;
- terms near a private reservation: numeric terms within 5% of the issue's range of any party's reservation.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from legacy_meso import legacy_meso  # noqa: E402
from meso_cases import random_case  # noqa: E402
from parley.mediation.meso import (CaseModel, MesoError, NoAcceptablePackage, feasible, generate_meso,  # noqa: E402
                                   nash_product)
from parley.mediation.milp import SolverError, total  # noqa: E402
from parley.mediation.schemas import NumericIssue  # noqa: E402
from parley.mediation.values import package_value  # noqa: E402

ENGINES = {
    "grid sampler (before)": lambda i, c, p: legacy_meso(i, c, p),
    "solver, 5% privacy margin": lambda i, c, p: generate_meso(i, c, p, privacy_margin=0.05),
    "solver, no margin": lambda i, c, p: generate_meso(i, c, p, privacy_margin=0.0),
}


def gain_left(issues, constraints, party, meso, terms, margin: float = 0.0) -> float:
    """How much more the other parties could get in total, within the band, with nobody worse off
    (among packages keeping ``margin`` from every reservation)."""
    cm = CaseModel(issues, constraints, party, margin)
    values = {pid: package_value(issues, c, terms) for pid, c in constraints.items()}
    others = total(v for pid, v in cm.V.items() if pid != party)
    best = cm.solve(others, [(cm.V[party], meso.low, meso.high)] + cm.at_least(values))
    if best is None:
        return 0.0
    return max(0.0, sum(v for pid, v in best[1].items() if pid != party) - sum(v for pid, v in values.items() if pid != party))


def near_reservation(issues, constraints, terms) -> tuple[int, int]:
    near = count = 0
    for issue in issues:
        if isinstance(issue, NumericIssue):
            count += 1
            span = issue.max - issue.min
            near += any(abs(float(terms[issue.name]) - c.issues[issue.name].reservation) < 0.05 * span - 1e-9
                        for c in constraints.values())
    return near, count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--largest", type=int, default=30, help="cases of the largest size the service accepts, timed")
    args = ap.parse_args()
    stats = {name: {"found": 0, "no_meso": 0, "false_infeasible": 0, "packages": 0, "dominated": 0, "left": [],
                    "nash": [], "near": 0, "terms": 0, "time": []} for name in ENGINES}
    with Progress(console=Console(stderr=True)) as progress:
        task = progress.add_task("cases", total=args.cases)
        for index in range(args.cases):
            issues, constraints = random_case(args.seed, index)
            party = min(constraints)
            results = {}
            for name, engine in ENGINES.items():
                start = time.perf_counter()
                try:
                    results[name] = engine(issues, constraints, party)
                except (MesoError, SolverError) as exc:
                    results[name] = exc
                stats[name]["time"].append(time.perf_counter() - start)
            exists = feasible(issues, constraints)  # proved by the solver either way
            best = max((nash_product({pid: package_value(issues, c, p.terms) for pid, c in constraints.items()}, constraints)
                        for r in results.values() if not isinstance(r, Exception) for p in r.packages), default=0.0)
            for name, result in results.items():
                s = stats[name]
                if isinstance(result, Exception):
                    s["no_meso"] += 1
                    # The sampler says "relax a reservation or a minimum" exactly when it found too few acceptable
                    # packages; the solver says NoAcceptablePackage. Either is false when one exists.
                    claims_none = isinstance(result, NoAcceptablePackage) or "relaxes a reservation" in str(result)
                    s["false_infeasible"] += bool(claims_none and exists)
                    continue
                s["found"] += 1
                products = []
                for p in result.packages:
                    # Dominated within the engine's own promise (the privacy margin it kept, if any) ...
                    s["packages"] += 1
                    s["dominated"] += gain_left(issues, constraints, party, result, p.terms, result.privacy_margin) > 1e-6
                    # ... and what the others could have had without any margin: the price of privacy.
                    s["left"].append(gain_left(issues, constraints, party, result, p.terms))
                    products.append(nash_product({pid: package_value(issues, c, p.terms) for pid, c in constraints.items()},
                                                 constraints))
                    near, count = near_reservation(issues, constraints, p.terms)
                    s["near"] += near
                    s["terms"] += count
                if best > 0:
                    s["nash"].append(max(products) / best)
            progress.advance(task)

    table = Table(title=f"MESO quality on {args.cases} random cases (seed {args.seed})")
    for col in ("engine", "MESOs found", "false infeasible", "dominated packages", "others' gain left (no margin): mean / worst",
                "Nash product vs best", "terms near a reservation", "drafting time: median / worst"):
        table.add_column(col)
    for name, s in stats.items():
        table.add_row(
            name, f"{s['found']} of {args.cases}", f"{s['false_infeasible']} of {args.cases}",
            f"{s['dominated']} of {s['packages']} ({s['dominated'] / max(1, s['packages']):.0%})",
            f"{statistics.fmean(s['left']) if s['left'] else 0:.3f} / {max(s['left'], default=0):.3f}",
            f"{statistics.fmean(s['nash']) if s['nash'] else math.nan:.3f}",
            f"{s['near']} of {s['terms']} ({s['near'] / max(1, s['terms']):.0%})",
            f"{statistics.median(s['time']) * 1000:.0f} ms / {max(s['time']) * 1000:.0f} ms")
    Console(width=200).print(table)
    times = []
    for index in range(args.largest):  # 8 parties and 8 issues: the most CaseCreate allows
        issues, constraints = random_case(args.seed + 1, index, parties=(8, 8), issues=(8, 8))
        start = time.perf_counter()
        try:
            generate_meso(issues, constraints, 1)
        except (MesoError, SolverError):
            pass
        times.append(time.perf_counter() - start)
    if times:
        print(f"largest cases (8 parties, 8 issues), {len(times)} drafts: median {statistics.median(times) * 1000:.0f} ms, "
              f"worst {max(times) * 1000:.0f} ms")
    new = stats["solver, 5% privacy margin"]
    print(f"dominated packages: {new['dominated']} of {new['packages']}")
    print(f"false infeasible: {new['false_infeasible']} of {args.cases}")


if __name__ == "__main__":
    main()
