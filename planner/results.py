"""A solved model turned into a :class:`Plan`: tidy DataFrames with units, no PuLP objects."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from planner.diurnal.layout import allocated_servers, is_slotted
from planner.model import PlanningModel, cost_coefficients, objective_weights
from planner.parameters import inventory_by_quarter, power_caps, serves_in
from planner.solve import SolveResult

ZERO = 1e-6  # solver noise below this is zero

UNITS = {
    "allocation": {
        "replicas": "replicas",
        "servers": "servers",
        "capacity_qps": "queries/s",
        "served_qps": "queries/s",
        "utilization": "fraction of latency-bounded qps",
    },
    "purchases": {"servers": "servers", "capex_usd": "USD"},
    "fleet": {
        "available_servers": "servers",
        "in_service_servers": "servers",
        "allocated_servers": "servers",
        "facility_kw": "kW",
    },
    "power": {"power_kw": "kW", "cap_kw": "kW", "headroom_kw": "kW"},
    "costs": {
        "capex_usd": "USD",
        "energy_usd": "USD",
        "maintenance_usd": "USD",
        "total_usd": "USD",
    },
}


@dataclass
class Plan:
    """A capacity plan: what to run and buy where and when, and what it costs.

    Tables (all tidy, one row per key, zero rows dropped):
        allocation: model_id, bucket, phase, platform_id, platform_class, region_id, quarter,
            replicas, servers, capacity_qps, served_qps, utilization.
        purchases: platform_id, platform_class, region_id, order_quarter, arrival_quarter,
            servers, capex_usd.
        fleet: platform_id, platform_class, region_id, quarter, available_servers,
            in_service_servers, allocated_servers, facility_kw.
        power: region_id, quarter, power_kw, cap_kw, headroom_kw.
        costs: platform_id, region_id, quarter, capex_usd, energy_usd, maintenance_usd,
            total_usd.
        shortfalls: for elastic (explained) plans, what falls short where; else empty.
        insight: with ``make_plan(..., insight=True)``: ``shadow_prices`` and ``binding``.
    """

    allocation: pd.DataFrame
    purchases: pd.DataFrame
    fleet: pd.DataFrame
    power: pd.DataFrame
    costs: pd.DataFrame
    summary: dict = field(default_factory=dict)
    shortfalls: pd.DataFrame = field(default_factory=pd.DataFrame)
    insight: dict[str, pd.DataFrame] = field(default_factory=dict)
    # Time of day (planner.diurnal): slot_load, harvest and harvest_by_slot, written as files.
    diurnal: dict[str, pd.DataFrame] = field(default_factory=dict)

    TABLES = ("allocation", "purchases", "fleet", "power", "costs")

    @property
    def total_cost_usd(self) -> float:
        """Return the plan's total cost of ownership over the horizon (USD)."""
        return float(self.costs["total_usd"].sum()) if not self.costs.empty else 0.0

    def tables(self) -> dict[str, pd.DataFrame]:
        """Return the plan's tables by name (shortfalls included when present)."""
        out = {name: getattr(self, name) for name in self.TABLES}
        if not self.shortfalls.empty:
            out["shortfalls"] = self.shortfalls
        return out

    def by(self, dimension: str) -> pd.DataFrame:
        """Summarise servers, power and cost by one dimension (see :func:`summarize`)."""
        return summarize(self, dimension)


def _value(var) -> float:
    v = var.varValue
    if v is None or abs(v) < ZERO:
        return 0.0
    return round(v) if var.cat == "Integer" else float(v)


def extract_plan(model: PlanningModel, result: SolveResult) -> Plan:
    """Read variable values into a :class:`Plan` (integers rounded, noise set to zero)."""
    dedicated = model.fleet.settings.allocation == "dedicated"
    in_service = {k: (round(_value(v)) if dedicated else _value(v)) for k, v in model.y.items()}
    plan = plan_from_decisions(
        model.fleet,
        replicas={k: _value(v) for k, v in model.x.items()},
        purchases={k: _value(v) for k, v in model.b.items()},
        in_service=in_service,
        demand=model.demand,
    )
    plan.shortfalls = _shortfalls(model) if model.elastic else pd.DataFrame()
    plan.summary = _summary(model, result, plan)
    return plan


def plan_totals(plan: Plan) -> dict[str, float | int]:
    """Return the plan's totals every summary carries: costs (USD), purchases, peak power."""
    costs = plan.costs
    return {
        "total_cost_usd": float(costs["total_usd"].sum()),
        "capex_usd": float(costs["capex_usd"].sum()),
        "energy_usd": float(costs["energy_usd"].sum()),
        "maintenance_usd": float(costs["maintenance_usd"].sum()),
        "servers_purchased": int(plan.purchases["servers"].sum()) if len(plan.purchases) else 0,
        "peak_power_kw": float(plan.power.groupby("quarter")["power_kw"].sum().max()),
    }


