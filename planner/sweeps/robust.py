"""Robust purchases: one set of orders placed now that holds up in every sampled future.

A two-stage program (deterministic equivalent of a sample-average approximation):

- the first stage are the orders placed before ``decide_before_quarter``: one integer
  ``z[p,r,t]`` per (platform, region, order quarter), shared by every future;
- each future k is the ordinary planning model of its scenario's fleet,
  :func:`planner.model.build_model` unchanged (its variables renamed ``f<k>_...``), with
  ``b_k[p,r,t] = z[p,r,t]`` for first-stage orders (``z = 0`` where some future cannot place
  the order) and free recourse: allocations, in-service servers and later orders;
- the objective is the expected objective, ``sum_k objective_k / K`` (the case's objective,
  TCO by default), or with ``robust.objective: cvar`` its conditional value at risk at level
  ``robust.alpha``: the mean of the worst ``1 - alpha`` share of futures, in the linear form
  of Rockafellar and Uryasev (2000), ``min eta + sum_k u_k / ((1 - alpha) K)`` with
  ``u_k >= objective_k - eta``, ``u_k >= 0`` (``eta`` free: at the optimum it is the
  alpha-quantile, the value at risk). CVaR is an upper bound on that quantile and the
  quantile objective that stays a linear program; the quantile itself would need one binary
  per future. The expected objective is added with weight :data:`CVAR_TIE_BREAK`, so the
  futures outside the worst share are planned at least cost too, not just anyhow.

With more scenarios than ``max_futures`` the program uses ``max_futures`` of them, drawn
with the sweep's seed, and the robust orders are then checked on up to ``max_futures``
unused ("fresh") scenarios: how often they fall short there and what they cost.

Warm start: the LP relaxation's first stage rounded up to whole servers (within supply), each
future's recourse from the anytime path with those orders fixed; HiGHS then improves it
within ``robust.time_limit_s``. Each future planned alone (perfect foresight,
:func:`planner.pipeline.make_plan`) gives the expected cost with perfect information, so the
price of robustness is the difference. The mean forecast's plan is compared: its first-stage
orders are fixed in every future; where no recourse serves the future, the LP relaxation of
the elastic model says by how much demand falls short (a lower bound).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import highspy
import numpy as np
import pandas as pd
import pulp

from planner.checks import check_fleet
from planner.errors import InfeasiblePlanError, SolverError
from planner.fleet import Fleet
from planner.model import DEMAND_FAMILIES, PlanningModel, build_model
from planner.optimization import solve_anytime
from planner.output import staged_folder
from planner.pipeline import make_plan
from planner.results import Plan, extract_plan
from planner.scale import MatrixModel, build_matrix, plan_from_values
from planner.scenarios import Scenario, apply_scenario
from planner.solve import HIGHS_OPTIONS, SolveResult, make_solver, quiet_stdout, solve_with_backend
from planner.sweeps.spec import SweepSpec, Value, points, scenario_for
from planner.verify import verify_plan

SHORT_TOL = 1e-6
CVAR_TIE_BREAK = 1e-4  # weight of the expected cost under a CVaR objective (see above)
Key = tuple[str, str, int]


@dataclass
class RobustResult:
    """The robust orders, the mean forecast's orders, and how each does in every future.

    Attributes:
        purchases: First-stage orders of the robust plan (platform_id, region_id,
            order_quarter, servers, capex_usd).
        mean_purchases: First-stage orders of the mean forecast's plan, same columns.
        futures: One row per future (``sample`` in or ``fresh`` out of the program): inputs,
            ``own_cost_usd`` (planned alone, perfect foresight), ``robust_cost_usd`` (robust
            orders plus recourse), ``robust_short_qps``, ``mean_short_qps`` and
            ``mean_short`` (the mean forecast's orders fall short there), ``mean_cost_usd``.
        summary: Status, gap, expected costs, the price of robustness, shortfall rates.
        plans: The robust plan of each sampled future (verified).
        scenarios: The scenario of each sampled future (the base with its inputs), by name.
    """

    purchases: pd.DataFrame
    mean_purchases: pd.DataFrame
    futures: pd.DataFrame
    summary: dict
    plans: dict[str, Plan] = field(default_factory=dict)
    scenarios: dict[str, Scenario] = field(default_factory=dict)


class _WarmHiGHS(pulp.HiGHS):
    """PuLP's in-process HiGHS, started from the variables' current values when all are set."""

    def buildSolverModel(self, lp):  # noqa: N802  (PuLP's method name)
        highspy.Highs.resetThreadScheduler(True)
        super().buildSolverModel(lp)
        variables = sorted(lp.variables(), key=lambda v: v.index)
        if variables and all(v.varValue is not None for v in variables):
            sol = highspy.HighsSolution()
            sol.col_value = [float(v.varValue) for v in variables]
            sol.value_valid = True
            lp.solverModel.setSolution(sol)


def _futures(spec: SweepSpec, folder: str | Path) -> tuple[list[dict], list[dict], str]:
    """Return the sampled futures, the fresh (held-out) ones and a note on the sampling."""
    every = points(spec, folder)
    n = spec.robust.max_futures
    if len(every) <= n:
        return every, [], f"all {len(every)} scenarios of the sweep"
    rng = np.random.default_rng(spec.seed)
    order = rng.permutation(len(every))
    sample = [every[i] for i in sorted(order[:n])]
    fresh = [every[i] for i in sorted(order[n : 2 * n])]
    return (
        sample,
        fresh,
        (
            f"sample-average approximation: {n} of the sweep's {len(every)} "
            f"scenarios (seed {spec.seed}); {len(fresh)} fresh ones check it"
        ),
    )


def mean_inputs(futures: list[dict[str, Value]]) -> dict[str, Value]:
    """Return the mean forecast: each input's mean (integers rounded, flags by majority)."""
    out: dict[str, Value] = {}
    for key in futures[0]:
        values = [f[key] for f in futures]
        if all(isinstance(v, bool) for v in values):
            out[key] = sum(values) * 2 >= len(values)
        elif all(isinstance(v, int) for v in values):
            out[key] = round(sum(values) / len(values))
        elif all(isinstance(v, int | float) for v in values):
            out[key] = float(np.mean(values))
        else:
            out[key] = max(set(values), key=values.count)  # strings: the most common one
    return out


def _fleet_of(fleet: Fleet, base: Scenario, inputs: dict, name: str) -> Fleet:
    future = apply_scenario(fleet, scenario_for(base, inputs, name))
    check_fleet(future)
    return future


def _orders(plan: Plan, before: int) -> dict[Key, float]:
    """Return a plan's orders placed before quarter ``before``."""
    p = plan.purchases
    p = p[p["order_quarter"] < before]
    return {
        (r.platform_id, r.region_id, int(r.order_quarter)): float(r.servers)
        for r in p.itertuples(index=False)
    }


def _orders_frame(fleet: Fleet, orders: dict[Key, float]) -> pd.DataFrame:
    capex = fleet.platforms.set_index("platform_id")["capex_usd"]
    rows = [(p, r, t, n, n * float(capex[p])) for (p, r, t), n in sorted(orders.items()) if n > 0]
    return pd.DataFrame(
        rows, columns=["platform_id", "region_id", "order_quarter", "servers", "capex_usd"]
    )


def _column_keys(mm: MatrixModel) -> list[tuple[str, tuple]]:
    """Return (kind, key) of every column of ``mm``, in column order (x, then b, then y)."""
    x = [
        ("x", (m, p, r, int(t)))
        for m, p, r, t in zip(
            mm.x["model_id"], mm.x["platform_id"], mm.x["region_id"], mm.x["quarter"], strict=True
        )
    ]
    rest = [
        (kind, (p, r, int(t)))
        for kind, frame in (("b", mm.b), ("y", mm.y))
        for p, r, t in zip(frame["platform_id"], frame["region_id"], frame["quarter"], strict=True)
    ]
    return x + rest


def recourse(
    fleet: Fleet, orders: dict[Key, float], before: int, mip_gap: float = 0.005
) -> tuple[str, Plan | None, dict[str, dict] | None]:
    """Plan ``fleet`` with its orders before ``before`` fixed to ``orders`` (0 where absent).

    The recourse (allocations, in-service servers, later orders) comes from the anytime path
    (:func:`planner.optimization.solve_anytime`, first plan only), on the array model with
    the first-stage columns fixed. Orders the future cannot place (beyond its supply) are
    clipped. Returns ``(status, plan, values)``: status ``served`` with the verified plan and
    the values by variable kind and key, ``short`` when no plan exists with these orders
    (proven by the MIP), or ``unresolved`` when none was found but none was ruled out.
    """
    mm = build_matrix(fleet)
    off = len(mm.x)
    for j, (p, r, t) in enumerate(
        zip(mm.b["platform_id"], mm.b["region_id"], mm.b["quarter"], strict=True)
    ):
        if t < before:
            n = min(orders.get((p, r, int(t)), 0.0), mm.upper[off + j])
            mm.lower[off + j] = mm.upper[off + j] = n
    result = solve_anytime(mm, time_limit_s=0.0, mip_gap=mip_gap, threads=1)
    if result.status == "infeasible":
        return "short", None, None
    if not result.has_solution:
        return "unresolved", None, None
    plan = plan_from_values(mm, result.values)
    if not verify_plan(fleet, plan).ok:
        return "unresolved", None, None
    values: dict[str, dict] = {"x": {}, "b": {}, "y": {}}
    for (kind, key), v in zip(_column_keys(mm), result.values.tolist(), strict=True):
        values[kind][key] = v
    return "served", plan, values


def demand_shortfall(fleet: Fleet, orders: dict[Key, float], before: int) -> float:
    """Return the least demand (queries/s, DR included) unserved with first-stage ``orders``.

    The LP relaxation of the elastic model (slack on demand, DR and minimum-replica rows;
    power, space and supply hard) with the orders before ``before`` fixed: whole replicas
    can only add to it, so it is a lower bound, exact where the LP's plan is whole.
    """
    model = build_model(fleet, elastic=DEMAND_FAMILIES)
    for k, v in model.b.items():
        if k[2] < before:
            n = orders.get(k, 0.0)
            v.lowBound = v.upBound = n if v.upBound is None else min(n, v.upBound)
    with quiet_stdout():
        model.prob.solve(make_solver("highs", 60.0, 0.0, 1, mip=False))
    if model.prob.sol_status != pulp.LpSolutionOptimal:
        return math.nan
    total = 0.0
    for (family, key), s in model.slack.items():
        if family in ("demand", "dr") and (s.varValue or 0.0) > SHORT_TOL:
            total += s.varValue * model.rhs_scale["_".join([family, *map(str, key)])]
    return total


def _first_stage_start(
    prob: pulp.LpProblem, first: dict[Key, pulp.LpVariable], supply: dict[tuple[str, int], float]
) -> dict[Key, float] | None:
    """Round the LP relaxation's first stage up to whole servers, within supply.

    Where rounding up exceeds a (platform, quarter) supply, the regions rounded up the most
    give one server back each until it fits.
    """
    with quiet_stdout():
        prob.solve(make_solver("highs", 60.0, 0.0, 1, mip=False))
    if prob.sol_status != pulp.LpSolutionOptimal:
        return None
    lp = {k: max(0.0, z.varValue or 0.0) for k, z in first.items()}
    start = {k: float(math.ceil(v - 1e-6)) for k, v in lp.items()}
    for (p, t), cap in supply.items():
        keys = sorted(
            (k for k in start if k[0] == p and k[2] == t),
            key=lambda k: start[k] - lp[k],
            reverse=True,
        )
        excess = sum(start[k] for k in keys) - cap
        for k in keys:
            if excess <= 0:
                break
            if start[k] > 0:
                start[k] -= 1
                excess -= 1
    return start


def _warm_start(
    futures: list[Fleet],
    models: list[PlanningModel],
    first: dict[Key, pulp.LpVariable],
    before: int,
    own: list[Plan],
    lp_start: dict[Key, float] | None,
    supply: dict[tuple[str, int], float],
) -> tuple[str, dict[Key, float]] | None:
    """Set a feasible start on every future's variables; return its origin and first stage.

    Candidates, in order: the LP relaxation's first stage rounded up, then each future's own
    first stage (largest first: more servers bought early never make a future infeasible,
    except through supply). The first candidate whose recourse serves every future wins.
    """
    candidates = [] if lp_start is None else [("LP first stage rounded up", lp_start)]
    ranked = sorted(range(len(own)), key=lambda k: -sum(_orders(own[k], before).values()))
    for k in ranked:
        orders = _orders(own[k], before)
        if all(
            orders.get(key, 0.0) <= (z.upBound if z.upBound is not None else math.inf)
            for key, z in first.items()
        ) and set(orders) <= set(first):
            candidates.append((f"future f{k}'s own first stage", orders))
    for origin, orders in candidates:
        values = []
        for fleet in futures:
            status, _, v = recourse(fleet, orders, before)
            if status != "served":
                break
            values.append(v)
        if len(values) < len(futures):
            continue
        for model, v in zip(models, values, strict=True):
            for kind in ("x", "b", "y"):
                for key, var in getattr(model, kind).items():
                    var.setInitialValue(float(v[kind].get(key, 0.0)))
        start = {key: float(orders.get(key, 0.0)) for key in first}
        return f"{origin}, recourse by the anytime path", start
    return None


def _two_stage(
    futures: list[Fleet], own: list[Plan], before: int, options
) -> tuple[list[PlanningModel], dict[Key, pulp.LpVariable], SolveResult, dict]:
    """Build and solve the deterministic equivalent; return models, first stage, result, info.

    Warm start: the LP relaxation's first stage rounded up, each future's recourse from the
    anytime path; the MIP then improves it within the time limit.
    """
    start = time.perf_counter()
    prob = pulp.LpProblem("robust", pulp.LpMinimize)
    models, objective = [], []
    for k, fleet in enumerate(futures):
        model = build_model(fleet)
        for v in model.variables:
            v.name = f"f{k}_{v.name}"
        prob.extend(
            {f"f{k}_{name}": model.prob.get_constraint_by_name(name) for name in model.rows}
        )
        objective += [(v, c / len(futures)) for v, c in model.prob.objective.items()]
        models.append(model)
    keys = sorted({k for m in models for k in m.b if k[2] < before})
    upper = {
        k: min(
            (m.b[k].upBound for m in models if k in m.b and m.b[k].upBound is not None),
            default=None,
        )
        for k in keys
    }
    first = {
        k: prob.add_variable(f"z_{k[0]}_{k[1]}_{k[2]}", lowBound=0, upBound=upper[k], cat="Integer")
        for k in keys
    }
    rows = {}
    for k, z in first.items():
        for i, m in enumerate(models):
            if k in m.b:
                rows[f"first_{i}_{'_'.join(map(str, k))}"] = pulp.LpConstraint(
                    pulp.LpAffineExpression([(m.b[k], 1.0), (z, -1.0)]),
                    pulp.LpConstraintEQ,
                    rhs=0.0,
                )
        if not all(k in m.b for m in models):  # an order some future cannot take: not now
            z.upBound = 0
    prob.extend(rows)
    risk = _set_objective(prob, models, objective, options)
    supply = {}
    for f in futures:
        for p, cap in f.platforms.set_index("platform_id")["supply_per_quarter"].dropna().items():
            for t in range(before):
                supply[(p, t)] = min(float(cap), supply.get((p, t), math.inf))
    info = {"build_seconds": time.perf_counter() - start, "warm_start": "none"}
    begin = time.perf_counter()
    found = _warm_start(
        futures, models, first, before, own, _first_stage_start(prob, first, supply), supply
    )
    if found is not None:
        for k, z in first.items():
            z.setInitialValue(found[1][k])
        if risk is not None:
            _start_risk(models, risk, options.alpha)
        info["warm_start"] = found[0]
    else:
        for v in prob.variables():
            v.varValue = None
    info["warm_start_seconds"] = time.perf_counter() - begin
    result = _solve(prob, options.time_limit_s, options.mip_gap, 1)
    return models, first, result, info


def _set_objective(
    prob: pulp.LpProblem,
    models: list[PlanningModel],
    expected: list[tuple[pulp.LpVariable, float]],
    options,
) -> tuple[pulp.LpVariable, list[pulp.LpVariable]] | None:
    """Set the program's objective: expected cost, or CVaR (returns ``eta`` and the ``u_k``).

    CVaR_alpha in the Rockafellar-Uryasev form: ``eta + sum_k u_k / ((1 - alpha) K)`` with
    ``u_k >= cost_k - eta`` and ``u_k >= 0``, plus the expected cost times
    :data:`CVAR_TIE_BREAK`.
    """
    if options.objective == "expected":
        prob.setObjective(pulp.LpAffineExpression(expected))
        return None
    k_futures = len(models)
    eta = prob.add_variable("cvar_eta", lowBound=None)
    excess = [prob.add_variable(f"cvar_u_{k}", lowBound=0) for k in range(k_futures)]
    for k, model in enumerate(models):
        cost = pulp.LpAffineExpression(list(model.prob.objective.items()))
        prob.addConstraint(excess[k] - cost + eta >= 0, name=f"cvar_excess_{k}")
    weight = 1.0 / ((1.0 - options.alpha) * k_futures)
    terms = [(eta, 1.0), *((u, weight) for u in excess)]
    terms += [(v, CVAR_TIE_BREAK * c) for v, c in expected]
    prob.setObjective(pulp.LpAffineExpression(terms))
    return eta, excess


def _start_risk(
    models: list[PlanningModel],
    risk: tuple[pulp.LpVariable, list[pulp.LpVariable]],
    alpha: float,
) -> None:
    """Start ``eta`` and the ``u_k`` from the futures' started costs (the best eta for them)."""
    costs = [
        sum(c * (v.varValue or 0.0) for v, c in model.prob.objective.items()) for model in models
    ]
    eta, excess = risk
    best = min(costs, key=lambda e: _cvar_at(costs, alpha, e))
    eta.setInitialValue(best)
    for u, c in zip(excess, costs, strict=True):
        u.setInitialValue(max(0.0, c - best))


def _cvar_at(costs: list[float], alpha: float, eta: float) -> float:
    return eta + sum(max(0.0, c - eta) for c in costs) / ((1.0 - alpha) * len(costs))


def cvar(costs: list[float], alpha: float) -> float:
    """Return the CVaR at level ``alpha`` of equally likely ``costs`` (mean of the worst tail).

    ``min_eta eta + E[(C - eta)+] / (1 - alpha)`` (Rockafellar-Uryasev); the minimum of this
    convex piecewise-linear function lies at one of the costs. ``alpha = 0`` gives the mean,
    ``alpha >= 1 - 1/K`` the largest cost.
    """
    values = [float(c) for c in costs if not math.isnan(c)]
    if not values:
        return math.nan
    return min(_cvar_at(values, alpha, e) for e in values)


def _solve(prob: pulp.LpProblem, time_limit_s: float, mip_gap: float, threads: int) -> SolveResult:
    """Solve the deterministic equivalent with HiGHS (warm-started); strict about status.

    Hard-limited like every HiGHS solve (:func:`planner.solve.hard_limited`).
    """
    solver = _WarmHiGHS(
        msg=False, timeLimit=time_limit_s, gapRel=mip_gap, threads=threads, **HIGHS_OPTIONS
    )
    return solve_with_backend(prob, solver, time_limit_s, mip_gap, threads,
                              "highs failed on the robust program")


def _evaluate(fleet: Fleet, orders: dict[Key, float], before: int) -> tuple[str, float, float]:
    """Return (status, demand short in queries/s, TCO in USD) of fixed first-stage orders.

    Status as :func:`recourse`: ``served``, ``short`` (proven) or ``unresolved``. How much
    demand falls short comes from :func:`demand_shortfall` (a lower bound: 0 when only whole
    replicas make it short). The TCO is that of the recourse plan where served, else NaN.
    """
    status, plan, _ = recourse(fleet, orders, before)
    if plan is not None:
        return status, 0.0, plan.total_cost_usd
    return status, demand_shortfall(fleet, orders, before), math.nan


def robust_plan(
    fleet: Fleet, spec: SweepSpec, base: Scenario | None = None, folder: str | Path = "."
) -> RobustResult:
    """Choose first-stage orders that serve every sampled future at least expected cost.

    Args:
        fleet: The case's fleet (never modified).
        spec: The sweep whose scenarios are the futures; ``spec.robust`` holds the options
            (``decide_before_quarter``, ``max_futures``, time limit and gap of the program);
            ``spec.solver`` those of the single-future plans.
        base: The sweep's base scenario (default: none).
        folder: Where the sweep file's relative paths point (empirical CSVs).

    Raises:
        InfeasiblePlanError: When some sampled future has no plan even alone, or no common
            first stage serves them all.
        SolverError: When no robust plan is found within the limits, or one fails
            verification.
    """
    start = time.perf_counter()
    base = base or Scenario(name="base")
    opts, before = spec.robust, spec.robust.decide_before_quarter
    solve_opts = {"time_limit_s": spec.solver.time_limit_s, "mip_gap": spec.solver.mip_gap}
    sample, fresh, note = _futures(spec, folder)
    names = [f"f{k}" for k in range(len(sample))]
    fleets = [_fleet_of(fleet, base, x, n) for x, n in zip(sample, names, strict=True)]
    own = []
    for name, f in zip(names, fleets, strict=True):
        try:
            own.append(make_plan(f, explain=False, **solve_opts))
        except InfeasiblePlanError as exc:
            raise InfeasiblePlanError(
                f"future {name} ({sample[len(own)]}) has no plan even on its own: {exc}",
                exc.explanation,
            ) from None
    models, first, result, info = _two_stage(fleets, own, before, opts)
    if result.status == "infeasible":
        raise InfeasiblePlanError(
            "no common first-stage orders serve every sampled future "
            f"(orders before quarter {before}); move the quarter earlier "
            "or narrow the sweep"
        )
    if not result.has_solution:
        raise SolverError(
            f"no robust plan within {opts.time_limit_s:g} s; raise "
            "robust.time_limit_s or lower robust.max_futures"
        )
    plans = {}
    for name, f, model in zip(names, fleets, models, strict=True):
        plan = extract_plan(model, result)
        check = verify_plan(f, plan)
        if not check.ok:
            raise SolverError(f"the robust plan of future {name} failed verification:\n{check}")
        plan.summary["verified"] = True
        plans[name] = plan
    robust_orders = {k: float(round(z.varValue or 0.0)) for k, z in first.items()}

    mean = mean_inputs(sample)
    mean_plan = make_plan(
        _fleet_of(fleet, base, mean, "mean_forecast"), explain=False, **solve_opts
    )
    mean_orders = _orders(mean_plan, before)
    rows = []
    for kind, items in (("sample", sample), ("fresh", fresh)):
        for k, inputs in enumerate(items):
            name = f"f{k}" if kind == "sample" else f"fresh{k}"
            f = fleets[k] if kind == "sample" else _fleet_of(fleet, base, inputs, name)
            status, qps, cost = _evaluate(f, mean_orders, before)
            row = {
                "future": name,
                "kind": kind,
                **{f"in.{i}": v for i, v in inputs.items()},
                "mean_status": status,
                "mean_short": status == "short",
                "mean_short_qps": qps,
                "mean_cost_usd": cost,
            }
            if kind == "sample":
                row |= {
                    "own_cost_usd": own[k].total_cost_usd,
                    "robust_cost_usd": plans[name].total_cost_usd,
                    "robust_status": "served",
                    "robust_short": False,
                    "robust_short_qps": 0.0,
                }
            else:
                rstatus, rqps, rcost = _evaluate(f, robust_orders, before)
                row |= {
                    "own_cost_usd": math.nan,
                    "robust_cost_usd": rcost,
                    "robust_status": rstatus,
                    "robust_short": rstatus == "short",
                    "robust_short_qps": rqps,
                }
            rows.append(row)
    futures = pd.DataFrame(rows)
    s = futures[futures["kind"] == "sample"]
    expected = float(s["robust_cost_usd"].mean())
    foresight = float(s["own_cost_usd"].mean())
    short = s[s["mean_short"]]
    summary = {
        "status": result.status,
        "gap": result.gap,
        "objective_value": result.objective,
        "best_bound": result.bound,
        "futures": len(sample),
        "fresh_futures": len(fresh),
        "sampling": note,
        "decide_before_quarter": before,
        "objective": (
            f"expected {fleet.settings.objective}"
            if opts.objective == "expected"
            else f"CVaR at alpha {opts.alpha:g} of {fleet.settings.objective} "
            "(Rockafellar-Uryasev; expected cost as tie-break)"
        ),
        "cvar_alpha": opts.alpha if opts.objective == "cvar" else None,
        "cvar_level": opts.alpha,
        # the tail measure of each plan over the sampled futures, whatever was minimised
        "cvar_cost_usd": cvar(list(s["robust_cost_usd"]), opts.alpha),
        "perfect_foresight_cvar_usd": cvar(list(s["own_cost_usd"]), opts.alpha),
        "warm_start": info["warm_start"],
        "expected_cost_usd": expected,
        "perfect_foresight_cost_usd": foresight,
        "price_of_robustness_usd": expected - foresight,
        # how much of that difference solver gaps could explain (robust and single plans)
        "gaps_usd": float(np.mean([(p.summary.get("gap") or 0.0) * p.total_cost_usd for p in own]))
        + (result.gap or 0.0) * expected,
        "mean_forecast_inputs": mean,
        "mean_forecast_cost_usd": mean_plan.total_cost_usd,
        "mean_short_futures": len(short),
        "mean_short_share": len(short) / len(s),
        "mean_unresolved_futures": int((s["mean_status"] == "unresolved").sum()),
        "mean_short_qps_mean": float(short["mean_short_qps"].mean()) if len(short) else 0.0,
        "mean_short_qps_max": float(short["mean_short_qps"].max()) if len(short) else 0.0,
        "first_stage_servers": float(sum(robust_orders.values())),
        "mean_first_stage_servers": float(sum(mean_orders.values())),
        "build_seconds": round(info["build_seconds"], 3),
        "warm_start_seconds": round(info["warm_start_seconds"], 3),
        "solve_seconds": round(result.seconds, 3),
        "seconds": round(time.perf_counter() - start, 3),
    }
    if fresh:
        out = futures[futures["kind"] == "fresh"]
        summary |= {
            "fresh_robust_short_share": float(out["robust_short"].mean()),
            "fresh_expected_cost_usd": float(out["robust_cost_usd"].mean()),
            "fresh_mean_short_share": float(out["mean_short"].mean()),
        }
    return RobustResult(
        _orders_frame(fleet, robust_orders),
        _orders_frame(fleet, mean_orders),
        futures,
        summary,
        plans,
        {n: scenario_for(base, x, n) for n, x in zip(names, sample, strict=True)},
    )


def robust_report(result: RobustResult) -> str:
    """Return the robust plan's comparison with the mean forecast, in Markdown."""
    s = result.summary

    def usd(v: float) -> str:
        return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:,.0f} USD"

    gap = "n/a" if s["gap"] is None else f"{100 * s['gap']:.2f} %"
    lines = [
        "# Robust purchases\n",
        f"First stage: orders placed before quarter {s['decide_before_quarter']}, common to "
        f"{s['futures']} futures ({s['sampling']}). Program status {s['status']}, gap {gap}.\n",
        f"- Expected TCO with the robust orders: {usd(s['expected_cost_usd'])}",
        f"- Expected TCO with perfect foresight (each future planned alone): "
        f"{usd(s['perfect_foresight_cost_usd'])}",
        f"- What robustness costs: {usd(s['price_of_robustness_usd'])}"
        + (
            f" (within the plans' gaps, {usd(s['gaps_usd'])}: not significant)"
            if abs(s["price_of_robustness_usd"]) <= s["gaps_usd"]
            else ""
        ),
        f"- Mean forecast ({s['mean_forecast_inputs']}): its plan costs "
        f"{usd(s['mean_forecast_cost_usd'])}; its first-stage orders fall short in "
        f"{s['mean_short_futures']} of {s['futures']} futures "
        f"({100 * s['mean_short_share']:.0f} %), by at least {s['mean_short_qps_mean']:,.1f} "
        f"queries/s of demand on average where they do and {s['mean_short_qps_max']:,.1f} at "
        "most (LP bound; 0 where only whole replicas are missing)"
        + (
            f"; {s['mean_unresolved_futures']} futures unresolved (no recourse found, none "
            "ruled out)"
            if s["mean_unresolved_futures"]
            else ""
        ),
        f"- Tail: CVaR at alpha {s['cvar_level']:g} (mean of the worst "
        f"{100 * (1 - s['cvar_level']):.0f} % of futures) {usd(s['cvar_cost_usd'])} with the "
        f"robust orders, {usd(s['perfect_foresight_cvar_usd'])} with perfect foresight",
        f"- First-stage servers: robust {s['first_stage_servers']:,.0f}, mean forecast "
        f"{s['mean_first_stage_servers']:,.0f}",
    ]
    if s.get("fresh_futures"):
        lines.append(
            f"- On {s['fresh_futures']} fresh futures: the robust orders fall short in "
            f"{100 * s['fresh_robust_short_share']:.0f} % (expected TCO where they "
            f"hold: {usd(s['fresh_expected_cost_usd'])}), the mean forecast's in "
            f"{100 * s['fresh_mean_short_share']:.0f} %"
        )
    return "\n".join(lines) + "\n"


