"""Why the plan looks the way it does: shadow prices of a solved model, in user units.

An integer program has no duals, so :func:`shadow_prices` re-solves a linear program around
the integer plan and reads HiGHS' row duals. Two ways to build that LP:

* ``fix="unbought"`` (default): every purchase the plan does not make stays at zero, every
  other integer variable becomes continuous. The LP keeps the plan's purchase pattern
  (platforms, regions, order quarters) and treats servers as divisible, so a price is the cost
  rate of one more unit at the margin, e.g. 12,000 USD / 250 qps = 48 USD per extra qps when
  the marginal server is an ASIC. It is not the step cost of the next whole server.
* ``fix="all"``: every integer variable is fixed at its rounded value (lower = upper bound)
  and made continuous. Only the continuous variables can move, so most prices are zero: the
  plan's servers are all fixed. Kept for completeness.

Sign convention: ``shadow_price`` is d(objective)/d(limit), the change of the objective in USD
(kW-quarters under the power objective) when the row's right-hand side grows by one unit in
user units. Requirements (demand, DR, minimum replicas) have prices >= 0: one more qps costs
money. Limits (power, space, supply, capacity, installed servers) have prices <= 0: one more
kW saves money.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Literal

import pandas as pd
import pulp

from planner.errors import SolverError
from planner.model import USD_SCALE, PlanningModel
from planner.parameters import serves_in
from planner.results import row_key_columns
from planner.settings import Settings
from planner.solve import make_solver, quiet_stdout

FixMode = Literal["unbought", "all"]
ZERO_PRICE = 1e-6  # in user units: below this a price is solver noise
BINDING_TOL = 1e-6  # in model units (rows are scaled to O(1))
BINDING_FAMILIES = ("power", "supply", "space", "dr", "available", "capacity", "minrep", "demand")
COLUMNS = [
    "constraint",
    "family",
    "model_id",
    "platform_id",
    "region_id",
    "quarter",
    "limit",
    "slack",
    "binding",
    "shadow_price",
    "unit",
    "description",
]

NOTES = {
    "unbought": "Marginal values around the fixed integer plan: purchases the plan does not "
    "make are fixed at zero, all other integer decisions are relaxed to continuous "
    "and the LP is re-solved. A shadow price is the change of the objective per "
    "extra unit of a row's limit as if servers were divisible (a cost rate at the "
    "margin, not the step cost of the next whole server); slack and binding "
    "describe the integer plan itself. Purchase rows give the reduced cost of "
    "buying one more server and running it at its best use (positive: buying "
    "raises the objective, which is why the plan does not).",
    "all": "Marginal values around the fixed integer plan: every integer decision is fixed at "
    "its value and only continuous variables may move, so most prices are zero. "
    "Slack and binding describe the integer plan itself.",
}

_UNIT = {
    "demand": "qps",
    "dr": "qps",
    "minrep": "replica",
    "capacity": "server",
    "available": "server",
    "power": "kW",
    "space": "RU",
    "supply": "server",
}

_HEADROOM_UNIT = {
    "minrep": "replicas",
    "capacity": "servers",
    "available": "servers",
    "supply": "servers",
}


def shadow_prices(model: PlanningModel, fix: FixMode = "unbought") -> pd.DataFrame:
    """Return the shadow price of every row of a solved model, and purchase reduced costs.

    The model must hold a solution (after :func:`planner.solve.solve_model`). It is left as it
    was: bounds, categories and variable values are restored afterwards.

    Args:
        model: A built and solved model.
        fix: ``unbought`` (keep the plan's purchase pattern, relax sizes) or ``all`` (fix every
            integer variable); see the module docstring.

    Returns:
        One row per constraint plus one per purchase variable (family ``purchase``), with the
        columns of :data:`COLUMNS`. ``attrs["note"]`` says what the numbers mean.

    Raises:
        ValueError: When the model has not been solved or ``fix`` is unknown.
        SolverError: When the re-solved LP is not optimal.
    """
    if fix not in NOTES:
        raise ValueError(f"fix must be one of {', '.join(NOTES)}, not '{fix}'")
    if any(v.varValue is None for v in model.variables):
        raise ValueError("the model has no solution: call solve_model first")
    plan_slack = {name: _row_slack(model.prob.get_constraint_by_name(name)) for name in model.rows}
    with _relaxed(model, fix):
        _solve_lp(model)
        duals = {
            name: float(model.prob.get_constraint_by_name(name).pi or 0.0) for name in model.rows
        }
    rows = _row_table(model, duals, plan_slack)
    purchases = _purchase_table(model, duals)
    frame = pd.DataFrame([*rows, *purchases], columns=COLUMNS)
    frame["quarter"] = frame["quarter"].astype("Int64")
    frame.attrs["note"] = NOTES[fix]
    frame.attrs["objective_unit"] = _objective_unit(model.fleet.settings)[1]
    return frame


def binding_constraints(
    model: PlanningModel, top: int = 20, prices: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Return the rows at their limit in the plan, ranked by the size of their shadow price.

    Args:
        model: A built and solved model.
        top: How many rows to return.
        prices: The result of :func:`shadow_prices`, to avoid re-solving; computed if absent.

    Returns:
        Rows of :func:`shadow_prices` with ``binding`` True in the families of
        :data:`BINDING_FAMILIES`, largest ``|shadow_price|`` first (units differ by family).
    """
    frame = shadow_prices(model) if prices is None else prices
    bound = frame[frame["binding"] & frame["family"].isin(BINDING_FAMILIES)]
    order = bound["shadow_price"].abs().sort_values(ascending=False, kind="stable").index
    out = bound.loc[order].head(top).reset_index(drop=True)
    out.attrs = dict(frame.attrs)
    return out


