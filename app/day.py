"""Time of day in the dashboard: the slots control and the one-day view of a slotted plan.

Shown only for a case with load shapes (``load_shapes.csv``): the sidebar's slots control
sets the scenario's ``diurnal_slots``, and a plan made with slots carries ``plan.diurnal``
(servers per platform, region, quarter and slot), which the day view draws with
``pl.day_profile`` / ``pl.day_chart``: inference load by UTC hour stacked with the training
harvested off-peak and the dedicated training, against the servers in service.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

import planner as pl
from app import state
from app.ui import show_chart

ALL = "all"
DAY_QUARTER = "day_quarter"
DAY_PLATFORM = "day_platform"
DAY_REGION = "day_region"


def has_shapes(fleet: pl.Fleet) -> bool:
    """Return whether the case gives load shapes (then the time-of-day controls show)."""
    shapes = getattr(fleet, "load_shapes", None)
    return shapes is not None and not shapes.empty


def slots_control(fleet: pl.Fleet) -> None:
    """Sidebar: slots per UTC day (0: plan the daily peak only, as without shapes)."""
    if not has_shapes(fleet):
        return
    st.sidebar.selectbox(
        "Time of day: slots per UTC day",
        state.SLOT_CHOICES,
        key=state.SLOTS,
        format_func=lambda n: "off (daily peak only)" if n == 0 else f"{n} slots of {24 // n} h",
        help="Plans capacity for each slot's peak hour from load_shapes.csv and runs "
        "training on inference servers idle off-peak (settings diurnal.slots; the CLI "
        "takes `plan --slots N`).",
    )


def slot_load(plan: pl.Plan) -> pd.DataFrame:
    """Return a plan's servers per platform, region, quarter and slot (empty: no slots)."""
    return getattr(plan, "diurnal", {}).get("slot_load", pd.DataFrame())


def day_section(plan: pl.Plan, key: str) -> None:
    """One day of a slotted plan: load and capacity by UTC hour, and training harvested."""
    load = slot_load(plan)
    if load.empty:
        return
    facts = plan.summary.get("diurnal", {})
    st.subheader("One day (UTC hours)")
    share = facts.get("harvested_share")
    harvested = "no training" if share is None else f"{share:.0%} of training server-hours"
    st.caption(
        f"{facts.get('slots')} slots per day; harvested off-peak on idle inference servers: "
        f"{harvested}. {facts.get('dr_note', '')}"
    )
    quarters = sorted(int(q) for q in load["quarter"].unique())
    c1, c2, c3 = st.columns(3)
    with c1:
        quarter = st.selectbox("Quarter", quarters, key=DAY_QUARTER)
    with c2:
        platform = st.selectbox(
            "Platform", [ALL, *sorted(load["platform_id"].unique())], key=DAY_PLATFORM
        )
    with c3:
        region = st.selectbox("Region", [ALL, *sorted(load["region_id"].unique())], key=DAY_REGION)
    profile = pl.day_profile(
        load,
        int(quarter),
        None if platform == ALL else platform,
        None if region == ALL else region,
    )
    show_chart(f"{key}|day|{quarter}|{platform}|{region}", lambda: pl.day_chart(profile))
    harvest = plan.diurnal.get("harvest")
    if harvest is not None and not harvest.empty:
        st.dataframe(harvest, hide_index=True, width="stretch")
    moves = plan.diurnal.get("follow_sun")
    if moves is not None:
        share = facts.get("follow_sun_moved_share") or 0.0
        st.caption(
            f"Follow the sun: {share:.1%} of the day's inference queries served in another "
            "region (queries/s moved per model slot, edge and quarter below)."
        )
        if not moves.empty:
            st.dataframe(moves, hide_index=True, width="stretch", key="day_follow_sun")
    rescue = plan.diurnal.get("dr_preemption")
    if rescue is not None and not rescue.empty:
        st.caption("Emergency replicas a region loss would start on pre-empted training servers:")
        st.dataframe(rescue, hide_index=True, width="stretch", key="day_dr_preemption")