def objective_value(fleet, plan: Plan) -> float:
    """Return the model's objective of a plan (model units, tie-breaks included) from its tables.

    What the solver minimised, recomputed from purchases and the fleet table: a check that a
    reported objective belongs to the plan's values.
    """
    w = objective_weights(fleet)
    total = sum(w.purchase[b.platform_id] * b.servers for b in plan.purchases.itertuples())
    for f in plan.fleet.itertuples(index=False):
        key = (f.platform_id, f.region_id)
        total += w.in_service[key] * f.in_service_servers + w.allocated[key] * f.allocated_servers
    return float(total)


def plan_from_decisions(
    fleet,
    replicas: dict[tuple[str, str, str, int], float],
    purchases: dict[tuple[str, str, int], float],
    in_service: dict[tuple[str, str, int], float] | None = None,
    demand: pd.DataFrame | None = None,
) -> Plan:
    """Build a plan's tables from its decisions; every planner (optimiser, baselines) uses it.

    Args:
        fleet: The fleet the decisions are for.
        replicas: Replicas per (model, platform, region, quarter).
        purchases: Servers ordered per (platform, region, order quarter).
        in_service: Servers in service per (platform, region, quarter); default: the
            servers the replicas occupy.
        demand: Peak demand (default: :func:`planner.demand.peak_demand` of ``fleet``).

    Returns:
        A plan with every table filled and units attached; ``summary`` is left empty.
    """
    from planner.demand import peak_demand
    from planner.parameters import candidates

    models = fleet.models.set_index("model_id")
    platforms = fleet.platforms.set_index("platform_id")
    classes = platforms["platform_class"]
    cand = candidates(fleet).set_index(["model_id", "platform_id"])
    coef = cost_coefficients(fleet)
    rows = [
        (m, models.at[m, "bucket"], models.at[m, "phase"], p, classes[p], r, t, n,
         n * cand.at[(m, p), "servers_per_replica"], n * cand.at[(m, p), "replica_qps"])
        for (m, p, r, t), n in sorted(replicas.items())
        if n > 0
    ]
    alloc = pd.DataFrame(rows, columns=ALLOCATION_COLUMNS)
    alloc = served_split(alloc, peak_demand(fleet) if demand is None else demand,
                         fleet.settings.target_utilization)
    bought = pd.DataFrame(
        [
            (p, classes[p], r, t, t + int(platforms.at[p, "lead_time_quarters"]), n,
             n * coef["capex"][p])
            for (p, r, t), n in sorted(purchases.items())
            if n > 0
        ],
        columns=PURCHASE_COLUMNS,
    )
    fleet_table = _fleet_table(fleet, alloc, bought, in_service, classes, coef)
    plan = Plan(allocation=alloc, purchases=bought, fleet=fleet_table,
                power=power_table(fleet, fleet_table),
                costs=cost_table(fleet, fleet_table, bought))
    _attach_units(plan)
    return plan


ALLOCATION_COLUMNS = ["model_id", "bucket", "phase", "platform_id", "platform_class",
                      "region_id", "quarter", "replicas", "servers", "capacity_qps"]
PURCHASE_COLUMNS = ["platform_id", "platform_class", "region_id", "order_quarter",
                    "arrival_quarter", "servers", "capex_usd"]
FLEET_COLUMNS = ["platform_id", "platform_class", "region_id", "quarter", "available_servers",
                 "in_service_servers", "allocated_servers", "facility_kw"]


def served_split(alloc: pd.DataFrame, demand: pd.DataFrame, util_target: float) -> pd.DataFrame:
    """Split each cell's peak demand over its platforms in proportion to their capacity."""
    key = ["model_id", "region_id", "quarter"]
    if alloc.empty:
        return alloc.assign(served_qps=[], utilization=[])
    total = alloc.groupby(key)["capacity_qps"].transform("sum")
    merged = alloc.merge(demand, on=key, how="left").fillna({"peak_qps": 0.0})
    alloc = alloc.assign(served_qps=(merged["peak_qps"] * alloc["capacity_qps"] / total).values)
    alloc["utilization"] = (alloc["served_qps"] / alloc["capacity_qps"]).round(6)
    return alloc.sort_values(["model_id", "platform_id", "region_id", "quarter"], ignore_index=True)


