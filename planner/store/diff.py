"""What changed between two stored plans: in their inputs, and in the plans themselves.

Inputs: each case table (rows added, removed; the ids they concern), each setting, the
scenario. Plans: totals side by side, then servers in service, purchases, cost and power by
platform, region and quarter, and replicas by model; only keys whose value changed are listed.
"""

from __future__ import annotations

import pandas as pd

from planner.store.frames import case_settings, case_tables
from planner.store.records import PlanStore, StoredPlan

ZERO = 1e-6
TOTALS = (
    "status",
    "gap",
    "total_cost_usd",
    "capex_usd",
    "energy_usd",
    "maintenance_usd",
    "servers_purchased",
    "peak_power_kw",
)

# (title, plan table, key columns, value column)
PLAN_CHANGES = (
    ("servers", "fleet", ["platform_id", "region_id", "quarter"], "in_service_servers"),
    ("purchases", "purchases", ["platform_id", "region_id", "order_quarter"], "servers"),
    ("cost", "costs", ["platform_id", "region_id", "quarter"], "total_usd"),
    ("power", "power", ["region_id", "quarter"], "power_kw"),
    ("replicas", "allocation", ["model_id", "platform_id", "region_id", "quarter"], "replicas"),
)


def diff_records(store: PlanStore, first: int, second: int) -> dict[str, pd.DataFrame]:
    """Return what changed from record ``first`` to record ``second``, as named tables.

    Tables: ``inputs`` (what, change), ``totals`` (a, b, change), then ``servers``,
    ``purchases``, ``cost``, ``power`` and ``replicas`` (keys, a, b, change), each holding
    only the keys whose value differs. ``a`` is ``first``'s value, ``b`` ``second``'s.
    """
    a, b = store.get(first), store.get(second)
    out = {"inputs": input_changes(store, a, b), "totals": total_changes(a, b)}
    for title, table, keys, value in PLAN_CHANGES:
        out[title] = value_changes(getattr(a.plan, table), getattr(b.plan, table), keys, value)
    return out


def input_changes(store: PlanStore, a: StoredPlan, b: StoredPlan) -> pd.DataFrame:
    """Return one row per changed input: a table, a setting or the scenario."""
    rows: list[tuple[str, str]] = []
    if a.case_hash != b.case_hash:
        fa, fb = store.case(a.case_hash), store.case(b.case_hash)
        ta, tb = case_tables(fa), case_tables(fb)
        for name in sorted(set(ta) | set(tb)):
            change = _table_change(ta.get(name), tb.get(name))
            if change:
                rows.append((f"{name}.csv", change))
        sa, sb = _flat(case_settings(fa)), _flat(case_settings(fb))
        for key in sorted(set(sa) | set(sb)):
            if sa.get(key) != sb.get(key):
                rows.append((f"settings {key}", f"{sa.get(key)!r} -> {sb.get(key)!r}"))
    if (a.scenario, a.scenario_yaml) != (b.scenario, b.scenario_yaml):
        rows.append(("scenario", f"{a.scenario or '(none)'} -> {b.scenario or '(none)'}"))
    if a.solver != b.solver:
        keys = sorted(
            k for k in set(a.solver) | set(b.solver) if a.solver.get(k) != b.solver.get(k)
        )
        rows += [(f"solver {k}", f"{a.solver.get(k)!r} -> {b.solver.get(k)!r}") for k in keys]
    return pd.DataFrame(rows, columns=["input", "change"])


def _table_change(a: pd.DataFrame | None, b: pd.DataFrame | None) -> str:
    """Describe how one input table changed ('' when it did not)."""
    if a is None and b is None:
        return ""
    if a is None:
        return f"added ({len(b)} rows)"
    if b is None:
        return f"removed ({len(a)} rows)"
    columns = [c for c in a.columns if c in b.columns]
    if list(a.columns) == list(b.columns) and a.equals(b):
        return ""
    both = a[columns].astype(str).merge(b[columns].astype(str), how="outer", indicator=True)
    gone = both[both["_merge"] == "left_only"]
    new = both[both["_merge"] == "right_only"]
    parts = []
    if len(gone) or len(new):
        ids = sorted(set(gone[columns[0]]) | set(new[columns[0]]))
        shown = ", ".join(ids[:8]) + (", ..." if len(ids) > 8 else "")
        parts.append(f"{len(gone)} row(s) only in a, {len(new)} only in b ({columns[0]}: {shown})")
    extra = sorted(set(a.columns) ^ set(b.columns))
    if extra:
        parts.append(f"columns differ: {', '.join(extra)}")
    return "; ".join(parts) or "row order changed"


def _flat(data: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def total_changes(a: StoredPlan, b: StoredPlan) -> pd.DataFrame:
    """Return the plans' totals side by side (status, gap, costs, purchases, peak power)."""
    rows = []
    for key in TOTALS:
        va, vb = a.summary.get(key), b.summary.get(key)
        numeric = isinstance(va, (int, float)) and isinstance(vb, (int, float))
        rows.append((key, va, vb, (vb - va) if numeric else None))
    return pd.DataFrame(rows, columns=["total", "a", "b", "change"]).set_index("total")


def value_changes(a: pd.DataFrame, b: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """Return ``value`` by ``keys`` in both tables where it differs, with ``change`` = b - a."""
    columns = [*keys, "a", "b", "change"]
    sums = []
    for frame in (a, b):
        if frame.empty or value not in frame:
            sums.append(pd.Series(dtype=float))
        else:
            sums.append(frame.groupby(keys)[value].sum())
    both = pd.concat(sums, axis=1, keys=["a", "b"]).fillna(0.0)
    if both.empty:
        return pd.DataFrame(columns=columns)
    both["change"] = both["b"] - both["a"]
    both = both[both["change"].abs() > ZERO]
    return both.reset_index().rename(columns=dict(zip(both.index.names, keys, strict=True)))[
        columns
    ]
