"""MESO: multiple equivalent simultaneous offers, computed exactly by a mixed-integer solver.

A MESO for party P is ``count`` packages that are worth the same to P (within ``tolerance``), acceptable
to every party, Pareto-efficient among the packages of that value to P, and that trade the issues
differently. Values follow ``values.py`` (additive, piecewise linear, capped at the ideal).

Why the formulation is what it is (HiGHS through scipy.optimize.milp):
- A numeric issue is a continuous variable, or an integer count of the mediator's step from the issue's
  minimum. Every party's reservation becomes a bound of that variable (past it the package is
  unacceptable), so acceptability per issue costs nothing; a privacy margin moves those bounds inward.
- An option issue is one-hot binaries over the options nobody rated 0.
- A party's issue value is ``min(1, (x - R) / (I - R))``: concave. Every objective and every bound we
  put on a non-addressee's value pushes it up (maximise a sum, keep it above a minimum), so ``u <= lin,
  u <= 1`` is exact there. The addressee's value is also bounded from above (the value band), where the
  relaxation would let the solver under-report it; so its capped issues get one binary each, which
  makes ``u`` equal the cap or the line exactly (big-M, with M the largest overshoot within the bounds).
- The Nash product is maximised as a sum of ``log(gain)``; log is concave, so it is the minimum of its
  tangents, and tangent cuts added where the last solution was loose (Kelley's method) converge to the
  optimum within 1e-9 in the log. Egalitarian and Kalai-Smorodinsky anchors are max-min problems,
  linear as they stand. Every anchor is then "polished": maximise the sum of all values while nobody
  gets less, which makes it Pareto-efficient (a max-min solution need not be).
- Efficiency within the band: a package that maximises the sum of every party's value among the band's
  packages at least as good for everyone as a starting point cannot be dominated by any band package
  (a dominating one would be in that set with a larger sum). Every published package is polished so.
- Diversity rule: package 1 is the fair anchor; package k favours the addressee on its k-th most
  weighted issue (maximise P's value on that issue within the band, then polish). When those coincide,
  an exclusion search asks the solver for the best package that differs from all found ones by at
  least one step (or 1% of the range on a continuous issue) on some issue, or by an option; when the
  solver proves none exists, the engine says how many distinct efficient packages there are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from parley.mediation.milp import Expr, Model, Row, total
from parley.mediation.schemas import Constraints, NumericIssue
from parley.mediation.values import Terms, issue_value, meets_minimum, package_value

RULES = ("nash", "egalitarian", "kalai-smorodinsky")
_LOG_SHIFT = 1e-6   # log(gain + shift): a party whose best gain is 0 still has a finite Nash term
_FAVOUR_TIE = 1e-4  # weight of everyone's total while favouring one issue: a tie-break, not a trade-off
_NASH_GAP = 1e-5    # stop adding tangent cuts when the log Nash product is this close to its outer bound
_NASH_ROUNDS = 30
_SEARCH_TRIES = 8   # exclusion-search solves beyond the rule-based candidates


class MesoError(ValueError):
    """No MESO under these constraints; the message says what to change."""


class NoAcceptablePackage(MesoError):
    """The solver proved that no package is acceptable to every party."""

    def __init__(self, message: str, relaxations: list["Relaxation"]) -> None:
        super().__init__(message)
        self.relaxations = relaxations


class TooFewPackages(MesoError):
    """Fewer distinct efficient packages than asked for lie in the value band [low, high].

    ``proved``: the solver showed that every other package in the band is one of those found or is
    dominated by one (so exactly ``found`` distinct efficient packages exist); otherwise the search stopped.
    """

    def __init__(self, message: str, found: int, low: float, high: float, proved: bool) -> None:
        super().__init__(message)
        self.found, self.low, self.high, self.proved = found, low, high, proved


@dataclass
class Relaxation:
    """One change of one party's constraints that makes some package acceptable to every party."""

    party_id: int
    kind: str            # minimum | reservation | option
    issue: str | None
    amount: float        # minimum: on the 0-1 value scale; reservation: in the issue's unit; option: 0
    option: str | None = None
    size: float = 0.0    # comparable across kinds: share of the value scale or of the issue's range

    def describe(self, name: str) -> str:
        if self.kind == "minimum":
            return f"{name} lowers its minimum package value by {self.amount:.3f}"
        if self.kind == "reservation":
            return f"{name} moves its reservation on {self.issue} by {_fmt(self.amount)}"
        return f"{name} accepts option {self.option!r} on {self.issue}"