def _fleet_table(fleet, alloc: pd.DataFrame, bought: pd.DataFrame,
                 in_service: dict | None, classes: pd.Series, coef: dict) -> pd.DataFrame:
    """Return installed, in-service and allocated servers per platform, region and quarter."""
    key = ["platform_id", "region_id", "quarter"]
    platforms = fleet.platforms.set_index("platform_id")
    available = inventory_by_quarter(fleet).set_index(key)["servers"].astype(float).to_dict()
    for b in bought.itertuples(index=False):
        plat = platforms.loc[b.platform_id]
        for t in fleet.quarters:
            if serves_in(plat, b.order_quarter, t):
                k = (b.platform_id, b.region_id, t)
                available[k] = available.get(k, 0.0) + b.servers
    used = alloc.groupby(key)["servers"].sum().to_dict() if not alloc.empty else {}
    if is_slotted(fleet):  # time-of-day slots: the busiest slot's servers (planner.diurnal)
        used = allocated_servers(fleet, alloc)
    serving = dict(used) if in_service is None else in_service
    rows = [
        (p, classes[p], r, t, available.get((p, r, t), 0.0), serving.get((p, r, t), 0.0),
         used.get((p, r, t), 0.0), serving.get((p, r, t), 0.0) * coef["facility_kw"][(p, r)])
        for p, r, t in sorted(set(available) | set(serving) | set(used))
        if available.get((p, r, t), 0.0) > 0 or serving.get((p, r, t), 0.0) > 0
    ]
    return pd.DataFrame(rows, columns=FLEET_COLUMNS)


def power_table(fleet, fleet_table: pd.DataFrame) -> pd.DataFrame:
    """Return facility power per region and quarter against its cap, from a fleet table."""
    caps = power_caps(fleet)
    used = fleet_table.groupby(["region_id", "quarter"], as_index=False)["facility_kw"].sum()
    out = caps.merge(used, on=["region_id", "quarter"], how="left").fillna({"facility_kw": 0.0})
    out = out.rename(columns={"facility_kw": "power_kw"})
    out["headroom_kw"] = out["cap_kw"] - out["power_kw"]
    return out[["region_id", "quarter", "power_kw", "cap_kw", "headroom_kw"]]


def cost_table(fleet, fleet_table: pd.DataFrame, purchases: pd.DataFrame) -> pd.DataFrame:
    """Return costs per platform, region and quarter from in-service servers and purchases.

    Shared by plans and baselines so that every plan is costed the same way.
    """
    coef = cost_coefficients(fleet)
    key = ["platform_id", "region_id", "quarter"]
    run = fleet_table[[*key, "in_service_servers"]].copy()
    pr = list(zip(run["platform_id"], run["region_id"], strict=True))
    run["energy_usd"] = run["in_service_servers"] * [coef["energy"][k] for k in pr]
    run["maintenance_usd"] = run["in_service_servers"] * [coef["maintenance"][k] for k in pr]
    buy = purchases.rename(columns={"order_quarter": "quarter"})
    buy = buy.groupby(key, as_index=False)["capex_usd"].sum()
    out = run.drop(columns="in_service_servers").merge(buy, on=key, how="outer").fillna(0.0)
    out["total_usd"] = out["capex_usd"] + out["energy_usd"] + out["maintenance_usd"]
    out = out[out["total_usd"] > 0]
    return out[[*key, "capex_usd", "energy_usd", "maintenance_usd", "total_usd"]].sort_values(
        key, ignore_index=True
    )


# How published tables (files, reports) round, by column; in-memory plans stay exact.
MONEY_COLUMNS = ("capex_usd", "energy_usd", "maintenance_usd", "total_usd")
KW_COLUMNS = ("facility_kw", "power_kw", "cap_kw", "headroom_kw")
SERVER_COLUMNS = ("replicas", "servers", "available_servers", "in_service_servers",
                  "allocated_servers")
QUARTER_LABELS = {"quarter": "quarter_label", "order_quarter": "order_quarter_label",
                  "arrival_quarter": "arrival_quarter_label"}