@contextlib.contextmanager
def _relaxed(model: PlanningModel, fix: FixMode) -> Iterator[None]:
    """Turn the model into the LP of ``fix`` for the duration of the block, then restore it."""
    prob = model.prob
    saved_vars = [(v, v.lowBound, v.upBound, v.cat, v.varValue, v.dj) for v in model.variables]
    saved_rows = [(c, c.pi, c.slack) for c in prob._constraints.values()]
    saved_prob = (prob.status, prob.sol_status, getattr(prob, "solverModel", None), prob.solver)
    unbought = {id(v) for v in model.b.values() if round(v.varValue) == 0}
    try:
        for v in model.variables:
            if v.cat != pulp.LpInteger:
                continue
            if fix == "all" or id(v) in unbought:
                v.lowBound = v.upBound = float(round(v.varValue))
            v.cat = pulp.LpContinuous
        yield
    finally:
        for v, low, up, cat, value, dj in saved_vars:
            v.lowBound, v.upBound, v.cat, v.varValue, v.dj = low, up, cat, value, dj
        for c, pi, slack in saved_rows:
            c.pi, c.slack = pi, slack
        prob.status, prob.sol_status, prob.solverModel, prob.solver = saved_prob


def _solve_lp(model: PlanningModel) -> None:
    """Solve the (relaxed) model as an LP with HiGHS; duals land on the constraints."""
    with quiet_stdout():
        opts = model.fleet.settings.solver
        model.prob.solve(make_solver("highs", opts.time_limit_s, 0.0, opts.threads, mip=False))
    if model.prob.sol_status != pulp.LpSolutionOptimal:
        raise SolverError(
            "the LP around the integer plan did not solve to optimality "
            f"({pulp.LpStatus[model.prob.status]}); no shadow prices"
        )


def _row_slack(constraint: pulp.LpConstraint) -> float:
    """Return how far a row is from its limit at the current variable values (model units)."""
    value = constraint.value() or 0.0  # expression minus right-hand side
    return value if constraint.sense == pulp.LpConstraintGE else -value


def _objective_unit(settings: Settings) -> tuple[float, str]:
    """Return (factor from model objective units to user units, unit name)."""
    if settings.objective == "power":
        return 1.0, "kW-quarters"
    return 1.0 / USD_SCALE, "USD"


