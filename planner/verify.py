"""Independent verification of a plan against its fleet, from the plan's tables alone.

Nothing here reads the optimisation model or the helpers it is built from (demand, topology,
parameters): peak demand, installed servers, power caps and disaster-recovery backups are
recomputed from the input tables with this module's own small code, and every table a plan
writes (allocation, purchases, fleet, power, costs, the summary's totals) is cross-checked
against them. A bug in the model builder, its helpers or the result extraction therefore
shows up as a violation instead of being confirmed. ``tests/test_verify.py`` enforces that
this module imports nothing from the model side.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterator
from dataclasses import dataclass

import pandas as pd

from planner.fleet import Fleet
from planner.results import Plan
from planner.schema import HOURS_PER_QUARTER, SECONDS_PER_DAY

REL_TOL = 1e-6
ABS_TOL = 1e-6
USD_TOL = 1.0  # money is published to the dollar
KW_TOL = 0.1  # power is published to 0.1 kW
QPS_TOL = 1e-3

VIOLATION_COLUMNS = ["check", "table", "row", "where", "detail"]

# Columns each plan table must have for the checks to run.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "allocation": ("model_id", "platform_id", "region_id", "quarter", "replicas", "servers"),
    "purchases": ("platform_id", "region_id", "order_quarter", "arrival_quarter", "servers"),
    "fleet": ("platform_id", "region_id", "quarter", "in_service_servers"),
    "power": ("region_id", "quarter", "power_kw", "cap_kw"),
    "costs": (
        "platform_id",
        "region_id",
        "quarter",
        "capex_usd",
        "energy_usd",
        "maintenance_usd",
        "total_usd",
    ),
}
_KEYS = {
    "allocation": ("model_id", "platform_id", "region_id", "quarter"),
    "purchases": ("platform_id", "region_id", "order_quarter"),
    "fleet": ("platform_id", "region_id", "quarter"),
    "power": ("region_id", "quarter"),
    "costs": ("platform_id", "region_id", "quarter"),
}
_SUMMARY_USD = ("total_cost_usd", "capex_usd", "energy_usd", "maintenance_usd")


@dataclass(frozen=True)
class Verification:
    """Outcome of :func:`verify_plan`.

    ``violations`` has one row per problem: ``check`` (its kind), ``table`` (the plan table
    it is in, or ``inputs``), ``row`` (1-based data row of that table, or None when the
    problem spans rows, e.g. a demand cell), ``where`` and ``detail``.
    """

    violations: pd.DataFrame
    recomputed_cost_usd: float

    @property
    def ok(self) -> bool:
        """Return whether the plan satisfies every constraint and its tables add up."""
        return self.violations.empty

    def lines(self, files: dict[str, str] | None = None) -> list[str]:
        """Return one line per violation: table (or its file) and row first, then what is wrong.

        Args:
            files: File name per table (e.g. ``{"fleet": "fleet.csv"}``) to name files instead
                of tables; a CSV row also gets its line number (the header is line 1).
        """
        return [
            _violation_line(v, (files or {}).get(v.table, v.table))
            for v in self.violations.itertuples(index=False)
        ]

    def __str__(self) -> str:
        if self.ok:
            return f"plan verified: all constraints hold; cost {self.recomputed_cost_usd:,.0f} USD"
        lines = [f"plan FAILED verification: {len(self.violations)} violations"]
        return "\n".join(lines + [f"  - {line}" for line in self.lines()])


def _violation_line(v, place: str) -> str:
    if not pd.isna(v.row):
        place += f" row {int(v.row)}" + (
            f" (line {int(v.row) + 1})" if place.endswith(".csv") else ""
        )
    return f"{place}: {v.check} {v.where}: {v.detail}"


class _Issues:
    """Collects violations as (check, table, row, where, detail) tuples."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def add(self, check: str, table: str, row: int | None, where: str, detail: str) -> None:
        self.rows.append((check, table, row, where, detail))

    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.rows, columns=VIOLATION_COLUMNS)
        frame["row"] = frame["row"].astype("Int64")
        return frame


def _short(have: float, need: float) -> bool:
    return have < need - max(ABS_TOL, REL_TOL * abs(need))


def _differs(a: float, b: float, abs_tol: float = ABS_TOL) -> bool:
    if pd.isna(a) or pd.isna(b):
        return not (pd.isna(a) and pd.isna(b))
    return abs(a - b) > max(abs_tol, REL_TOL * max(abs(a), abs(b)))