def published_tables(plan: Plan, fleet) -> dict[str, pd.DataFrame]:
    """Return copies of the plan's tables as files and reports publish them.

    Each quarter column gets its calendar label next to it (``quarter_label``: ``2020Q1``,
    as in ``report.md``), and numbers are rounded as they are read: servers and replicas
    whole (where they are whole: pooled allocation splits servers between models), money to
    the dollar, kW to 0.1. Money is rounded by running totals, so that every cell is within
    one dollar of its value and the table's total within half a dollar of the exact total;
    ``total_usd`` is the sum of its row's rounded parts. ``plan`` itself is left exact.
    """
    label = fleet.settings.quarter_label
    out = {}
    for name, frame in plan.tables().items():
        table = frame.copy()
        for column, label_column in QUARTER_LABELS.items():
            if column in table and label_column not in table:
                table.insert(table.columns.get_loc(column) + 1, label_column,
                             [label(int(q)) for q in table[column]])
        for column in SERVER_COLUMNS:
            if column in table and _whole(table[column]):
                table[column] = table[column].round().astype("int64")
        for column in KW_COLUMNS:
            if column in table:
                table[column] = table[column].round(1)
        money = [c for c in MONEY_COLUMNS if c in table and c != "total_usd"]
        if money:
            table[money] = _round_running(table[money])
            if "total_usd" in table:
                table["total_usd"] = table[money].sum(axis=1).astype("int64")
        elif "total_usd" in table:
            table[["total_usd"]] = _round_running(table[["total_usd"]])
        table.attrs = dict(frame.attrs)
        out[name] = table
    return out


def _whole(values: pd.Series) -> bool:
    return bool(((values - values.round()).abs() <= ZERO).all())


def _round_running(frame: pd.DataFrame) -> pd.DataFrame:
    """Round cells to whole units by rounding their running total, row by row.

    Errors do not add up: every cell is within one unit of its value and the table's total
    within half a unit of the exact total.
    """
    values = frame.to_numpy(dtype=float).ravel()  # row-major: a row's parts, then the next
    running = np.round(np.cumsum(values))
    cells = np.diff(running, prepend=0.0).reshape(frame.shape)
    return pd.DataFrame(cells.astype("int64"), index=frame.index, columns=frame.columns)


def _shortfalls(model: PlanningModel) -> pd.DataFrame:
    """Return the slack of an elastic solve in user units: what is short or over, where."""
    rows = []
    for (family, key), s in model.slack.items():
        v = _value(s)
        if v <= ZERO:
            continue
        name = "_".join([family, *(str(k) for k in key)])
        amount = v * model.rhs_scale[name]  # back from scaled rows to user units
        unit = {
            "demand": "queries/s",
            "dr": "queries/s",
            "power": "kW",
            "space": "RU",
            "supply": "servers",
            "minrep": "replicas",
        }[family]
        rows.append((family, *row_key_columns(family, key), amount, unit))
    return pd.DataFrame(
        rows,
        columns=["constraint", "model_id", "platform_id", "region_id", "quarter", "amount", "unit"],
    )


def row_key_columns(family: str, key: tuple) -> tuple[str | None, str | None, str | None, int]:
    """Map a model row's key to (model_id, platform_id, region_id, quarter)."""
    if family in ("demand", "dr", "minrep"):
        return key[0], None, key[1], int(key[2])
    if family in ("capacity", "available"):
        return None, key[0], key[1], int(key[2])
    if family == "supply":
        return None, key[0], None, int(key[1])
    return None, None, key[0], int(key[1])


def _summary(model: PlanningModel, result: SolveResult, plan: Plan) -> dict:
    fleet = model.fleet
    return {
        "case": fleet.name,
        "status": result.status,
        "solver": result.solver,
        "objective": fleet.settings.objective,
        "objective_value": result.objective,
        "best_bound": result.bound,
        "gap": result.gap,
        "build_seconds": round(model.build_seconds, 4),
        "solve_seconds": round(result.seconds, 4),
        **plan_totals(plan),
        "horizon_quarters": fleet.settings.horizon_quarters,
        "variables": len(model.x) + len(model.b) + len(model.y),
        "constraints": len(model.rows),
    }


def _attach_units(plan: Plan) -> None:
    for name, units in UNITS.items():
        getattr(plan, name).attrs["unit"] = units


def summarize(plan: Plan, dimension: str) -> pd.DataFrame:
    """Return servers (peak quarter for fleet, sum for purchases), power and cost by one dimension.

    ``dimension`` is ``bucket``, ``platform_class``, ``region_id`` or ``quarter``.
    """
    if dimension == "bucket":
        alloc = plan.allocation
        return alloc.groupby(["bucket", "quarter"], as_index=False)[["servers", "served_qps"]].sum()
    key = [dimension] if dimension == "quarter" else [dimension, "quarter"]
    servers = plan.fleet.groupby(key, as_index=False)[["in_service_servers", "facility_kw"]].sum()
    if dimension == "platform_class":
        classes = plan.fleet[["platform_id", "platform_class"]].drop_duplicates()
        costs = plan.costs.merge(classes, on="platform_id")
    else:
        costs = plan.costs
    cost = costs.groupby(key, as_index=False)["total_usd"].sum()
    return servers.merge(cost, on=key, how="outer").fillna(0.0)
