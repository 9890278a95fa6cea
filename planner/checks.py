"""Cross-table checks of a fleet case, run after every table has passed its column checks.

:func:`check_fleet` runs every ``check_*`` function, collects all problems and raises one
:class:`~planner.errors.FleetDataError`; on a fleet without errors it returns the warnings of
every ``warn_*`` function (:func:`fleet_warnings`): problems with ``severity="warning"`` that
leave the case plannable but the plan probably not the one meant. Rows in problems are
1-based data rows (the loader resets each table's index, so index ``i`` is data row ``i + 1``;
the line is ``row + 1``).

:func:`memory_fit` and :func:`backup_graph` are public helpers; on a checked fleet they agree
with :func:`planner.parameters.candidates` and :func:`planner.topology.backup_graph`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

import networkx as nx
import pandas as pd

from planner.demand import call_graph, peak_demand
from planner.errors import FleetDataError, Problem
from planner.fleet import Fleet
from planner.parameters import order_quarters, servers_per_replica
from planner.profile_curves import BELOW_CURVE, SERVES
from planner.profile_curves import CURVE_KEY as PROFILE_CURVE_KEY
from planner.profile_curves import slo_coverage as curve_slo_coverage
from planner.schema import TABLES
from planner.topology import backup_graph

SHARE_TOLERANCE = 1e-6
MAX_PROBLEMS_PER_COLUMN = 10
MAX_WARNING_MODELS = 10  # one line per model up to here, then a count (hyperscale cases)
WARNING = "warning"
_CALLS_FIX = "add products.csv and calls.csv, or demand.csv"


def _row(index: Any) -> int:
    """Return the 1-based data row of a DataFrame index label."""
    return int(index) + 1


def _rows_text(rows: list[int]) -> str:
    """Return ``row 3`` or ``rows 3, 5``."""
    return ("row " if len(rows) == 1 else "rows ") + ", ".join(str(r) for r in rows)


def _limit(problems: list[Problem]) -> list[Problem]:
    """Keep at most :data:`MAX_PROBLEMS_PER_COLUMN` problems per (file, column) and summarise."""
    kept: list[Problem] = []
    counts: dict[tuple[str, str | None], int] = {}
    for p in problems:
        key = (p.file, p.column)
        counts[key] = counts.get(key, 0) + 1
        if counts[key] <= MAX_PROBLEMS_PER_COLUMN:
            kept.append(p)
    for (file, column), n in counts.items():
        if n > MAX_PROBLEMS_PER_COLUMN:
            kept.append(
                Problem(
                    file,
                    f"{n - MAX_PROBLEMS_PER_COLUMN} more rows have the same kind of problem",
                    column=column,
                )
            )
    return kept


def _horizon(fleet: Fleet) -> int:
    return fleet.settings.horizon_quarters


def memory_fit(fleet: Fleet) -> pd.DataFrame:
    """Return each profile row with the memory a replica needs on its platform.

    A replica spans ``servers_per_replica = ceil(memory_gb / (host_memory_gb +
    accel_memory_gb))`` servers; it ``fits`` when that is at most the model's ``max_shards``.
    Profiles whose model or platform does not exist are left out.

    Args:
        fleet: The fleet.

    Returns:
        The profiles columns plus ``memory_gb``, ``max_shards``, ``capacity_gb`` (memory of
        one server), ``servers_per_replica`` (int) and ``fits`` (bool); the index is the
        profiles index, so ``index + 1`` is the profiles.csv row.
    """
    models = fleet.models.drop_duplicates("model_id").set_index("model_id")
    platforms = fleet.platforms.drop_duplicates("platform_id").set_index("platform_id")
    out = fleet.profiles.join(models[["memory_gb", "max_shards"]], on="model_id", how="inner")
    out = out.join(platforms[["host_memory_gb", "accel_memory_gb"]], on="platform_id", how="inner")
    out["capacity_gb"] = (out["host_memory_gb"] + out["accel_memory_gb"]).astype("float64")
    need = [
        servers_per_replica(m, h, a)
        for m, h, a in zip(
            out["memory_gb"], out["host_memory_gb"], out["accel_memory_gb"], strict=True
        )
    ]
    out["servers_per_replica"] = pd.Series(need, index=out.index, dtype="int64")
    out["fits"] = out["servers_per_replica"] <= out["max_shards"].astype("int64")
    return out.drop(columns=["host_memory_gb", "accel_memory_gb"]).sort_index()


def check_duplicate_keys(fleet: Fleet) -> list[Problem]:
    """Report rows whose key repeats an earlier row of the same table.

    Args:
        fleet: The fleet.

    Returns:
        One problem per repeating row, naming the first row with that key.
    """
    problems: list[Problem] = []
    for table in TABLES.values():
        frame = fleet.table(table.name)
        dup = frame.duplicated(list(table.key), keep=False)
        if not dup.any():
            continue
        for key, group in frame[dup].groupby(list(table.key), dropna=False, sort=False):
            first, *repeats = [_row(i) for i in group.index]
            value = key if len(table.key) > 1 else key[0]
            for row in repeats:
                problems.append(
                    Problem(
                        table.file,
                        f"duplicate key {'/'.join(table.key)}, first on row {first}",
                        f"delete row {row} or merge it into row {first} (each "
                        f"{' + '.join(table.key)} may appear once)",
                        row=row,
                        column=", ".join(table.key),
                        value=value,
                    )
                )
    return problems


def _dangling(
    file: str, column: str, frame: pd.DataFrame, known: list[str], where: str
) -> list[Problem]:
    """Report values of ``frame[column]`` that are not in ``known``."""
    problems = []
    present = set(known)
    for idx, value in frame[column].items():
        if pd.isna(value) or value in present:
            continue
        close = difflib.get_close_matches(str(value), known, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(known) or 'none'}"
        problems.append(
            Problem(
                file,
                f"refers to an unknown id (not in {where})",
                f"use an id from {where} ({hint}) or add that row there",
                row=_row(idx),
                column=column,
                value=value,
            )
        )
    return problems


def check_references(fleet: Fleet) -> list[Problem]:
    """Report foreign-key values (columns with ``ref``) that do not exist in their table.

    ``calls.caller_id`` must be a product_id or a model_id.

    Args:
        fleet: The fleet.

    Returns:
        One problem per dangling value, at most ten per column.
    """
    problems: list[Problem] = []
    for table in TABLES.values():
        frame = fleet.table(table.name)
        for column in table.columns:
            if not column.ref or frame.empty:
                continue
            target, target_col = column.ref.split(".")
            known = list(dict.fromkeys(fleet.table(target)[target_col]))
            problems += _dangling(table.file, column.name, frame, known, f"{target}.csv")
    callers = list(dict.fromkeys([*fleet.products["product_id"], *fleet.models["model_id"]]))
    problems += _dangling(
        "calls.csv", "caller_id", fleet.calls, callers, "products.csv or models.csv"
    )
    return _limit(problems)


def _model_row(fleet: Fleet, model_id: str) -> int:
    """Return the models.csv row of ``model_id`` (first occurrence)."""
    return _row(fleet.models.index[fleet.models["model_id"] == model_id][0])


def check_servable_models(fleet: Fleet) -> list[Problem]:
    """Report models that no platform can serve (no profiles.csv row at all).

    Builds a bipartite model–platform graph from the profiles; a model node without edges
    cannot be placed anywhere.

    Args:
        fleet: The fleet.

    Returns:
        One problem per model without a profile.
    """
    graph = nx.Graph()
    graph.add_nodes_from((("model", m) for m in fleet.models["model_id"]), bipartite=0)
    graph.add_nodes_from((("platform", p) for p in fleet.platforms["platform_id"]), bipartite=1)
    for m, p in zip(fleet.profiles["model_id"], fleet.profiles["platform_id"], strict=True):
        if graph.has_node(("model", m)) and graph.has_node(("platform", p)):
            graph.add_edge(("model", m), ("platform", p))
    platforms = ", ".join(dict.fromkeys(fleet.platforms["platform_id"]))
    cov = slo_coverage(fleet)
    problems = []
    for kind, m in graph.nodes:
        if kind != "model" or graph.degree(("model", m)) > 0:
            continue
        curves = cov[cov["model_id"] == m]
        if curves.empty:
            message = f"no platform can serve model '{m}': it has no profiles.csv row"
            fix = (
                f"add a profiles.csv row for it (model_id={m}, platform_id one of "
                f"{platforms}, qps_per_server measured at its latency SLO)"
            )
        else:
            slo = curves.iloc[0]
            smallest = ", ".join(
                f"{c.platform_id} {c.smallest_bound_ms:g} ms" if c.status == BELOW_CURVE
                else f"{c.platform_id} only {c.curve_percentiles}"
                for c in curves.itertuples(index=False)
            )
            message = (
                f"no platform can serve model '{m}' within its SLO {slo['slo_ms']:g} ms "
                f"p{slo['slo_percentile']:g}: every curve starts at a looser bound "
                f"({smallest})"
            )
            fix = (
                "loosen latency_slo_ms, or add curve points at or below the SLO "
                "(profiles.csv latency_ms) for a platform that can meet it"
            )
        problems.append(
            Problem(
                "models.csv",
                message,
                fix,
                row=_model_row(fleet, m),
                column="model_id" if curves.empty else "latency_slo_ms",
                value=m,
            )
        )
    return problems


def check_memory(fleet: Fleet) -> list[Problem]:
    """Report models whose memory exceeds every platform they have a profile for.

    A profile for a platform a model does not fit on is not an error by itself (it is just
    unusable, see :func:`memory_fit`).

    Args:
        fleet: The fleet.

    Returns:
        One problem (models.csv, column memory_gb) per model that fits nowhere.
    """
    fit = memory_fit(fleet)
    problems = []
    for model_id, group in fit.groupby("model_id", sort=False):
        if group["fits"].any():
            continue
        best = group.loc[group["capacity_gb"].idxmax()]
        shards = int(best["max_shards"])
        problems.append(
            Problem(
                "models.csv",
                f"model '{model_id}' needs {best['memory_gb']:g} GB per replica, more than any "
                f"platform it has a profile for holds: at most {shards * best['capacity_gb']:g} GB "
                f"on {best['platform_id']} (max_shards={shards} x {best['capacity_gb']:g} GB "
                "host+accelerator memory)",
                f"raise max_shards to at least {int(best['servers_per_replica'])}, or add a "
                "platform with more memory and a profiles.csv row for it",
                row=_model_row(fleet, str(model_id)),
                column="memory_gb",
                value=best["memory_gb"],
            )
        )
    return problems


def _in_service_platforms(fleet: Fleet) -> set[str]:
    """Return platforms that serve within the horizon: installed, or ordered in time.

    Uses :func:`planner.parameters.order_quarters`, the model builder's definition.
    """
    h = _horizon(fleet)
    orderable = {
        p.platform_id for p in fleet.platforms.itertuples(index=False) if order_quarters(p, h)
    }
    inv = fleet.inventory
    installed = inv[
        (inv["servers"] > 0) & (inv["retire_quarter"].isna() | (inv["retire_quarter"] > 0))
    ]
    return orderable | set(installed["platform_id"])


def check_platform_availability(fleet: Fleet) -> list[Problem]:
    """Report models whose fitting platforms all arrive after the horizon.

    A platform serves within the horizon if servers of it are installed (inventory) or if
    ``available_from_quarter + lead_time_quarters`` is before ``horizon_quarters``. Platforms
    available later are fine as long as every model keeps at least one usable platform.

    Args:
        fleet: The fleet.

    Returns:
        One problem (models.csv) per model left without a platform in the horizon.
    """
    fit = memory_fit(fleet)
    fit = fit[fit["fits"]]
    usable = _in_service_platforms(fleet)
    h = _horizon(fleet)
    problems = []
    for model_id, group in fit.groupby("model_id", sort=False):
        if usable & set(group["platform_id"]):
            continue
        names = ", ".join(dict.fromkeys(group["platform_id"]))
        problems.append(
            Problem(
                "models.csv",
                f"model '{model_id}' has no platform in service within the {h}-quarter horizon: "
                f"its platforms ({names}) arrive at available_from_quarter + lead_time_quarters "
                f">= {h} and none are installed",
                f"lower available_from_quarter in platforms.csv for one of {names}, add inventory "
                "of one, add a profile on an earlier platform, or raise horizon_quarters",
                row=_model_row(fleet, str(model_id)),
                column="model_id",
                value=model_id,
            )
        )
    return problems


def check_call_cycles(fleet: Fleet) -> list[Problem]:
    """Report cycles in the call graph (caller_id -> model_id), one per strongly connected part.

    Args:
        fleet: The fleet.

    Returns:
        One problem per cycle, naming it (``a -> b -> a``) and its calls.csv rows.
    """
    graph = nx.DiGraph()
    for idx, caller, model in zip(
        fleet.calls.index, fleet.calls["caller_id"], fleet.calls["model_id"], strict=True
    ):
        graph.add_edge(caller, model, row=_row(idx))
    problems = []
    for part in nx.strongly_connected_components(graph):
        sub = graph.subgraph(part)
        if len(part) == 1 and not sub.number_of_edges():
            continue
        cycle = nx.find_cycle(sub)
        path = " -> ".join([cycle[0][0], *(v for _, v in cycle)])
        rows = sorted(graph.edges[u, v]["row"] for u, v in cycle)
        problems.append(
            Problem(
                "calls.csv",
                f"the call graph has a cycle {path} ({_rows_text(rows)})",
                "delete one of these calls; a model must not call itself, directly or through "
                "other models",
                row=rows[0],
                column="caller_id",
                value=path,
            )
        )
    return problems


def _product_demand_possible(fleet: Fleet) -> bool:
    """Return whether some product with requests has an outgoing call."""
    busy = fleet.products[fleet.products["daily_requests"] > 0]["product_id"]
    return bool(set(busy) & set(fleet.calls["caller_id"]))


def check_demand_sources(fleet: Fleet) -> list[Problem]:
    """Report missing demand: no source at all, products without calls (or the reverse).

    Args:
        fleet: The fleet.

    Returns:
        Problems for an unmatched products.csv/calls.csv, products without outgoing calls, and
        a case whose tables give no model any demand.
    """
    products, calls = fleet.products, fleet.calls
    if not products.empty and calls.empty:
        return [
            Problem(
                "products.csv",
                "products.csv is given but calls.csv is missing or "
                "empty, so products drive no model",
                "add calls.csv linking each product to the models it calls, or delete products.csv",
            )
        ]
    if products.empty and not calls.empty:
        return [
            Problem(
                "calls.csv",
                "calls.csv is given but products.csv is missing or empty, "
                "so no requests flow through the calls",
                "add products.csv with the products that call models, or delete calls.csv",
            )
        ]
    callers = set(calls["caller_id"])
    problems = [
        Problem(
            "products.csv",
            f"product '{p}' calls no model",
            f"add a calls.csv row with caller_id={p}, or delete the product",
            row=_row(idx),
            column="product_id",
            value=p,
        )
        for idx, p in products["product_id"].items()
        if p not in callers
    ]
    plain = fleet.demand[
        (fleet.demand["quarter"] < _horizon(fleet)) & (fleet.demand["peak_qps"] > 0)
    ]
    if plain.empty and not _product_demand_possible(fleet):
        problems.append(
            Problem(
                "demand.csv",
                "no model has any demand: there are no products "
                "with requests and calls, and no demand.csv rows with "
                "peak_qps > 0 within the horizon",
                _CALLS_FIX,
            )
        )
    return problems


def check_demand_shares(fleet: Fleet) -> list[Problem]:
    """Report regions.demand_share gaps when products are used; shares must sum to 1.

    Args:
        fleet: The fleet.

    Returns:
        One problem per blank share, or one for a sum off by more than 1e-6.
    """
    if fleet.products.empty:
        return []
    shares = fleet.regions["demand_share"]
    blank = [
        Problem(
            "regions.csv",
            f"region '{r}' has no demand_share but products.csv is used",
            "give every region its share of product traffic (shares sum to 1; 0 means none)",
            row=_row(idx),
            column="demand_share",
        )
        for idx, r in fleet.regions.loc[shares.isna(), "region_id"].items()
    ]
    if blank:
        return blank
    total = float(shares.sum())
    if abs(total - 1.0) <= SHARE_TOLERANCE:
        return []
    return [
        Problem(
            "regions.csv",
            f"demand_share sums to {total:.6g}, not 1",
            f"scale the shares so they sum to 1 (divide each by {total:.6g})",
            column="demand_share",
            value=total,
        )
    ]


def check_quarters(fleet: Fleet) -> list[Problem]:
    """Report demand.csv and region_power_caps.csv rows whose quarter is beyond the horizon.

    Such rows would be silently ignored by the planner. Inventory retiring after the horizon
    is fine.

    Args:
        fleet: The fleet.

    Returns:
        One problem per row, at most ten per file.
    """
    h = _horizon(fleet)
    problems = []
    for name in ("demand", "region_power_caps"):
        frame = fleet.table(name)
        for idx, q in frame.loc[frame["quarter"] >= h, "quarter"].items():
            problems.append(
                Problem(
                    TABLES[name].file,
                    f"quarter {q} is beyond the horizon (quarters 0-{h - 1}, "
                    f"horizon_quarters={h}); the row would be ignored",
                    "delete the row or raise horizon_quarters in settings.yaml to at least "
                    f"{q + 1}",
                    row=_row(idx),
                    column="quarter",
                    value=int(q),
                )
            )
    return _limit(problems)


def check_topology(fleet: Fleet) -> list[Problem]:
    """Report self-loops in topology.csv and, with DR on, regions without a backup.

    Args:
        fleet: The fleet.

    Returns:
        Problems for rows where a region backs itself up, and for regions with no backup.
    """
    topo = fleet.topology
    problems = [
        Problem(
            "topology.csv",
            f"region '{r}' is listed as its own backup",
            "name a different backup_region_id; a lost region cannot take its own traffic",
            row=_row(idx),
            column="backup_region_id",
            value=r,
        )
        for idx, r, b in zip(topo.index, topo["region_id"], topo["backup_region_id"], strict=True)
        if r == b
    ]
    if topo.empty or not fleet.settings.disaster_recovery.enabled:
        return problems
    graph = backup_graph(fleet)
    for idx, region in fleet.regions["region_id"].items():
        if graph.out_degree(region) == 0:
            problems.append(
                Problem(
                    "topology.csv",
                    f"region '{region}' (regions.csv row {_row(idx)}) has no backup "
                    "region, but disaster_recovery is enabled",
                    f"add a topology.csv row with region_id={region} and another region as "
                    "backup_region_id, or set disaster_recovery.enabled: false",
                    column="region_id",
                    value=region,
                )
            )
    return problems


def check_dr_regions(fleet: Fleet) -> list[Problem]:
    """Report disaster recovery enabled with fewer than two regions.

    Args:
        fleet: The fleet.

    Returns:
        One problem if DR cannot work, else none.
    """
    n = fleet.regions["region_id"].nunique()
    if not fleet.settings.disaster_recovery.enabled or n >= 2:
        return []
    return [
        Problem(
            "regions.csv",
            f"disaster_recovery is enabled but there is only {n} region; "
            "no region could take over a lost one",
            "add a second region to regions.csv, or set disaster_recovery.enabled: "
            "false in settings.yaml",
            column="region_id",
        )
    ]


def check_profile_curves(fleet: Fleet) -> list[Problem]:
    """Report invalid latency curves in profiles.csv (rows with a latency_ms).

    A curve's rows of one (model, platform, percentile) must be non-decreasing in the bound
    (a looser bound never allows less throughput); a (model, platform, bound, percentile)
    appears once; a pair is either one single point or a curve; curve ids exist.

    Args:
        fleet: The fleet.

    Returns:
        One problem per offending row (rows are profiles.csv data rows).
    """
    curves = fleet.profile_curves
    if curves.empty:
        return []
    problems: list[Problem] = []
    models = list(dict.fromkeys(fleet.models["model_id"]))
    platforms = list(dict.fromkeys(fleet.platforms["platform_id"]))
    problems += _dangling("profiles.csv", "model_id", curves, models, "models.csv")
    problems += _dangling("profiles.csv", "platform_id", curves, platforms, "platforms.csv")
    key = list(PROFILE_CURVE_KEY)
    for _, group in curves[curves.duplicated(key, keep=False)].groupby(key, sort=False):
        first, *repeats = [_row(i) for i in group.index]
        problems += [
            Problem(
                "profiles.csv",
                f"duplicate curve point (model, platform, latency_ms, percentile), first on row "
                f"{first}",
                f"delete row {row} (each bound and percentile of a curve may appear once)",
                row=row,
                column="latency_ms",
            )
            for row in repeats
        ]
    filled = curves.fillna({"percentile": -1.0})
    for (m, p, pct), group in filled.groupby(["model_id", "platform_id", "percentile"]):
        g = group.sort_values("latency_ms", kind="mergesort")
        falls = g["qps_per_server"].diff() < 0
        for idx in g.index[falls]:
            before = g["qps_per_server"].shift()[idx]
            problems.append(
                Problem(
                    "profiles.csv",
                    f"throughput falls as the bound loosens on the curve of '{m}' on '{p}' "
                    f"p{pct:g}: {curves.at[idx, 'qps_per_server']:g} at "
                    f"{curves.at[idx, 'latency_ms']:g} ms after {before:g} at a tighter bound",
                    "a looser latency bound can never allow less throughput: fix or re-measure "
                    "the point (qps_per_server must not decrease as latency_ms grows)",
                    row=_row(idx),
                    column="qps_per_server",
                    value=float(curves.at[idx, "qps_per_server"]),
                )
            )
    blank = curves.index[curves["percentile"].isna()]
    problems += [
        Problem(
            "profiles.csv",
            "a curve point needs the percentile of its bound",
            "fill in percentile (e.g. 99), or blank latency_ms for a single point at the SLO",
            row=_row(i),
            column="percentile",
        )
        for i in blank
    ]
    single = fleet.profiles[fleet.profiles["latency_ms"].isna()] if (
        "latency_ms" in fleet.profiles.columns
    ) else fleet.profiles
    pairs = set(zip(single["model_id"], single["platform_id"], strict=True))
    for (m, p), group in curves.groupby(["model_id", "platform_id"], sort=False):
        if (m, p) in pairs:
            problems.append(
                Problem(
                    "profiles.csv",
                    f"'{m}' on '{p}' has both a single-point row (blank latency_ms) and a curve",
                    "keep either the single point or the curve rows",
                    row=_row(group.index[0]),
                    column="latency_ms",
                )
            )
    return _limit(problems)


def check_factors(fleet: Fleet) -> list[Problem]:
    """Report factors outside their own range and profile rows naming unknown factors.

    Args:
        fleet: The fleet.

    Returns:
        One problem per factor with ``low <= value <= high`` broken and per profiles.csv
        ``factors`` cell that cannot be parsed or names a factor factors.csv lacks.
    """
    from planner.factors import parse_factor_list

    problems: list[Problem] = []
    for idx, f in fleet.factors.iterrows():
        if not f["low"] <= f["value"] <= f["high"]:
            problems.append(
                Problem(
                    "factors.csv",
                    f"factor '{f['factor_id']}' has value {f['value']:g} outside its range "
                    f"{f['low']:g}-{f['high']:g}",
                    "make low <= value <= high",
                    row=_row(idx),
                    column="value",
                    value=float(f["value"]),
                )
            )
    known = set(fleet.factors["factor_id"])
    rows = fleet.profile_curves if not fleet.profile_curves.empty else None
    frames = [fleet.profiles[fleet.profiles["latency_ms"].isna()]] if (
        "latency_ms" in fleet.profiles.columns
    ) else [fleet.profiles]
    if rows is not None:
        frames.append(rows)
    for frame in frames:
        if "factors" not in frame.columns:
            continue
        for idx, cell in frame["factors"].items():
            try:
                names = [n for n, _ in parse_factor_list(cell)]
            except ValueError as exc:
                problems.append(
                    Problem("profiles.csv", str(exc), "see the data reference", row=_row(idx),
                            column="factors", value=str(cell))
                )
                continue
            for name in names:
                if name not in known:
                    problems.append(
                        Problem(
                            "profiles.csv",
                            f"names factor '{name}', which factors.csv does not have",
                            f"add a factors.csv row for '{name}' (value, low, high, source) "
                            "or remove it from the cell",
                            row=_row(idx),
                            column="factors",
                            value=str(cell),
                        )
                    )
    return _limit(problems)


def check_load_shapes(fleet: Fleet) -> list[Problem]:
    """Report load shapes that are not a 24-hour, mean-1 day of a known product or model.

    See :func:`planner.diurnal.shapes.shape_problems` (the planner's time of day reads the
    shapes through the same function, so ``check`` and ``plan`` agree).
    """
    from planner.diurnal.shapes import shape_problems

    return _limit(shape_problems(fleet))


def slo_coverage(fleet: Fleet) -> pd.DataFrame:
    """Return, for every profile curve, whether it serves its model's SLO (and why not).

    See :func:`planner.profile_curves.slo_coverage`; ``row`` is the profiles.csv data row of
    the curve's first point.
    """
    out = curve_slo_coverage(fleet.profile_curves, fleet.models)
    out["row"] = [_row(i) for i in out["row"]]
    return out


def slo_coverage_notes(fleet: Fleet) -> list[str]:
    """Return one line per curve that cannot serve its model's SLO (not an error by itself)."""
    cov = slo_coverage(fleet)
    lines = []
    for c in cov[cov["status"] != SERVES].itertuples(index=False):
        if c.status == BELOW_CURVE:
            why = (
                f"SLO {c.slo_ms:g} ms p{c.slo_percentile:g} is below the curve's smallest bound "
                f"{c.smallest_bound_ms:g} ms"
            )
        else:
            why = (
                f"the curve has only {c.curve_percentiles}, below the SLO's "
                f"p{c.slo_percentile:g}"
            )
        lines.append(
            f"{c.platform_id} cannot serve {c.model_id}: {why} (profiles.csv row {c.row})"
        )
    return lines


