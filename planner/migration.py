"""Migration-aware planning: plans that keep replicas where the current allocation runs them.

Moving a replica off its current (platform, region) costs ``move_cost_usd`` (per bucket
overridable); optionally at most ``max_moves_per_quarter`` replicas move in a quarter. The plan
says how many replicas of which models move from where to where in each quarter, and what the
stability costs in TCO against the unconstrained plan.

What counts as a move. For a model m in quarter t, with current replicas x0 and planned x per
(platform, region) cell, the removed replicas are R = sum (x0 - x)+ and the added ones
A = sum (x - x0)+. A move takes a replica from one cell to another, so moves = min(R, A):
replicas dropped because demand fell, or added because it grew, are not moves. The current
allocation of a quarter is the current plan's replicas in that quarter, or in its latest
quarter before it (a snapshot carries forward).

How it is solved. The move terms are added to the PuLP model (:func:`add_move_terms`) and the
model is solved by :func:`planner.solve.solve_model` (the PuLP path), not by the anytime path:
that path works on its own array model and rounding stages, which would each need the move
terms. min(R, A) is modelled exactly with one binary per (model, quarter):

    rem[c] >= x0[c] - x[c], 0 <= rem[c] <= x0[c]        (replicas removed from cell c)
    add[c] >= x[c] - x0[c], add[c] >= 0                (replicas added to cell c)
    moves[m,t] >= sum_c rem[c] - U_r * z[m,t]          (U_r = sum_c x0[c])
    moves[m,t] >= sum_c add[c] - U_a * (1 - z[m,t])    (U_a bounds sum_c x[c], below)
    sum_c x[c] <= U_a
    sum_m moves[m,t] <= max_moves_per_quarter          (optional)

and ``move_cost[m] * moves[m,t]`` is added to the objective. One more row holds for every
plan: moves[m,t] >= sum_c rem[c] - S, where S = max(0, sum_c x0[c] - L) and L is a lower bound
on the model's replicas in the quarter (demand over its best replica throughput, min
replicas). Where demand has not fallen below what runs now (S = 0) that row alone is exact,
moves = R, and the binary and its rows are left out. U_a is eight times the larger of
the current and the unconstrained plan's replicas of the model in the quarter (plus 8), far
above anything a cheaper plan holds; a plan that reaches it says so in its summary.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

import pandas as pd
import pulp
from pydantic import BaseModel, ConfigDict, Field

from planner.checks import check_fleet
from planner.errors import PlannerError, SolverError
from planner.fleet import Fleet
from planner.model import USD_SCALE, PlanningModel, build_model
from planner.results import Plan, extract_plan
from planner.scenarios import Scenario, apply_scenario
from planner.solve import SolveResult, make_solver, solve_model, solve_with_backend
from planner.verify import verify_plan

Cell = tuple[str, str, str, int]  # model, platform, region, quarter
ZERO = 1e-6
HEADROOM = 8.0  # U_a: this many times the larger of current and unconstrained replicas
MOVE_COLUMNS = [
    "quarter",
    "model_id",
    "bucket",
    "from_platform",
    "from_region",
    "to_platform",
    "to_region",
    "replicas",
    "move_cost_usd",
]


class MigrationError(PlannerError):
    """A migration-aware plan was asked for in a way that cannot work."""

    exit_code = 2


class MigrationOptions(BaseModel):
    """What moving a replica costs, and how many may move."""

    # allow_inf_nan=False: an infinite move cost made the objective inf
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    move_cost_usd: float = Field(0.0, ge=0, description="Cost of moving one replica (USD).")
    bucket_move_cost_usd: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, description="Per-bucket override of move_cost_usd (USD)."
    )
    max_moves_per_quarter: float | None = Field(
        None, ge=0, description="Hard cap on replicas moved per quarter (all models)."
    )

    def cost_of(self, bucket: str) -> float:
        """Return the cost of moving one replica of a model in ``bucket`` (USD)."""
        return float(self.bucket_move_cost_usd.get(bucket, self.move_cost_usd))


@dataclass
class StablePlan:
    """A migration-aware plan with its moves and the unconstrained plan it is measured against.

    Attributes:
        plan: The verified plan; ``plan.summary["migration"]`` holds :attr:`summary`.
        moves: One row per (quarter, model, from cell, to cell) with replicas moved.
        unconstrained: The plan made without move costs or caps.
        unconstrained_moves: The moves the unconstrained plan would make.
        summary: Totals: moves, their cost, TCO against the unconstrained plan.
    """

    plan: Plan
    moves: pd.DataFrame
    unconstrained: Plan
    unconstrained_moves: pd.DataFrame
    summary: dict = field(default_factory=dict)


@dataclass
class MoveTerms:
    """The variables :func:`add_move_terms` added, and the replica bounds it used."""

    moves: dict[tuple[str, int], pulp.LpVariable] = field(default_factory=dict)
    side: dict[tuple[str, int], pulp.LpVariable] = field(default_factory=dict)
    rem: dict[Cell, pulp.LpVariable] = field(default_factory=dict)
    add: dict[Cell, pulp.LpVariable] = field(default_factory=dict)
    bound: dict[tuple[str, int], float] = field(default_factory=dict)


def current_replicas(allocation: pd.DataFrame) -> pd.DataFrame:
    """Return a plan's replicas per (model_id, platform_id, region_id, quarter).

    Raises:
        MigrationError: The table lacks those columns (not an allocation table).
    """
    keys = ["model_id", "platform_id", "region_id", "quarter"]
    missing = [c for c in [*keys, "replicas"] if c not in allocation.columns]
    if missing:
        raise MigrationError(
            f"the current allocation has no column {', '.join(missing)}. Fix: "
            "pass a plan folder (allocation.csv) or a store id"
        )
    out = allocation.groupby(keys, as_index=False)["replicas"].sum()
    out["quarter"] = out["quarter"].astype(int)
    return out[out["replicas"] > ZERO].reset_index(drop=True)


def reference_allocation(current: pd.DataFrame, quarters: list[int]) -> dict[Cell, float]:
    """Return the current replicas each planned quarter is measured against.

    Quarter t uses the current plan's quarter t, or its latest quarter before t, or (when the
    current plan starts later) its first quarter.
    """
    have = sorted(int(q) for q in current["quarter"].unique())
    if not have:
        return {}
    by_q = {q: g for q, g in current.groupby("quarter")}
    out: dict[Cell, float] = {}
    for t in quarters:
        earlier = [q for q in have if q <= t]
        source = by_q[earlier[-1] if earlier else have[0]]
        for row in source.itertuples(index=False):
            out[(row.model_id, row.platform_id, row.region_id, t)] = float(row.replicas)
    return out


def add_move_terms(
    model: PlanningModel,
    reference: dict[Cell, float],
    options: MigrationOptions,
    replicas_hint: dict[tuple[str, int], float] | None = None,
) -> MoveTerms:
    """Add move variables, rows and costs to a built model (see the module docstring).

    Rows are named ``move_rem_<m>_<t>``, ``move_add_<m>_<t>``, ``move_floor_<m>_<t>``,
    ``move_out_<cell>``, ``move_in_<cell>``, ``move_bound_<m>_<t>`` and ``move_cap_<t>``.

    Args:
        model: A model from :func:`planner.model.build_model` (not yet solved).
        reference: Current replicas per (model, platform, region, quarter).
        options: Move costs and the optional cap.
        replicas_hint: Replicas per (model, quarter) of the unconstrained plan, for U_a.
    """
    buckets = model.fleet.models.set_index("model_id")["bucket"].to_dict()
    prob = model.prob
    terms = MoveTerms()
    floor = replica_floor(model)
    cells: dict[tuple[str, int], set[tuple[str, str]]] = {}
    for m, p, r, t in [*reference, *model.x]:
        cells.setdefault((m, t), set()).add((p, r))
    cost_terms: list[tuple[pulp.LpVariable, float]] = []
    for (m, t), where in sorted(cells.items()):
        current_total = sum(reference.get((m, p, r, t), 0.0) for p, r in where)
        planned = [model.x[(m, p, r, t)] for p, r in sorted(where) if (m, p, r, t) in model.x]
        if current_total <= ZERO or not planned or m not in buckets:
            continue  # nothing runs now, or nothing can run: no replica can move
        hint = (replicas_hint or {}).get((m, t), 0.0)
        bound = HEADROOM * max(current_total, hint) + HEADROOM
        shrink = max(0.0, current_total - floor.get((m, t), 0.0))
        rem_terms, add_terms, removed_fixed = [], [], 0.0
        for p, r in sorted(where):
            cell = (m, p, r, t)
            x0 = reference.get(cell, 0.0)
            x = model.x.get(cell)
            if x is None:
                removed_fixed += x0  # the cell no longer exists: its replicas leave it
                continue
            ids = f"{m}_{p}_{r}_{t}"
            add = prob.add_variable(f"move_add_{ids}", lowBound=0)
            model.add_row(
                "move_in",
                cell,
                pulp.LpAffineExpression([(x, 1.0), (add, -1.0)]),
                pulp.LpConstraintLE,
                x0,
            )
            add_terms.append((add, -1.0))
            terms.add[cell] = add
            if x0 > ZERO:
                rem = prob.add_variable(f"move_rem_{ids}", lowBound=0, upBound=x0)
                model.add_row(
                    "move_out",
                    cell,
                    pulp.LpAffineExpression([(x, 1.0), (rem, 1.0)]),
                    pulp.LpConstraintGE,
                    x0,
                )
                rem_terms.append((rem, -1.0))
                terms.rem[cell] = rem
        moves = prob.add_variable(f"moves_{m}_{t}", lowBound=0)
        # moves = R - (sum x0 - sum x)+ >= R - shrink, valid for every plan. Where the model
        # needs at least the replicas that run now (demand grows: shrink = 0) it is exact,
        # moves = R, and no binary is needed; elsewhere it tightens the LP of the binary rows.
        model.add_row(
            "move_floor",
            (m, t),
            pulp.LpAffineExpression([(moves, 1.0), *rem_terms]),
            pulp.LpConstraintGE,
            removed_fixed - shrink,
        )
        if shrink > ZERO:
            z = prob.add_variable(f"move_side_{m}_{t}", cat="Binary")
            model.add_row(
                "move_rem",
                (m, t),
                pulp.LpAffineExpression([(moves, 1.0), *rem_terms, (z, current_total)]),
                pulp.LpConstraintGE,
                removed_fixed,
            )
            model.add_row(
                "move_add",
                (m, t),
                pulp.LpAffineExpression([(moves, 1.0), *add_terms, (z, -bound)]),
                pulp.LpConstraintGE,
                -bound,
            )
            model.add_row(
                "move_bound",
                (m, t),
                pulp.LpAffineExpression([(x, 1.0) for x in planned]),
                pulp.LpConstraintLE,
                bound,
            )
            terms.side[(m, t)] = z
            terms.bound[(m, t)] = bound
        terms.moves[(m, t)] = moves
        cost = options.cost_of(buckets[m])
        if cost > 0:
            cost_terms.append((moves, cost * USD_SCALE))
    if options.max_moves_per_quarter is not None:
        by_quarter: dict[int, list[tuple[pulp.LpVariable, float]]] = {}
        for (_m, t), moves in terms.moves.items():
            by_quarter.setdefault(t, []).append((moves, 1.0))
        for t, row in sorted(by_quarter.items()):
            model.add_row(
                "move_cap",
                (t,),
                pulp.LpAffineExpression(row),
                pulp.LpConstraintLE,
                float(options.max_moves_per_quarter),
            )
    model.flush()
    if cost_terms:
        prob.setObjective(prob.objective + pulp.LpAffineExpression(cost_terms))
    return terms


def replica_floor(model: PlanningModel) -> dict[tuple[str, int], float]:
    """Return a lower bound on any plan's replicas per (model, quarter).

    Per region with demand: at least min_replicas, and at least peak / (the model's largest
    replica throughput x target utilisation), rounded up where replicas are whole.
    """
    fleet = model.fleet
    if model.demand.empty:
        return {}
    util = fleet.settings.target_utilization
    top = model.candidates.groupby("model_id")["replica_qps"].max() * util
    mins = fleet.models.set_index("model_id")["min_replicas"]
    whole = fleet.settings.allocation == "dedicated"
    out: dict[tuple[str, int], float] = {}
    for d in model.demand.itertuples(index=False):
        if d.model_id not in top.index or d.peak_qps <= 0:
            continue
        need = d.peak_qps / top[d.model_id]
        need = max(float(mins[d.model_id]), math.ceil(need - 1e-9) if whole else need)
        key = (d.model_id, int(d.quarter))
        out[key] = out.get(key, 0.0) + need
    return out


def plan_moves(
    reference: dict[Cell, float],
    allocation: pd.DataFrame,
    fleet: Fleet,
    options: MigrationOptions,
) -> pd.DataFrame:
    """Return the moves a plan makes against ``reference``, from the plan's table alone.

    Per (model, quarter), removed replicas are paired with added ones in key order, so each
    row says how many replicas go from which (platform, region) to which; their number is
    min(removed, added) (see the module docstring).
    """
    buckets = fleet.models.set_index("model_id")["bucket"].to_dict()
    planned: dict[Cell, float] = {}
    if not allocation.empty:
        for row in current_replicas(allocation).itertuples(index=False):
            planned[(row.model_id, row.platform_id, row.region_id, int(row.quarter))] = float(
                row.replicas
            )
    quarters = set(fleet.quarters)
    groups: dict[tuple[str, int], dict[tuple[str, str], float]] = {}
    for (m, p, r, t), x0 in reference.items():
        if t in quarters:
            groups.setdefault((m, t), {})[(p, r)] = -x0
    for (m, p, r, t), x in planned.items():
        cell = groups.setdefault((m, t), {})
        cell[(p, r)] = cell.get((p, r), 0.0) + x
    rows = []
    for (m, t), delta in sorted(groups.items()):
        gone = [[c, -d] for c, d in sorted(delta.items()) if d < -ZERO]
        new = [[c, d] for c, d in sorted(delta.items()) if d > ZERO]
        i = j = 0
        while i < len(gone) and j < len(new):
            n = min(gone[i][1], new[j][1])
            bucket = buckets.get(m, "")
            rows.append(
                (
                    t,
                    m,
                    bucket,
                    *gone[i][0],
                    *new[j][0],
                    n,
                    n * options.cost_of(bucket) if bucket else 0.0,
                )
            )
            gone[i][1] -= n
            new[j][1] -= n
            i += gone[i][1] <= ZERO
            j += new[j][1] <= ZERO
    return pd.DataFrame(rows, columns=MOVE_COLUMNS)


def make_stable_plan(
    fleet: Fleet,
    current: pd.DataFrame,
    options: MigrationOptions,
    scenario: Scenario | None = None,
    *,
    current_label: str = "current allocation",
    solver: str | None = None,
    time_limit_s: float | None = None,
    mip_gap: float | None = None,
    threads: int | None = None,
    make_plan: Callable[..., Plan] | None = None,
) -> StablePlan:
    """Plan ``fleet`` close to the ``current`` allocation, and report the moves.

    Args:
        fleet: The base fleet (never modified).
        current: The current plan's allocation table (model_id, platform_id, region_id,
            quarter, replicas).
        options: Move costs and the optional cap per quarter.
        scenario: What-if overrides applied first.
        current_label: Where the current allocation came from, for the summary.
        solver: ``highs`` (default) or ``cbc``, for both plans.
        time_limit_s: Time limit of each solve.
        mip_gap: Relative gap of each solve.
        threads: Solver threads.
        make_plan: The unconstrained planner (default :func:`planner.pipeline.make_plan`).

    Returns:
        The stable plan (verified), its moves, and the unconstrained plan with its moves.

    Raises:
        MigrationError: The objective is ``power`` (move costs are USD).
        SolverError: No stable plan within the limits, or the verifier rejects it.
    """
    if make_plan is None:
        from planner.pipeline import make_plan
    planned = fleet
    if scenario is not None:
        planned = apply_scenario(fleet, scenario)
        check_fleet(planned)
    if planned.settings.objective == "power" and (
        options.move_cost_usd > 0 or options.bucket_move_cost_usd
    ):
        raise MigrationError(
            "move costs are in USD and the objective is power (kW). Fix: set "
            "objective: tco (or capex), or use only --max-moves"
        )
    opts = {"solver": solver, "time_limit_s": time_limit_s, "mip_gap": mip_gap, "threads": threads}
    free = make_plan(fleet, scenario, **opts)
    reference = reference_allocation(current_replicas(current), planned.quarters)
    hint = current_replicas(free.allocation).groupby(["model_id", "quarter"])["replicas"].sum()
    model = build_model(planned)
    terms = add_move_terms(model, reference, options, hint.to_dict())
    start = start_values(model, terms, reference, free)
    kept = keep_current_start(model, reference, opts)
    if kept is not None and _objective(model, kept) < _objective(model, start):
        start = kept
    result = solve_from(model, start, **opts)
    if not result.has_solution:
        raise SolverError(
            f"no plan that respects the move cap within the limits "
            f"({result.status}). Fix: raise --max-moves or the time limit"
        )
    plan = extract_plan(model, result)
    moves = plan_moves(reference, plan.allocation, planned, options)
    free_moves = plan_moves(reference, free.allocation, planned, options)
    within_cap = (
        options.max_moves_per_quarter is None
        or free_moves.empty
        or (
            free_moves.groupby("quarter")["replicas"].sum().max()
            <= options.max_moves_per_quarter + ZERO
        )
    )
    stable_total = plan.total_cost_usd + moves["move_cost_usd"].sum()
    free_total = free.total_cost_usd + free_moves["move_cost_usd"].sum()
    source = "stable"
    if within_cap and free_total < stable_total - max(1.0, 1e-6 * free_total):
        # The time-limited stable solve stopped above a plan we already hold.
        plan, moves, source = _copy(free), free_moves, "unconstrained (cheaper with moves)"
    plan.summary["scenario"] = scenario.name if scenario is not None else None
    plan.summary["warnings"] = free.summary.get("warnings", [])  # same fleet, same warnings
    check = verify_plan(planned, plan)
    plan.summary["verified"] = check.ok
    if not check.ok:
        raise SolverError(f"the migration-aware plan failed independent verification:\n{check}")
    summary = _migration_summary(plan, moves, free, free_moves, options, current_label, source)
    planned_x = current_replicas(plan.allocation).groupby(["model_id", "quarter"])["replicas"]
    at_bound = [
        f"{m} Q{t}"
        for (m, t), n in planned_x.sum().items()
        if n >= terms.bound.get((m, t), float("inf")) - 0.5
    ]
    if at_bound:
        summary["replica_bound_reached"] = at_bound
    plan.summary["migration"] = summary
    return StablePlan(plan, moves, free, free_moves, summary)


def start_values(
    model: PlanningModel, terms: MoveTerms, reference: dict[Cell, float], plan: Plan
) -> dict[pulp.LpVariable, float]:
    """Return ``plan`` (the unconstrained one) as values of every variable of the model.

    Its replicas, purchases and in-service servers, with the move variables it implies
    (moves = min(removed, added)), so HiGHS starts from a plan at least as good as it.
    """
    values: dict[pulp.LpVariable, float] = {}
    x = {
        (a.model_id, a.platform_id, a.region_id, int(a.quarter)): float(a.replicas)
        for a in plan.allocation.itertuples(index=False)
    }
    for key, var in model.x.items():
        values[var] = x.get(key, 0.0)
    bought = {
        (b.platform_id, b.region_id, int(b.order_quarter)): float(b.servers)
        for b in plan.purchases.itertuples(index=False)
    }
    for key, var in model.b.items():
        values[var] = bought.get(key, 0.0)
    serving = {
        (f.platform_id, f.region_id, int(f.quarter)): float(f.in_service_servers)
        for f in plan.fleet.itertuples(index=False)
    }
    for key, var in model.y.items():
        values[var] = serving.get(key, 0.0)
    removed: dict[tuple[str, int], float] = {}
    added: dict[tuple[str, int], float] = {}
    for (m, p, r, t), var in terms.rem.items():
        values[var] = max(0.0, reference.get((m, p, r, t), 0.0) - x.get((m, p, r, t), 0.0))
    for (m, p, r, t), var in terms.add.items():
        values[var] = max(0.0, x.get((m, p, r, t), 0.0) - reference.get((m, p, r, t), 0.0))
    for (m, p, r, t), x0 in reference.items():
        if (m, t) in terms.moves:
            delta = x.get((m, p, r, t), 0.0) - x0
            removed[(m, t)] = removed.get((m, t), 0.0) + max(0.0, -delta)
    for (m, p, r, t), n in x.items():
        if (m, t) in terms.moves:
            delta = n - reference.get((m, p, r, t), 0.0)
            added[(m, t)] = added.get((m, t), 0.0) + max(0.0, delta)
    for key, var in terms.moves.items():
        out, into = removed.get(key, 0.0), added.get(key, 0.0)
        values[var] = min(out, into)
        if key in terms.side:
            values[terms.side[key]] = 1.0 if into <= out else 0.0
    return values


def keep_current_start(
    model: PlanningModel, reference: dict[Cell, float], opts: dict
) -> dict[pulp.LpVariable, float] | None:
    """Return a plan that keeps the current replicas where they run, or None if none fits.

    The model is solved with x >= the current replicas (bounds restored afterwards) in
    quarters 0..k, for the largest k that is feasible (an infeasible try fails in HiGHS'
    presolve, in well under a second), with half the time limit. It moves nothing in those
    quarters; where the move cost is high it is a far better start than the unconstrained
    plan, which HiGHS alone does not leave within a minute on the default case.
    """
    limit = opts.get("time_limit_s")
    limit = model.fleet.settings.solver.time_limit_s if limit is None else limit
    for last in sorted({t for (_m, _p, _r, t) in reference}, reverse=True):
        raised = []
        for cell, var in model.x.items():
            x0 = reference.get(cell, 0.0)
            if x0 > ZERO and cell[3] <= last:
                raised.append((var, var.lowBound))
                var.lowBound = x0
        try:
            result = solve_from(model, None, **{**opts, "time_limit_s": max(1.0, limit / 2)})
        finally:
            for var, low in raised:
                var.lowBound = low
        if result.has_solution:
            return {v: (v.varValue or 0.0) for v in model.prob.variables()}
        if result.status != "infeasible":
            return None  # no plan within the time: do not spend more on the start
    return None


def _objective(model: PlanningModel, values: dict[pulp.LpVariable, float]) -> float:
    """Return the model's objective at ``values`` (missing variables count as 0)."""
    objective = model.prob.objective
    return sum(c * values.get(v, 0.0) for v, c in objective.items()) + objective.constant