def _rows(frame: pd.DataFrame) -> Iterator[tuple[int, object]]:
    """Yield (1-based data row, row) in table order, whatever the frame's index."""
    for i, row in enumerate(frame.itertuples(index=False)):
        yield i + 1, row


# ----------------------------------------------------------------------------------------------
# The inputs, recomputed here on purpose (the model side has its own code for each).


def demand_from_inputs(fleet: Fleet) -> dict[tuple[str, str, int], float]:
    """Return peak queries/s per (model, region, quarter) from the input tables (zeros dropped).

    Products: daily requests / 86,400 s x peak-to-average x (1 + growth)^quarter, times the
    queries per request that reach each model along every call path, split over regions by
    ``demand_share``. Plain ``demand`` rows inside the horizon are added, then scenario
    multipliers applied.
    """
    horizon = fleet.settings.horizon_quarters
    calls: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for c in fleet.calls.itertuples(index=False):
        calls[c.caller_id].append((c.model_id, float(c.items_per_request)))
    per_call: dict[str, dict[str, float]] = {}

    def reached(node: str, path: frozenset[str]) -> dict[str, float]:
        """Queries to each model issued by one query of ``node`` (itself excluded)."""
        if node not in per_call:
            out: dict[str, float] = defaultdict(float)
            for callee, items in calls.get(node, []):
                if callee in path:  # a cycle (check_fleet reports it): not followed
                    continue
                out[callee] += items
                for m, q in reached(callee, path | {callee}).items():
                    out[m] += items * q
            per_call[node] = dict(out)
        return per_call[node]

    shares = {
        r.region_id: (0.0 if pd.isna(r.demand_share) else float(r.demand_share))
        for r in fleet.regions.itertuples(index=False)
    }
    peak: dict[tuple[str, str, int], float] = defaultdict(float)
    for p in fleet.products.itertuples(index=False):
        mean = float(p.daily_requests) / SECONDS_PER_DAY * float(p.peak_to_average)
        for m, queries in reached(p.product_id, frozenset({p.product_id})).items():
            for t in range(horizon):
                rate = mean * (1.0 + float(p.growth_per_quarter)) ** t * queries
                for r, share in shares.items():
                    peak[(m, r, t)] += rate * share
    for d in fleet.demand.itertuples(index=False):
        if int(d.quarter) < horizon:
            peak[(d.model_id, d.region_id, int(d.quarter))] += float(d.peak_qps)
    adjustments = fleet.demand_adjustments
    if adjustments is not None:
        for a in adjustments.itertuples(index=False):
            first = getattr(a, "from_quarter", None)  # on-device share from a quarter on
            first = 0 if pd.isna(first) else int(first)
            for m, r, t in peak:
                if _matches(a.model_id, m) and _matches(a.region_id, r) and t >= first:
                    peak[(m, r, t)] *= float(a.multiplier)
    return {k: v for k, v in peak.items() if v > 0}


def _matches(selector: object, value: str) -> bool:
    """A scenario multiplier's blank model or region selects every one."""
    return not isinstance(selector, str) or selector == value


def inventory_from_inputs(fleet: Fleet) -> dict[tuple[str, str, int], float]:
    """Return existing servers per (platform, region, quarter): until ``retire_quarter``.

    ``retire_quarter`` is the first quarter without the servers; blank means never.
    """
    out: dict[tuple[str, str, int], float] = defaultdict(float)
    for inv in fleet.inventory.itertuples(index=False):
        last = (
            fleet.settings.horizon_quarters
            if pd.isna(inv.retire_quarter)
            else int(inv.retire_quarter)
        )
        for t in range(min(last, fleet.settings.horizon_quarters)):
            out[(inv.platform_id, inv.region_id, t)] += float(inv.servers)
    return dict(out)


def power_caps_from_inputs(fleet: Fleet) -> dict[tuple[str, int], float]:
    """Return the facility cap (kW) per (region, quarter): the latest change at or before it."""
    changes: dict[str, dict[int, float]] = defaultdict(dict)
    for c in fleet.region_power_caps.itertuples(index=False):
        changes[c.region_id][int(c.quarter)] = float(c.power_cap_kw)
    caps = {}
    for r in fleet.regions.itertuples(index=False):
        for t in range(fleet.settings.horizon_quarters):
            earlier = [q for q in changes[r.region_id] if q <= t]
            caps[(r.region_id, t)] = (
                changes[r.region_id][max(earlier)] if earlier else float(r.power_cap_kw)
            )
    return caps


