"""Trade-offs: the cost-power frontier and one-parameter sensitivity sweeps.

Power on the frontier is provisioned facility power: every in-service server's nameplate power
times its region's PUE, summed over regions. Two measures over the horizon:

* ``peak`` (default): the largest quarter, what the facilities must be built for. The budget
  is one row per quarter; the lowest-power end minimises an extra variable ``P >= power(t)``.
* ``average``: the mean over the quarters. It is what the model's ``power`` objective
  minimises (the sum over quarters), so that objective gives the lowest-power end directly.

Both measures and the budget are reported for every point.

Every point and every sweep row carries the solver's ``status`` and ``gap`` (relative, on
TCO): a point is ``optimal`` only when its TCO is proven within the requested gap for *its*
budget. ``within_gaps_of_previous`` is True when a point's TCO differs from the previous
point's by no more than their gaps together (:func:`planner.compare.within_gaps`): that step
of the trade-off may be solver slack, and ``note`` says so.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pulp

from planner.compare import NOT_SIGNIFICANT, cost_gap, plan_status, within_gaps
from planner.errors import InfeasiblePlanError, SolverError
from planner.fleet import Fleet
from planner.model import PlanningModel, build_model, cost_coefficients
from planner.pipeline import anytime_plan, make_plan
from planner.results import Plan, extract_plan
from planner.scenarios import scenario_from_dict
from planner.solve import SolveResult, solve_model
from planner.verify import verify_plan

Measure = Literal["peak", "average"]
BUDGET_ROW = "frontier_power_budget"
BUDGET_TOL = 1e-6  # relative slack on the budget so that P_lo itself stays feasible
FRONTIER_COLUMNS = [
    "point",
    "power_budget_kw",
    "power_kw",
    "peak_power_kw",
    "average_power_kw",
    "tco_usd",
    "capex_usd",
    "opex_usd",
    "servers_purchased",
    "status",
    "gap",
    "best_bound_usd",
    "verified",
    "within_gaps_of_previous",
    "note",
]
SENSITIVITY_COLUMNS = [
    "parameter",
    "value",
    "status",
    "gap",
    "best_bound_usd",
    "tco_usd",
    "power_kw",
    "servers",
    "purchases",
    "within_gaps_of_previous",
    "note",
    "message",
]
_KUSD = 1e3  # the model's tco objective and bound are in kUSD


@dataclass(frozen=True)
class _Point:
    """One solved plan of the sweep, and the budget it was solved for."""

    plan: Plan | None
    result: SolveResult
    verified: bool
    # Power budget of the solve: inf for the unconstrained cheapest plan, None when the
    # solve minimised power (its bound is on power, not on TCO, so it bounds no point's TCO).
    budget_kw: float | None = None


def plan_power_kw(plan: Plan, measure: Measure) -> float:
    """Return the plan's provisioned facility power (kW): peak quarter or horizon average."""
    per_quarter = plan.fleet.groupby("quarter")["facility_kw"].sum()
    if measure == "peak":
        return float(per_quarter.max()) if len(per_quarter) else 0.0
    return float(per_quarter.sum()) / plan.summary["horizon_quarters"]


