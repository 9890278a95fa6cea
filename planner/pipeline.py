"""The one function that chains the stages: scenario → check → build → solve → extract → verify."""

from __future__ import annotations

import pandas as pd

from planner.checks import check_fleet
from planner.errors import InfeasiblePlanError, SolverError
from planner.fleet import Fleet
from planner.insight import binding_constraints, shadow_prices
from planner.model import build_model
from planner.results import Plan, extract_plan, plan_totals
from planner.scenarios import Scenario, apply_scenario
from planner.solve import solve_model
from planner.verify import verify_plan


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
) -> Plan:
    """Plan ``fleet`` (optionally under ``scenario``) and verify the plan.

    Args:
        fleet: The base fleet; never modified.
        scenario: What-if overrides applied to a copy of the fleet first.
        solver: ``highs`` or ``cbc``; default from settings.
        time_limit_s: Solver time limit; default from settings.
        mip_gap: Relative gap; default from settings.
        threads: Solver threads; default from settings.
        explain: On infeasibility, re-solve with penalised slack to say what falls short.
        insight: Also compute shadow prices and binding constraints into ``plan.insight``.

    Returns:
        A verified plan; ``plan.summary["verified"]`` is True.

    Raises:
        InfeasiblePlanError: With ``explanation`` (a DataFrame of shortfalls) when no plan
            satisfies the constraints.
        SolverError: When the solver finds no plan within its limits, or the verifier rejects it.
    """
    if scenario is not None:
        fleet = apply_scenario(fleet, scenario)
        check_fleet(fleet)
    opts = {"solver": solver, "time_limit_s": time_limit_s, "mip_gap": mip_gap, "threads": threads}
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
    if result.status != "optimal":
        plan = _no_worse_than_greedy(fleet, plan)
    plan.summary["scenario"] = scenario.name if scenario is not None else None
    verification = verify_plan(fleet, plan)
    plan.summary["verified"] = verification.ok
    if not verification.ok:
        raise SolverError(f"the solver's plan failed independent verification:\n{verification}")
    if insight:
        prices = shadow_prices(model)
        plan.insight = {"shadow_prices": prices,
                        "binding": binding_constraints(model, prices=prices)}
    return plan


def _no_worse_than_greedy(fleet: Fleet, plan: Plan) -> Plan:
    """Return the greedy baseline instead of an unproven plan when it is feasible and cheaper.

    A time-limited solve can stop on a poor incumbent at scale; the greedy provisioner is a
    valid plan whenever it passes the verifier, so the planner never returns anything worse.
    The solver's bound and gap are kept (the gap recomputed against the greedy cost).
    """
    from planner.baselines import greedy_plan

    greedy = greedy_plan(fleet)
    if greedy.total_cost_usd >= plan.total_cost_usd or not verify_plan(fleet, greedy).ok:
        return plan
    summary = dict(plan.summary)
    summary.update(plan_totals(greedy))
    summary["source"] = "greedy baseline (cheaper than the solver's incumbent)"
    bound = summary.get("best_bound")
    if bound is not None and fleet.settings.objective == "tco":
        objective = greedy.total_cost_usd / 1e3
        summary["objective_value"] = objective
        summary["gap"] = max(0.0, (objective - bound) / objective)
    greedy.summary = summary
    return greedy


def explain_infeasibility(fleet: Fleet, **opts) -> pd.DataFrame:
    """Return what falls short where: an elastic re-solve with penalised slack.

    Columns: constraint (demand, dr, power, space, supply, minrep), model_id, platform_id,
    region_id, quarter, amount, unit. Sorted by constraint and key.
    """
    model = build_model(fleet, elastic=True)
    result = solve_model(model, **{k: v for k, v in opts.items() if v is not None})
    if not result.has_solution:
        return pd.DataFrame()
    plan = extract_plan(model, result)
    return plan.shortfalls.sort_values(["constraint", "region_id", "quarter"], ignore_index=True)


def _infeasible_message(fleet: Fleet, shortfalls: pd.DataFrame | None) -> str:
    head = f"No plan for '{fleet.name}' meets every constraint."
    if shortfalls is None or shortfalls.empty:
        return head
    words = {
        "demand": "peak demand not served",
        "dr": "demand not covered after losing region",
        "power": "power over cap",
        "space": "rack space over limit",
        "supply": "purchases over supply",
        "minrep": "replicas below minimum",
    }
    lines = [head, "Smallest relaxation that makes it feasible:"]
    for s in shortfalls.head(20).itertuples(index=False):
        what = " ".join(str(v) for v in (s.model_id, s.platform_id) if isinstance(v, str))
        where = f"{s.region_id} " if isinstance(s.region_id, str) else ""
        lines.append(
            f"  - {words[s.constraint]}: {what + ' ' if what else ''}{where}"
            f"Q{s.quarter} short by {s.amount:,.1f} {s.unit}"
        )
    if len(shortfalls) > 20:
        lines.append(f"  ... and {len(shortfalls) - 20} more (see the explanation table)")
    return "\n".join(lines)
