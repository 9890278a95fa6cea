"""Solve a slotted array model: the anytime path by default, plain HiGHS to compare.

A slotted model (:mod:`planner.diurnal.slots`) has one capacity row per platform, region,
quarter and slot, one in-service column shared by a quarter's slots, and daily volume rows
across the slots of movable training. The anytime path of ordinary plans
(:func:`planner.optimization.solve_anytime`) handles that: its rounding keeps each
(copy, region, quarter) cell's LP throughput, which keeps demand, minimum-replica, DR and
volume rows (a volume row is a positive sum of its slots' throughputs), and its in-service
servers are the busiest slot's. Known feasible plans (the peak-only plan repeated in every
slot, a plan with training on servers of its own) are offered as starts, so the first plan is
the cheapest of those and the rounding's, found by node limits, not the clock.

Plain HiGHS with the time limit (``path="highs"``) is kept for ``bench/diurnal.py``: on the
default case it stopped 5.6-17 % above its bound after 60 s, differently from run to run with
machine load, and at 24 slots found nothing cheaper than the peak-only plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from planner.optimization import solve_anytime
from planner.scale import MatrixModel, solve_matrix

PATHS = ("anytime", "highs")


@dataclass
class DaySolve:
    """What :func:`solve_day` returns (objective and bounds in the model's kUSD).

    ``kept_start`` names the start the returned plan is (nothing cheaper was found), or "".
    """

    status: str  # optimal, feasible, infeasible, no_solution
    values: np.ndarray | None
    objective: float | None
    bound: float | None
    gap: float | None
    seconds: float
    kept_start: str = ""
    lp_bound: float | None = None
    first_objective: float | None = None
    first_seconds: float | None = None
    first_gap: float | None = None
    stopped: str = ""
    stages: list[dict] = field(default_factory=list)
    path: str = "anytime"

    @property
    def has_solution(self) -> bool:
        """Return whether a plan came back."""
        return self.values is not None


def solve_day(
    mm: MatrixModel,
    starts: list[tuple[str, np.ndarray]],
    *,
    time_limit_s: float,
    mip_gap: float,
    threads: int = 1,
    path: str = "anytime",
    expensive_values: np.ndarray | None = None,
) -> DaySolve:
    """Solve a slotted model; ``starts`` are (name, full solution vector) of feasible plans.

    ``expensive_values`` (a full solution vector, e.g. a coarser plan's) decides the
    expensive platforms' replicas of the first plan instead of the anytime path's MIP.
    """
    if path not in PATHS:
        raise ValueError(f"path must be one of {PATHS}, not {path!r}")
    if path == "highs":
        return _plain(mm, starts, time_limit_s, mip_gap, threads)
    result = solve_anytime(mm, time_limit_s=time_limit_s, mip_gap=mip_gap, threads=threads,
                           starts=starts, expensive_values=expensive_values)
    names = {name for name, _ in starts}
    improved = [p.stage for p in result.history if p.improved]
    return DaySolve(
        status=result.status,
        values=result.values,
        objective=result.objective,
        bound=result.bound,
        gap=result.gap,
        seconds=result.seconds,
        kept_start=improved[-1] if improved and improved[-1] in names else "",
        lp_bound=result.lp_bound,
        first_objective=result.first_objective,
        first_seconds=result.first_seconds,
        first_gap=result.first_gap,
        stopped=result.stopped,
        stages=[
            {"stage": p.stage, "seconds": round(p.seconds, 4), "objective": p.objective,
             "bound": p.bound, "gap": p.gap}
            for p in result.history
        ],
        path=path,
    )


def _plain(mm: MatrixModel, starts: list[tuple[str, np.ndarray]], time_limit_s: float,
           mip_gap: float, threads: int) -> DaySolve:
    """Plain HiGHS with the time limit; a start is kept where it is cheaper (the old path).

    Starts are not handed to HiGHS as incumbents: on the default case HiGHS then stayed at
    the peak plan for the whole limit, while from scratch it found cheaper plans.
    """
    run = solve_matrix(mm, time_limit_s, mip_gap, threads)
    if run.status == "infeasible":
        return DaySolve("infeasible", None, None, None, None, run.seconds, path="highs")
    out = DaySolve(run.status if run.has_solution else "no_solution", run.values,
                   run.objective, run.bound, run.gap, run.seconds, path="highs")
    if run.has_solution:  # costs from the values, as the anytime path reports them
        out.objective = float(mm.cost @ run.values)
        if run.bound is not None:
            out.gap = max(0.0, (out.objective - run.bound) / max(abs(out.objective), 1e-9))
    for name, warm in starts:
        cost = float(mm.cost @ warm)
        if out.objective is None or cost < out.objective:
            gap = None if run.bound is None else max(0.0, (cost - run.bound) / cost)
            out.status, out.values, out.objective, out.gap = "feasible", warm, cost, gap
            out.kept_start = name
    return out
