"""The one function that chains the stages: scenario → check → build → solve → extract → verify."""

from __future__ import annotations

import time
from collections.abc import Callable

import pandas as pd

from planner.checks import check_fleet, fleet_warnings
from planner.errors import InfeasiblePlanError, SolverError
from planner.fleet import Fleet
from planner.insight import binding_constraints, shadow_prices
from planner.model import PlanningModel, build_model
from planner.optimization import AnytimeResult, Progress, solve_anytime
from planner.plan_arrays import plan_tables
from planner.results import Plan, extract_plan, plan_totals
from planner.scale import MatrixModel, build_matrix, load_values, plan_from_values
from planner.scenarios import Scenario, apply_scenario
from planner.solve import solve_model
from planner.verify import verify_plan

LEAN_GREEDY_GAP = 0.05
"""Lean plans skip the greedy comparison within this gap: a plan proven within 5 % of the
bound cannot be beaten by more than 5 % by any plan, and the greedy baseline is far above
that (default case: 72.0 M$ against a first plan of 24.3 M$ at a 1.5 % gap)."""


def make_plan(
    fleet: Fleet,
    scenario: Scenario | None = None,
    *,
    solver: str | None = None,
    time_limit_s: float | None = None,
    mip_gap: float | None = None,
    threads: int | None = None,
    explain: bool = True,
    insight: bool = False,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    lean: bool = False,
) -> Plan:
    """Plan ``fleet`` (optionally under ``scenario``) and verify the plan.

    With HiGHS (the default) the plan comes from the anytime path
    (:func:`planner.optimization.solve_anytime`): a first plan found the same way whatever the
    machine is doing, then improved and proven until the gap or the time limit is reached.
    The time limit bounds improvement and proof only. CBC solves the PuLP model directly.

    Args:
        fleet: The base fleet; never modified.
        scenario: What-if overrides applied to a copy of the fleet first.
        solver: ``highs`` or ``cbc``; default from settings.
        time_limit_s: Time for improvement and proof; default from settings.
        mip_gap: Relative gap at which a plan counts as proven; default from settings.
        threads: Solver threads; default from settings.
        explain: On infeasibility, re-solve with penalised slack to say what falls short.
        insight: Also compute shadow prices and binding constraints into ``plan.insight``.
        progress: Called after each stage of the anytime path (HiGHS) with a
            :class:`~planner.optimization.Progress` (stage, seconds, cost, bound, gap).
        should_stop: Polled between stages; returning True ends improvement early (Cancel).
        lean: For sweeps (many plans, one table row each): with HiGHS the plan's tables are
            built column-wise (:func:`planner.plan_arrays.plan_tables`, the same tables), and
            the greedy baseline is not tried when the plan is already within
            :data:`LEAN_GREEDY_GAP` of its bound (no plan can beat it by more than the gap;
            ``summary["greedy_fallback"]`` says so). The plan is verified as always.

    Returns:
        A verified plan; ``plan.summary`` holds ``verified``, ``status`` (``optimal`` when
        proven within the gap), ``gap``, ``best_bound``, the first plan's time and gap, and
        ``warnings`` (one line per :func:`planner.checks.fleet_warnings` warning).

    Raises:
        InfeasiblePlanError: With ``explanation`` (a DataFrame of shortfalls) when no plan
            satisfies the constraints.
        SolverError: When the solver finds no plan within its limits, or the verifier rejects it.
    """
    if scenario is not None:
        fleet = apply_scenario(fleet, scenario)
        check_fleet(fleet)
    if fleet.settings.diurnal.slots:
        # Time of day: slotted models go through the anytime path with the peak-only plan as
        # a start (planner.diurnal.plan, planner.diurnal.solve).
        from planner.diurnal.plan import plan_diurnal

        result = plan_diurnal(fleet, time_limit_s=time_limit_s, mip_gap=mip_gap,
                              threads=threads)
        return _with_warnings(result.as_plan(scenario.name if scenario is not None else None),
                              fleet)
    options = fleet.settings.solver
    opts = {"solver": solver, "time_limit_s": time_limit_s, "mip_gap": mip_gap, "threads": threads}
    name = solver or options.name
    if name == "highs":
        plan, model = _plan_anytime(
            fleet,
            time_limit_s if time_limit_s is not None else options.time_limit_s,
            mip_gap if mip_gap is not None else options.mip_gap,
            threads or options.threads,
            progress,
            should_stop,
            opts if explain else None,
            insight,
            lean,
        )
    else:
        model = build_model(fleet)
        result = solve_model(model, **opts)
        if result.status == "infeasible":
            shortfalls = explain_infeasibility(fleet, **opts) if explain else None
            raise InfeasiblePlanError(_infeasible_message(fleet, shortfalls), shortfalls)
        if not result.has_solution:
            raise SolverError(
                f"{result.solver} found no plan ({result.status}"
                f"{': ' + result.message if result.message else ''}); raise the time "
                "limit or the gap"
            )
        plan = extract_plan(model, result)
    # The solver's own plan is verified first: a rejected plan means a bug in the model side
    # and is refused, never quietly swapped for the greedy one.
    verification = verify_plan(fleet, plan)
    if not verification.ok:
        raise SolverError(f"the solver's plan failed independent verification:\n{verification}")
    if plan.summary["status"] != "optimal":
        gap = plan.summary.get("gap")
        if lean and gap is not None and gap <= LEAN_GREEDY_GAP:
            plan.summary["greedy_fallback"] = (
                f"not tried: the plan is within {gap:.2%} of its bound (lean)"
            )
        else:
            plan = _no_worse_than_greedy(fleet, plan)
    plan.summary["scenario"] = scenario.name if scenario is not None else None
    plan.summary["verified"] = True  # the solver's plan, or a greedy plan that passed too
    if insight:
        prices = shadow_prices(model)
        plan.insight = {"shadow_prices": prices,
                        "binding": binding_constraints(model, prices=prices)}
    return _with_warnings(plan, fleet)


