"""Studies for the analysis notebooks: fleet descriptions and what-if sweeps as tidy DataFrames.

Every function returns one row per observation (a model–platform pair, a table and source
kind, a sweep point), so a notebook only filters, plots and prints. Sweeps plan each point
with :func:`planner.pipeline.make_plan`; a point with no feasible plan is a row with
``feasible`` False, NaN costs, ``short_of`` (the kinds of constraint that fall short) and
``shortfall`` (how much, where), not an exception. Every row carries the plan's solver
``status`` and ``gap`` on TCO, and ``within_gaps_of_base``: True when its TCO differs from
the base plan's by no more than their gaps together (the change may be solver slack).

One-parameter sweeps (one bucket's demand, one platform's throughput or price, one region's
cap) are :func:`planner.frontier.sensitivity`; the sweeps here move several inputs together
(every ASIC's throughput and price on a grid, every region's cap in every quarter) or change
the fleet's shape (a region removed), and report the plan's mix by platform class.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import pandas as pd

from planner.checks import check_fleet
from planner.compare import cost_gap, within_gaps
from planner.demand import peak_demand, product_demand
from planner.errors import InfeasiblePlanError, SolverError
from planner.fleet import Fleet
from planner.parameters import candidates, power_caps
from planner.pipeline import make_plan
from planner.results import Plan
from planner.scenarios import Scenario, scenario_from_dict
from planner.schema import PLATFORM_CLASSES, SECONDS_PER_DAY, TABLES

METRICS = [
    "total_cost_usd",
    "capex_usd",
    "energy_usd",
    "maintenance_usd",
    "servers_purchased",
    "peak_power_kw",
    *[f"servers_{c}" for c in PLATFORM_CLASSES],
    *[f"tco_usd_{c}" for c in PLATFORM_CLASSES],
    *[f"served_share_{c}" for c in PLATFORM_CLASSES],
]
"""Columns :func:`plan_metrics` returns. ``servers_<class>``: servers in service in the last
quarter; ``tco_usd_<class>``: cost over the horizon; ``served_share_<class>``: the share of a
model's peak demand served on that class in the last quarter, averaged over the models (a
unit-free measure of where the work runs)."""


# --- Describing a fleet -------------------------------------------------------------------


def efficiency(fleet: Fleet) -> pd.DataFrame:
    """Return throughput, throughput per watt and per dollar of every usable model–platform pair.

    Only pairs a model can run on (a profile row whose memory fits) are listed. ``qps_per_kw``
    uses the platform's provisioned power, ``qps_per_kusd`` its purchase price; the ``rel_*``
    columns divide each by the best platform for the same model (1.0 = best).

    Columns: model_id, bucket, unit, platform_id, platform_class, qps_per_server, power_w,
    capex_usd, qps_per_kw, qps_per_kusd, rel_qps, rel_qps_per_kw, rel_qps_per_kusd,
    source, source_kind (of the profile).
    """
    usable = candidates(fleet)[["model_id", "platform_id", "bucket", "platform_class",
                                "qps_per_server", "power_w"]]
    out = usable.merge(fleet.platforms[["platform_id", "capex_usd"]], on="platform_id")
    out = out.merge(fleet.models[["model_id", "unit"]], on="model_id")
    out = out.merge(fleet.profiles[["model_id", "platform_id", "source", "source_kind"]],
                    on=["model_id", "platform_id"])
    out["qps_per_kw"] = out["qps_per_server"] / (out["power_w"] / 1000.0)
    out["qps_per_kusd"] = out["qps_per_server"] / (out["capex_usd"] / 1000.0)
    out.loc[out["capex_usd"] <= 0, "qps_per_kusd"] = math.inf
    for col in ("qps", "qps_per_kw", "qps_per_kusd"):
        value = out["qps_per_server" if col == "qps" else col]
        out[f"rel_{col}"] = value / value.groupby(out["model_id"]).transform("max")
    cols = ["model_id", "bucket", "unit", "platform_id", "platform_class", "qps_per_server",
            "power_w", "capex_usd", "qps_per_kw", "qps_per_kusd", "rel_qps", "rel_qps_per_kw",
            "rel_qps_per_kusd", "source", "source_kind"]
    return out[cols].sort_values(["bucket", "model_id", "platform_id"], ignore_index=True)


def provenance(fleet: Fleet) -> pd.DataFrame:
    """Return how many rows of each input table come from each kind of source.

    Columns: table (file name), source_kind, rows, share (of that table's rows). Tables that
    are empty are left out.
    """
    parts = []
    for name, table in TABLES.items():
        frame = fleet.table(name)
        if frame.empty or "source_kind" not in frame.columns:
            continue
        counts = frame["source_kind"].value_counts().rename_axis("source_kind")
        part = counts.reset_index(name="rows")
        part.insert(0, "table", table.file)
        part["share"] = part["rows"] / len(frame)
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=["table", "source_kind", "rows", "share"])
    return pd.concat(parts, ignore_index=True)


def daily_queries(fleet: Fleet) -> pd.DataFrame:
    """Return queries per day each product sends each model, from the call graph.

    ``daily_queries`` is the mean rate (daily requests grown by the product's growth, times
    queries per request); ``peak_qps`` is what :func:`planner.demand.product_demand` gives
    (mean rate times the product's peak-to-average factor), before the regional split and
    before scenario multipliers.

    Columns: product_id, model_id, bucket, phase, unit, quarter, daily_queries, peak_qps.
    """
    by_product = product_demand(fleet)
    cols = ["product_id", "model_id", "bucket", "phase", "unit", "quarter", "daily_queries",
            "peak_qps"]
    if by_product.empty:
        return pd.DataFrame(columns=cols)
    peak = fleet.products.set_index("product_id")["peak_to_average"]
    out = by_product.merge(fleet.models[["model_id", "bucket", "phase", "unit"]], on="model_id")
    out["daily_queries"] = out["peak_qps"] / out["product_id"].map(peak) * SECONDS_PER_DAY
    return out[cols].sort_values(["bucket", "product_id", "model_id", "quarter"],
                                 ignore_index=True)


# --- Plans and sweeps ---------------------------------------------------------------------


def plan_metrics(plan: Plan) -> dict[str, float]:
    """Return the headline numbers of a plan (keys: :data:`METRICS`)."""
    last = plan.fleet[plan.fleet["quarter"] == plan.fleet["quarter"].max()]
    servers = last.groupby("platform_class")["in_service_servers"].sum()
    classes = plan.fleet[["platform_id", "platform_class"]].drop_duplicates()
    cost = plan.costs.merge(classes, on="platform_id").groupby("platform_class")["total_usd"].sum()
    out = {
        "total_cost_usd": plan.total_cost_usd,
        "capex_usd": float(plan.costs["capex_usd"].sum()),
        "energy_usd": float(plan.costs["energy_usd"].sum()),
        "maintenance_usd": float(plan.costs["maintenance_usd"].sum()),
        "servers_purchased": float(plan.purchases["servers"].sum()) if len(plan.purchases)
        else 0.0,
        "peak_power_kw": float(plan.power.groupby("quarter")["power_kw"].sum().max()),
    }
    out |= {f"servers_{c}": float(servers.get(c, 0.0)) for c in PLATFORM_CLASSES}
    out |= {f"tco_usd_{c}": float(cost.get(c, 0.0)) for c in PLATFORM_CLASSES}
    alloc = plan.allocation[plan.allocation["quarter"] == plan.allocation["quarter"].max()]
    served = alloc.groupby(["model_id", "platform_class"])["served_qps"].sum()
    per_model = served.groupby(level="model_id").transform("sum")
    share = (served / per_model)[per_model > 0]
    n_models = share.index.get_level_values("model_id").nunique()
    by_class = share.groupby(level="platform_class").sum() / max(n_models, 1)
    out |= {f"served_share_{c}": float(by_class.get(c, 0.0)) for c in PLATFORM_CLASSES}
    return out


def _shortfall(explanation: pd.DataFrame | None) -> dict[str, str]:
    """Summarise an infeasibility explanation.

    Returns ``short_of`` (the constraint families that fall short, e.g. "demand, power") and
    ``shortfall`` (per family: rows short and the largest amount, in user units).
    """
    if explanation is None or explanation.empty:
        return {"short_of": "unknown", "shortfall": "no feasible plan"}
    parts = []
    for (constraint, unit), rows in explanation.groupby(["constraint", "unit"], sort=True):
        parts.append(f"{constraint}: {len(rows)} rows short, largest by "
                     f"{rows['amount'].max():,.1f} {unit}")
    families = ", ".join(sorted(set(explanation["constraint"])))
    return {"short_of": families, "shortfall": "; ".join(parts)}


def _solve_point(fleet: Fleet, scenario: Scenario | None, options: Mapping) -> dict:
    """Plan one sweep point; return ``feasible``, ``short_of``, ``shortfall`` and metrics."""
    try:
        plan = make_plan(fleet, scenario, **options)
    except InfeasiblePlanError as exc:
        return {"feasible": False, "status": "infeasible", "gap": math.nan,
                **_shortfall(exc.explanation), **dict.fromkeys(METRICS, math.nan)}
    except SolverError as exc:  # no plan within the solver's limits: say so, keep sweeping
        return {"feasible": False, "status": "no_solution", "gap": math.nan,
                "short_of": "no solution", "shortfall": f"no solution: {exc}".splitlines()[0],
                **dict.fromkeys(METRICS, math.nan)}
    return _plan_row(plan)


def _plan_row(plan: Plan) -> dict:
    """Return a feasible point's row: status, gap on TCO (NaN when unknown) and metrics."""
    gap = cost_gap(plan)
    return {"feasible": True, "status": plan.summary.get("status"),
            "gap": math.nan if gap is None else gap, "short_of": "", "shortfall": "",
            **plan_metrics(plan)}


def _with_change(rows: list[dict], base: dict) -> pd.DataFrame:
    """Return the rows as a frame with ``tco_change_pct`` and ``within_gaps_of_base``.

    ``within_gaps_of_base`` is None where a row has no plan or a gap is unknown.
    """
    frame = pd.DataFrame(rows)
    base_cost = base["total_cost_usd"]
    frame["tco_change_pct"] = (frame["total_cost_usd"] / base_cost - 1.0) * 100.0
    frame["within_gaps_of_base"] = [
        within_gaps(cost, _known(gap), base_cost, _known(base["gap"])) if feasible else None
        for cost, gap, feasible in zip(frame["total_cost_usd"], frame["gap"],
                                       frame["feasible"], strict=True)
    ]
    return frame


def _known(gap: float) -> float | None:
    return None if gap is None or math.isnan(gap) else gap


def _base_row(fleet: Fleet, base: Plan | None, options: Mapping) -> dict:
    if base is not None:
        return _plan_row(base)
    row = _solve_point(fleet, None, options)
    if not row["feasible"]:
        raise InfeasiblePlanError(f"the base case '{fleet.name}' has no feasible plan "
                                  f"({row['shortfall']}); a sweep needs a feasible base")
    return row


def asic_adoption_sweep(fleet: Fleet, throughput_multipliers: Iterable[float] = (1.0, 1.5, 2.0),
                        price_multipliers: Iterable[float] = (0.5, 1.0), *,
                        platform_ids: Iterable[str] | None = None, base: Plan | None = None,
                        **options) -> pd.DataFrame:
    """Scale the throughput and the price of inference ASICs together, on a grid.

    Args:
        fleet: The base fleet.
        throughput_multipliers: Factors on every profile of the ASIC platforms.
        price_multipliers: Factors on their ``capex_usd``.
        platform_ids: Platforms to change; default every ``inference_asic`` platform.
        base: The already solved base plan (the point 1.0 x 1.0), to save a solve.
        **options: Passed to :func:`make_plan`.

    Returns:
        Columns: throughput_multiplier, price_multiplier, feasible, status, gap, short_of,
        shortfall, :data:`METRICS`, tco_change_pct, within_gaps_of_base, asic_tco_share
        (ASIC share of the plan's total cost).

    Raises:
        ValueError: When the fleet has no inference ASIC platform and none is named.
    """
    if platform_ids is None:
        platforms = fleet.platforms
        platform_ids = list(platforms.loc[platforms["platform_class"] == "inference_asic",
                                          "platform_id"])
    platform_ids = list(platform_ids)
    if not platform_ids:
        raise ValueError(f"fleet '{fleet.name}' has no inference_asic platform to vary")
    base_row = _base_row(fleet, base, options)
    rows = []
    for tm in throughput_multipliers:
        for pm in price_multipliers:
            if math.isclose(tm, 1.0) and math.isclose(pm, 1.0):
                row = base_row
            else:
                change = {"throughput_multiplier": tm, "capex_multiplier": pm}
                scenario = scenario_from_dict(
                    {"platform_changes": dict.fromkeys(platform_ids, change)},
                    f"asic_tput_x{tm:g}_price_x{pm:g}")
                row = _solve_point(fleet, scenario, options)
            rows.append({"throughput_multiplier": float(tm), "price_multiplier": float(pm),
                         **row})
    frame = _with_change(rows, base_row)
    frame["asic_tco_share"] = frame["tco_usd_inference_asic"] / frame["total_cost_usd"]
    return frame


def scale_power_caps(fleet: Fleet, fraction: float,
                     regions: Iterable[str] | None = None) -> Fleet:
    """Return a fleet whose power caps (in every quarter) are ``fraction`` of today's.

    Scales ``regions.power_cap_kw`` and the time-varying ``region_power_caps`` of the given
    regions (default all), so a cap that rises later in the horizon keeps its shape.
    """
    if fraction <= 0:
        raise ValueError(f"fraction must be > 0, got {fraction}")
    names = set(fleet.regions["region_id"] if regions is None else regions)
    regs = fleet.regions.copy()
    regs.loc[regs["region_id"].isin(names), "power_cap_kw"] *= fraction
    caps = fleet.region_power_caps.copy()
    caps.loc[caps["region_id"].isin(names), "power_cap_kw"] *= fraction
    return fleet.replace(regions=regs, region_power_caps=caps)


def power_cap_sweep(fleet: Fleet, fractions: Iterable[float] = (1.0, 0.9, 0.8, 0.7),
                    regions: Iterable[str] | None = None, base: Plan | None = None,
                    **options) -> pd.DataFrame:
    """Tighten the power caps of ``regions`` (default all) to fractions of today's; plan each.

    Returns:
        Columns: cap_fraction, cap_kw (summed over the regions in the last quarter),
        feasible, status, gap, short_of, shortfall, :data:`METRICS`, tco_change_pct,
        within_gaps_of_base.
    """
    regions = None if regions is None else list(regions)
    base_row = _base_row(fleet, base, options)
    rows = []
    for f in fractions:
        tight = scale_power_caps(fleet, f, regions)
        row = base_row if math.isclose(f, 1.0) else _solve_point(tight, None, options)
        regs = tight.regions["region_id"] if regions is None else regions
        cap = _last_quarter_cap(tight, set(regs))
        rows.append({"cap_fraction": float(f), "cap_kw": cap, **row})
    return _with_change(rows, base_row)


def _last_quarter_cap(fleet: Fleet, regions: set[str]) -> float:
    caps = power_caps(fleet)
    last = caps[(caps["quarter"] == caps["quarter"].max()) & caps["region_id"].isin(regions)]
    return float(last["cap_kw"].sum())


def without_region(fleet: Fleet, region_id: str, from_quarter: int = 0) -> Fleet:
    """Return the fleet with ``region_id`` lost from ``from_quarter`` on and its demand moved.

    The lost region's peak demand (from products and plain ``demand.csv`` rows alike) is
    split over the remaining regions in proportion to their ``demand_share`` (renormalised;
    equal shares when there are none). A region that was backed up only by the lost one is
    then backed up by every remaining region.

    * ``from_quarter`` 0: the region is removed with its inventory, power caps and backup
      edges.
    * ``from_quarter`` k > 0 (the loss is known in advance): the region serves its own demand
      until quarter k; from k on its inventory is retired, its power cap is (practically) zero
      and its demand is served elsewhere. Demand is then given as plain per-model rows (the
      fleet's peak demand, scenario multipliers applied) instead of products and calls, and
      backup edges into the lost region are dropped for the whole horizon.

    Raises:
        ValueError: When ``region_id`` is unknown or is the only region, or ``from_quarter``
            is outside the horizon.
    """
    regions = fleet.regions
    if region_id not in set(regions["region_id"]):
        raise ValueError(f"unknown region '{region_id}'")
    if not 0 <= from_quarter < fleet.settings.horizon_quarters:
        raise ValueError(f"from_quarter must be within the horizon (0-"
                         f"{fleet.settings.horizon_quarters - 1}), got {from_quarter}")
    rest = regions[regions["region_id"] != region_id].reset_index(drop=True)
    if rest.empty:
        raise ValueError("cannot remove the only region")
    shares = rest["demand_share"].fillna(0.0)
    weights = shares / shares.sum() if shares.sum() > 0 else pd.Series(1.0 / len(rest),
                                                                       index=rest.index)
    weights = dict(zip(rest["region_id"], weights, strict=True))
    if from_quarter > 0:
        return _lost_later(fleet, region_id, from_quarter, weights)
    rest = rest.assign(demand_share=rest["region_id"].map(weights)
                       if rest["demand_share"].notna().any() else rest["demand_share"])
    demand = _move_demand(fleet.demand, region_id, 0, weights)
    topo = _topology_without(fleet.topology, region_id, list(rest["region_id"]))
    adj = fleet.demand_adjustments
    if adj is not None:
        adj = adj[adj["region_id"] != region_id]
    settings = fleet.settings
    if len(rest) < 2 and settings.disaster_recovery.enabled:
        settings = settings.model_copy(update={"disaster_recovery": settings.disaster_recovery
                                               .model_copy(update={"enabled": False})})
    new = fleet.replace(
        name=f"{fleet.name}_without_{region_id}", settings=settings, regions=rest,
        demand=demand, topology=topo, demand_adjustments=adj,
        inventory=fleet.inventory[fleet.inventory["region_id"] != region_id]
        .reset_index(drop=True),
        region_power_caps=fleet.region_power_caps[
            fleet.region_power_caps["region_id"] != region_id].reset_index(drop=True),
    )
    check_fleet(new)
    return new


LOST_REGION_CAP_KW = 1e-3  # a cap must be positive; this one leaves no room for a server


def _move_demand(demand: pd.DataFrame, lost: str, from_quarter: int,
                 weights: dict[str, float]) -> pd.DataFrame:
    """Split ``lost``'s demand rows from ``from_quarter`` on over the regions in ``weights``."""
    moving = (demand["region_id"] == lost) & (demand["quarter"] >= from_quarter)
    moved = [demand[moving].assign(region_id=r, peak_qps=demand.loc[moving, "peak_qps"] * w,
                                   source=demand.loc[moving, "source"] + f" (moved from {lost})")
             for r, w in weights.items()]
    out = pd.concat([demand[~moving], *moved], ignore_index=True)
    return out.groupby(["model_id", "region_id", "quarter"], as_index=False).agg(
        peak_qps=("peak_qps", "sum"), source=("source", "first"),
        source_kind=("source_kind", "first"))[demand.columns]


def _lost_later(fleet: Fleet, lost: str, k: int, weights: dict[str, float]) -> Fleet:
    """Return the fleet with region ``lost`` gone from quarter ``k`` on (see without_region)."""
    demand = peak_demand(fleet).assign(
        source=f"peak demand of {fleet.name} (planner.studies.without_region)",
        source_kind="derived")
    demand = _move_demand(demand, lost, k, weights)
    inv = fleet.inventory.copy()
    mine = inv["region_id"] == lost
    retire = inv.loc[mine, "retire_quarter"]
    inv.loc[mine, "retire_quarter"] = retire.where(retire.notna() & (retire < k), k)
    caps = fleet.region_power_caps
    caps = caps[~((caps["region_id"] == lost) & (caps["quarter"] >= k))]
    gone = {"region_id": lost, "quarter": k, "power_cap_kw": LOST_REGION_CAP_KW,
            "source": f"region lost from quarter {k} (planner.studies.without_region)",
            "source_kind": "estimate"}
    caps = pd.concat([caps, pd.DataFrame([gone])[caps.columns]], ignore_index=True)
    caps = caps.astype(fleet.region_power_caps.dtypes.to_dict())
    topo = fleet.topology
    if not topo.empty:
        rewired = _topology_without(topo, lost, list(weights))
        topo = pd.concat([topo[topo["region_id"] == lost], rewired], ignore_index=True)
    # Products become plain per-model demand, so load shapes named after a product would name
    # nothing (check rejects them); shapes named after a model still apply.
    shapes = fleet.load_shapes
    shapes = shapes[shapes["shape_of"].isin(set(fleet.models["model_id"]))].reset_index(drop=True)
    new = fleet.replace(
        name=f"{fleet.name}_without_{lost}_from_q{k}", demand=demand,
        products=fleet.products.iloc[0:0], calls=fleet.calls.iloc[0:0],
        demand_adjustments=None, inventory=inv, region_power_caps=caps, topology=topo,
        load_shapes=shapes,
    )
    check_fleet(new)
    return new


def _topology_without(topo: pd.DataFrame, lost: str, remaining: list[str]) -> pd.DataFrame:
    """Drop ``lost`` from the backup edges; give a region left without backup all the others."""
    if topo.empty:
        return topo
    kept = topo[(topo["region_id"] != lost) & (topo["backup_region_id"] != lost)]
    orphans = [r for r in remaining if r not in set(kept["region_id"])]
    added = [{"region_id": r, "backup_region_id": b, "source_kind": "estimate",
              "source": f"every remaining region backs up {r} once {lost} is lost "
                        "(planner.studies.without_region)"}
             for r in orphans for b in remaining if b != r]
    if added:
        # optional columns (e.g. network_latency_ms) stay blank on the added edges
        added_frame = pd.DataFrame(added).reindex(columns=kept.columns)
        kept = pd.concat([kept, added_frame.astype(kept.dtypes.to_dict())], ignore_index=True)
    return kept.reset_index(drop=True)


def region_loss_study(fleet: Fleet, regions: Iterable[str] | None = None,
                      base: Plan | None = None, from_quarter: int = 0,
                      **options) -> pd.DataFrame:
    """Price disaster recovery and the permanent loss of each region.

    Cases: ``base`` (the fleet as given), ``no disaster recovery`` (the insurance's price is
    the difference), and ``without <region>`` for each region: the region is lost from
    ``from_quarter`` on and its demand is served from the others (:func:`without_region`),
    with the fleet's DR setting.

    Returns:
        Columns: case, region_id (None for the first two), from_quarter, disaster_recovery,
        feasible, status, gap, short_of, shortfall, :data:`METRICS`, tco_change_pct,
        within_gaps_of_base.
    """
    dr = fleet.settings.disaster_recovery.enabled
    base_row = _base_row(fleet, base, options)
    rows = [{"case": "base", "region_id": None, "from_quarter": None, "disaster_recovery": dr,
             **base_row}]
    flip = scenario_from_dict({"disaster_recovery": not dr},
                              "no_dr" if dr else "with_dr")
    rows.append({"case": "no disaster recovery" if dr else "with disaster recovery",
                 "region_id": None, "from_quarter": None, "disaster_recovery": not dr,
                 **_solve_point(fleet, flip, options)})
    when = "" if from_quarter == 0 else f" from {fleet.settings.quarter_label(from_quarter)}"
    for r in (fleet.regions["region_id"] if regions is None else regions):
        smaller = without_region(fleet, r, from_quarter)
        rows.append({"case": f"without {r}{when}", "region_id": r, "from_quarter": from_quarter,
                     "disaster_recovery": smaller.settings.disaster_recovery.enabled,
                     **_solve_point(smaller, None, options)})
    return _with_change(rows, base_row)


# --- Named estimated factors ----------------------------------------------------------------


def _purchases_text(plan_fleet: Fleet, options: Mapping) -> tuple[dict, str]:
    """Plan ``plan_fleet``; return its sweep row and its purchases by platform as text."""
    try:
        plan = make_plan(plan_fleet, None, **options)
    except (InfeasiblePlanError, SolverError):
        return _solve_point(plan_fleet, None, options), ""
    bought = plan.purchases.groupby("platform_id")["servers"].sum() if len(plan.purchases) else {}
    text = ", ".join(f"{p} {int(n):,}" for p, n in sorted(dict(bought).items()) if n)
    return _plan_row(plan), text


def factor_sensitivity(fleet: Fleet, factors: Iterable[str] | None = None, *,
                       base: Plan | None = None, **options) -> pd.DataFrame:
    """Re-derive the case with each named factor at its low and high value and plan it.

    Each factor of ``fleet.factors`` (or those named) is set to its ``low`` and ``high``
    (:func:`planner.factors.with_factor` re-scales the profile rows that used it), the other
    factors stay at their values, and the case is planned.

    Args:
        fleet: The base fleet (with a factors table).
        factors: Factor ids; default every factor of the case.
        base: The already solved base plan, to save a solve.
        **options: Passed to :func:`make_plan`.

    Returns:
        One row per factor and end: factor_id, end (low or high), value, base_value,
        rows_scaled (profile rows that used the factor), feasible, status, gap, short_of,
        shortfall, :data:`METRICS`, purchases (servers bought by platform), tco_change_pct,
        within_gaps_of_base; sorted by the largest absolute TCO change per factor.

    Raises:
        KeyError: When a named factor is not in the case.
    """
    from planner.factors import rows_using, with_factor

    table = fleet.factors.set_index("factor_id")
    names = list(table.index) if factors is None else list(factors)
    for name in names:
        if name not in table.index:
            known = ", ".join(table.index) or "none (the case has no factors.csv)"
            raise KeyError(f"unknown factor '{name}'; known: {known}")
    base_row = _base_row(fleet, base, options)
    rows = []
    for name in names:
        for end in ("low", "high"):
            value = float(table.at[name, end])
            changed = with_factor(fleet, name, value)
            row, bought = _purchases_text(changed, options)
            rows.append({"factor_id": name, "end": end, "value": value,
                         "base_value": float(table.at[name, "value"]),
                         "rows_scaled": len(rows_using(fleet, name)), **row,
                         "purchases": bought})
    frame = _with_change(rows, base_row)
    swing = frame.groupby("factor_id")["tco_change_pct"].transform(lambda s: s.abs().max())
    frame["_swing"] = swing.fillna(float("inf"))
    frame = frame.sort_values(["_swing", "factor_id", "end"], ascending=[False, True, False],
                              kind="mergesort")
    return frame.drop(columns="_swing").reset_index(drop=True)