def backups_from_inputs(fleet: Fleet) -> dict[str, list[str]]:
    """Return, per region, the sorted regions that take its traffic when it is lost.

    Without topology rows every other region is a backup; self-backups and unknown regions
    are ignored (``check_fleet`` reports them).
    """
    regions = sorted(set(fleet.regions["region_id"]))
    if fleet.topology.empty:
        return {f: [r for r in regions if r != f] for f in regions}
    out: dict[str, set[str]] = {f: set() for f in regions}
    for lost, backup in zip(
        fleet.topology["region_id"], fleet.topology["backup_region_id"], strict=True
    ):
        if lost in out and backup in out and lost != backup:
            out[lost].add(backup)
    return {f: sorted(b) for f, b in out.items()}


def _servers_per_replica(memory_gb: float, host_gb: float, accel_gb: float) -> int:
    """Servers one replica spans so that its memory fits (at least one)."""
    return max(1, math.ceil(memory_gb / (host_gb + accel_gb) - 1e-9))


@dataclass(frozen=True)
class _Inputs:
    """What the checks read from the fleet, keyed for lookups."""

    platforms: pd.DataFrame
    models: pd.DataFrame
    regions: pd.DataFrame
    qps: dict[tuple[str, str], float]
    demand: dict[tuple[str, str, int], float]
    quarters: range

    @classmethod
    def of(cls, fleet: Fleet) -> _Inputs:
        qps = {
            (p.model_id, p.platform_id): float(p.qps_per_server)
            for p in fleet.profiles.itertuples(index=False)
        }
        return cls(
            fleet.platforms.set_index("platform_id"),
            fleet.models.set_index("model_id"),
            fleet.regions.set_index("region_id"),
            qps,
            demand_from_inputs(fleet),
            range(fleet.settings.horizon_quarters),
        )

    def server_kw(self, p: str, r: str) -> float:
        """Facility kW of one in-service server: provisioned power x PUE."""
        return float(self.platforms.at[p, "power_w"]) / 1000.0 * float(self.regions.at[r, "pue"])


# ----------------------------------------------------------------------------------------------
# The checks


def verify_plan(fleet: Fleet, plan: Plan, check_cost: bool = True) -> Verification:
    """Re-check every constraint of ``plan`` and every table it holds against ``fleet``'s inputs.

    Args:
        fleet: The fleet (after any scenario) the plan was made for.
        plan: The plan to check.
        check_cost: Also compare the plan's cost table and summary totals with the costs
            recomputed from the inputs (off: only constraints and physical tables).

    Returns:
        A :class:`Verification` listing every violation (empty when the plan is valid).
    """
    issues = _Issues()
    missing = {
        name: [c for c in cols if c not in getattr(plan, name).columns]
        for name, cols in REQUIRED_COLUMNS.items()
    }
    for name, cols in missing.items():
        if cols:
            issues.add("columns", name, None, "table", f"missing columns {', '.join(cols)}")
    if any(missing.values()):
        return Verification(issues.frame(), float("nan"))
    inputs = _Inputs.of(fleet)
    tables = {
        name: _known_rows(fleet, inputs, name, getattr(plan, name), issues)
        for name in REQUIRED_COLUMNS
    }
    alloc = _check_allocation(fleet, inputs, tables["allocation"], issues)
    _check_demand(fleet, inputs, alloc, issues)
    available = _check_purchases(fleet, inputs, tables["purchases"], issues)
    kw = _check_fleet_table(fleet, inputs, tables["fleet"], alloc, available, issues)
    _check_power_table(fleet, tables["power"], kw, issues)
    _check_space_supply(fleet, inputs, tables["fleet"], tables["purchases"], issues)
    costs = _costs_from_inputs(fleet, inputs, tables["fleet"], tables["purchases"])
    cost = sum(sum(parts) for parts in costs.values())
    if check_cost:
        _check_cost_table(tables["costs"], costs, issues)
        if _differs(cost, plan.total_cost_usd, USD_TOL):
            issues.add(
                "cost",
                "costs",
                None,
                "total",
                f"plan says {plan.total_cost_usd:,.2f} USD, inputs give {cost:,.2f} USD",
            )
        _check_summary(plan.summary, costs, tables["purchases"], kw, issues)
    return Verification(issues.frame(), cost)