def record_robust(
    result: RobustResult,
    fleet: Fleet,
    store: str | None,
    *,
    name: str | None = None,
    note: str | None = None,
) -> list[int]:
    """Record the robust plan of every sampled future in the plan store; return their ids.

    One record per future (command ``robust``, scenario ``f<k>`` with its inputs), so each
    one exports to a plan folder that ``verify`` checks against its future; the robust
    orders, the futures table and the robust summary (``summary["robust"]``) go with each.
    """
    from planner.store.records import PlanStore

    robust = {k: v for k, v in result.summary.items() if k != "mean_forecast_inputs"}
    extra = {"robust_purchases": result.purchases, "futures": result.futures}
    ids = []
    with PlanStore(store) as opened:
        for future, plan in result.plans.items():
            plan.summary["robust"] = robust
            ids.append(
                opened.record(
                    fleet,
                    plan,
                    scenario=result.scenarios.get(future),
                    name=name,
                    note=note,
                    command="robust",
                    extra=extra,
                )
            )
    return ids


def write_robust(result: RobustResult, out_dir: str | Path) -> Path:
    """Write the robust plan's tables, summary.json and report.md atomically into ``out_dir``."""
    import json

    out = Path(out_dir)
    with staged_folder(out) as tmp:
        result.purchases.to_csv(tmp / "robust_purchases.csv", index=False)
        result.mean_purchases.to_csv(tmp / "mean_forecast_purchases.csv", index=False)
        result.futures.to_csv(tmp / "futures.csv", index=False)
        (tmp / "summary.json").write_text(
            json.dumps(result.summary, indent=2, default=str), encoding="utf-8"
        )
        (tmp / "report.md").write_text(robust_report(result), encoding="utf-8")
    return out