def _fmt(x: float) -> str:
    return f"{x:.6g}"


@dataclass
class MesoPackage:
    terms: Terms
    value: float                                                  # its value to the party it is offered to
    issue_values: dict[str, float] = field(default_factory=dict)  # that party's value per issue
    favours: str = ""               # "anchor" (the fairness rule's package), an issue name, or "search"
    efficient: bool = True          # Pareto-efficient within the band (checked by the solver)
    others_gain_sum: float = 0.0    # sum over the other parties of (value - their minimum)
    others_gain_min: float = 0.0    # the smallest of those gains


@dataclass
class Meso:
    party_id: int
    target: float
    tolerance: float
    packages: list[MesoPackage]
    rule: str = "nash"
    low: float = 0.0                # the value band for the addressee: [low, high]
    high: float = 1.0
    privacy_margin: float = 0.0     # the margin the packages keep from every reservation (share of range)
    notes: list[str] = field(default_factory=list)

    @property
    def spread(self) -> float:
        values = [p.value for p in self.packages]
        return max(values) - min(values)


# ---------------------------------------------------------------- the model of one case


class CaseModel:
    """Variables and rows shared by every solve for one case, addressee and privacy margin."""

    def __init__(self, issues: list, constraints: dict[int, Constraints], addressee: int | None = None,
                 margin: float = 0.0) -> None:
        self.issues, self.constraints, self.addressee = issues, constraints, addressee
        self.m = Model()
        self.feasible = True      # False when bounds alone already prove that nothing is acceptable
        self.x: dict[str, Expr] = {}
        self.stepped: dict[str, int] = {}          # issue -> index of its integer step count
        self.bounds: dict[str, tuple[float, float]] = {}
        self.y: dict[str, dict[str, Expr]] = {}
        self.u: dict[tuple[int, str], Expr] = {}
        for issue in issues:
            if isinstance(issue, NumericIssue):
                self._numeric(issue, margin)
            else:
                self._options(issue)
            if not self.feasible:
                return
        self.V: dict[int, Expr] = {}
        for pid, c in constraints.items():
            weight = sum(p.weight for p in c.issues.values())
            self.V[pid] = total(self.u[pid, i.name] * (c.issues[i.name].weight / weight) for i in issues)
            self.m.add(self.V[pid], lo=c.min_value)

    def _numeric(self, issue: NumericIssue, margin: float) -> None:
        lo, hi = issue.min, issue.max
        shift = margin * (issue.max - issue.min)
        for c in self.constraints.values():
            pref = c.issues[issue.name]
            if pref.ideal > pref.reservation:
                lo = max(lo, pref.reservation + shift)
            else:
                hi = min(hi, pref.reservation - shift)
        if issue.step is not None:
            kmin = math.ceil((lo - issue.min) / issue.step - 1e-9)
            kmax = math.floor((hi - issue.min) / issue.step + 1e-9)
            if kmin > kmax:
                self.feasible = False
                return
            k = self.m.var(kmin, kmax, integer=True)
            self.stepped[issue.name] = next(iter(k.coef))
            x = k * issue.step + issue.min
            lo, hi = issue.min + kmin * issue.step, issue.min + kmax * issue.step
        else:
            if lo > hi:
                self.feasible = False
                return
            x = self.m.var(lo, hi)
        self.x[issue.name], self.bounds[issue.name] = x, (lo, hi)
        for pid, c in self.constraints.items():
            pref = c.issues[issue.name]
            slope = 1.0 / (pref.ideal - pref.reservation)
            line = (x - pref.reservation) * slope
            top = max((lo - pref.reservation) * slope, (hi - pref.reservation) * slope)
            if top <= 1.0 + 1e-12:       # the ideal lies at or past the bounds: the cap never binds
                self.u[pid, issue.name] = line
                continue
            u = self.m.var(0.0, 1.0)
            self.m.add(u - line, hi=0.0)                      # u <= line (and u <= 1 by its bound)
            if pid == self.addressee:                         # exact: u = min(1, line)
                z = self.m.var(0.0, 1.0, integer=True)
                self.m.add(u - line + z * (top - 1.0), lo=0.0)  # z = 0: u >= line
                self.m.add(u - z, lo=0.0)                       # z = 1: u >= 1
            self.u[pid, issue.name] = u

    def _options(self, issue) -> None:
        allowed = [o for o in issue.options if all(c.issues[issue.name].ratings[o] > 0 for c in self.constraints.values())]
        if not allowed:
            self.feasible = False
            return
        self.y[issue.name] = {o: self.m.var(0.0, 1.0, integer=True) for o in allowed}
        self.m.add(total(self.y[issue.name].values()), lo=1.0, hi=1.0)
        for pid, c in self.constraints.items():
            ratings = c.issues[issue.name].ratings
            self.u[pid, issue.name] = total(y * ratings[o] for o, y in self.y[issue.name].items())

    # ---------------------------------------------------------------- solving

    def solve(self, objective: Expr, extra: list[Row] = ()) -> tuple[Terms, dict[int, float]] | None:
        """The optimal package and every party's true value of it, or None when infeasible (proved)."""
        if not self.feasible:
            return None
        found = self._checked(self.m.maximise(objective, list(extra)))
        if found is False:
            # HiGHS meets rows to within 1e-6; where a party's value is that steep, ask for a hair of room.
            room = [(v, c.min_value + 1e-5, math.inf) for v, c in zip(self.V.values(), self.constraints.values())]
            found = self._checked(self.m.maximise(objective, list(extra) + room))
        return found or None

    def _checked(self, sol) -> tuple[Terms, dict[int, float]] | None | bool:
        """The package of ``sol`` with every party's value, None for no solution, False if it fails a party."""
        if sol is None:
            return None
        terms = self.terms(sol)
        values = {pid: package_value(self.issues, c, terms) for pid, c in self.constraints.items()}
        if not all(meets_minimum(v, self.constraints[pid]) for pid, v in values.items()):
            return False
        return terms, values

    def terms(self, sol) -> Terms:
        out: Terms = {}
        for issue in self.issues:
            if issue.name in self.y:
                out[issue.name] = max(self.y[issue.name], key=lambda o: sol[next(iter(self.y[issue.name][o].coef))])
            elif issue.name in self.stepped:
                k = round(sol[self.stepped[issue.name]])
                out[issue.name] = round(issue.min + k * issue.step, 9)
            else:
                lo, hi = self.bounds[issue.name]
                x = float(f"{self.x[issue.name].value(sol):.9g}")  # drop float noise, then stay inside the bounds
                out[issue.name] = min(hi, max(lo, x))
        return out

    def inset(self, low: float, high: float) -> tuple[float, float]:
        """The band as solved: kept inside by a hair so solver tolerance never puts a package outside it
        (not at the scale's ends, which no value can pass anyway: the anchor may sit exactly at 1)."""
        inset = min(1e-7, (high - low) / 4)
        floor = self.constraints[self.addressee].min_value
        return (low + inset if low > floor else low), (high - inset if high < 1.0 else high)

    def band(self, low: float, high: float) -> list[Row]:
        return [(self.V[self.addressee], *self.inset(low, high))]

    def at_least(self, values: dict[int, float]) -> list[Row]:
        return [(self.V[pid], v - 1e-9, math.inf) for pid, v in values.items()]

    def polish(self, found: tuple[Terms, dict[int, float]], extra: list[Row] = (),
               keep: Expr | None = None) -> tuple[Terms, dict[int, float]]:
        """A Pareto-efficient package at least as good for everyone as ``found``.

        It maximises everyone's total among the packages (meeting ``extra``) at least as good for everyone;
        then, among those with that total, it maximises ``keep`` (lexicographically), so a package built to
        favour one issue keeps that emphasis wherever efficiency allows.
        """
        rows = list(extra) + self.at_least(found[1])
        everyone = total(self.V.values())
        better = self.solve(everyone, rows)
        if better is None or sum(better[1].values()) < sum(found[1].values()):
            return found  # the start point is in that set; a failure to find it again is numerical noise
        if keep is not None:
            kept = self.solve(keep, rows + [(everyone, sum(better[1].values()) - 1e-9, math.inf)])
            if kept is not None:
                return kept
        return better

    def dominating(self, values: dict[int, float], extra: list[Row] = (), margin: float = 1e-5) -> dict[int, float] | None:
        """Values of a package (meeting ``extra``) at least as good for all and better by ``margin`` in sum.

        The margin is above HiGHS's tolerances (about 1e-6 on rows, compounded over a few parties): a "gain"
        smaller than 1e-5 on the 0-1 value scale is solver noise, not a better package (hypothesis found
        1.3e-6 ones at a band's edge)."""
        best = self.solve(total(self.V.values()), list(extra) + self.at_least(values))
        if best is None or sum(best[1].values()) <= sum(values.values()) + margin:
            return None
        # In true values, not the solver's: within its row tolerance it may take 1e-6 from one party to give
        # another 1e-5 where a value is steep, which is a trade, not a better package for everyone.
        if any(best[1][pid] < v - 1e-7 for pid, v in values.items()):
            return None
        return best[1]

    def differs(self, others: list[Terms]) -> list[Row]:
        """Rows saying the package differs from each of ``others`` by a step (1% of a continuous range)
        on some numeric issue, or in some option."""
        rows: list[Row] = []
        for terms in others:
            flags = []
            for issue in self.issues:
                if issue.name in self.y:
                    chosen = self.y[issue.name].get(terms[issue.name])
                    if chosen is None:
                        flags = None  # that option is not allowed here: every package differs already
                        break
                    flags.append(1.0 - chosen)
                    continue
                delta = apart_by(issue)
                big = issue.max - issue.min + delta
                x, x0 = self.x[issue.name], float(terms[issue.name])
                up, down = self.m.var(0.0, 1.0, integer=True), self.m.var(0.0, 1.0, integer=True)
                rows.append((x - up * big, x0 + delta * (1 - 1e-6) - big, math.inf))    # up = 1: x >= x0 + delta
                rows.append((x + down * big, -math.inf, x0 - delta * (1 - 1e-6) + big))  # down = 1: x <= x0 - delta
                flags += [up, down]
            if flags is not None:
                rows.append((total(flags), 1.0, math.inf))
        return rows