def _known_rows(
    fleet: Fleet, inputs: _Inputs, name: str, frame: pd.DataFrame, issues: _Issues
) -> pd.DataFrame:
    """Return ``frame`` with a ``row`` column; flag unknown ids, bad numbers and duplicates.

    Rows that name an unknown model, platform, region or quarter are left out of the other
    checks (they cannot be costed or placed).
    """
    known = {
        "model_id": set(inputs.models.index),
        "platform_id": set(inputs.platforms.index),
        "region_id": set(inputs.regions.index),
    }
    quarter_cols = [c for c in ("quarter", "order_quarter") if c in frame.columns]
    numbers = [c for c in REQUIRED_COLUMNS[name] if not c.endswith("_id") and c not in quarter_cols]
    keep = []
    for row, r in _rows(frame):
        bad = [
            ("unknown", f"{c} '{getattr(r, c)}' is not in the case")
            for c in known
            if c in frame.columns and getattr(r, c) not in known[c]
        ]
        bad += [
            (
                "unknown",
                f"{c} {getattr(r, c)} is not a quarter of the horizon "
                f"(0-{len(inputs.quarters) - 1})",
            )
            for c in quarter_cols
            if _not_quarter(getattr(r, c), inputs.quarters)
        ]
        bad += [
            ("number", f"{c} is {getattr(r, c)!r}, not a number")
            for c in numbers
            if not _is_number(getattr(r, c))
        ]
        for check, text in bad:
            issues.add(check, name, row, _key_text(name, r), text)
        keep.append(not bad)
    numbered = frame.assign(row=range(1, len(frame) + 1))
    out = numbered[pd.Series(keep, index=numbered.index, dtype=bool)].copy()  # [[]] picks columns
    dup = out.duplicated(list(_KEYS[name]), keep="first")
    for r in out[dup].itertuples(index=False):
        issues.add(
            "duplicate",
            name,
            r.row,
            _key_text(name, r),
            f"a second row for {'/'.join(_KEYS[name])}",
        )
    return out


def _not_quarter(value: object, quarters: range) -> bool:
    return not _is_number(value) or float(value) != int(value) or int(value) not in quarters


def _is_number(value: object) -> bool:
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _key_text(name: str, r) -> str:
    if name == "allocation":
        return f"{r.model_id} on {r.platform_id} in {r.region_id} Q{r.quarter}"
    if name == "purchases":
        return f"{r.platform_id} in {r.region_id} ordered Q{r.order_quarter}"
    if name == "power":
        return f"{r.region_id} Q{r.quarter}"
    return f"{r.platform_id} in {r.region_id} Q{r.quarter}"


def _label_mismatch(r, column: str, expected: object) -> str | None:
    have = getattr(r, column, expected)
    return None if have == expected else f"{column} is '{have}', the case says '{expected}'"


def _check_allocation(
    fleet: Fleet, inputs: _Inputs, alloc: pd.DataFrame, issues: _Issues
) -> pd.DataFrame:
    """Check each allocation row: profile, memory fit, integrality and its derived columns.

    Returns the rows that can run, with ``qps`` (latency-bounded capacity from the inputs).
    """
    dedicated = fleet.settings.allocation == "dedicated"
    qps_col, ok = [], []
    for r in alloc.itertuples(index=False):
        where = _key_text("allocation", r)
        row = r.row
        qps = inputs.qps.get((r.model_id, r.platform_id))
        if qps is None:
            issues.add("profile", "allocation", row, where, "model has no profile on this platform")
            qps_col.append(0.0)
            ok.append(False)
            continue
        m = inputs.models.loc[r.model_id]
        p = inputs.platforms.loc[r.platform_id]
        need = _servers_per_replica(
            float(m["memory_gb"]), float(p["host_memory_gb"]), float(p["accel_memory_gb"])
        )
        if need > int(m["max_shards"]):
            issues.add(
                "memory_fit",
                "allocation",
                row,
                where,
                f"{m['memory_gb']} GB needs {need} servers, max_shards is {m['max_shards']}",
            )
        if _differs(float(r.servers), need * float(r.replicas)):
            issues.add(
                "memory_fit",
                "allocation",
                row,
                where,
                f"{r.replicas} replicas need {need} servers each, plan has {r.servers}",
            )
        if r.replicas < 0:
            issues.add("integrality", "allocation", row, where, f"replicas {r.replicas} < 0")
        if dedicated and r.replicas != round(r.replicas):
            issues.add("integrality", "allocation", row, where, f"replicas {r.replicas} not whole")
        for column, expected in (
            ("bucket", m["bucket"]),
            ("phase", m["phase"]),
            ("platform_class", p["platform_class"]),
        ):
            text = _label_mismatch(r, column, expected)
            if text:
                issues.add("label", "allocation", row, where, text)
        capacity = float(r.servers) * qps
        if hasattr(r, "capacity_qps") and _differs(float(r.capacity_qps), capacity, QPS_TOL):
            issues.add(
                "allocation_table",
                "allocation",
                row,
                where,
                f"capacity_qps {r.capacity_qps:,.3f}, servers x qps_per_server give "
                f"{capacity:,.3f}",
            )
        qps_col.append(capacity)
        ok.append(True)
    alloc = alloc.assign(qps=qps_col)[ok] if len(alloc) else alloc.assign(qps=[])
    _check_served(inputs, alloc, issues)
    return alloc