CHECKS: tuple[Callable[[Fleet], list[Problem]], ...] = (
    check_duplicate_keys,
    check_references,
    check_profile_curves,
    check_factors,
    check_servable_models,
    check_memory,
    check_platform_availability,
    check_call_cycles,
    check_demand_sources,
    check_demand_shares,
    check_quarters,
    check_topology,
    check_dr_regions,
    check_load_shapes,
)


def check_peak_demand(fleet: Fleet) -> list[Problem]:
    """Report derived peak demand beyond the plausible range of ``demand.csv`` ``peak_qps``.

    Each input can be in range while their product is not: requests x items per request x
    compound growth over the horizon x scenario multipliers. Needs an acyclic call graph, so
    :func:`fleet_problems` runs it only on an otherwise consistent fleet.

    Args:
        fleet: The fleet.

    Returns:
        One problem per model with implausible demand, naming its largest cell.
    """
    limit = TABLES["demand"].column("peak_qps")
    demand = peak_demand(fleet)
    high = demand[~(demand["peak_qps"] <= limit.maximum)]  # NaN and inf count as too high
    source = "products.csv and calls.csv" if not fleet.products.empty else "demand.csv"
    file = "products.csv" if not fleet.products.empty else "demand.csv"
    scenario = " and the scenario multipliers" if fleet.demand_adjustments is not None else ""
    problems = []
    for model_id, group in high.groupby("model_id", sort=False):
        top = group.loc[group["peak_qps"].fillna(float("inf")).idxmax()]
        problems.append(
            Problem(
                file,
                f"model '{model_id}' gets a peak demand of {top['peak_qps']:.3g} queries/s in "
                f"region '{top['region_id']}', quarter {int(top['quarter'])}, above the "
                f"plausible {limit.range_text()} (derived from {source}{scenario})",
                "check daily_requests, peak_to_average, growth_per_quarter and items_per_request "
                "(growth compounds every quarter) and the scenario's demand multipliers",
                column="peak_qps" if file == "demand.csv" else "daily_requests",
                value=model_id,
            )
        )
    return _limit(problems)


