"""The "Keep current allocation" control: plan relative to what runs now, with a move cost.

The library side is ``pl.make_stable_plan`` (``planner/migration.py``): each replica moved off
its current (platform, region) costs the move cost; the plan reports the moves and what the
stability costs in TCO against the unconstrained plan, which it makes too. The current
allocation comes from a plan in the store (the History tab's store) or from a plan folder
written by ``python -m planner plan --out``. This module holds the control, reads the current
allocation when Solve is pressed, and shows the moves report; it plans nothing itself.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

import planner as pl
from app import cases, state
from app.ui import csv_button, md, usd

FROM_STORE, FROM_FOLDER = "Stored plan (History tab's store)", "Plan folder"
DEFAULT_MOVE_COST_USD = 2000.0

# Widget keys.
KEEP_CURRENT = "keep_current"
CURRENT_SOURCE = "current_source"
CURRENT_ID = "current_id"
CURRENT_FOLDER = "current_folder"
MOVE_COST = "move_cost_usd"
BUCKET_MOVE_COSTS = "bucket_move_costs"
MAX_MOVES = "max_moves_per_quarter"
WIDGET_DEFAULTS: dict[str, Any] = {
    KEEP_CURRENT: False,
    CURRENT_SOURCE: FROM_STORE,
    CURRENT_ID: 1,
    CURRENT_FOLDER: "",
    MOVE_COST: DEFAULT_MOVE_COST_USD,
    MAX_MOVES: None,
}


@dataclass(frozen=True)
class Current:
    """A current allocation read for a migration-aware solve, and where it came from."""

    allocation: pd.DataFrame
    label: str
    identity: str  # part of the solve key: changes when the source or its content changes


def init_defaults(ss: MutableMapping[str, Any]) -> None:
    """Give the control's widgets their first values (once per session)."""
    for key, value in WIDGET_DEFAULTS.items():
        ss.setdefault(key, value)


def bucket_cost_frame(fleet: pl.Fleet) -> pd.DataFrame:
    """Return the editable per-bucket move costs: one row per bucket, blank = the default.

    Starts from the case's ``migration.bucket_move_cost_usd`` (settings.yaml).
    """
    case = fleet.settings.migration.bucket_move_cost_usd
    buckets = state.buckets(fleet)
    return pd.DataFrame(
        {"bucket": buckets, "move_cost_usd": [case.get(b) for b in buckets]}
    ).astype({"move_cost_usd": "float64"})


def options_from(
    values: MutableMapping[str, Any], buckets: pd.DataFrame | None
) -> pl.MigrationOptions:
    """Return the ``pl.MigrationOptions`` the control's values ask for."""
    overrides = {}
    if buckets is not None:
        for row in buckets.to_dict("records"):
            cost = row.get("move_cost_usd")
            if cost is not None and not pd.isna(cost):
                overrides[str(row["bucket"])] = float(cost)
    cap = values.get(MAX_MOVES)
    return pl.MigrationOptions(
        move_cost_usd=float(values.get(MOVE_COST) or 0.0),
        bucket_move_cost_usd=overrides,
        max_moves_per_quarter=None if cap is None else float(cap),
    )