def _check_served(inputs: _Inputs, alloc: pd.DataFrame, issues: _Issues) -> None:
    """Check served_qps (the cell's peak split over its rows) and utilization = served / cap."""
    if "served_qps" not in alloc.columns or alloc.empty:
        return
    key = ["model_id", "region_id", "quarter"]
    for cell, rows in alloc.groupby(key, sort=True):
        peak = inputs.demand.get((cell[0], cell[1], int(cell[2])), 0.0)
        served = float(rows["served_qps"].sum())
        if _differs(served, peak, QPS_TOL):
            issues.add(
                "allocation_table",
                "allocation",
                None,
                f"{tuple(cell)}",
                f"served_qps add up to {served:,.3f}, the cell's peak is {peak:,.3f}",
            )
    if "utilization" not in alloc.columns or "capacity_qps" not in alloc.columns:
        return
    for r in alloc.itertuples(index=False):
        if r.capacity_qps > 0 and _differs(
            float(r.utilization), float(r.served_qps) / float(r.capacity_qps), 1e-5
        ):
            issues.add(
                "allocation_table",
                "allocation",
                r.row,
                _key_text("allocation", r),
                f"utilization {r.utilization}, served / capacity is "
                f"{r.served_qps / r.capacity_qps:.6f}",
            )


def _check_demand(fleet: Fleet, inputs: _Inputs, alloc: pd.DataFrame, issues: _Issues) -> None:
    """Check demand within SLO, minimum replicas and disaster recovery."""
    s = fleet.settings
    key = ["model_id", "region_id", "quarter"]
    qps = alloc.groupby(key)["qps"].sum().to_dict() if len(alloc) else {}
    reps = alloc.groupby(key)["replicas"].sum().to_dict() if len(alloc) else {}
    qps = {(m, r, int(t)): v for (m, r, t), v in qps.items()}
    reps = {(m, r, int(t)): v for (m, r, t), v in reps.items()}
    for k, peak in sorted(inputs.demand.items()):
        have = qps.get(k, 0.0) * s.target_utilization
        if _short(have, peak):
            issues.add(
                "demand", "allocation", None, f"{k}", f"usable {have:,.1f} qps < peak {peak:,.1f}"
            )
        least = float(inputs.models.at[k[0], "min_replicas"])
        if _short(reps.get(k, 0.0), least):
            issues.add(
                "min_replicas", "allocation", None, f"{k}", f"{reps.get(k, 0)} < {int(least)}"
            )
    dr = s.disaster_recovery
    if not dr.enabled:
        return
    backup = backups_from_inputs(fleet)
    for (m, f, t), lost in sorted(inputs.demand.items()):
        if inputs.models.at[m, "phase"] not in dr.phases:
            continue
        survivors = backup.get(f, [])
        have = sum(qps.get((m, r, t), 0.0) for r in survivors) * dr.emergency_utilization
        need = lost + sum(inputs.demand.get((m, r, t), 0.0) for r in survivors)
        if _short(have, need):
            issues.add(
                "disaster_recovery",
                "allocation",
                None,
                f"{m} losing {f} Q{t}",
                f"backups {survivors} give {have:,.1f} qps < {need:,.1f}",
            )