def fleet_problems(fleet: Fleet) -> list[Problem]:
    """Return every cross-table problem of ``fleet`` (empty when it is consistent).

    Args:
        fleet: The fleet.

    Returns:
        Problems from all :data:`CHECKS`, in order; when there are none, those of
        :func:`check_peak_demand`, which needs a consistent fleet.
    """
    problems = [p for check in CHECKS for p in check(fleet)]
    return problems or check_peak_demand(fleet)


def _quarter_ranges(quarters: list[int]) -> str:
    """Return ``quarter 3`` or ``quarters 2, 5-7`` for sorted, distinct quarters."""
    runs: list[list[int]] = []
    for q in quarters:
        if runs and q == runs[-1][-1] + 1:
            runs[-1].append(q)
        else:
            runs.append([q])
    text = ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)
    return ("quarter " if len(quarters) == 1 else "quarters ") + text


def _product_models(fleet: Fleet) -> set[str]:
    """Return the models that products.csv traffic reaches through calls.csv.

    Their demand is derived for every quarter of the horizon, so missing demand.csv rows do
    not leave them at zero.
    """
    busy = fleet.products.loc[fleet.products["daily_requests"] > 0, "product_id"]
    if busy.empty or fleet.calls.empty:
        return set()
    graph = call_graph(fleet)
    reached: set[str] = set()
    for product_id in busy:
        if graph.has_node(product_id):
            reached |= nx.descendants(graph, product_id)
    return reached