def cost_power_frontier(
    fleet: Fleet,
    points: int = 6,
    *,
    measure: Measure = "peak",
    solver: str | None = None,
    time_limit_s: float | None = None,
    mip_gap: float | None = None,
) -> pd.DataFrame:
    """Return the TCO-power trade-off by an epsilon-constraint sweep.

    First the cheapest plan (its power is the upper end P_hi), then the lowest-power plan
    (P_lo), then for budgets evenly spaced from P_lo to P_hi the cheapest plan whose power is
    within the budget. A plan found for a tighter budget also fits every looser one, so each
    point keeps the cheapest verified plan that fits its budget: TCO never rises as the budget
    grows, even when the solver stops within its gap.

    Args:
        fleet: The fleet (settings.objective is ignored: the sweep minimises TCO).
        points: Number of budgets, both ends included (at least 2).
        measure: ``peak`` (largest quarter) or ``average`` (mean over the horizon) facility
            power; see the module docstring.
        solver: ``highs`` or ``cbc``; default from settings.
        time_limit_s: Time limit per solve; default from settings.
        mip_gap: Relative gap per solve; default from settings.

    Returns:
        One row per budget, lowest first, with the columns of :data:`FRONTIER_COLUMNS`;
        ``power_kw`` is the chosen measure, ``opex_usd`` energy plus maintenance. ``status``
        is ``optimal`` only when the point's TCO is proven within ``mip_gap`` of the best
        bound for its budget (``best_bound_usd``; ``gap`` relative); a budget without a
        verified plan has status ``infeasible``, ``no_solution`` or ``no_verified_plan``.
        ``attrs["measure"]`` names the measure.

    Raises:
        ValueError: When ``points`` < 2 or ``measure`` is unknown.
        InfeasiblePlanError: When the fleet has no feasible plan at all.
        SolverError: When the solver found no plan for an end within its limits.
    """
    if points < 2:
        raise ValueError("a frontier needs at least 2 points")
    if measure not in ("peak", "average"):
        raise ValueError(f"measure must be 'peak' or 'average', not '{measure}'")
    opts = {
        k: v
        for k, v in {"solver": solver, "time_limit_s": time_limit_s, "mip_gap": mip_gap}.items()
        if v is not None
    }
    target_gap = mip_gap if mip_gap is not None else fleet.settings.solver.mip_gap
    tco_fleet = _with_objective(fleet, "tco")
    cheapest = _solve_tco(tco_fleet, opts, budget_kw=math.inf)
    lowest = _lowest_power(fleet, measure, opts)
    _require_ends(fleet, {"cheapest": cheapest, "lowest-power": lowest}, opts)
    p_lo = plan_power_kw(lowest.plan, measure)
    p_hi = max(plan_power_kw(cheapest.plan, measure), p_lo)
    budgets = np.linspace(p_lo, p_hi, points)
    solved = [cheapest, lowest]
    solved += [_solve_tco(tco_fleet, opts, measure, eps) for eps in budgets[:-1]]
    own = dict(zip(budgets[:-1], solved[2:], strict=True))
    rows = [
        _row(
            i,
            eps,
            _best_within(solved, eps, measure),
            own.get(eps),
            _tco_bound(solved, eps),
            target_gap,
            measure,
        )
        for i, eps in enumerate(budgets)
    ]
    frame = pd.DataFrame(rows, columns=FRONTIER_COLUMNS)
    _mark_within_gaps(frame, "point")
    frame.attrs["measure"] = measure
    return frame


def _require_ends(fleet: Fleet, ends: dict[str, _Point], opts: dict) -> None:
    """Raise when an end of the frontier has no plan, saying whether none exists or none was found.

    Only a solver's proof of infeasibility means that no plan exists (exit 4 with the way to
    the explanation); a solver stopped by its time limit before any plan says so, with the
    limit it had, and is no verdict on the case.

    Raises:
        InfeasiblePlanError: When the solver proved an end infeasible.
        SolverError: When an end has no plan for any other reason (time limit, solver error).
    """
    missing = {name: point for name, point in ends.items() if point.plan is None}
    if not missing:
        return
    if any(point.result.status == "infeasible" for point in missing.values()):
        raise InfeasiblePlanError(
            f"No plan for '{fleet.name}' meets every constraint; there is no frontier. Run "
            f"`python -m planner plan` on the case to see which demand cannot be served."
        )
    limit = opts.get("time_limit_s", fleet.settings.solver.time_limit_s)
    name, point = next(iter(missing.items()))
    detail = f"{point.result.status}{': ' + point.result.message if point.result.message else ''}"
    raise SolverError(
        f"{point.result.solver} found no {name} plan for '{fleet.name}' within the time limit "
        f"of {limit:g} s ({detail}); this does not mean none exists: raise --time-limit or "
        "the gap (--gap)"
    )


def _with_objective(fleet: Fleet, objective: str) -> Fleet:
    return fleet.replace(settings=fleet.settings.model_copy(update={"objective": objective}))


def _lowest_power(fleet: Fleet, measure: Measure, opts: dict) -> _Point:
    """Return the plan of least power: the power objective, or least peak via ``P``."""
    if measure == "average":
        return _solve(_with_objective(fleet, "power"), opts, budget_kw=None)
    model = build_model(_with_objective(fleet, "tco"))
    peak = model.prob.add_variable("frontier_peak_kw", lowBound=0)
    for t, expr in _quarter_power(model).items():
        model.prob.addConstraint(
            pulp.LpConstraint(
                pulp.LpAffineExpression([*expr.items(), (peak, -1.0)]),
                pulp.LpConstraintLE,
                name=f"frontier_peak_{t}",
                rhs=0.0,
            )
        )
    model.prob.setObjective(pulp.LpAffineExpression([(peak, 1.0)]))
    return _finish(model, opts, None)