def _check_purchases(
    fleet: Fleet, inputs: _Inputs, purchases: pd.DataFrame, issues: _Issues
) -> dict[tuple[str, str, int], float]:
    """Check orders (timing, lead time, integrality, capex) and return installed servers.

    Installed = inventory still in service + orders that have arrived and not yet retired,
    per (platform, region, quarter).
    """
    available = inventory_from_inputs(fleet)
    for b in purchases.itertuples(index=False):
        p = inputs.platforms.loc[b.platform_id]
        where = _key_text("purchases", b)
        lead, life = int(p["lead_time_quarters"]), int(p["lifetime_quarters"])
        if b.order_quarter < p["available_from_quarter"]:
            issues.add(
                "availability",
                "purchases",
                b.row,
                where,
                f"not orderable before Q{p['available_from_quarter']}",
            )
        if b.arrival_quarter != b.order_quarter + lead:
            issues.add(
                "lead_time",
                "purchases",
                b.row,
                where,
                f"arrives Q{b.arrival_quarter}, lead time is {lead}",
            )
        if b.servers != round(b.servers) or b.servers < 0:
            issues.add("integrality", "purchases", b.row, where, f"{b.servers} servers")
        text = _label_mismatch(b, "platform_class", p["platform_class"])
        if text:
            issues.add("label", "purchases", b.row, where, text)
        capex = float(b.servers) * float(p["capex_usd"])
        if hasattr(b, "capex_usd") and _differs(float(b.capex_usd), capex, USD_TOL):
            issues.add(
                "purchases_table",
                "purchases",
                b.row,
                where,
                f"capex_usd {b.capex_usd:,.2f}, servers x capex give {capex:,.2f}",
            )
        arrival = int(b.order_quarter) + lead
        for t in inputs.quarters:
            if arrival <= t < arrival + life:
                k = (b.platform_id, b.region_id, t)
                available[k] = available.get(k, 0.0) + float(b.servers)
    return available


def _check_fleet_table(
    fleet: Fleet,
    inputs: _Inputs,
    table: pd.DataFrame,
    alloc: pd.DataFrame,
    available: dict,
    issues: _Issues,
) -> dict[tuple[str, int], float]:
    """Check allocated <= in service <= installed and the fleet table's derived columns.

    Returns facility kW per (region, quarter) recomputed from in-service servers.
    """
    used = {}
    if len(alloc):
        for (p, r, t), n in (
            alloc.groupby(["platform_id", "region_id", "quarter"])["servers"].sum().items()
        ):
            used[(p, r, int(t))] = float(n)
    if "slot" in fleet.models.columns:  # time-of-day slots: servers are shared between slots
        used = _busiest_slot(fleet, alloc)
    dedicated = fleet.settings.allocation == "dedicated"
    kw: dict[tuple[str, int], float] = defaultdict(float)
    seen = set()
    for f in table.itertuples(index=False):
        k = (f.platform_id, f.region_id, int(f.quarter))
        seen.add(k)
        where = _key_text("fleet", f)
        serving = float(f.in_service_servers)
        if _short(serving, used.get(k, 0.0)):
            issues.add(
                "capacity",
                "fleet",
                f.row,
                where,
                f"{used[k]:g} servers allocated > {serving:g} in service",
            )
        if _short(available.get(k, 0.0), serving):
            issues.add(
                "installed",
                "fleet",
                f.row,
                where,
                f"{serving:g} in service > {available.get(k, 0.0):g} installed",
            )
        if serving < 0 or (dedicated and serving != round(serving)):
            issues.add("integrality", "fleet", f.row, where, f"{serving} servers in service")
        server_kw = inputs.server_kw(f.platform_id, f.region_id)
        kw[(f.region_id, k[2])] += serving * server_kw
        derived = {
            "available_servers": (available.get(k, 0.0), "inventory and purchases"),
            "allocated_servers": (used.get(k, 0.0), "the allocation rows"),
            "facility_kw": (serving * server_kw, "in-service servers x power x PUE"),
        }
        for column, (expected, source) in derived.items():
            if hasattr(f, column) and _differs(
                float(getattr(f, column)), expected, KW_TOL if column == "facility_kw" else ABS_TOL
            ):
                issues.add(
                    "fleet_table",
                    "fleet",
                    f.row,
                    where,
                    f"{column} {getattr(f, column):,.6g}, {source} give {expected:,.6g}",
                )
        text = _label_mismatch(
            f, "platform_class", inputs.platforms.at[f.platform_id, "platform_class"]
        )
        if text:
            issues.add("label", "fleet", f.row, where, text)
    for k, n in sorted(used.items()):
        if k not in seen and n > ABS_TOL:
            issues.add(
                "capacity",
                "fleet",
                None,
                f"{k[0]} in {k[1]} Q{k[2]}",
                f"{n:g} servers allocated, no fleet row (0 in service)",
            )
    for k, n in sorted(available.items()):
        if k not in seen and n > ABS_TOL:
            issues.add(
                "fleet_table",
                "fleet",
                None,
                f"{k[0]} in {k[1]} Q{k[2]}",
                f"no fleet row, {n:g} servers installed",
            )
    return dict(kw)