def solve_from(
    model: PlanningModel,
    start: dict[pulp.LpVariable, float] | None,
    solver: str | None = None,
    time_limit_s: float | None = None,
    mip_gap: float | None = None,
    threads: int | None = None,
) -> SolveResult:
    """Solve the model with HiGHS starting from ``start`` (CBC or no start: cold).

    PuLP's in-process HiGHS takes no start, so the start is handed to highspy
    (``setSolution``) between PuLP's model build and its run; status, bound and gap are read
    as :func:`planner.solve.solve_model` reads them.
    """
    settings = model.fleet.settings.solver
    name = solver or settings.name
    if name != "highs" or start is None:
        return solve_model(model, name, time_limit_s, mip_gap, threads)
    limit = time_limit_s if time_limit_s is not None else settings.time_limit_s
    gap = mip_gap if mip_gap is not None else settings.mip_gap
    n_threads = threads or settings.threads
    backend = make_solver("highs", limit, gap, n_threads)
    backend.__class__ = _started(type(backend), start)
    return solve_with_backend(model.prob, backend, limit, gap, n_threads)


def _started(base: type, start: dict[pulp.LpVariable, float]) -> type:
    """Return a subclass of PuLP's HiGHS solver class that sets ``start`` before running."""

    class Started(base):
        def callSolver(self, lp):  # noqa: N802 (PuLP's method name)
            import highspy

            values = [0.0] * lp.solverModel.getNumCol()
            for var, value in start.items():
                values[var.index] = value
            solution = highspy.HighsSolution()
            solution.col_value = values
            solution.value_valid = True
            lp.solverModel.setSolution(solution)
            super().callSolver(lp)

    return Started