def _quarter_power(model: PlanningModel) -> dict[int, pulp.LpAffineExpression]:
    """Return the fleet's facility power (kW) in each quarter as an expression of ``y``."""
    kw = cost_coefficients(model.fleet)["facility_kw"]
    terms: dict[int, list[tuple[pulp.LpVariable, float]]] = {}
    for (p, r, t), y in model.y.items():
        terms.setdefault(t, []).append((y, kw[(p, r)]))
    return {t: pulp.LpAffineExpression(v) for t, v in sorted(terms.items())}


def _solve(
    fleet: Fleet, opts: dict, measure: Measure = "peak", budget_kw: float | None = math.inf
) -> _Point:
    """Build, cap power at a finite ``budget_kw`` by ``measure``, solve, extract, verify.

    ``budget_kw`` inf means no cap; None also means no cap and marks a solve whose objective
    is not TCO (see :class:`_Point`).
    """
    model = build_model(fleet)
    if budget_kw is not None and math.isfinite(budget_kw):
        limit = budget_kw * (1 + BUDGET_TOL) + BUDGET_TOL
        per_quarter = _quarter_power(model)
        if measure == "peak":
            for t, expr in per_quarter.items():
                model.prob.addConstraint(
                    pulp.LpConstraint(
                        expr, pulp.LpConstraintLE, name=f"{BUDGET_ROW}_{t}", rhs=limit
                    )
                )
        else:
            total = pulp.LpAffineExpression(
                [(v, c) for e in per_quarter.values() for v, c in e.items()]
            )
            model.prob.addConstraint(
                pulp.LpConstraint(
                    total,
                    pulp.LpConstraintLE,
                    name=BUDGET_ROW,
                    rhs=limit * fleet.settings.horizon_quarters,
                )
            )
    return _finish(model, opts, budget_kw)


def _solve_tco(fleet: Fleet, opts: dict, measure: Measure = "peak",
               budget_kw: float = math.inf) -> _Point:
    """Return the cheapest plan within ``budget_kw``: the anytime path with HiGHS, else PuLP.

    The budget rows join the array model as power rows (one per quarter for ``peak``, one over
    the horizon for ``average``), so the anytime path's rounding and purchase MIP hold them
    back and repair them like region power caps: each point gets a verified first plan found
    by node limits, then polish and proof within the time limit, whatever the machine's load.
    """
    if (opts.get("solver") or fleet.settings.solver.name) != "highs":
        return _solve(fleet, opts, measure, budget_kw)
    from planner.optimization import solve_anytime
    from planner.scale import build_matrix

    settings = fleet.settings.solver
    start = time.perf_counter()
    mm = build_matrix(fleet)
    if math.isfinite(budget_kw):
        mm = _with_budget_rows(mm, budget_kw * (1 + BUDGET_TOL) + BUDGET_TOL, measure)
    run = solve_anytime(mm, time_limit_s=opts.get("time_limit_s", settings.time_limit_s),
                        mip_gap=opts.get("mip_gap", settings.mip_gap),
                        threads=settings.threads)
    result = SolveResult(run.status, "highs", run.objective, run.bound, run.gap, run.seconds,
                         message=run.stopped if not run.has_solution else "")
    if not run.has_solution:
        return _Point(None, result, False, budget_kw)
    plan = anytime_plan(fleet, mm, run, start)
    return _Point(plan, result, verify_plan(fleet, plan).ok, budget_kw)


def _with_budget_rows(mm, limit_kw: float, measure: Measure):
    """Return ``mm`` with facility power (in-service servers x nameplate x PUE) <= the limit."""
    import dataclasses

    import scipy.sparse as sp

    from planner.scale import FAMILIES

    kw = cost_coefficients(mm.fleet)["facility_kw"]
    y = mm.y
    coef = np.array([kw[(p, r)] for p, r in zip(y["platform_id"], y["region_id"], strict=True)])
    cols = np.arange(len(y)) + len(mm.x) + len(mm.b)
    quarters = y["quarter"].to_numpy()
    if measure == "peak":
        keys = sorted(set(quarters.tolist()))
        rows = np.searchsorted(keys, quarters)
        upper = np.full(len(keys), limit_kw)
        names = [(BUDGET_ROW, int(t)) for t in keys]
    else:
        rows = np.zeros(len(y), dtype=np.int64)
        upper = np.array([limit_kw * mm.fleet.settings.horizon_quarters])
        names = [(BUDGET_ROW,)]
    extra = sp.csr_matrix((coef, (rows, cols)), shape=(len(names), mm.n_cols))
    return dataclasses.replace(
        mm, matrix=sp.vstack([mm.matrix, extra]).tocsr(),
        row_lower=np.r_[mm.row_lower, np.full(len(names), -math.inf)],
        row_upper=np.r_[mm.row_upper, upper],
        row_family=np.r_[mm.row_family, np.full(len(names), FAMILIES.index("power"),
                                                dtype=mm.row_family.dtype)],
        row_key=[*mm.row_key, *names])