def _busiest_slot(fleet: Fleet, alloc: pd.DataFrame) -> dict[tuple[str, str, int], float]:
    """Return allocated servers per (platform, region, quarter) in its busiest time-of-day slot.

    A slotted fleet (planner.diurnal) marks each model's slot in ``models.slot``; -1 means the
    model runs all day and counts in every one of ``settings.diurnal.slots`` slots.
    """
    slot_of = dict(zip(fleet.models["model_id"], fleet.models["slot"].astype(int), strict=True))
    per_slot: dict[tuple[str, str, int, int], float] = defaultdict(float)
    for a in alloc.itertuples(index=False):
        slot = slot_of[a.model_id]
        for s in range(fleet.settings.diurnal.slots) if slot == -1 else (slot,):
            per_slot[(a.platform_id, a.region_id, int(a.quarter), s)] += float(a.servers)
    busiest: dict[tuple[str, str, int], float] = {}
    for (p, r, t, _s), n in per_slot.items():
        busiest[(p, r, t)] = max(busiest.get((p, r, t), 0.0), n)
    return busiest


def _check_power_table(fleet: Fleet, table: pd.DataFrame, kw: dict, issues: _Issues) -> None:
    """Check facility power against the caps, and the power table row by row."""
    caps = power_caps_from_inputs(fleet)
    for (r, t), cap in sorted(caps.items()):
        used = kw.get((r, t), 0.0)
        if _short(cap, used):
            issues.add("power", "fleet", None, f"{r} Q{t}", f"{used:,.1f} kW > cap {cap:,.1f} kW")
    seen = set()
    for p in table.itertuples(index=False):
        k = (p.region_id, int(p.quarter))
        seen.add(k)
        derived = {"power_kw": kw.get(k, 0.0), "cap_kw": caps[k]}
        if hasattr(p, "headroom_kw"):
            derived["headroom_kw"] = caps[k] - kw.get(k, 0.0)
        for column, expected in derived.items():
            if _differs(float(getattr(p, column)), expected, KW_TOL):
                issues.add(
                    "power_table",
                    "power",
                    p.row,
                    _key_text("power", p),
                    f"{column} {getattr(p, column):,.1f} kW, the fleet table and inputs "
                    f"give {expected:,.1f} kW",
                )
    for r, t in sorted(set(caps) - seen):
        issues.add("power_table", "power", None, f"{r} Q{t}", "no row for this region and quarter")


def _check_space_supply(
    fleet: Fleet, inputs: _Inputs, table: pd.DataFrame, purchases: pd.DataFrame, issues: _Issues
) -> None:
    """Check space limits (rack units in service) and per-quarter supply of purchases."""
    ru: dict[tuple[str, int], float] = defaultdict(float)
    for f in table.itertuples(index=False):
        units = float(inputs.platforms.at[f.platform_id, "rack_units"])
        ru[(f.region_id, int(f.quarter))] += float(f.in_service_servers) * units
    for (r, t), used in sorted(ru.items()):
        limit = inputs.regions.at[r, "space_limit_ru"]
        if not pd.isna(limit) and _short(float(limit), used):
            issues.add(
                "space", "fleet", None, f"{r} Q{t}", f"{used:,.1f} RU > limit {float(limit):,.1f}"
            )
    bought: dict[tuple[str, int], float] = defaultdict(float)
    for b in purchases.itertuples(index=False):
        bought[(b.platform_id, int(b.order_quarter))] += float(b.servers)
    for (p, t), n in sorted(bought.items()):
        supply = inputs.platforms.at[p, "supply_per_quarter"]
        if not pd.isna(supply) and _short(float(supply), n):
            issues.add(
                "supply", "purchases", None, f"{p} Q{t}", f"{n:g} bought > supply {float(supply):g}"
            )