def control(fleet: pl.Fleet) -> pd.DataFrame | None:
    """Draw the control (What-if tab); return the per-bucket move costs when it is on."""
    st.subheader("Keep current allocation")
    st.caption(
        "Plan relative to what runs now: every replica moved off its current platform or "
        "region costs the move cost, and the plan reports the moves and what stability "
        "costs against the plan made from scratch (made too). The current allocation is a "
        "plan in the store (History tab) or a plan folder (`python -m planner plan --out`)."
    )
    on = st.toggle("Keep the current allocation (migration-aware Solve)", key=KEEP_CURRENT)
    if not on:
        return None
    c1, c2 = st.columns(2)
    with c1:
        source = st.radio("Current allocation", [FROM_STORE, FROM_FOLDER], key=CURRENT_SOURCE)
        if source == FROM_STORE:
            st.number_input("Stored plan id", min_value=1, step=1, key=CURRENT_ID)
        else:
            st.text_input("Plan folder", key=CURRENT_FOLDER, placeholder="plans/q1")
    with c2:
        # the case's settings.yaml (migration:) gives the starting values
        st.session_state.setdefault(MOVE_COST, fleet.settings.migration.move_cost_usd)
        st.session_state.setdefault(MAX_MOVES, fleet.settings.migration.max_moves_per_quarter)
        st.number_input(
            "Move cost (USD per replica moved)",
            min_value=0.0,
            step=100.0,
            format="%.2f",
            key=MOVE_COST,
        )
        st.number_input(
            "At most this many replicas moved per quarter (blank: no cap)",
            min_value=0.0,
            step=1.0,
            format="%.0f",
            key=MAX_MOVES,
        )
    st.caption("Move cost per bucket (blank: the move cost above).")
    costs = st.data_editor(
        bucket_cost_frame(fleet),
        key=BUCKET_MOVE_COSTS,
        hide_index=True,
        placeholder="",
        disabled=["bucket"],
        width="stretch",
        column_config={
            "move_cost_usd": st.column_config.NumberColumn(
                "move cost (USD)", min_value=0.0, format="%.2f"
            )
        },
    )
    st.caption(
        "A migration-aware Solve goes through the PuLP model with HiGHS, not the anytime "
        "path: it takes the unconstrained plan's time plus about 1.5 × the time limit, and "
        "Stop improving does not apply to it. Move costs are USD: use the tco or capex "
        "objective."
    )
    return costs


def cli_flags(
    values: MutableMapping[str, Any], store_url: str | None, options: pl.MigrationOptions
) -> str:
    """The ``plan`` options that make the same migration-aware plan from the command line."""
    if values.get(CURRENT_SOURCE) == FROM_FOLDER:
        flags = [f"--current {str(values.get(CURRENT_FOLDER) or '').strip() or 'FOLDER'}"]
    else:
        flags = [f"--current {values.get(CURRENT_ID)}"]
        if store_url:
            flags.append(f"--store {store_url}")
    flags.append(f"--move-cost {options.move_cost_usd:g}")
    flags += [f"--bucket-move-cost {b}={c:g}" for b, c in options.bucket_move_cost_usd.items()]
    if options.max_moves_per_quarter is not None:
        flags.append(f"--max-moves {options.max_moves_per_quarter:g}")
    return " ".join(flags)


def key_part(
    values: MutableMapping[str, Any], store_url: str | None, options: pl.MigrationOptions
) -> str:
    """The part of the solve key a migration-aware solve adds: source, move costs, cap.

    A plan folder's file stamps are in it, so a folder written again is planned again.
    """
    if values.get(CURRENT_SOURCE) == FROM_FOLDER:
        folder = Path(str(values.get(CURRENT_FOLDER) or "").strip()).expanduser()
        source = f"folder:{folder}:{cases.case_stamp(folder)}"
    else:
        source = f"store:{store_url or ''}:{values.get(CURRENT_ID)}"
    return f"keep:{source}:{options.model_dump_json()}"


def read_current(values: MutableMapping[str, Any], store_url: str | None) -> Current:
    """Read the current allocation the control names (when Solve is pressed).

    Raises:
        pl.PlannerError: The store has no such plan, or the folder holds no plan (never
            cached: the next Solve reads it again).
    """
    if values.get(CURRENT_SOURCE) == FROM_FOLDER:
        folder = Path(str(values.get(CURRENT_FOLDER) or "").strip()).expanduser()
        if not str(values.get(CURRENT_FOLDER) or "").strip():
            raise pl.PlannerError(
                "no plan folder given for the current allocation. Fix: type the --out "
                "folder of an earlier `python -m planner plan` run"
            )
        plan = pl.read_plan(folder)
        identity = f"folder:{folder.resolve()}:{cases.case_stamp(folder)}"
        return Current(plan.allocation, f"plan folder {folder}", identity)
    plan_id = int(values.get(CURRENT_ID) or 0)
    with pl.open_store(store_url or None) as store:
        record = store.get(plan_id)
        url = store.url
    return Current(
        record.plan.allocation, f"stored plan {record.id} ({url})", f"store:{url}:{plan_id}"
    )