def _finish(model: PlanningModel, opts: dict, budget_kw: float | None) -> _Point:
    result = solve_model(model, **opts)
    if not result.has_solution:
        return _Point(None, result, False, budget_kw)
    plan = extract_plan(model, result)
    return _Point(plan, result, verify_plan(model.fleet, plan).ok, budget_kw)


def _tco_bound(solved: list[_Point], budget_kw: float) -> float | None:
    """Return the best proven lower bound (kUSD) on TCO under ``budget_kw``, or None.

    A solve under a looser budget (or none) has an optimum no higher than this budget's, so
    its bound holds here too; the tightest of them is the best. Bounds of tighter budgets do
    not hold (less power costs more), nor does the bound of a power-minimising solve.
    """
    bounds = [
        s.result.bound
        for s in solved
        if s.budget_kw is not None
        and s.budget_kw >= budget_kw * (1 - 1e-12)
        and s.result.bound is not None
        and math.isfinite(s.result.bound)
    ]
    return max(bounds, default=None)


def _best_within(solved: list[_Point], budget_kw: float, measure: Measure) -> _Point | None:
    """Return the cheapest verified plan whose power fits ``budget_kw``."""
    limit = budget_kw * (1 + BUDGET_TOL) + BUDGET_TOL
    fits = [
        s
        for s in solved
        if s.plan is not None and s.verified and plan_power_kw(s.plan, measure) <= limit
    ]
    return min(fits, key=lambda s: s.plan.total_cost_usd, default=None)


def _status_gap(point: _Point, bound: float | None, target_gap: float) -> tuple[str, float | None]:
    """Return the honest status and gap of ``point``'s plan against this budget's bound.

    The plan may come from the solve of another budget, or from the power-minimising solve,
    whose own status and objective speak of that problem only; its TCO (in kUSD, the bound's
    units) is measured against the bound that holds for this budget instead. The bound
    includes the objective's tiny tie-break, so a proven plan can sit a hair below it: 0.
    """
    if bound is None or point.plan is None:
        return "feasible", None
    cost = point.plan.total_cost_usd / _KUSD
    gap = max(cost - bound, 0.0) / max(abs(cost), 1e-9)
    return ("optimal" if gap <= target_gap + 1e-9 else "feasible"), gap


def _row(
    i: int,
    budget_kw: float,
    point: _Point | None,
    own: _Point | None,
    bound: float | None,
    target_gap: float,
    measure: Measure,
) -> tuple:
    """Return one frontier row: ``point`` is the plan chosen, ``own`` this budget's solve."""
    bound_usd = bound * _KUSD if bound is not None else None
    if bound_usd is not None and point is not None and point.plan is not None:
        # the objective's tie-break can lift a proven bound a few cents over the cost
        bound_usd = min(bound_usd, point.plan.total_cost_usd)
    if point is None or point.plan is None:
        nan = float("nan")
        # Say what the budget's own solve found: infeasible only when the solver proved it,
        # no_solution when it found nothing in time, no_verified_plan when its plan (or the
        # cheapest plan, for the top budget) failed verification.
        if own is not None and not own.result.has_solution:
            status = own.result.status
        else:
            status = "no_verified_plan"
        return (
            i,
            budget_kw,
            nan,
            nan,
            nan,
            nan,
            nan,
            nan,
            0,
            status,
            nan,
            bound_usd,
            False,
            None,
            "",
        )
    plan, s = point.plan, point.plan.summary
    status, gap = _status_gap(point, bound, target_gap)
    peak, average = plan_power_kw(plan, "peak"), plan_power_kw(plan, "average")
    return (
        i,
        budget_kw,
        peak if measure == "peak" else average,
        peak,
        average,
        plan.total_cost_usd,
        s["capex_usd"],
        s["energy_usd"] + s["maintenance_usd"],
        s["servers_purchased"],
        status,
        gap,
        bound_usd,
        point.verified,
        None,
        "",
    )


