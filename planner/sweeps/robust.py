"""Robust purchases: one set of orders placed now that holds up in every sampled future.

A two-stage program (deterministic equivalent of a sample-average approximation):

- the first stage are the orders placed before ``decide_before_quarter``: one integer
  ``z[p,r,t]`` per (platform, region, order quarter), shared by every future;
- each future k is the ordinary planning model of its scenario's fleet,
  :func:`planner.model.build_model` unchanged (its variables renamed ``f<k>_...``), with
  ``b_k[p,r,t] = z[p,r,t]`` for first-stage orders (``z = 0`` where some future cannot place
  the order) and free recourse: allocations, in-service servers and later orders;
- the objective is the expected objective, ``sum_k objective_k / K`` (the case's objective,
  TCO by default).

With more scenarios than ``max_futures`` the program uses ``max_futures`` of them, drawn
with the sweep's seed, and the robust orders are then checked on up to ``max_futures``
unused ("fresh") scenarios: how often they fall short there and what they cost.

Each future's own plan (perfect foresight, :func:`planner.pipeline.make_plan`) gives the
warm start (first-stage orders: their element-wise maximum) and the expected cost with
perfect information. The mean forecast's plan is compared: its first-stage orders are fixed
in every future and an elastic re-solve says by how much demand falls short.
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
from planner.model import PlanningModel, build_model
from planner.output import staged_folder
from planner.pipeline import make_plan
from planner.results import Plan, extract_plan
from planner.scenarios import Scenario, apply_scenario
from planner.solve import HIGHS_OPTIONS, SolveResult, quiet_stdout, solve_model
from planner.sweeps.spec import SweepSpec, Value, points, scenario_for
from planner.verify import verify_plan

SHORT_TOL = 1e-6
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
    """

    purchases: pd.DataFrame
    mean_purchases: pd.DataFrame
    futures: pd.DataFrame
    summary: dict
    plans: dict[str, Plan] = field(default_factory=dict)


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
    fresh = [every[i] for i in sorted(order[n:2 * n])]
    return sample, fresh, (f"sample-average approximation: {n} of the sweep's {len(every)} "
                           f"scenarios (seed {spec.seed}); {len(fresh)} fresh ones check it")


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
    return {(r.platform_id, r.region_id, int(r.order_quarter)): float(r.servers)
            for r in p.itertuples(index=False)}


def _orders_frame(fleet: Fleet, orders: dict[Key, float]) -> pd.DataFrame:
    capex = fleet.platforms.set_index("platform_id")["capex_usd"]
    rows = [(p, r, t, n, n * float(capex[p])) for (p, r, t), n in sorted(orders.items()) if n > 0]
    return pd.DataFrame(rows, columns=["platform_id", "region_id", "order_quarter", "servers",
                                       "capex_usd"])


def _set_start(model: PlanningModel, plan: Plan, first: dict[Key, float], before: int) -> None:
    """Give ``model``'s variables the values of ``plan``, first-stage orders from ``first``."""
    replicas = plan.allocation.set_index(["model_id", "platform_id", "region_id", "quarter"])
    replicas = replicas["replicas"].to_dict()
    bought = plan.purchases.set_index(["platform_id", "region_id", "order_quarter"])["servers"]
    bought = bought.to_dict()
    served = plan.fleet.set_index(["platform_id", "region_id", "quarter"])["in_service_servers"]
    served = served.to_dict()
    for k, v in model.x.items():
        v.setInitialValue(float(replicas.get(k, 0.0)))
    for k, v in model.b.items():
        v.setInitialValue(float(first.get(k, 0.0) if k[2] < before else bought.get(k, 0.0)))
    for k, v in model.y.items():
        v.setInitialValue(float(served.get(k, 0.0)))


def _solve(prob: pulp.LpProblem, time_limit_s: float, mip_gap: float, threads: int
           ) -> SolveResult:
    """Solve the deterministic equivalent with HiGHS (warm-started); strict about status."""
    solver = _WarmHiGHS(msg=False, timeLimit=time_limit_s, gapRel=mip_gap, threads=threads,
                        **HIGHS_OPTIONS)
    start = time.perf_counter()
    try:
        with quiet_stdout():
            prob.solve(solver)
    except pulp.PulpSolverError as exc:
        raise SolverError(f"highs failed on the robust program: {exc}") from exc
    seconds = time.perf_counter() - start
    if prob.status == pulp.LpStatusInfeasible or prob.sol_status == pulp.LpSolutionInfeasible:
        return SolveResult("infeasible", "highs", None, None, None, seconds)
    if prob.sol_status not in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        return SolveResult("no_solution", "highs", None, None, None, seconds)
    objective = float(pulp.value(prob.objective))
    bound = getattr(prob.solverModel.getInfo(), "mip_dual_bound", None)
    bound = float(bound) if bound is not None and math.isfinite(bound) else None
    gap = None if bound is None else abs(objective - bound) / max(abs(objective), 1e-9)
    proven = prob.sol_status == pulp.LpSolutionOptimal and (gap is None or gap <= mip_gap + 1e-9)
    return SolveResult("optimal" if proven else "feasible", "highs", objective, bound, gap,
                       seconds)


