"""A minimal linear-expression layer over ``scipy.optimize.milp`` (HiGHS).

scipy gives HiGHS's exact mixed-integer solver but no modelling layer: it wants a cost vector and a
constraint matrix. The MESO engine builds one model per case and solves it many times with a few extra
rows each time (a band, a bound, an exclusion), so this module keeps the model as variables and rows
and adds the per-solve rows without copying the base model. It is deliberately tiny; anything more
(named constraints, duals, warm starts) would be a reason to move to highspy or OR-Tools instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array


@dataclass
class Expr:
    """sum(coef[i] * var_i) + const."""

    coef: dict[int, float] = field(default_factory=dict)
    const: float = 0.0

    def __add__(self, other) -> "Expr":
        if isinstance(other, Expr):
            coef = dict(self.coef)
            for i, c in other.coef.items():
                coef[i] = coef.get(i, 0.0) + c
            return Expr(coef, self.const + other.const)
        return Expr(dict(self.coef), self.const + float(other))

    __radd__ = __add__

    def __mul__(self, k: float) -> "Expr":
        return Expr({i: c * k for i, c in self.coef.items()}, self.const * k)

    __rmul__ = __mul__

    def __neg__(self) -> "Expr":
        return self * -1.0

    def __sub__(self, other) -> "Expr":
        return self + (-other if isinstance(other, Expr) else -float(other))

    def __rsub__(self, other) -> "Expr":
        return (-self) + other

    def value(self, x: np.ndarray) -> float:
        return self.const + sum(c * x[i] for i, c in self.coef.items())


def total(exprs) -> Expr:
    out = Expr()
    for e in exprs:
        out = out + e
    return out


Row = tuple[Expr, float, float]  # lo <= expr <= hi


class Model:
    def __init__(self) -> None:
        self.lb: list[float] = []
        self.ub: list[float] = []
        self.integer: list[int] = []
        self.rows: list[Row] = []

    def var(self, lb: float, ub: float, integer: bool = False) -> Expr:
        self.lb.append(lb)
        self.ub.append(ub)
        self.integer.append(1 if integer else 0)
        return Expr({len(self.lb) - 1: 1.0})

    def add(self, expr: Expr, lo: float = -math.inf, hi: float = math.inf) -> None:
        self.rows.append((expr, lo, hi))

    def maximise(self, objective: Expr, extra: list[Row] = (),
                 time_limit: float = 10.0) -> np.ndarray | None:
        """The optimal variable values, or None when the rows are infeasible (proved by HiGHS).

        ``extra`` rows hold only for this solve. Variables created after the base model (for one solve)
        are allowed: the vectors are as long as ``self.lb`` is now.
        """
        n = len(self.lb)
        rows = list(self.rows) + list(extra)
        c = np.zeros(n)
        for i, k in objective.coef.items():
            c[i] -= k  # milp minimises
        data, ri, ci, lo, hi = [], [], [], [], []
        for r, (expr, a, b) in enumerate(rows):
            for i, k in expr.coef.items():
                if k != 0.0:
                    data.append(k)
                    ri.append(r)
                    ci.append(i)
            lo.append(a - expr.const)
            hi.append(b - expr.const)
        constraints = ()
        if rows:
            matrix = coo_array((data, (ri, ci)), shape=(len(rows), n)).tocsr()
            constraints = LinearConstraint(matrix, np.array(lo), np.array(hi))
        args = dict(integrality=np.array(self.integer), bounds=Bounds(np.array(self.lb), np.array(self.ub)),
                    constraints=constraints)
        options = {"disp": False, "mip_rel_gap": 1e-9, "time_limit": time_limit}
        result = milp(c, **args, options=options)
        if result.status == 4:  # HiGHS "solve error": numerical trouble in presolve, rare; solve it as given
            result = milp(c, **args, options={**options, "presolve": False})
        if result.status == 2:
            return None
        if result.status != 0 or result.x is None:
            raise SolverError(f"the MESO solver stopped without an optimum: {result.message}")
        return result.x


class SolverError(RuntimeError):
    """HiGHS gave up (time limit, numerical trouble): neither an optimum nor a proof of infeasibility."""