def _mark_within_gaps(frame: pd.DataFrame, label: str) -> None:
    """Fill ``within_gaps_of_previous`` and ``note`` by comparing each row to the one before.

    Rows without a plan (NaN TCO) are skipped over: the comparison is with the last row that
    has one. The first such row has nothing to compare with and stays None.
    """
    previous: int | None = None
    for i in frame.index:
        cost = frame.at[i, "tco_usd"]
        if cost is None or not math.isfinite(cost):
            continue
        if previous is not None:
            within = within_gaps(
                cost,
                _finite(frame.at[i, "gap"]),
                frame.at[previous, "tco_usd"],
                _finite(frame.at[previous, "gap"]),
            )
            frame.at[i, "within_gaps_of_previous"] = within
            if within:
                frame.at[i, "note"] = f"{NOT_SIGNIFICANT} of {label} {frame.at[previous, label]}"
        previous = i


def _finite(value: object) -> float | None:
    """Return ``value`` as a float, or None when it is missing or NaN."""
    if value is None:
        return None
    value = float(value)  # type: ignore[arg-type]
    return value if math.isfinite(value) else None


def _scenario_body(kind: str, target: str, value: float) -> dict:
    """Return scenario overrides that set parameter ``kind`` of ``target`` to ``value``."""
    if kind == "demand":
        return {"demand_multiplier": {"bucket": {target: value}}}
    if kind == "throughput":
        return {"platform_changes": {target: {"throughput_multiplier": value}}}
    if kind == "capex":
        return {"platform_changes": {target: {"capex_multiplier": value}}}
    return {"power_cap_kw": {target: value}}


SENSITIVITY_KINDS = {
    "demand": "multiplier of peak demand of a bucket",
    "throughput": "multiplier of a platform's qps per server",
    "capex": "multiplier of a platform's purchase price",
    "power_cap": "power cap of a region in kW, for the whole horizon",
}


def sensitivity(
    fleet: Fleet,
    parameter: str,
    values: list[float],
    *,
    solver: str | None = None,
    time_limit_s: float | None = None,
    mip_gap: float | None = None,
) -> pd.DataFrame:
    """Re-plan while one input moves over ``values``, through the what-if scenarios.

    Args:
        fleet: The base fleet; never modified.
        parameter: ``demand:<bucket>``, ``throughput:<platform_id>``, ``capex:<platform_id>``
            (values are multipliers) or ``power_cap:<region_id>`` (values in kW).
        values: The values to plan for.
        solver: ``highs`` or ``cbc``; default from settings.
        time_limit_s: Time limit per solve; default from settings.
        mip_gap: Relative gap per solve; default from settings.

    Returns:
        One row per value (columns :data:`SENSITIVITY_COLUMNS`): plan status, gap on TCO
        and best bound (USD), TCO, peak power (kW), peak in-service servers and servers
        purchased; ``within_gaps_of_previous`` and ``note`` say when the TCO differs from
        the previous value's by no more than their gaps. A value with no plan is a row with
        status ``infeasible`` (or ``no_solution`` when the solver gave up).

    Raises:
        ValueError: When the parameter kind is unknown.
        FleetDataError: When the parameter names an id the fleet does not have.
    """
    kind, _, target = parameter.partition(":")
    if kind not in SENSITIVITY_KINDS or not target:
        raise ValueError(
            f"parameter must be <kind>:<id> with kind one of "
            f"{', '.join(SENSITIVITY_KINDS)}, not '{parameter}'"
        )
    rows = []
    for value in values:
        scenario = scenario_from_dict(
            _scenario_body(kind, target, float(value)), name=f"{kind}_{target}_{value}"
        )
        try:
            plan = make_plan(
                fleet,
                scenario,
                solver=solver,
                time_limit_s=time_limit_s,
                mip_gap=mip_gap,
                explain=False,
            )
        except InfeasiblePlanError as exc:
            rows.append(_failed(parameter, value, "infeasible", str(exc)))
            continue
        except SolverError as exc:
            rows.append(_failed(parameter, value, "no_solution", str(exc)))
            continue
        status = plan_status(plan)
        rows.append(
            (
                parameter,
                value,
                status["status"],
                cost_gap(plan),
                status["best_bound_usd"],
                plan.total_cost_usd,
                plan.summary["peak_power_kw"],
                _peak_servers(plan),
                plan.summary["servers_purchased"],
                None,
                "",
                "",
            )
        )
    frame = pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)
    _mark_within_gaps(frame, "value")
    return frame


def _failed(parameter: str, value: float, status: str, message: str) -> tuple:
    nan = float("nan")
    return (parameter, value, status, nan, None, nan, nan, nan, nan, None, "", message)


def _peak_servers(plan: Plan) -> float:
    """Return the most servers in service in any quarter."""
    per_quarter = plan.fleet.groupby("quarter")["in_service_servers"].sum()
    return float(per_quarter.max()) if len(per_quarter) else 0.0