def _rhs_factor(model: PlanningModel, name: str) -> float:
    """Return user units of a row's right-hand side per model unit.

    See :data:`planner.model.PlanningModel.rhs_scale`: a dual in user units is
    ``pi * objective_factor / rhs_scale``.
    """
    return model.rhs_scale[name]


def _row_table(
    model: PlanningModel, duals: dict[str, float], plan_slack: dict[str, float]
) -> list[tuple]:
    """Return one output row per constraint, in user units."""
    settings = model.fleet.settings
    obj_factor, obj_unit = _objective_unit(settings)
    out = []
    for name, (family, key) in model.rows.items():
        constraint = model.prob.get_constraint_by_name(name)
        factor = _rhs_factor(model, name)
        price = _clean(duals[name] * obj_factor / factor)
        slack = plan_slack[name] * factor
        rhs = -constraint.constant
        binding = plan_slack[name] <= BINDING_TOL * max(1.0, abs(rhs)) and not _empty(
            constraint, rhs
        )
        m, p, r, t = row_key_columns(family, key)
        unit = f"{obj_unit} per {_UNIT[family]}"
        text = _describe(
            family, (m, p, r), settings.quarter_label(t), binding, slack, price, obj_unit
        )
        out.append((name, family, m, p, r, t, rhs * factor, slack, binding, price, unit, text))
    return out


def _empty(constraint: pulp.LpConstraint, rhs: float) -> bool:
    """Return whether a row holds only because nothing is there, e.g. ``0 <= 0``.

    An unused platform's capacity row is such a row; it is not called binding.
    """
    return rhs == 0.0 and all(
        abs(v.varValue or 0.0) <= BINDING_TOL for v, _coef in constraint.items()
    )


def _clean(value: float) -> float:
    return 0.0 if abs(value) < ZERO_PRICE else value


def _amount(value: float) -> str:
    """Format a money-like amount for plain-words descriptions."""
    value = abs(value)
    return f"{value:,.0f}" if value >= 100 else f"{value:,.3g}"


def _subject(family: str, ids: tuple, when: str) -> tuple[str, str]:
    """Return (what the row is about, what one more unit of its limit is) in plain words."""
    m, p, r = ids
    return {
        "demand": (f"peak demand of {m} in {r} in {when}", "qps of demand"),
        "dr": (f"covering {m} when region {r} is lost in {when}", "qps to cover"),
        "minrep": (f"minimum replicas of {m} in {r} in {when}", "required replica"),
        "capacity": (f"in-service {p} servers in {r} in {when}", "in-service server at no cost"),
        "available": (f"installed {p} servers in {r} in {when}", "installed server"),
        "power": (f"region {r} power in {when}", "kW of power cap"),
        "space": (f"region {r} rack space in {when}", "RU of space"),
        "supply": (f"supply of {p} ordered in {when}", "server of supply"),
    }[family]


def _describe(
    family: str, ids: tuple, when: str, binding: bool, slack: float, price: float, obj_unit: str
) -> str:
    """Return a plain-words sentence for one row, e.g. 'region prn is power-bound ...'."""
    subject, more = _subject(family, ids, when)
    if family == "power" and binding:
        subject = f"region {ids[2]} is power-bound in {when}"
    elif binding:
        subject += " is at its limit"
    else:
        subject += f" has {_amount(slack)} {_HEADROOM_UNIT.get(family, _UNIT[family])} of headroom"
    if price == 0.0:
        return f"{subject}: 1 more {more} changes nothing at the margin"
    verb = "costs" if price > 0 else "saves"
    return f"{subject}: 1 more {more} {verb} {_amount(price)} {obj_unit}"


