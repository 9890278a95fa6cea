"""Independent verification of a plan against its fleet, from the plan's tables alone.

Nothing here reads the optimisation model: throughput, memory fit, arrivals, power and cost
are recomputed from the input tables with pandas, so a bug in the model builder or in the
result extraction shows up as a violation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from planner.demand import peak_demand
from planner.fleet import Fleet
from planner.parameters import inventory_by_quarter, power_caps
from planner.results import Plan
from planner.schema import HOURS_PER_QUARTER
from planner.topology import backups

REL_TOL = 1e-6
ABS_TOL = 1e-6


@dataclass(frozen=True)
class Verification:
    """Outcome of :func:`verify_plan`."""

    violations: pd.DataFrame
    recomputed_cost_usd: float

    @property
    def ok(self) -> bool:
        """Return whether the plan satisfies every constraint and its cost adds up."""
        return self.violations.empty

    def __str__(self) -> str:
        if self.ok:
            return f"plan verified: all constraints hold; cost {self.recomputed_cost_usd:,.0f} USD"
        lines = [f"plan FAILED verification: {len(self.violations)} violations"]
        lines += [f"  - {v.check} {v.where}: {v.detail}" for v in self.violations.itertuples()]
        return "\n".join(lines)


def _short(have: float, need: float) -> bool:
    return have < need - max(ABS_TOL, REL_TOL * abs(need))


def verify_plan(fleet: Fleet, plan: Plan, check_cost: bool = True) -> Verification:
    """Re-check every constraint of ``plan`` and recompute its cost from ``fleet``'s inputs.

    Args:
        fleet: The fleet (after any scenario) the plan was made for.
        plan: The plan to check.
        check_cost: Compare the recomputed cost with the plan's cost table.

    Returns:
        A :class:`Verification` listing every violation (empty when the plan is valid).
    """
    issues: list[tuple[str, str, str]] = []
    alloc = _allocation_with_inputs(fleet, plan, issues)
    _check_demand(fleet, alloc, issues)
    _check_fleet(fleet, plan, alloc, issues)
    _check_power_space_supply(fleet, plan, issues)
    cost = _recompute_cost(fleet, plan)
    if check_cost and not math.isclose(cost, plan.total_cost_usd, rel_tol=1e-6, abs_tol=1.0):
        issues.append(
            (
                "cost",
                "total",
                f"plan says {plan.total_cost_usd:,.2f} USD, inputs give {cost:,.2f} USD",
            )
        )
    return Verification(pd.DataFrame(issues, columns=["check", "where", "detail"]), cost)


def _allocation_with_inputs(fleet: Fleet, plan: Plan, issues: list) -> pd.DataFrame:
    """Join allocation rows with profiles and memory; flag rows that cannot run or fit."""
    alloc = plan.allocation.merge(
        fleet.profiles[["model_id", "platform_id", "qps_per_server"]],
        on=["model_id", "platform_id"],
        how="left",
    )
    alloc = alloc.merge(
        fleet.models[["model_id", "memory_gb", "max_shards"]], on="model_id", how="left"
    )
    alloc = alloc.merge(
        fleet.platforms[["platform_id", "host_memory_gb", "accel_memory_gb"]],
        on="platform_id",
        how="left",
    )
    for row in alloc.itertuples(index=False):
        where = f"{row.model_id} on {row.platform_id} in {row.region_id} Q{row.quarter}"
        if pd.isna(row.qps_per_server):
            issues.append(("profile", where, "model has no profile on this platform"))
            continue
        need = max(1, math.ceil(row.memory_gb / (row.host_memory_gb + row.accel_memory_gb) - 1e-9))
        if need > row.max_shards:
            issues.append(
                (
                    "memory_fit",
                    where,
                    f"{row.memory_gb} GB needs {need} servers, max_shards is {row.max_shards}",
                )
            )
        if abs(row.servers - need * row.replicas) > ABS_TOL:
            issues.append(
                (
                    "memory_fit",
                    where,
                    f"{row.replicas} replicas need {need} servers each, plan has {row.servers}",
                )
            )
        if fleet.settings.allocation == "dedicated" and row.replicas != round(row.replicas):
            issues.append(("integrality", where, f"replicas {row.replicas} not whole"))
    alloc = alloc.dropna(subset=["qps_per_server"])
    alloc["qps"] = alloc["servers"] * alloc["qps_per_server"]
    return alloc


def _check_demand(fleet: Fleet, alloc: pd.DataFrame, issues: list) -> None:
    """Check demand within SLO, minimum replicas and disaster recovery."""
    s = fleet.settings
    demand = peak_demand(fleet)
    key = ["model_id", "region_id", "quarter"]
    qps = alloc.groupby(key)["qps"].sum().to_dict()
    reps = alloc.groupby(key)["replicas"].sum().to_dict()
    mins = fleet.models.set_index("model_id")["min_replicas"]
    for d in demand.itertuples(index=False):
        k = (d.model_id, d.region_id, d.quarter)
        have = qps.get(k, 0.0) * s.target_utilization
        if _short(have, d.peak_qps):
            issues.append(("demand", f"{k}", f"usable {have:,.1f} qps < peak {d.peak_qps:,.1f}"))
        if _short(reps.get(k, 0.0), float(mins[d.model_id])):
            issues.append(("min_replicas", f"{k}", f"{reps.get(k, 0)} < {mins[d.model_id]}"))
    dr = s.disaster_recovery
    if not dr.enabled:
        return
    phases = fleet.models.set_index("model_id")["phase"]
    peak = demand.set_index(key)["peak_qps"].to_dict()
    backup = backups(fleet)
    for (m, f, t), lost in peak.items():
        if phases[m] not in dr.phases:
            continue
        survivors = backup.get(f, [])
        have = sum(qps.get((m, r, t), 0.0) for r in survivors) * dr.emergency_utilization
        need = lost + sum(peak.get((m, r, t), 0.0) for r in survivors)
        if _short(have, need):
            issues.append(
                (
                    "disaster_recovery",
                    f"{m} losing {f} Q{t}",
                    f"backups {survivors} give {have:,.1f} qps < {need:,.1f}",
                )
            )


def _check_fleet(fleet: Fleet, plan: Plan, alloc: pd.DataFrame, issues: list) -> None:
    """Check allocated <= in service <= inventory + arrived purchases, and purchase timing."""
    platforms = fleet.platforms.set_index("platform_id")
    for b in plan.purchases.itertuples(index=False):
        p = platforms.loc[b.platform_id]
        where = f"{b.platform_id} in {b.region_id} ordered Q{b.order_quarter}"
        if b.order_quarter < p["available_from_quarter"]:
            issues.append(
                ("availability", where, f"not orderable before Q{p['available_from_quarter']}")
            )
        if b.arrival_quarter != b.order_quarter + p["lead_time_quarters"]:
            issues.append(
                (
                    "lead_time",
                    where,
                    f"arrives Q{b.arrival_quarter}, lead time is {p['lead_time_quarters']}",
                )
            )
        if b.servers != round(b.servers) or b.servers < 0:
            issues.append(("integrality", where, f"{b.servers} servers"))
    inv = inventory_by_quarter(fleet).set_index(["platform_id", "region_id", "quarter"])["servers"]
    available: dict[tuple, float] = inv.to_dict()
    for b in plan.purchases.itertuples(index=False):
        life = int(platforms.at[b.platform_id, "lifetime_quarters"])
        for t in range(
            b.order_quarter + int(platforms.at[b.platform_id, "lead_time_quarters"]),
            fleet.settings.horizon_quarters,
        ):
            if t < b.order_quarter + int(platforms.at[b.platform_id, "lead_time_quarters"]) + life:
                k = (b.platform_id, b.region_id, t)
                available[k] = available.get(k, 0) + b.servers
    in_service = plan.fleet.set_index(["platform_id", "region_id", "quarter"])
    in_service = in_service["in_service_servers"].to_dict()
    used = alloc.groupby(["platform_id", "region_id", "quarter"])["servers"].sum().to_dict()
    for k in set(in_service) | set(used):
        if _short(in_service.get(k, 0.0), used.get(k, 0.0)):
            issues.append(
                (
                    "capacity",
                    f"{k}",
                    f"{used[k]} servers allocated > {in_service.get(k, 0)} in service",
                )
            )
        if _short(available.get(k, 0.0), in_service.get(k, 0.0)):
            issues.append(
                (
                    "installed",
                    f"{k}",
                    f"{in_service.get(k, 0)} in service > {available.get(k, 0)} installed",
                )
            )


def _facility_kw(fleet: Fleet, frame: pd.DataFrame) -> pd.Series:
    joined = frame.merge(fleet.platforms[["platform_id", "power_w"]], on="platform_id").merge(
        fleet.regions[["region_id", "pue"]], on="region_id"
    )
    return joined.assign(kw=joined["in_service_servers"] * joined["power_w"] / 1000 * joined["pue"])


def _check_power_space_supply(fleet: Fleet, plan: Plan, issues: list) -> None:
    """Check power caps, space limits and per-quarter supply."""
    kw = _facility_kw(fleet, plan.fleet).groupby(["region_id", "quarter"])["kw"].sum().to_dict()
    for c in power_caps(fleet).itertuples(index=False):
        if _short(c.cap_kw, kw.get((c.region_id, c.quarter), 0.0)):
            issues.append(
                (
                    "power",
                    f"{c.region_id} Q{c.quarter}",
                    f"{kw[(c.region_id, c.quarter)]:,.1f} kW > cap {c.cap_kw:,.1f} kW",
                )
            )
    ru = plan.fleet.merge(fleet.platforms[["platform_id", "rack_units"]], on="platform_id")
    ru = (
        (ru["in_service_servers"] * ru["rack_units"])
        .groupby([ru["region_id"], ru["quarter"]])
        .sum()
    )
    limits = fleet.regions.set_index("region_id")["space_limit_ru"].dropna()
    for (r, t), used in ru.items():
        if r in limits.index and _short(limits[r], used):
            issues.append(("space", f"{r} Q{t}", f"{used:,.1f} RU > limit {limits[r]:,.1f}"))
    supply = fleet.platforms.set_index("platform_id")["supply_per_quarter"].dropna()
    bought = plan.purchases.groupby(["platform_id", "order_quarter"])["servers"].sum()
    for (p, t), n in bought.items():
        if p in supply.index and _short(supply[p], n):
            issues.append(("supply", f"{p} Q{t}", f"{n} bought > supply {supply[p]:g}"))


def _recompute_cost(fleet: Fleet, plan: Plan) -> float:
    """Return capex of purchases plus energy and maintenance of in-service servers (USD)."""
    capex = plan.purchases.merge(
        fleet.platforms[["platform_id", "capex_usd"]], on="platform_id", suffixes=("_plan", "")
    )
    total = float((capex["servers"] * capex["capex_usd"]).sum())
    run = (
        _facility_kw(fleet, plan.fleet)
        .merge(fleet.regions[["region_id", "electricity_usd_per_kwh"]], on="region_id")
        .merge(fleet.platforms[["platform_id", "maintenance_usd_per_quarter"]], on="platform_id")
    )
    energy = (
        run["kw"]
        * fleet.settings.energy_load_factor
        * HOURS_PER_QUARTER
        * run["electricity_usd_per_kwh"]
    )
    total += float(energy.sum())
    total += float((run["in_service_servers"] * run["maintenance_usd_per_quarter"]).sum())
    return total