def _with_warnings(plan: Plan, fleet: Fleet) -> Plan:
    """Record the warnings of the fleet planned (scenario applied) in ``summary["warnings"]``.

    Computed on the planned fleet, not the loaded one: a scenario can change the horizon.
    The key is always there (an empty list when none), so readers need no default.
    """
    plan.summary["warnings"] = [w.render() for w in fleet_warnings(fleet)]
    return plan


def _plan_anytime(
    fleet: Fleet,
    time_limit_s: float,
    mip_gap: float,
    threads: int,
    progress: Callable[[Progress], None] | None,
    should_stop: Callable[[], bool] | None,
    explain_opts: dict | None,
    insight: bool,
    lean: bool = False,
) -> tuple[Plan, PlanningModel | None]:
    """Plan through the array model and the anytime path; the PuLP model only for insight."""
    start = time.perf_counter()
    mm = build_matrix(fleet)
    result = solve_anytime(mm, time_limit_s=time_limit_s, mip_gap=mip_gap, threads=threads,
                           progress=progress, should_stop=should_stop)
    if result.status == "infeasible":
        shortfalls = explain_infeasibility(fleet, **explain_opts) if explain_opts is not None \
            else None
        raise InfeasiblePlanError(_infeasible_message(fleet, shortfalls), shortfalls)
    if not result.has_solution:
        # not infeasible: no plan was found within the limits (same exit code, other advice)
        raise SolverError(f"highs found no plan for '{fleet.name}' within the limits "
                          f"(stopped on {result.stopped or 'no plan'}); this does not mean "
                          "none exists: raise --time-limit or the gap (--gap)")
    plan = anytime_plan(fleet, mm, result, start, lean)
    model = None
    if insight:
        model = build_model(fleet)
        load_values(model, mm, result.values)
    return plan, model