def apart_by(issue: NumericIssue) -> float:
    """How far two terms of a numeric issue must be to make different packages: a step, or 1% of the range."""
    return issue.step if issue.step is not None else (issue.max - issue.min) / 100


def same_package(issues: list, a: Terms, b: Terms) -> bool:
    """Equal options, and numbers closer than one step (1% of the range where the issue has no step)."""
    for issue in issues:
        if isinstance(issue, NumericIssue):
            delta = apart_by(issue)
            if abs(float(a[issue.name]) - float(b[issue.name])) >= delta * (1 - 1e-6):
                return False
        elif a[issue.name] != b[issue.name]:
            return False
    return True


# ---------------------------------------------------------------- fairness anchors


def anchor(cm: CaseModel, rule: str = "nash") -> tuple[Terms, dict[int, float]] | None:
    """The rule's package over every acceptable package, polished to Pareto-efficiency; None if none."""
    if rule not in RULES:
        raise ValueError(f"unknown fairness rule {rule!r}; choose one of {RULES}")
    if not cm.feasible:
        return None
    gains = {pid: cm.V[pid] - c.min_value for pid, c in cm.constraints.items()}
    if rule == "nash":
        found = _nash(cm, gains)
    else:
        level = cm.m.var(-1.0, 1.0)
        if rule == "egalitarian":
            rows = [(level - g, -math.inf, 0.0) for g in gains.values()]
        else:  # Kalai-Smorodinsky: the same share of each party's best possible gain
            rows = []
            for pid, g in gains.items():
                best = cm.solve(cm.V[pid])
                if best is None:
                    return None
                room = best[1][pid] - cm.constraints[pid].min_value
                if room > 1e-9:
                    rows.append((level * room - g, -math.inf, 0.0))
        found = cm.solve(level, rows)
    return None if found is None else cm.polish(found)


