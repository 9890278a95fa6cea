"""What a time-of-day plan does with its servers: per slot, harvested training, savings.

Harvested training, per (platform, region, quarter, slot): the training servers that fit in the
capacity inference leaves idle in that slot, against the busiest slot's inference servers,
``min(training_s, max_s' inference_s' - inference_s)``; the rest is dedicated. Inference
servers include the replicas kept for disaster recovery, so that reserve is never counted as
idle (training is never pre-empted for it: see :func:`planner.diurnal.plan.dr_note`).
"""

from __future__ import annotations

import pandas as pd

from planner.diurnal.layout import EVERY_SLOT, HOURS_PER_DAY, slot_count
from planner.fleet import Fleet
from planner.results import Plan

LOAD_KEY = ["platform_id", "region_id", "quarter", "slot"]
LOAD_COLUMNS = [
    *LOAD_KEY,
    "inference_servers",
    "training_servers",
    "harvested_servers",
    "dedicated_training_servers",
    "in_service_servers",
    "hours",
]


def slot_load(slotted: Fleet, plan: Plan) -> pd.DataFrame:
    """Return servers per platform, region, quarter and slot: inference, training, in service.

    ``harvested_servers`` is training on servers idle inference leaves in that slot, and
    ``dedicated_training_servers`` the training beyond it; ``hours`` is the slot's length.
    """
    n = slot_count(slotted)
    alloc = plan.allocation
    if alloc.empty or n == 0:
        return pd.DataFrame(columns=LOAD_COLUMNS)
    parts = [alloc[alloc["slot"] != EVERY_SLOT]]
    every = alloc[alloc["slot"] == EVERY_SLOT]
    parts += [every.assign(slot=s) for s in range(n)]
    frame = pd.concat(parts, ignore_index=True)
    frame["inference_servers"] = frame["servers"].where(frame["phase"] == "inference", 0.0)
    frame["training_servers"] = frame["servers"].where(frame["phase"] == "training", 0.0)
    # Only training that may move between slots runs on idle inference servers; training that
    # runs all day (harvest_training off) is planned on servers of its own.
    frame["movable_servers"] = frame["training_servers"].where(
        frame["model_id"] != frame["base_model_id"], 0.0
    )
    load = frame.groupby(LOAD_KEY, as_index=False)[
        ["inference_servers", "training_servers", "movable_servers"]
    ].sum()
    cells = plan.fleet[["platform_id", "region_id", "quarter", "in_service_servers"]]
    load = load.merge(cells, on=["platform_id", "region_id", "quarter"], how="left")
    peak = load.groupby(["platform_id", "region_id", "quarter"])["inference_servers"]
    idle = (peak.transform("max") - load["inference_servers"]).clip(lower=0.0)
    load["harvested_servers"] = load["movable_servers"].clip(upper=idle)
    load["dedicated_training_servers"] = load["training_servers"] - load["harvested_servers"]
    load["hours"] = HOURS_PER_DAY // n
    return load[LOAD_COLUMNS].sort_values(LOAD_KEY, ignore_index=True)


def harvest_report(slotted: Fleet, load: pd.DataFrame) -> pd.DataFrame:
    """Return per quarter: training server-hours a day, dedicated vs harvested, harvested share."""
    cols = [
        "quarter",
        "quarter_label",
        "training_server_hours",
        "harvested_server_hours",
        "dedicated_server_hours",
        "harvested_share",
    ]
    if load.empty:
        return pd.DataFrame(columns=cols)
    hours = load.assign(
        training_server_hours=load["training_servers"] * load["hours"],
        harvested_server_hours=load["harvested_servers"] * load["hours"],
        dedicated_server_hours=load["dedicated_training_servers"] * load["hours"],
    )
    out = hours.groupby("quarter", as_index=False)[cols[2:5]].sum()
    trained = out["training_server_hours"]
    out["harvested_share"] = out["harvested_server_hours"] / trained.where(trained > 0)
    out["quarter_label"] = [slotted.settings.quarter_label(int(t)) for t in out["quarter"]]
    return out[cols]