def _costs_from_inputs(
    fleet: Fleet, inputs: _Inputs, table: pd.DataFrame, purchases: pd.DataFrame
) -> dict[tuple[str, str, int], list[float]]:
    """Return [capex, energy, maintenance] USD per (platform, region, quarter).

    Capex of orders in their order quarter; energy = in-service servers x facility kW x load
    factor x 2,190 h x price; maintenance per in-service server and quarter.
    """
    costs: dict[tuple[str, str, int], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for b in purchases.itertuples(index=False):
        capex = float(inputs.platforms.at[b.platform_id, "capex_usd"])
        costs[(b.platform_id, b.region_id, int(b.order_quarter))][0] += float(b.servers) * capex
    load = fleet.settings.energy_load_factor
    for f in table.itertuples(index=False):
        k = (f.platform_id, f.region_id, int(f.quarter))
        n = float(f.in_service_servers)
        price = float(inputs.regions.at[f.region_id, "electricity_usd_per_kwh"])
        costs[k][1] += (
            n * inputs.server_kw(f.platform_id, f.region_id) * load * HOURS_PER_QUARTER * price
        )
        costs[k][2] += n * float(inputs.platforms.at[f.platform_id, "maintenance_usd_per_quarter"])
    return dict(costs)


def _check_cost_table(table: pd.DataFrame, costs: dict, issues: _Issues) -> None:
    """Check every cost row against the recomputed costs, and that no costed key is missing."""
    names = ("capex_usd", "energy_usd", "maintenance_usd")
    seen = set()
    for c in table.itertuples(index=False):
        k = (c.platform_id, c.region_id, int(c.quarter))
        seen.add(k)
        expected = costs.get(k, [0.0, 0.0, 0.0])
        derived = dict(zip(names, expected, strict=True)) | {"total_usd": sum(expected)}
        for column, value in derived.items():
            if _differs(float(getattr(c, column)), value, USD_TOL):
                issues.add(
                    "cost",
                    "costs",
                    c.row,
                    _key_text("costs", c),
                    f"{column} {getattr(c, column):,.2f} USD, inputs give {value:,.2f}",
                )
        parts = sum(float(getattr(c, n)) for n in names)
        if _differs(float(c.total_usd), parts, USD_TOL):
            issues.add(
                "cost",
                "costs",
                c.row,
                _key_text("costs", c),
                f"total_usd {c.total_usd:,.2f} is not capex + energy + maintenance ({parts:,.2f})",
            )
    for k, parts in sorted(costs.items()):
        if k not in seen and sum(parts) > USD_TOL:
            issues.add(
                "cost",
                "costs",
                None,
                f"{k[0]} in {k[1]} Q{k[2]}",
                f"no cost row; inputs give {sum(parts):,.2f} USD",
            )


def _check_summary(
    summary: dict, costs: dict, purchases: pd.DataFrame, kw: dict, issues: _Issues
) -> None:
    """Check the summary's totals (those it has) against the recomputed tables."""
    totals = [sum(p[i] for p in costs.values()) for i in range(3)]
    expected: dict[str, float] = {
        "total_cost_usd": sum(totals),
        "capex_usd": totals[0],
        "energy_usd": totals[1],
        "maintenance_usd": totals[2],
        "servers_purchased": float(purchases["servers"].sum()) if len(purchases) else 0.0,
    }
    by_quarter: dict[Hashable, float] = defaultdict(float)
    for (_r, t), v in kw.items():
        by_quarter[t] += v
    expected["peak_power_kw"] = max(by_quarter.values(), default=0.0)
    for key, value in expected.items():
        if key not in summary or summary[key] is None:
            continue
        tol = USD_TOL if key in _SUMMARY_USD else KW_TOL if key == "peak_power_kw" else ABS_TOL
        if not _is_number(summary[key]) or _differs(float(summary[key]), value, tol):
            issues.add(
                "summary",
                "summary",
                None,
                key,
                f"summary says {summary[key]}, the plan's tables give {value:,.2f}",
            )