def solver(
    fleet: pl.Fleet,
    scenario: pl.Scenario,
    current: Current,
    options: pl.MigrationOptions,
    solve_options: dict[str, float],
    box: dict[str, Any],
) -> Callable[[Callable[[pl.Progress], None], Callable[[], bool]], pl.Plan]:
    """Return the worker function of a migration-aware solve for ``state.SolveJob``.

    The unconstrained plan reports its progress live; ``should_stop`` is not passed on: a
    stopped unconstrained plan would be a false yardstick for the stability cost. The
    ``pl.StablePlan`` goes into ``box["stable"]`` for the page to show.
    """

    def run(progress: Callable[[pl.Progress], None], should_stop: Callable[[], bool]) -> pl.Plan:
        del should_stop

        def unconstrained(f: pl.Fleet, s: pl.Scenario | None, **opts: Any) -> pl.Plan:
            return pl.make_plan(f, s, progress=progress, **opts)

        stable = pl.make_stable_plan(
            fleet,
            current.allocation,
            options,
            scenario,
            current_label=current.label,
            make_plan=unconstrained,
            **solve_options,
        )
        box["stable"] = stable
        return stable.plan

    return run


def moves_lines(summary: dict[str, Any]) -> list[str]:
    """The moves report in words (Markdown), from ``StablePlan.summary``."""
    s = summary
    models = ", ".join(md(m) for m in s.get("moved_models", []))
    lines = [
        f"**Moves against {md(s['current'])}**: {s['moves']:,.0f} replicas"
        + (f" of {models}" if models else "")
        + f", move cost {usd(s['move_cost_total_usd'])}"
        + (" — **the current allocation is kept**" if s.get("kept_current") else ""),
        f"**Stability costs {usd(s['stability_cost_usd'])}** of TCO: {usd(s['tco_usd'])} "
        f"against {usd(s['unconstrained_tco_usd'])} for the plan made from scratch, which "
        f"would move {s['unconstrained_moves']:,.0f} replicas for "
        f"{usd(s['unconstrained_move_cost_usd'])}.",
    ]
    if s.get("source", "stable") != "stable":
        lines.append(f"The plan is the {md(s['source'])}: the move-aware solve stopped above it.")
    if s.get("replica_bound_reached"):
        lines.append(
            "Replica bound reached for " + ", ".join(md(x) for x in s["replica_bound_reached"])
        )
    return lines


def show_moves(stable: pl.StablePlan, name: str) -> None:
    """The moves report of a migration-aware plan: totals, both plans' status, the moves."""
    s = stable.summary
    with st.container(border=True):
        st.markdown("\n\n".join(moves_lines(s)))
        cols = st.columns(4)
        cols[0].metric("Replicas moved", f"{s['moves']:,.0f}")
        cols[1].metric("Move cost", usd(s["move_cost_total_usd"]))
        cols[2].metric("Stability cost", usd(s["stability_cost_usd"]))
        cols[3].metric("TCO from scratch", usd(s["unconstrained_tco_usd"]))
        st.caption(
            f"This plan: {state.status_line(stable.plan.summary)}; the plan from scratch: "
            f"{state.status_line(stable.unconstrained.summary)}. The stability cost is the "
            "difference of the two TCOs, so read it within their gaps."
        )
        if not stable.moves.empty:
            st.dataframe(stable.moves, hide_index=True, width="stretch")
            csv_button("moves.csv", stable.moves, f"{name}_moves.csv", "dl_moves")
        with st.expander("Moves the plan from scratch would make"):
            st.dataframe(stable.unconstrained_moves, hide_index=True, width="stretch")
