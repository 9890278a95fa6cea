"""Trade-offs: the cost-power frontier and one-parameter sensitivity sweeps.

Power on the frontier is provisioned facility power: every in-service server's nameplate power
times its region's PUE, summed over regions. Two measures over the horizon:

* ``peak`` (default): the largest quarter, what the facilities must be built for. The budget
  is one row per quarter; the lowest-power end minimises an extra variable ``P >= power(t)``.
* ``average``: the mean over the quarters. It is what the model's ``power`` objective
  minimises (the sum over quarters), so that objective gives the lowest-power end directly.

Both measures and the budget are reported for every point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pulp

from planner.errors import InfeasiblePlanError, SolverError
from planner.fleet import Fleet
from planner.model import PlanningModel, build_model, cost_coefficients
from planner.pipeline import make_plan
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
    "verified",
]
SENSITIVITY_COLUMNS = [
    "parameter",
    "value",
    "status",
    "tco_usd",
    "power_kw",
    "servers",
    "purchases",
    "message",
]


@dataclass(frozen=True)
class _Point:
    """One solved plan of the sweep."""

    plan: Plan | None
    result: SolveResult
    verified: bool


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
        ``power_kw`` is the chosen measure, ``opex_usd`` energy plus maintenance.
        ``attrs["measure"]`` names the measure.

    Raises:
        ValueError: When ``points`` < 2 or ``measure`` is unknown.
        InfeasiblePlanError: When the fleet has no feasible plan at all.
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
    tco_fleet = _with_objective(fleet, "tco")
    cheapest = _solve(tco_fleet, opts)
    lowest = _lowest_power(fleet, measure, opts)
    if cheapest.plan is None or lowest.plan is None:
        raise InfeasiblePlanError(
            f"No plan for '{fleet.name}' meets every constraint; there is no frontier."
        )
    p_lo = plan_power_kw(lowest.plan, measure)
    p_hi = max(plan_power_kw(cheapest.plan, measure), p_lo)
    budgets = np.linspace(p_lo, p_hi, points)
    solved = [cheapest, lowest]
    solved += [_solve(tco_fleet, opts, measure, eps) for eps in budgets[:-1]]
    frame = pd.DataFrame(
        [
            _row(i, eps, _best_within(solved, eps, measure), measure)
            for i, eps in enumerate(budgets)
        ],
        columns=FRONTIER_COLUMNS,
    )
    frame.attrs["measure"] = measure
    return frame


def _with_objective(fleet: Fleet, objective: str) -> Fleet:
    return fleet.replace(settings=fleet.settings.model_copy(update={"objective": objective}))


def _lowest_power(fleet: Fleet, measure: Measure, opts: dict) -> _Point:
    """Return the plan of least power: the power objective, or least peak via ``P``."""
    if measure == "average":
        return _solve(_with_objective(fleet, "power"), opts)
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
    return _finish(model, opts)


def _quarter_power(model: PlanningModel) -> dict[int, pulp.LpAffineExpression]:
    """Return the fleet's facility power (kW) in each quarter as an expression of ``y``."""
    kw = cost_coefficients(model.fleet)["facility_kw"]
    terms: dict[int, list[tuple[pulp.LpVariable, float]]] = {}
    for (p, r, t), y in model.y.items():
        terms.setdefault(t, []).append((y, kw[(p, r)]))
    return {t: pulp.LpAffineExpression(v) for t, v in sorted(terms.items())}


def _solve(
    fleet: Fleet, opts: dict, measure: Measure = "peak", budget_kw: float | None = None
) -> _Point:
    """Build, optionally cap power at ``budget_kw`` by ``measure``, solve, extract, verify."""
    model = build_model(fleet)
    if budget_kw is not None:
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
    return _finish(model, opts)


def _finish(model: PlanningModel, opts: dict) -> _Point:
    result = solve_model(model, **opts)
    if not result.has_solution:
        return _Point(None, result, False)
    plan = extract_plan(model, result)
    return _Point(plan, result, verify_plan(model.fleet, plan).ok)


def _best_within(solved: list[_Point], budget_kw: float, measure: Measure) -> _Point | None:
    """Return the cheapest verified plan whose power fits ``budget_kw``."""
    limit = budget_kw * (1 + BUDGET_TOL) + BUDGET_TOL
    fits = [
        s
        for s in solved
        if s.plan is not None and s.verified and plan_power_kw(s.plan, measure) <= limit
    ]
    return min(fits, key=lambda s: s.plan.total_cost_usd, default=None)


def _row(i: int, budget_kw: float, point: _Point | None, measure: Measure) -> tuple:
    if point is None or point.plan is None:
        nan = float("nan")
        return (i, budget_kw, nan, nan, nan, nan, nan, nan, 0, "infeasible", nan, False)
    plan, s = point.plan, point.plan.summary
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
        point.result.status,
        point.result.gap,
        point.verified,
    )


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
        One row per value (columns :data:`SENSITIVITY_COLUMNS`): plan status, TCO, peak
        power (kW), peak in-service servers and servers purchased. A value with no plan is a
        row with status ``infeasible`` (or ``no_solution`` when the solver gave up).

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
        rows.append(
            (
                parameter,
                value,
                plan.summary["status"],
                plan.total_cost_usd,
                plan.summary["peak_power_kw"],
                _peak_servers(plan),
                plan.summary["servers_purchased"],
                "",
            )
        )
    return pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)


def _failed(parameter: str, value: float, status: str, message: str) -> tuple:
    nan = float("nan")
    return (parameter, value, status, nan, nan, nan, nan, message)


def _peak_servers(plan: Plan) -> float:
    """Return the most servers in service in any quarter."""
    per_quarter = plan.fleet.groupby("quarter")["in_service_servers"].sum()
    return float(per_quarter.max()) if len(per_quarter) else 0.0