def _purchase_table(model: PlanningModel, duals: dict[str, float]) -> list[tuple]:
    """Return one output row per purchase variable: the reduced cost of one more server.

    The LP's own ``dj`` of an unbought purchase is degenerate (its in-service and replica
    variables are stuck at zero, so any dual in a range is optimal). Instead the purchase is
    priced along its whole path, buy -> in service -> replicas, with the duals of the demand,
    DR, minimum-replica, power, space and supply rows: capex plus supply price, minus, for each
    quarter the server serves, the best replica value less its running, power and space cost
    (never below zero: an idle server is simply not put in service).
    """
    settings = model.fleet.settings
    obj_factor, obj_unit = _objective_unit(settings)
    value = _server_values(model, duals)
    platforms = model.fleet.platforms.set_index("platform_id")
    supply_row = {key: name for name, (family, key) in model.rows.items() if family == "supply"}
    cost = model.prob.objective
    out = []
    for (p, r, t0), b in model.b.items():
        plat = platforms.loc[p]
        gain = sum(
            value.get((p, r, t), 0.0) for t in model.fleet.quarters if serves_in(plat, t0, t)
        )
        supply_dual = duals.get(supply_row.get((p, t0), ""), 0.0)
        reduced = _clean((cost.get(b, 0.0) - supply_dual - gain) * obj_factor)
        bought = round(b.varValue)
        at_bound = b.upBound is not None and bought >= b.upBound
        text = _describe_purchase(
            (p, r), settings.quarter_label(t0), bought, reduced, obj_unit, at_bound
        )
        out.append(
            (
                b.name,
                "purchase",
                None,
                p,
                r,
                t0,
                b.upBound if b.upBound is not None else math.nan,
                math.nan,
                at_bound,
                reduced,
                f"{obj_unit} per server",
                text,
            )
        )
    return out


def _server_values(model: PlanningModel, duals: dict[str, float]) -> dict[tuple, float]:
    """Return, per (platform, region, quarter), the net value of one more in-service server.

    In model units: max(0, best replica value per server - the server's own reduced cost
    over the power and space rows).
    """
    priced = {"demand", "dr", "minrep", "power", "space"}
    col_duals: dict[str, float] = {}
    for name, (family, _key) in model.rows.items():
        if family not in priced or duals[name] == 0.0:
            continue
        for var, coef in model.prob.get_constraint_by_name(name).items():
            col_duals[var.name] = col_duals.get(var.name, 0.0) + coef * duals[name]
    cost = model.prob.objective
    spr = model.candidates.set_index(["model_id", "platform_id"])["servers_per_replica"]
    best: dict[tuple, float] = {}
    for (m, p, r, t), x in model.x.items():
        per_server = (col_duals.get(x.name, 0.0) - cost.get(x, 0.0)) / float(spr[(m, p)])
        best[(p, r, t)] = max(best.get((p, r, t), 0.0), per_server)
    out = {}
    for (p, r, t), y in model.y.items():
        own = cost.get(y, 0.0) - col_duals.get(y.name, 0.0)
        out[(p, r, t)] = max(0.0, best.get((p, r, t), 0.0) - own)
    return out


def _describe_purchase(
    ids: tuple[str, str], when: str, bought: int, reduced: float, obj_unit: str, at_bound: bool
) -> str:
    """Return a plain-words sentence for one purchase variable."""
    p, r = ids
    head = f"{p} in {r} ordered in {when}"
    if bought > 0:
        head += f": the plan buys {bought}"
    else:
        head += ": not bought"
    if reduced > 0:
        return f"{head}; 1 more server would raise the objective by {_amount(reduced)} {obj_unit}"
    if reduced < 0:
        why = " (supply exhausted)" if at_bound else ""
        return (
            f"{head}; 1 more server would lower the objective by {_amount(reduced)} "
            f"{obj_unit} at the margin{why}"
        )
    return f"{head}; 1 more server would pay for itself exactly at the margin"


# ------------------------------------------------------------------------------------------
# Why there is no plan: what demand cannot be served, then which caps would have to move

_SHORT_WORDS = {
    "demand": "peak demand not served",
    "dr": "demand not covered after losing region",
    "minrep": "replicas below minimum",
}
_CAP_WORDS = {
    "power": "power cap",
    "space": "rack space limit",
    "supply": "supply of purchases",
}
EXPLAIN_LINES = 20  # per part of the message; the table has every row