def _copy(plan: Plan) -> Plan:
    return Plan(
        **{n: getattr(plan, n).copy() for n in Plan.TABLES},
        summary=dict(plan.summary),
        shortfalls=plan.shortfalls,
    )


def _migration_summary(
    plan: Plan,
    moves: pd.DataFrame,
    free: Plan,
    free_moves: pd.DataFrame,
    options: MigrationOptions,
    current_label: str,
    source: str,
) -> dict:
    """Return the migration part of a stable plan's summary (USD, replicas)."""
    by_quarter = moves.groupby("quarter")["replicas"].sum() if not moves.empty else pd.Series()
    return {
        "current": current_label,
        "move_cost_usd": options.move_cost_usd,
        "bucket_move_cost_usd": dict(options.bucket_move_cost_usd),
        "max_moves_per_quarter": options.max_moves_per_quarter,
        "source": source,
        "moves": float(moves["replicas"].sum()),
        "moves_by_quarter": {int(q): float(n) for q, n in by_quarter.items()},
        "moved_models": sorted(moves["model_id"].unique().tolist()),
        "move_cost_total_usd": float(moves["move_cost_usd"].sum()),
        "tco_usd": plan.total_cost_usd,
        "unconstrained_tco_usd": free.total_cost_usd,
        "unconstrained_moves": float(free_moves["replicas"].sum()),
        "unconstrained_move_cost_usd": float(free_moves["move_cost_usd"].sum()),
        "stability_cost_usd": plan.total_cost_usd - free.total_cost_usd,
        "kept_current": bool(moves.empty),
    }


