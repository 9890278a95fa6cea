"""Solving a built model with an explicitly chosen solver, strict about what the status means.

PuLP reports "Optimal" for time-limited runs (SOLVER_NOTES pitfall 1); here a plan is called
``optimal`` only when the solver proved it within the requested gap. Anything else carries its
status, objective, best bound and gap.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import highspy
import pulp

from planner.errors import SolverError
from planner.model import PlanningModel

Status = Literal["optimal", "feasible", "infeasible", "unbounded", "no_solution", "error"]
SOLVERS = ("highs", "cbc")


@dataclass(frozen=True)
class SolveResult:
    """Outcome of one solve; objective and bound in the model's scaled units (kUSD for tco)."""

    status: Status
    solver: str
    objective: float | None
    bound: float | None
    gap: float | None
    seconds: float
    handover_seconds: float = 0.0
    message: str = ""

    @property
    def has_solution(self) -> bool:
        """Return whether variable values are available (optimal or feasible)."""
        return self.status in ("optimal", "feasible")


# HiGHS options the planner always sets. The shifting heuristic (off by default in HiGHS
# 1.16) finds whole-replica plans sooner: on the default fleet the median time to the 0.5 %
# gap fell from 16.0 s to 11.9 s over three seeds, with cheaper plans (bench/README.md,
# measured again by bench/levers.py).
HIGHS_OPTIONS = {"random_seed": 0, "mip_heuristic_run_shifting": True}


class _HiGHS(pulp.HiGHS):
    """PuLP's in-process HiGHS, safe to use with different thread counts in one process.

    HiGHS keeps one global thread scheduler; a solve asking for another thread count than the
    first one fails silently ("scheduler already initialized"), so reset it before each solve.
    """

    def createAndConfigureSolver(self, lp):  # noqa: N802  (PuLP's method name)
        highspy.Highs.resetThreadScheduler(True)
        super().createAndConfigureSolver(lp)


def make_solver(
    name: str,
    time_limit_s: float,
    mip_gap: float,
    threads: int,
    mip: bool = True,
    log_path: str | None = None,
) -> pulp.LpSolver:
    """Return a PuLP solver object for ``name`` (``highs`` in-process or bundled ``cbc``)."""
    if name == "highs":
        return _HiGHS(
            mip=mip,
            msg=False,
            timeLimit=time_limit_s,
            gapRel=mip_gap,
            threads=threads,
            **HIGHS_OPTIONS,
        )
    if name == "cbc":
        return pulp.PULP_CBC_CMD(
            mip=mip,
            msg=False,
            timeLimit=time_limit_s,
            gapRel=mip_gap,
            threads=threads,
            logPath=log_path,
            _skip_v4_deprecation=True,
        )
    raise SolverError(f"unknown solver '{name}'; choose one of {', '.join(SOLVERS)}")


def solve_model(
    model: PlanningModel,
    solver: str | None = None,
    time_limit_s: float | None = None,
    mip_gap: float | None = None,
    threads: int | None = None,
) -> SolveResult:
    """Solve ``model``; arguments override the fleet's ``settings.solver``.

    Returns:
        The result; variable values stay on the model's variables for :func:`extract_plan`.
    """
    opts = model.fleet.settings.solver
    name = solver or opts.name
    limit = time_limit_s if time_limit_s is not None else opts.time_limit_s
    gap = mip_gap if mip_gap is not None else opts.mip_gap
    n_threads = threads or opts.threads
    log_path = None
    if name == "cbc":
        fd, log_path = tempfile.mkstemp(prefix="cbc_", suffix=".log")
        os.close(fd)
    backend = make_solver(name, limit, gap, n_threads, log_path=log_path)

    def run() -> SolveResult:
        start = time.perf_counter()
        try:
            # HiGHS prints a banner on construction even with msg=False (pitfall 7).
            with quiet_stdout():
                model.prob.solve(backend)
        except pulp.PulpSolverError as exc:
            raise SolverError(f"{name} failed: {exc}") from exc
        return _interpret(model, name, time.perf_counter() - start, gap, log_path)

    if name != "highs":  # CBC runs as its own process and keeps its time limit
        try:
            return run()
        finally:
            if log_path:
                with contextlib.suppress(OSError):
                    os.remove(log_path)
    return hard_limited(model.prob, limit, n_threads, run)


def solve_with_backend(prob: pulp.LpProblem, backend: pulp.LpSolver, time_limit_s: float,
                       mip_gap: float, threads: int, failure: str = "highs failed") -> SolveResult:
    """Solve ``prob`` with a configured in-process HiGHS ``backend``, hard-limited.

    The backend may set a start (migration, robust plans); status, bound and gap are read
    strictly, as :func:`solve_model` reads them. ``failure`` starts the
    :class:`SolverError` message when PuLP reports a solver error.
    """

    def run() -> SolveResult:
        start = time.perf_counter()
        try:
            with quiet_stdout():
                prob.solve(backend)
        except pulp.PulpSolverError as exc:
            raise SolverError(f"{failure}: {exc}") from exc
        seconds = time.perf_counter() - start
        if prob.status == pulp.LpStatusInfeasible or prob.sol_status == pulp.LpSolutionInfeasible:
            return SolveResult("infeasible", "highs", None, None, None, seconds)
        if prob.sol_status not in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
            return SolveResult("no_solution", "highs", None, None, None, seconds)
        objective = float(pulp.value(prob.objective))
        bound = getattr(prob.solverModel.getInfo(), "mip_dual_bound", None)
        bound = float(bound) if bound is not None and math.isfinite(bound) else None
        gap = _relative_gap(objective, bound)
        proven = prob.sol_status == pulp.LpSolutionOptimal and (
            gap is None or gap <= mip_gap + 1e-9)
        return SolveResult("optimal" if proven else "feasible", "highs", objective, bound, gap,
                           seconds)

    return hard_limited(prob, time_limit_s, threads, run)