def anytime_plan(fleet: Fleet, mm: MatrixModel, result: AnytimeResult, start: float,
                 lean: bool = False) -> Plan:
    """Return the plan of an anytime result with its summary (status, gap, stages, totals).

    ``start`` is the ``time.perf_counter()`` instant the build began (for ``wall_seconds``).
    """
    plan = plan_tables(mm, result.values) if lean else plan_from_values(mm, result.values)
    plan.summary = {
        "case": fleet.name,
        "status": result.status,
        "solver": "highs",
        "objective": fleet.settings.objective,
        "objective_value": result.objective,
        "best_bound": result.bound,
        "gap": result.gap,
        "lp_bound": result.lp_bound,
        "first_plan_seconds": round(result.first_seconds, 4),
        "first_plan_objective": result.first_objective,
        "first_plan_gap": result.first_gap,
        "stopped": result.stopped,
        "build_seconds": round(mm.build_seconds, 4),
        "solve_seconds": round(result.seconds, 4),
        "wall_seconds": round(time.perf_counter() - start, 4),
        **plan_totals(plan),
        "horizon_quarters": fleet.settings.horizon_quarters,
        "variables": mm.n_cols,
        "constraints": mm.n_rows,
        "stages": [
            {"stage": p.stage, "seconds": round(p.seconds, 4), "objective": p.objective,
             "bound": p.bound, "gap": p.gap}
            for p in result.history
        ],
    }
    return plan


def _no_worse_than_greedy(fleet: Fleet, plan: Plan) -> Plan:
    """Return the greedy baseline instead of an unproven plan when it is valid and better.

    A time-limited solve can stop on a poor incumbent at scale; the greedy provisioner is a
    valid plan whenever it passes the verifier, so the planner never returns anything worse.
    "Better" is on the settings' objective (TCO, facility kW summed over quarters, or capex),
    and the greedy ranks platforms by watts for the ``power`` objective, by cost otherwise.
    The solver's bound is kept; with ``tco`` the gap is recomputed against the greedy cost
    (for the other objectives the solver's gap stays: an upper bound on the greedy's).
    """
    from planner.baselines import greedy_plan

    objective = fleet.settings.objective
    try:
        greedy = greedy_plan(fleet, "power" if objective == "power" else "cost")
    except Exception as exc:  # an optional improvement must not sink a verified plan
        plan.summary["greedy_fallback"] = f"not tried: {type(exc).__name__}: {exc}"
        return plan
    # strictly better only (ties keep the solver's plan); tolerance for float noise
    if objective_value(greedy, objective) >= objective_value(plan, objective) * (1 - 1e-9):
        return plan
    if not verify_plan(fleet, greedy).ok:
        return plan
    summary = dict(plan.summary)
    summary.update(plan_totals(greedy))
    summary["source"] = f"greedy baseline (better {objective} than the solver's incumbent)"
    bound = summary.get("best_bound")
    if bound is not None and objective == "tco":
        value = greedy.total_cost_usd / 1e3  # the model's objective is in kUSD
        summary["objective_value"] = value
        summary["gap"] = max(0.0, (value - bound) / value)
    greedy.summary = summary
    return greedy


def objective_value(plan: Plan, objective: str) -> float:
    """Return a plan's primary objective from its tables (no tie-breaks).

    Args:
        plan: The plan.
        objective: ``tco`` (USD), ``power`` (facility kW summed over regions and quarters)
            or ``capex`` (USD of purchases).

    Returns:
        The objective's value, in the units above.
    """
    if objective == "power":
        return float(plan.power["power_kw"].sum()) if len(plan.power) else 0.0
    if objective == "capex":
        return float(plan.costs["capex_usd"].sum()) if len(plan.costs) else 0.0
    return plan.total_cost_usd


def explain_infeasibility(fleet: Fleet, **opts) -> pd.DataFrame:
    """Return what falls short where: demand that cannot be served, then caps that would move.

    See :func:`planner.insight.explain_shortfalls` (two elastic re-solves). Columns:
    constraint (demand, dr, minrep, power, space, supply), model_id, platform_id, region_id,
    quarter, amount, unit.
    """
    from planner.insight import explain_shortfalls

    return explain_shortfalls(fleet, **opts)


def _infeasible_message(fleet: Fleet, shortfalls: pd.DataFrame | None) -> str:
    from planner.insight import infeasibility_message

    return infeasibility_message(fleet.name, shortfalls)
