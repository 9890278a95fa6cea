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

from planner.optimization.isolated import StopFlag, can_fork, run_isolated
from planner.scale import MatrixModel, _pass, new_highs, prepare_run
from planner.solve import HIGHS_OPTIONS

# A run bounded by the clock may overrun its limit by this much before it is killed: HiGHS
# answers an interrupt within milliseconds when its callbacks fire; the rest covers handing
# back a large incumbent and a busy machine.
GRACE_MIN_S = 1.0
GRACE_SHARE = 0.1
FLAG_DELAY_S = 0.25


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

    A finite time limit is also a hard one: the run is made in a forked child
    (:mod:`planner.optimization.isolated`), asked to stop at the limit and killed
    ``grace_seconds(time_limit_s)`` later, when it returns no values (status "Killed").
    """
    start = time.perf_counter()
    if math.isfinite(time_limit_s) and can_fork(threads):
        limit = max(0.01, float(time_limit_s))

        def work(flag: StopFlag) -> HighsRun:
            return _run_here(mm, lower, upper, integer, row_upper, time_limit_s=limit,
                             mip_gap=mip_gap, threads=threads, options=options,
                             warm_start=warm_start, should_stop=flag.__bool__)

        # HiGHS' own limit first (its status then says so); the flag and the kill after it.
        run = run_isolated(work, soft_deadline=start + limit + FLAG_DELAY_S,
                           grace_s=grace_seconds(limit), should_stop=should_stop)
        if run is None:
            return HighsRun("Killed", None, None, None, None, time.perf_counter() - start)
        run.seconds = time.perf_counter() - start
        return run
    return _run_here(mm, lower, upper, integer, row_upper, time_limit_s=time_limit_s,
                     mip_gap=mip_gap, threads=threads, options=options,
                     warm_start=warm_start, should_stop=should_stop)


def grace_seconds(time_limit_s: float) -> float:
    """Return how long past its time limit a run may take to hand back its incumbent."""
    return GRACE_MIN_S + GRACE_SHARE * time_limit_s


def _run_here(
    mm: MatrixModel,
    lower: np.ndarray | None,
    upper: np.ndarray | None,
    integer: np.ndarray | None,
    row_upper: np.ndarray | None,
    *,
    time_limit_s: float,
    mip_gap: float,
    threads: int,
    options: dict | None,
    warm_start: np.ndarray | None,
    should_stop: Callable[[], bool] | None,
) -> HighsRun:
    """Make the run of :func:`run_highs` in this process."""
    start = time.perf_counter()
    opts = {"threads": threads, "mip_rel_gap": mip_gap, **HIGHS_OPTIONS, **(options or {})}
    if math.isfinite(time_limit_s):
        opts["time_limit"] = max(0.01, float(time_limit_s))
    h = new_highs(opts)
    is_mip = integer is not None and bool(np.any(integer))
    _pass(h, mm.cost, mm.lower if lower is None else lower, mm.upper if upper is None else upper,
          mm.matrix, mm.row_lower, mm.row_upper if row_upper is None else row_upper,
          integer if is_mip else None)
    prepare_run(h, warm_start if is_mip else None, should_stop)
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