def _nash(cm: CaseModel, gains: dict[int, Expr]) -> tuple[Terms, dict[int, float]] | None:
    logs = {pid: cm.m.var(math.log(_LOG_SHIFT) - 1, 0.0) for pid in gains}
    points = {pid: [0.0] + [10 ** (-3 + 3 * k / 15) for k in range(16)] for pid in gains}  # 1e-3 .. 1

    def cut(pid, a) -> Row:  # log(g + s) <= log(a + s) + (g - a) / (a + s)
        s = a + _LOG_SHIFT
        return (logs[pid] - gains[pid] * (1 / s), -math.inf, math.log(s) - a / s)

    objective = total(logs.values())
    for _ in range(_NASH_ROUNDS):
        rows = [cut(pid, a) for pid, pts in points.items() for a in pts]
        sol = cm.m.maximise(objective, rows) if cm.feasible else None
        if sol is None:
            return None
        loose = {pid: max(0.0, gains[pid].value(sol)) for pid in gains}
        gap = sum(logs[pid].value(sol) - math.log(loose[pid] + _LOG_SHIFT) for pid in gains)
        if gap <= _NASH_GAP:
            break
        for pid, g in loose.items():
            points[pid].append(g)
    found = cm._checked(sol)  # the checks every package passes; re-solved with a hair of room if it fails one
    return cm.solve(objective, rows) if found is False else found