def harvest_by_platform_slot(load: pd.DataFrame) -> pd.DataFrame:
    """Return harvested training per quarter, platform and slot, and its share of training."""
    key = ["quarter", "platform_id", "slot"]
    out = load.groupby(key, as_index=False)[["training_servers", "harvested_servers"]].sum()
    out = out[out["training_servers"] > 0].reset_index(drop=True)
    out["harvested_share"] = out["harvested_servers"] / out["training_servers"]
    return out


def savings(harvested: Plan, separate: Plan) -> pd.DataFrame:
    """Return per quarter the servers in service, facility kW and cost harvesting saves."""

    def per_quarter(plan: Plan) -> pd.DataFrame:
        servers = plan.fleet.groupby("quarter")["in_service_servers"].sum()
        kw = plan.power.groupby("quarter")["power_kw"].sum()
        cost = plan.costs.groupby("quarter")["total_usd"].sum()
        return pd.DataFrame({"servers": servers, "kw": kw, "cost_usd": cost})

    a, b = per_quarter(harvested), per_quarter(separate)
    out = pd.DataFrame(
        {
            "servers_harvesting": a["servers"],
            "servers_separate": b["servers"],
            "servers_saved": b["servers"] - a["servers"],
            "facility_kw_harvesting": a["kw"],
            "facility_kw_separate": b["kw"],
            "facility_kw_saved": b["kw"] - a["kw"],
            "cost_saved_usd": b["cost_usd"] - a["cost_usd"],
        }
    ).fillna(0.0)
    return out.rename_axis("quarter").reset_index()


def day_profile(
    load: pd.DataFrame, quarter: int, platform_id: str | None = None, region_id: str | None = None
) -> pd.DataFrame:
    """Return one day, tidy: servers per UTC hour by series, against installed capacity.

    Series: ``inference``, ``harvested training``, ``dedicated training`` (stack them) and
    ``in service`` (the installed capacity line). Summed over platforms and regions unless
    one is given.
    """
    sel = load[load["quarter"] == quarter]
    if platform_id is not None:
        sel = sel[sel["platform_id"] == platform_id]
    if region_id is not None:
        sel = sel[sel["region_id"] == region_id]
    cols = ["hour", "series", "servers"]
    if sel.empty:
        return pd.DataFrame(columns=cols)
    per_slot = sel.groupby("slot")[
        [
            "inference_servers",
            "harvested_servers",
            "dedicated_training_servers",
            "in_service_servers",
        ]
    ].sum()
    # in service is per (platform, region, quarter): count each cell once per slot
    per_slot["in_service_servers"] = (
        sel.drop_duplicates(["platform_id", "region_id", "slot"])
        .groupby("slot")["in_service_servers"]
        .sum()
    )
    length = int(sel["hours"].iloc[0])
    names = {
        "inference_servers": "inference",
        "harvested_servers": "harvested training",
        "dedicated_training_servers": "dedicated training",
        "in_service_servers": "in service",
    }
    rows = [
        (h, names[c], float(per_slot.at[h // length, c]) if h // length in per_slot.index else 0.0)
        for h in range(HOURS_PER_DAY)
        for c in names
    ]
    return pd.DataFrame(rows, columns=cols)


def day_chart(profile: pd.DataFrame):
    """Return an Altair chart of :func:`day_profile`: stacked load against installed servers."""
    import altair as alt

    stacked = profile[profile["series"] != "in service"]
    line = profile[profile["series"] == "in service"]
    area = (
        alt.Chart(stacked)
        .mark_area(interpolate="step-after")
        .encode(
            x=alt.X("hour:Q", title="UTC hour", scale=alt.Scale(domain=[0, 23])),
            y=alt.Y("servers:Q", stack="zero", title="servers"),
            color=alt.Color(
                "series:N", sort=["inference", "harvested training", "dedicated training"]
            ),
        )
    )
    cap = (
        alt.Chart(line)
        .mark_line(interpolate="step-after", color="black")
        .encode(x="hour:Q", y="servers:Q")
    )
    return (area + cap).properties(title="One day: load by hour against installed servers")
