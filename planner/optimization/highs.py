"""One HiGHS run on the array model, with the bounds and integrality a stage asks for.

Every stage of the anytime path (LP relaxation, the expensive-platform MIP, the purchase MIP
with replicas fixed, the boxed polish MIPs, the final proof) is the same matrix with other
column bounds or another integrality mask, so one function runs them all and returns what the
next stage needs: values, row duals, the objective and the solver's proven bound.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from planner.scale import MatrixModel, _pass, new_highs
from planner.solve import HIGHS_OPTIONS


@dataclass
class HighsRun:
    """What one HiGHS run returned (objective and bound in the model's kUSD)."""

    status: str  # HiGHS' model status string: "Optimal", "Infeasible", "Time limit reached", …
    values: np.ndarray | None
    row_dual: np.ndarray | None
    objective: float | None
    bound: float | None
    seconds: float

    @property
    def has_solution(self) -> bool:
        """Return whether a primal solution came back."""
        return self.values is not None

    @property
    def infeasible(self) -> bool:
        """Return whether HiGHS proved the run infeasible."""
        return self.status in ("Infeasible", "Primal infeasible or unbounded")


def run_highs(
    mm: MatrixModel,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
    integer: np.ndarray | None = None,
    row_upper: np.ndarray | None = None,
    *,
    time_limit_s: float = math.inf,
    mip_gap: float = 1e-4,
    threads: int = 1,
    options: dict | None = None,
    warm_start: np.ndarray | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> HighsRun:
    """Solve ``mm`` with other column bounds, integrality or row upper bounds.

    ``integer=None`` solves the LP relaxation (duals are returned); an all-False mask does the
    same. The time limit is a safety net only: the stages that must be deterministic bound
    their work with node limits in ``options`` instead. ``should_stop`` is polled by HiGHS'
    interrupt callbacks (simplex and branch-and-bound), so a Cancel ends even a long proof;
    the incumbent found so far is still returned.
    """
    start = time.perf_counter()
    opts = {"threads": threads, "mip_rel_gap": mip_gap, **HIGHS_OPTIONS, **(options or {})}
    if math.isfinite(time_limit_s):
        opts["time_limit"] = max(0.01, float(time_limit_s))
    h = new_highs(opts)
    is_mip = integer is not None and bool(np.any(integer))
    _pass(h, mm.cost, mm.lower if lower is None else lower, mm.upper if upper is None else upper,
          mm.matrix, mm.row_lower, mm.row_upper if row_upper is None else row_upper,
          integer if is_mip else None)
    if warm_start is not None and is_mip:
        import highspy

        sol = highspy.HighsSolution()
        sol.col_value = np.asarray(warm_start, dtype=np.float64)
        sol.value_valid = True
        h.setSolution(sol)
    if should_stop is not None:
        def interrupt(event) -> None:
            if should_stop():
                event.interrupt()

        h.cbMipInterrupt += interrupt
        h.cbSimplexInterrupt += interrupt
    h.run()
    seconds = time.perf_counter() - start
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    if info.primal_solution_status != 2:
        return HighsRun(status, None, None, None, None, seconds)
    solution = h.getSolution()
    objective = float(info.objective_function_value)
    if is_mip:
        bound = float(info.mip_dual_bound) if math.isfinite(info.mip_dual_bound) else None
        duals = None
    else:
        bound = objective if status == "Optimal" else None
        duals = np.asarray(solution.row_dual) if solution.dual_valid else None
    return HighsRun(status, np.asarray(solution.col_value), duals, objective, bound, seconds)


class LpSession:
    """The LP relaxation kept in one HiGHS instance, re-solved after bound changes.

    The rounding rounds of the anytime path re-solve the same LP with other column bounds
    (fixed platforms) and row bounds (held-back capacity); changing bounds keeps HiGHS' basis,
    so each re-solve is a warm dual-simplex run instead of a cold one (at XL the cold LP
    alone takes ~50 s on one core).
    """

    def __init__(self, mm: MatrixModel, threads: int = 1) -> None:
        self.mm = mm
        self.h = new_highs({"threads": threads, **HIGHS_OPTIONS})
        _pass(self.h, mm.cost, mm.lower, mm.upper, mm.matrix, mm.row_lower, mm.row_upper)
        self.cols = np.arange(mm.n_cols, dtype=np.int32)
        self.rows = np.arange(mm.n_rows, dtype=np.int32)

    def solve(self, lower: np.ndarray | None = None, upper: np.ndarray | None = None,
              row_upper: np.ndarray | None = None) -> HighsRun:
        """Solve the LP with these bounds (defaults: the model's), warm from the last basis."""
        start = time.perf_counter()
        mm, h = self.mm, self.h
        h.changeColsBounds(len(self.cols), self.cols,
                           np.asarray(mm.lower if lower is None else lower, dtype=np.float64),
                           np.asarray(mm.upper if upper is None else upper, dtype=np.float64))
        h.changeRowsBounds(len(self.rows), self.rows, np.asarray(mm.row_lower, dtype=np.float64),
                           np.asarray(mm.row_upper if row_upper is None else row_upper,
                                      dtype=np.float64))
        h.run()
        seconds = time.perf_counter() - start
        status = h.modelStatusToString(h.getModelStatus())
        info = h.getInfo()
        if status != "Optimal" or info.primal_solution_status != 2:
            return HighsRun(status, None, None, None, None, seconds)
        solution = h.getSolution()
        objective = float(info.objective_function_value)
        duals = np.asarray(solution.row_dual) if solution.dual_valid else None
        return HighsRun(status, np.asarray(solution.col_value), duals, objective, objective,
                        seconds)