def nash_product(values: dict[int, float], constraints: dict[int, Constraints]) -> float:
    return math.prod(max(0.0, v - constraints[pid].min_value) for pid, v in values.items())


# ---------------------------------------------------------------- MESO


def generate_meso(issues: list, constraints: dict[int, Constraints], party_id: int, count: int = 3,
                  tolerance: float = 0.05, rule: str = "nash", privacy_margin: float = 0.05) -> Meso:
    """An efficient MESO for ``party_id``; MesoError says what to change when there is none.

    The privacy margin keeps every numeric term at least that share of the issue's range away from every
    party's reservation (terms sitting on a reservation reveal it to everyone who reads the package). When
    no MESO keeps that margin, the engine drops it and says so in ``notes``.
    """
    if party_id not in constraints:
        raise MesoError("that party has not entered its constraints yet")
    if privacy_margin > 0:
        try:
            return _meso(issues, constraints, party_id, count, tolerance, rule, privacy_margin)
        except MesoError:
            pass
    meso = _meso(issues, constraints, party_id, count, tolerance, rule, 0.0)
    if privacy_margin > 0:
        meso.notes.append(f"No MESO keeps terms {privacy_margin:.0%} of the range away from every reservation, "
                          "so some terms may sit close to a party's private reservation.")
    return meso