def moves_report(stable: StablePlan, limit: int = 20) -> list[str]:
    """Return the moves report in words: the totals, then the ``limit`` largest moves."""
    s = stable.summary
    lines = [
        f"Moves against {s['current']}: {s['moves']:,.0f} replicas"
        + (f" of {', '.join(s['moved_models'])}" if s["moved_models"] else "")
        + f", move cost {s['move_cost_total_usd']:,.0f} USD"
        + (" (the current allocation is kept)" if s["kept_current"] else ""),
        f"Stability costs {s['stability_cost_usd']:,.0f} USD of TCO: {s['tco_usd']:,.0f} USD "
        f"against {s['unconstrained_tco_usd']:,.0f} USD unconstrained, which would move "
        f"{s['unconstrained_moves']:,.0f} replicas for {s['unconstrained_move_cost_usd']:,.0f} "
        "USD",
    ]
    if s.get("source", "stable") != "stable":
        lines.append(f"(the plan is the {s['source']}: the move-aware solve stopped above it)")
    moves = stable.moves.sort_values(["replicas", "quarter"], ascending=[False, True])
    for m in moves.head(limit).sort_values(["quarter", "model_id"]).itertuples(index=False):
        lines.append(
            f"  Q{m.quarter} {m.model_id}: {m.replicas:,.0f} replicas "
            f"{m.from_platform}/{m.from_region} -> {m.to_platform}/{m.to_region}"
        )
    if len(moves) > limit:
        lines.append(f"  ... and {len(moves) - limit} smaller moves (moves.csv lists them all)")
    return lines