def hard_limited(prob: pulp.LpProblem, time_limit_s: float | None, threads: int,
                 run: Callable[[], SolveResult]) -> SolveResult:
    """Return ``run()``, which solves ``prob`` with in-process HiGHS, under a hard time limit.

    HiGHS can run past its own time limit (see :mod:`planner.optimization.isolated`), so with
    a finite limit and one thread ``run`` is made in a forked child that is killed
    ``grace_seconds`` after the limit; the values, reduced costs, duals, slacks and statuses
    the solve left on ``prob`` are copied back. A killed solve is ``no_solution``.
    """
    from planner.optimization.highs import FLAG_DELAY_S, grace_seconds
    from planner.optimization.isolated import can_fork, run_isolated

    if time_limit_s is None or not math.isfinite(time_limit_s) or not can_fork(threads):
        return run()
    start = time.perf_counter()

    def work(_flag) -> tuple:
        result = run()
        variables = {v.name: (v.varValue, v.dj) for v in prob.variables()}
        rows = {name: (c.pi, c.slack) for name, c in prob.constraints.items()}
        return result, variables, rows, prob.status, prob.sol_status

    out = run_isolated(work, soft_deadline=start + time_limit_s + FLAG_DELAY_S,
                       grace_s=grace_seconds(time_limit_s))
    seconds = time.perf_counter() - start
    if out is None:
        return SolveResult("no_solution", "highs", None, None, None, seconds,
                           message=f"killed {seconds - time_limit_s:.1f} s after the "
                                   f"{time_limit_s:g} s time limit")
    result, variables, rows, prob.status, prob.sol_status = out
    for v in prob.variables():
        v.varValue, v.dj = variables[v.name]
    for name, (pi, slack) in rows.items():
        prob.constraints[name].pi, prob.constraints[name].slack = pi, slack
    return dataclasses.replace(result, seconds=seconds)


@contextlib.contextmanager
def quiet_stdout():
    """Silence stdout, including file descriptor 1, where HiGHS' C++ banner is written.

    Jupyter replaces ``sys.stdout`` but the C++ library still writes to descriptor 1, so the
    descriptor is redirected whatever ``sys.stdout`` is.
    """
    import sys

    with contextlib.suppress(Exception):
        sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            with contextlib.redirect_stdout(io.StringIO()):
                yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _interpret(
    model: PlanningModel, name: str, seconds: float, gap_target: float, log_path: str | None
) -> SolveResult:
    prob = model.prob
    status_code, sol = prob.status, prob.sol_status
    if status_code == pulp.LpStatusInfeasible or sol == pulp.LpSolutionInfeasible:
        return SolveResult("infeasible", name, None, None, None, seconds)
    if status_code == pulp.LpStatusUnbounded or sol == pulp.LpSolutionUnbounded:
        return SolveResult("unbounded", name, None, None, None, seconds)
    if sol not in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        return SolveResult(
            "no_solution",
            name,
            None,
            None,
            None,
            seconds,
            message=f"solver status {pulp.LpStatus[status_code]}",
        )
    objective = pulp.value(prob.objective)
    bound = _best_bound(model, name, log_path, objective)
    gap = _relative_gap(objective, bound)
    proven = sol == pulp.LpSolutionOptimal and (gap is None or gap <= gap_target + 1e-9)
    return SolveResult("optimal" if proven else "feasible", name, objective, bound, gap, seconds)


def _best_bound(
    model: PlanningModel, name: str, log_path: str | None, objective: float | None
) -> float | None:
    if not any(v.cat == "Integer" for v in model.variables):
        return objective  # an LP solved to optimality is its own bound
    if name == "highs":
        info = model.prob.solverModel.getInfo()
        bound = getattr(info, "mip_dual_bound", None)
        return float(bound) if bound is not None and math.isfinite(bound) else None
    if log_path and os.path.exists(log_path):
        with open(log_path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
        # A search that stopped on the gap reports "Optimal solution found (within gap
        # tolerance)": its bound is the incumbent minus the absolute gap, not the incumbent.
        stopped_on_gap = re.findall(r"Exiting as integer gap of\s+(-?[\d.eE+-]+)", text)
        if stopped_on_gap and objective is not None:
            return objective - float(stopped_on_gap[-1])
        found = re.findall(r"Lower bound:\s+(-?[\d.eE+-]+)", text)
        if found:
            return float(found[-1])
        # A completed search proves the incumbent; progress lines before it are stale.
        if "Result - Optimal solution found" in text or "Optimal - objective value" in text:
            return objective
        found = re.findall(r"best possible\s+(-?[\d.eE+-]+)", text)
        if found:
            return float(found[-1])
    return None


def _relative_gap(objective: float | None, bound: float | None) -> float | None:
    if objective is None or bound is None:
        return None
    return abs(objective - bound) / max(abs(objective), 1e-9)