def _meso(issues, constraints, party_id, count, tolerance, rule, margin) -> Meso:
    cm = CaseModel(issues, constraints, party_id, margin)
    fair = anchor(cm, rule)
    if fair is None and margin > 0:
        raise MesoError("no acceptable package keeps the privacy margin")  # the caller retries without it
    if fair is None:
        relaxations = minimal_relaxations(issues, constraints)
        raise NoAcceptablePackage(_infeasible_message(relaxations), relaxations)
    target = fair[1][party_id]
    # The band as solved, so that "efficient within the band" means within exactly this band.
    low, high = cm.inset(max(constraints[party_id].min_value, target - tolerance / 2), min(1.0, target + tolerance / 2))
    band = cm.band(low, high)  # solved a hair inside the reported band: HiGHS meets rows to about 1e-7
    own = constraints[party_id]
    found: list[tuple[Terms, dict[int, float], str]] = []

    def add(candidate, label) -> None:
        # A package the solver placed outside the band within its tolerance (1e-6) is not offered.
        if candidate is not None and not low <= candidate[1][party_id] <= high:
            return
        if candidate is not None and not any(same_package(issues, candidate[0], f[0]) for f in found):
            found.append((candidate[0], candidate[1], label))

    add(fair, "anchor")
    everyone = total(cm.V.values())
    others = total(v for pid, v in cm.V.items() if pid != party_id)
    by_weight = sorted((i for i in issues if own.issues[i.name].weight > 0),
                       key=lambda i: -own.issues[i.name].weight)  # stable: the case's order breaks ties
    starts: list[tuple[Expr, list[Row], Expr | None]] = []
    # Favour each of the addressee's issues, heaviest first.
    starts += [(cm.u[party_id, i.name] + everyone * _FAVOUR_TIE, band, cm.u[party_id, i.name]) for i in by_weight]
    # The efficient packages at the band's edges and middle: with two parties these are what the band holds.
    # (Each start lies in a quarter of the band: a narrower window makes hitting it a knapsack problem.)
    quarter = (high - low) / 4
    for level in (low, high - quarter, low + 1.5 * quarter):
        starts.append((others + cm.V[party_id] * _FAVOUR_TIE, cm.band(level, level + quarter), None))
    for objective, rows, keep in starts:
        start = cm.solve(objective, rows)
        if start is not None:
            add(cm.polish(start, band, keep), "")
    exhausted = False
    dominated: list[Terms] = []
    for _ in range(_SEARCH_TRIES):
        if len(found) >= count + 2:
            break
        apart = band + cm.differs([f[0] for f in found] + dominated)
        candidate = cm.solve(everyone, apart)
        if candidate is None:
            exhausted = True
            break
        candidate = cm.polish(candidate, apart)
        # Polished among the packages that differ from those found, it can still be dominated by one that
        # does not differ (a neighbour of a found package). It is excluded from the search and never offered;
        # what dominates it, polished in the whole band, is efficient and may be new.
        if cm.dominating(candidate[1], band) is not None:
            dominated.append(candidate[0])
            candidate = cm.polish(candidate, band)
            if cm.dominating(candidate[1], band) is not None:
                continue
        if any(_dominates(f[1], candidate[1]) for f in found):
            dominated.append(candidate[0])
        else:
            add(candidate, "")
    found = _most_different(issues, found, count)
    if len(found) < count:
        how = "exist" if exhausted else "were found"
        raise TooFewPackages(
            f"only {len(found)} distinct Pareto-efficient package(s) {how} that are worth the same to this party "
            f"within a tolerance of {tolerance}; widen the tolerance or ask for fewer packages",
            len(found), low, high, exhausted)
    packages = []
    anchor_values = {i.name: own.issues[i.name].weight * issue_value(i, own.issues[i.name], fair[0][i.name]) for i in issues}
    for terms, values, label in found[:count]:
        others = [values[pid] - c.min_value for pid, c in constraints.items() if pid != party_id]
        per_issue = {i.name: issue_value(i, own.issues[i.name], terms[i.name]) for i in issues}
        if label != "anchor":  # the issue on which it gives the addressee most beyond the fair anchor
            gain = {i.name: own.issues[i.name].weight * per_issue[i.name] - anchor_values[i.name] for i in issues}
            best = max(gain, key=gain.get)
            label = best if gain[best] > 1e-6 else "balanced"
        packages.append(MesoPackage(terms=terms, value=values[party_id], issue_values=per_issue, favours=label,
                                    efficient=cm.dominating(values, band) is None,
                                    others_gain_sum=sum(others), others_gain_min=min(others, default=0.0)))
    return Meso(party_id=party_id, target=target, tolerance=tolerance, packages=packages, rule=rule, low=low,
                high=high, privacy_margin=margin)


def _position(issues: list, terms: Terms) -> list[float]:
    """A package as a point in [0, 1]^k (one-hot for options), to measure how differently packages trade."""
    point: list[float] = []
    for issue in issues:
        if isinstance(issue, NumericIssue):
            point.append((float(terms[issue.name]) - issue.min) / (issue.max - issue.min))
        else:
            point.extend(0.7071 * (terms[issue.name] == o) for o in issue.options)
    return point