def warn_demand_horizon(fleet: Fleet) -> list[Problem]:
    """Warn about models whose demand.csv rows leave quarters of the horizon uncovered.

    The planner reads a quarter without rows as zero demand: it buys nothing for it and the
    plan looks cheap. Making this an error would reject every case that shortens or extends
    its horizon (region-loss studies, small test cases), so it is a warning. A row with
    ``peak_qps`` 0 says "no demand" on purpose and silences it; models that products.csv
    traffic reaches are left out (their demand is derived for every quarter).

    Args:
        fleet: A fleet without errors.

    Returns:
        One warning per model (demand.csv, column quarter), at most
        :data:`MAX_WARNING_MODELS`, then one that counts the rest.
    """
    h = _horizon(fleet)
    demand = fleet.demand[fleet.demand["quarter"] < h]
    if demand.empty:
        return []
    derived = _product_models(fleet)
    present = demand.groupby("model_id", sort=False)["quarter"].unique()
    warnings: list[Problem] = []
    for model_id, quarters in present.items():
        have = {int(q) for q in quarters}
        missing = [q for q in range(h) if q not in have]
        if not missing or model_id in derived:
            continue
        last = max(have)
        lower = f", or lower horizon_quarters to {last + 1}" if missing[0] > last else ""
        warnings.append(
            Problem(
                "demand.csv",
                f"no rows for model '{model_id}' in {_quarter_ranges(missing)} of the "
                f"{h}-quarter horizon; the plan serves zero demand there",
                f"add demand rows for those quarters (peak_qps 0 where it truly has none)"
                f"{lower}",
                column="quarter",
                severity=WARNING,
            )
        )
    if len(warnings) > MAX_WARNING_MODELS:
        rest = len(warnings) - MAX_WARNING_MODELS
        more = Problem(
            "demand.csv",
            f"and {rest} more model{'s' if rest != 1 else ''} with quarters of the "
            f"{h}-quarter horizon that have no rows (zero demand there)",
            column="quarter",
            severity=WARNING,
        )
        warnings = [*warnings[:MAX_WARNING_MODELS], more]
    return warnings


WARNINGS: tuple[Callable[[Fleet], list[Problem]], ...] = (warn_demand_horizon,)


def fleet_warnings(fleet: Fleet) -> list[Problem]:
    """Return the warnings of a fleet without errors: it plans, but maybe not as meant.

    Args:
        fleet: A fleet that passes :func:`fleet_problems` (the warnings read its call graph).

    Returns:
        Problems with ``severity="warning"`` from all :data:`WARNINGS`, in order.
    """
    return [w for warn in WARNINGS for w in warn(fleet)]


def check_fleet(fleet: Fleet) -> list[Problem]:
    """Run every cross-table check; raise once with all errors, return the warnings.

    Args:
        fleet: The fleet, whose tables already passed their column checks.

    Returns:
        The warnings (:func:`fleet_warnings`); the fleet can be planned.

    Raises:
        FleetDataError: Header ``Invalid fleet data in <fleet.name>``, one bullet per problem.
    """
    problems = fleet_problems(fleet)
    if problems:
        raise FleetDataError(problems, header=f"Invalid fleet data in {fleet.name}")
    return fleet_warnings(fleet)