def explain_shortfalls(
    fleet,
    solver: str | None = None,
    time_limit_s: float | None = None,
    mip_gap: float | None = None,
    threads: int | None = None,
) -> pd.DataFrame:
    """Return what falls short where in an infeasible fleet, demand first.

    Two elastic re-solves (:func:`planner.model.build_model`):

    1. caps hard, demand, disaster-recovery and minimum-replica rows elastic: the demand that
       cannot be served under the caps as they are, by model, region and quarter (always
       solvable: a plan may leave every server idle);
    2. caps elastic too, unserved demand priced far above a moved cap: which power, space
       and supply limits would have to move, and by how much, to serve it.

    Returns:
        Columns constraint, model_id, platform_id, region_id, quarter, amount, unit: the
        demand rows of solve 1, then the cap rows of solve 2, each sorted by constraint,
        region and quarter. Empty when neither solve found a plan.
    """
    from planner.model import CAP_FAMILIES, DEMAND_FAMILIES, ELASTIC_FAMILIES, build_model
    from planner.results import extract_plan
    from planner.solve import solve_model

    opts = {"solver": solver, "time_limit_s": time_limit_s, "mip_gap": mip_gap, "threads": threads}
    parts = []
    for families, keep in ((DEMAND_FAMILIES, DEMAND_FAMILIES), (ELASTIC_FAMILIES, CAP_FAMILIES)):
        model = build_model(fleet, elastic=families)
        result = solve_model(model, **opts)
        if not result.has_solution:
            continue
        found = extract_plan(model, result).shortfalls
        if not found.empty:
            found = found[found["constraint"].isin(keep)]
            parts.append(found.sort_values(["constraint", "region_id", "quarter"]))
    if not parts:
        return pd.DataFrame()
    return pd.concat(parts, ignore_index=True)


def infeasibility_message(name: str, shortfalls: pd.DataFrame | None) -> str:
    """Return the message of an infeasible case: unserved demand first, then the caps.

    Args:
        name: The fleet case's name.
        shortfalls: The table of :func:`explain_shortfalls` (or None when not explained).
    """
    head = f"No plan for '{name}' meets every constraint."
    if shortfalls is None or shortfalls.empty:
        return head
    short = shortfalls[~shortfalls["constraint"].isin(_CAP_WORDS)]
    caps = shortfalls[shortfalls["constraint"].isin(_CAP_WORDS)]
    lines = [head]
    if not short.empty:
        lines.append("Demand that cannot be served under the caps:")
        for s in short.head(EXPLAIN_LINES).itertuples(index=False):
            if s.constraint == "dr":  # the row's region is the one lost
                what = f"{_SHORT_WORDS['dr']} {s.region_id}: {s.model_id}"
            else:
                what = f"{_SHORT_WORDS[s.constraint]}: {s.model_id} {s.region_id}"
            lines.append(f"  - {what} Q{s.quarter} short by {s.amount:,.1f} {s.unit}")
        lines += _more(len(short))
    if not caps.empty:
        lines.append(
            "To serve it, these caps would have to move:"
            if not short.empty
            else "Caps that would have to move:"
        )
        for s in caps.head(EXPLAIN_LINES).itertuples(index=False):
            where = s.platform_id if s.constraint == "supply" else s.region_id
            verb = "rise" if s.constraint != "supply" else "grow"
            lines.append(
                f"  - {_CAP_WORDS[s.constraint]}: {where} Q{s.quarter} would have "
                f"to {verb} by {s.amount:,.1f} {s.unit}"
            )
        lines += _more(len(caps))
    elif not short.empty:
        lines.append(
            "No power, space or supply cap limits it: no server that can serve this "
            "demand can be in service there by then (inventory, lead times, "
            "availability or memory fit)."
        )
    return "\n".join(lines)


def _more(n: int) -> list[str]:
    if n <= EXPLAIN_LINES:
        return []
    return [f"  ... and {n - EXPLAIN_LINES} more (see the explanation table)"]