def _two_stage(futures: list[Fleet], own: list[Plan], before: int, options
               ) -> tuple[list[PlanningModel], dict[Key, pulp.LpVariable], SolveResult, float]:
    """Build and solve the deterministic equivalent; return models, first stage, result."""
    start = time.perf_counter()
    prob = pulp.LpProblem("robust", pulp.LpMinimize)
    models, objective = [], []
    for k, fleet in enumerate(futures):
        model = build_model(fleet)
        for v in model.variables:
            v.name = f"f{k}_{v.name}"
        prob.extend({f"f{k}_{name}": model.prob.get_constraint_by_name(name)
                     for name in model.rows})
        objective += [(v, c / len(futures)) for v, c in model.prob.objective.items()]
        models.append(model)
    keys = sorted({k for m in models for k in m.b if k[2] < before})
    upper = {k: min((m.b[k].upBound for m in models if k in m.b and m.b[k].upBound is not None),
                    default=None) for k in keys}
    first = {k: prob.add_variable(f"z_{k[0]}_{k[1]}_{k[2]}", lowBound=0, upBound=upper[k],
                                  cat="Integer") for k in keys}
    rows = {}
    for k, z in first.items():
        everywhere = all(k in m.b for m in models)
        for i, m in enumerate(models):
            if k in m.b:
                rows[f"first_{i}_{'_'.join(map(str, k))}"] = pulp.LpConstraint(
                    pulp.LpAffineExpression([(m.b[k], 1.0), (z, -1.0)]), pulp.LpConstraintEQ,
                    rhs=0.0)
        if not everywhere:  # an order that some future cannot take is not placed now
            z.upBound = 0
    prob.extend(rows)
    prob.setObjective(pulp.LpAffineExpression(objective))
    # warm start: every future's own plan, first-stage orders raised to their maximum
    start_first = {k: max(_orders(p, before).get(k, 0.0) for p in own) for k in keys}
    start_first = {k: (0.0 if first[k].upBound == 0 else v) for k, v in start_first.items()}
    for model, plan in zip(models, own, strict=True):
        _set_start(model, plan, start_first, before)
    for k, z in first.items():
        z.setInitialValue(start_first[k])
    build_s = time.perf_counter() - start
    result = _solve(prob, options.time_limit_s, options.mip_gap, 1)
    return models, first, result, build_s


def shortfall_with_orders(fleet: Fleet, orders: dict[Key, float], before: int,
                          time_limit_s: float, mip_gap: float) -> tuple[float, float, Plan | None]:
    """Return (demand short in queries/s, cost USD, plan) with first-stage ``orders`` fixed.

    An elastic re-solve (penalised slack on demand, DR, power, space, supply and minimum
    replicas) with every order before ``before`` fixed to ``orders`` (0 where not listed):
    the demand and DR slack it needs is the shortfall; orders the future cannot place are
    dropped. The cost is the plan's TCO (recourse included) when nothing falls short.
    """
    model = build_model(fleet, elastic=True)
    for k, v in model.b.items():
        if k[2] < before:
            n = orders.get(k, 0.0)
            if v.upBound is not None:
                n = min(n, v.upBound)
            v.lowBound = v.upBound = n
    result = solve_model(model, solver="highs", time_limit_s=time_limit_s, mip_gap=mip_gap)
    if not result.has_solution:
        return math.nan, math.nan, None
    plan = extract_plan(model, result)
    short = plan.shortfalls
    demand = float(short.loc[short["constraint"].isin(["demand", "dr"]), "amount"].sum()) \
        if not short.empty else 0.0
    other = float(short.loc[~short["constraint"].isin(["demand", "dr"]), "amount"].sum()) \
        if not short.empty else 0.0
    cost = plan.total_cost_usd if demand <= SHORT_TOL and other <= SHORT_TOL else math.nan
    return demand, cost, plan