def _most_different(issues: list, found: list, count: int) -> list:
    """The anchor, then greedily the package farthest from those chosen (ties: the earlier candidate)."""
    chosen = found[:1]
    rest = found[1:]
    while rest and len(chosen) < count:
        gaps = [min(math.dist(_position(issues, f[0]), _position(issues, c[0])) for c in chosen) for f in rest]
        chosen.append(rest.pop(max(range(len(rest)), key=lambda k: (round(gaps[k], 9), -k))))
    return chosen


def _dominates(a: dict[int, float], b: dict[int, float]) -> bool:
    return all(a[p] >= b[p] - 1e-9 for p in a) and sum(a.values()) > sum(b.values()) + 1e-6


# ---------------------------------------------------------------- when nothing is acceptable


def feasible(issues: list, constraints: dict[int, Constraints]) -> bool:
    """Whether some package is acceptable to every party (an answer the solver proves either way)."""
    cm = CaseModel(issues, constraints)
    return cm.feasible and cm.solve(Expr()) is not None


def _with(constraints: dict[int, Constraints], pid: int, issue: str | None = None, **change) -> dict[int, Constraints]:
    c = constraints[pid]
    if issue is None:
        new = c.model_copy(update=change)
    else:
        new = c.model_copy(update={"issues": {**c.issues, issue: c.issues[issue].model_copy(update=change)}})
    return {**constraints, pid: new}


def minimal_relaxations(issues: list, constraints: dict[int, Constraints]) -> list[Relaxation]:
    """Every single change of one party's constraints that makes a package acceptable to all, smallest first.

    A minimum package value is relaxed to the most that party can get while everyone else's constraints
    hold (one solve). A reservation is moved away from the party's ideal, which also raises the party's
    value of every package; feasibility grows with the move, so the smallest move is found by bisection
    to a step (or 1/1000 of a continuous range).
    """
    found: list[Relaxation] = []
    for pid, c in constraints.items():
        if c.min_value > 0:
            free = CaseModel(issues, _with(constraints, pid, min_value=0.0))
            best = free.solve(free.V[pid]) if free.feasible else None
            if best is not None:
                need = c.min_value - best[1][pid]
                found.append(Relaxation(pid, "minimum", None, need, size=need))
        for issue in issues:
            pref = c.issues[issue.name]
            if isinstance(issue, NumericIssue):
                direction = -1.0 if pref.ideal > pref.reservation else 1.0
                room = (pref.reservation - issue.min) if direction < 0 else (issue.max - pref.reservation)
                if room <= 0:
                    continue
                moved = lambda d: _with(constraints, pid, issue.name, reservation=pref.reservation + direction * d)  # noqa: E731
                if not feasible(issues, moved(room)):
                    continue
                resolution = issue.step if issue.step is not None else (issue.max - issue.min) / 1000
                lo, hi = 0.0, room
                while hi - lo > resolution:
                    mid = (lo + hi) / 2
                    lo, hi = (lo, mid) if feasible(issues, moved(mid)) else (mid, hi)
                found.append(Relaxation(pid, "reservation", issue.name, hi, size=hi / (issue.max - issue.min)))
            else:
                for option, rating in pref.ratings.items():
                    if rating <= 0 and feasible(issues, _with(constraints, pid, issue.name,
                                                               ratings={**pref.ratings, option: 1e-3})):
                        found.append(Relaxation(pid, "option", issue.name, 0.0, option=option, size=1.0))
    return sorted(found, key=lambda r: (r.size, r.party_id, r.issue or ""))


def _infeasible_message(relaxations: list[Relaxation], names: dict[int, str] | None = None) -> str:
    head = "the solver proved that no package is acceptable to every party"
    if not relaxations:
        return head + "; no single change of one party's constraints is enough: several parties must relax"
    name = (names or {}).get
    best = [r.describe(name(r.party_id) or f"party {r.party_id}") for r in relaxations[:3]]
    return head + "; the smallest single changes that would make one exist: " + "; or ".join(best)


def describe_infeasible(error: NoAcceptablePackage, names: dict[int, str]) -> str:
    """The error's message with party names instead of ids (the service knows the names)."""
    return _infeasible_message(error.relaxations, names)