def robust_plan(fleet: Fleet, spec: SweepSpec, base: Scenario | None = None,
                folder: str | Path = ".") -> RobustResult:
    """Choose first-stage orders that serve every sampled future at least expected cost.

    Args:
        fleet: The case's fleet (never modified).
        spec: The sweep whose scenarios are the futures; ``spec.robust`` holds the options
            (``decide_before_quarter``, ``max_futures``, time limit and gap of the program).
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
            own.append(make_plan(f, **solve_opts))
        except InfeasiblePlanError as exc:
            raise InfeasiblePlanError(f"future {name} ({f.name}) has no plan even on its own: "
                                      f"{exc}", exc.explanation) from None
    models, first, result, build_s = _two_stage(fleets, own, before, opts)
    if result.status == "infeasible":
        raise InfeasiblePlanError("no common first-stage orders serve every sampled future "
                                  f"(orders before quarter {before}); move the quarter earlier "
                                  "or narrow the sweep")
    if not result.has_solution:
        raise SolverError(f"no robust plan within {opts.time_limit_s:g} s; raise "
                          "robust.time_limit_s or lower robust.max_futures")
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
    mean_fleet = _fleet_of(fleet, base, mean, "mean_forecast")
    mean_plan = make_plan(mean_fleet, **solve_opts)
    mean_orders = _orders(mean_plan, before)

    rows = []
    for kind, items in (("sample", sample), ("fresh", fresh)):
        for k, inputs in enumerate(items):
            name = f"f{k}" if kind == "sample" else f"fresh{k}"
            f = fleets[k] if kind == "sample" else _fleet_of(fleet, base, inputs, name)
            mshort, mcost, _ = shortfall_with_orders(f, mean_orders, before, opts.time_limit_s,
                                                     opts.mip_gap)
            row = {"future": name, "kind": kind, **{f"in.{i}": v for i, v in inputs.items()},
                   "mean_short_qps": mshort, "mean_short": bool(mshort > SHORT_TOL),
                   "mean_cost_usd": mcost}
            if kind == "sample":
                row |= {"own_cost_usd": own[k].total_cost_usd,
                        "robust_cost_usd": plans[name].total_cost_usd, "robust_short_qps": 0.0}
            else:
                rshort, rcost, _ = shortfall_with_orders(f, robust_orders, before,
                                                         opts.time_limit_s, opts.mip_gap)
                row |= {"own_cost_usd": math.nan, "robust_cost_usd": rcost,
                        "robust_short_qps": rshort}
            rows.append(row)
    futures = pd.DataFrame(rows)
    futures["robust_short"] = futures["robust_short_qps"] > SHORT_TOL
    s = futures[futures["kind"] == "sample"]
    expected = float(s["robust_cost_usd"].mean())
    foresight = float(s["own_cost_usd"].mean())
    summary = {
        "status": result.status, "gap": result.gap, "objective_value": result.objective,
        "best_bound": result.bound, "futures": len(sample), "fresh_futures": len(fresh),
        "sampling": note, "decide_before_quarter": before,
        "expected_cost_usd": expected, "perfect_foresight_cost_usd": foresight,
        "price_of_robustness_usd": expected - foresight,
        "mean_forecast_inputs": mean, "mean_forecast_cost_usd": mean_plan.total_cost_usd,
        "mean_short_futures": int(s["mean_short"].sum()),
        "mean_short_share": float(s["mean_short"].mean()),
        "mean_short_qps_mean": float(s["mean_short_qps"].mean()),
        "mean_short_qps_max": float(s["mean_short_qps"].max()),
        "first_stage_servers": float(sum(robust_orders.values())),
        "mean_first_stage_servers": float(sum(mean_orders.values())),
        "build_seconds": round(build_s, 3), "solve_seconds": round(result.seconds, 3),
        "seconds": round(time.perf_counter() - start, 3),
    }
    if fresh:
        out = futures[futures["kind"] == "fresh"]
        summary |= {"fresh_robust_short_share": float(out["robust_short"].mean()),
                    "fresh_expected_cost_usd": float(out["robust_cost_usd"].mean()),
                    "fresh_mean_short_share": float(out["mean_short"].mean())}
    return RobustResult(_orders_frame(fleet, robust_orders), _orders_frame(fleet, mean_orders),
                        futures, summary, plans)


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
        f"- What robustness costs: {usd(s['price_of_robustness_usd'])}",
        f"- Mean forecast ({s['mean_forecast_inputs']}): its plan costs "
        f"{usd(s['mean_forecast_cost_usd'])}; its first-stage orders fall short in "
        f"{s['mean_short_futures']} of {s['futures']} futures "
        f"({100 * s['mean_short_share']:.0f} %), by {s['mean_short_qps_mean']:,.1f} queries/s "
        f"of demand on average and {s['mean_short_qps_max']:,.1f} at most",
        f"- First-stage servers: robust {s['first_stage_servers']:,.0f}, mean forecast "
        f"{s['mean_first_stage_servers']:,.0f}",
    ]
    if s.get("fresh_futures"):
        lines.append(f"- On {s['fresh_futures']} fresh futures: the robust orders fall short in "
                     f"{100 * s['fresh_robust_short_share']:.0f} % (expected TCO where they "
                     f"hold: {usd(s['fresh_expected_cost_usd'])}), the mean forecast's in "
                     f"{100 * s['fresh_mean_short_share']:.0f} %")
    return "\n".join(lines) + "\n"


def write_robust(result: RobustResult, out_dir: str | Path) -> Path:
    """Write the robust plan's tables, summary.json and report.md atomically into ``out_dir``."""
    import json

    out = Path(out_dir)
    with staged_folder(out) as tmp:
        result.purchases.to_csv(tmp / "robust_purchases.csv", index=False)
        result.mean_purchases.to_csv(tmp / "mean_forecast_purchases.csv", index=False)
        result.futures.to_csv(tmp / "futures.csv", index=False)
        (tmp / "summary.json").write_text(json.dumps(result.summary, indent=2, default=str),
                                          encoding="utf-8")
        (tmp / "report.md").write_text(robust_report(result), encoding="utf-8")
    return out
