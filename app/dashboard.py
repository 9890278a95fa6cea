"""What-if dashboard of the fleet planner.

Run from the repository root::

    streamlit run app/dashboard.py            # binds 127.0.0.1 (see .streamlit/config.toml)

Pick a fleet case (bundled under ``fleet_data/`` or an uploaded zip), change demand, power caps,
platforms, SLOs, horizon, disaster recovery or the objective, press **Solve**, and read the
verified plan; save named scenarios and compare them; download any table as CSV and the scenario
as YAML (``python -m planner plan fleet_data/default --scenario NAME`` reproduces it).

The dashboard is presentation only: it imports ``planner`` as ``pl`` and calls the names that
``planner/__init__.py`` exports (``tests/test_app.py`` enforces this).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run app/dashboard.py` puts only app/ on the path
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

import planner as pl  # noqa: E402
from app import cases, charts, day, history, stability, state, sweeps, tail_latency  # noqa: E402
from app.ui import csv_button, md, show_chart, show_problems, usd  # noqa: E402

ss = st.session_state
LOG = logging.getLogger("fleet_planner.dashboard")
BUNDLED, UPLOADED = "Bundled case", "Upload a zip"
TABLE_FILES = {"platforms": "platforms.csv", "profiles": "profiles.csv"}


# --------------------------------------------------------------------------- library access
@st.cache_resource(show_spinner="Loading the fleet case…", max_entries=8)
def load_case(path: str, stamp: str) -> tuple[pl.Fleet, dict[str, pl.Scenario]]:
    """Load a case folder and its named scenarios (cached on the path and file stamps)."""
    del stamp  # part of the cache key only
    return pl.load_fleet(path), pl.load_scenarios(path)


@st.cache_resource(show_spinner="Reading the uploaded case…", max_entries=4)
def load_upload(digest: str, _data: bytes, name: str) -> cases.UploadedCase:
    """Read an uploaded zip (cached on the digest of its bytes)."""
    del digest
    return cases.read_uploaded_case(_data, name)


@st.cache_resource(show_spinner="Checking the edited tables…", max_entries=16)
def apply_edits(
    case_key: str, digest: str, _fleet: pl.Fleet, _platforms: pd.DataFrame, _profiles: pd.DataFrame
) -> pl.Fleet:
    """Return the fleet with edited platforms/profiles, validated like files on disk."""
    del case_key, digest
    frames = {name: _fleet.table(name) for name in pl.TABLES if not _fleet.table(name).empty}
    frames.update(platforms=_platforms, profiles=_profiles)
    typed = pl.fleet_from_frames(_fleet.name, _fleet.settings, check=False, **frames)
    edited = _fleet.replace(platforms=typed.platforms, profiles=typed.profiles)
    pl.check_fleet(edited)
    return edited


def solve_options() -> dict[str, float]:
    """The solver controls of the sidebar, as ``pl.make_plan`` keywords."""
    return {"time_limit_s": float(ss[state.TIME_LIMIT]), "mip_gap": float(ss[state.GAP])}


def start_solve(
    key: str,
    fleet: pl.Fleet,
    scenario: pl.Scenario,
    meta: dict[str, Any],
    keep: tuple[stability.Current, pl.MigrationOptions] | None = None,
) -> state.SolveJob:
    """Start planning in a worker thread (live progress, Stop improving); return the job.

    With ``keep`` (the current allocation and the move costs) the plan is migration-aware
    (``pl.make_stable_plan``); its ``pl.StablePlan`` reaches the outcome as ``stable``.
    """
    options = solve_options()
    meta = {**meta, "objective": fleet.settings.objective, **options, "stoppable": keep is None}

    def run(progress: Callable[[pl.Progress], None], should_stop: Callable[[], bool]) -> pl.Plan:
        return pl.make_plan(fleet, scenario, progress=progress, should_stop=should_stop, **options)

    if keep is not None:
        meta["box"] = {}
        run = stability.solver(fleet, scenario, keep[0], keep[1], options, meta["box"])
    job = state.SolveJob(key, run, meta)
    ss[state.JOB] = job  # stored before it starts: a rerun finds it whatever happens next
    return job.start()


def harvest(job: state.SolveJob) -> None:
    """Make a finished job's outcome the current result; keep successful plans only.

    Called at the top of a run, before any widget, with no Streamlit call in between (a rerun
    cannot interrupt it half-way).
    """
    outcome = job.outcome()
    if outcome is None:
        return
    outcome.update(job.meta, key=job.key)
    outcome["stable"] = outcome.pop("box", {}).get("stable")
    ss.pop(state.JOB, None)
    ss[state.CURRENT] = outcome
    if outcome["kind"] != "ok":
        if not outcome["changes"] and state.BASE not in ss:
            # the case as it is has no plan: Compare says so next to any scenario
            save_failure("base", outcome, pl.scenario_from_dict({}, "base"))
        return  # failures are shown, never kept: Solve tries again
    plan = outcome["plan"]
    if plan.summary.get("stopped") != "cancelled":  # a stopped plan is not the full answer
        ss.setdefault(state.PLANS, {})[job.key] = outcome
    if state.BASE not in ss and not outcome["changes"]:
        ss[state.BASE] = plan
        save_plan(
            "base", plan, pl.scenario_from_dict({}, "base"), outcome["case_label"], edited=False
        )


@st.cache_data(show_spinner="Costing the baselines…", max_entries=32)
def baselines(key: str, _fleet: pl.Fleet, _scenario: pl.Scenario, _plan: pl.Plan) -> pd.DataFrame:
    """Savings of the plan against the library's baselines (``pl.compare_to_baselines``)."""
    del key
    return pl.compare_to_baselines(pl.apply_scenario(_fleet, _scenario), _plan)


def frontier(fleet: pl.Fleet, scenario: pl.Scenario) -> pd.DataFrame:
    """The cost–power frontier of the scenario (``pl.cost_power_frontier``)."""
    return pl.cost_power_frontier(pl.apply_scenario(fleet, scenario), points=6)


# --------------------------------------------------------------------------- small helpers
def safe_name(text: str) -> str:
    """Return a scenario name usable on the command line (``--scenario NAME``)."""
    return re.sub(r"[^A-Za-z0-9_\-]+", "_", text.strip()).strip("_") or state.DEFAULT_SCENARIO_NAME


# --------------------------------------------------------------------------- case picking
def pick_case() -> tuple[pl.Fleet, dict[str, pl.Scenario], str, str, str] | None:
    """Sidebar: choose and load the case; return (fleet, presets, identity, data key, label).

    The identity names the case (folder or upload); the data key also changes when a file of
    the folder changes on disk, so the case is re-read and re-planned but the controls stay.
    """
    st.sidebar.radio("Fleet case", [BUNDLED, UPLOADED], key=state.CASE_SOURCE, horizontal=True)
    if ss[state.CASE_SOURCE] == BUNDLED:
        options = cases.bundled_cases()
        if not options:
            st.sidebar.warning(
                f"No bundled case found: {cases.DEFAULT_CASE} is missing. "
                "Upload a zipped case instead."
            )
            return None
        label = st.sidebar.selectbox("Case folder", list(options), key=state.CASE_PICK)
        folder = options[label]
        try:
            fleet, presets = load_case(str(folder), cases.case_stamp(folder))
        except pl.FleetDataError as exc:
            show_problems(exc.header, [p.render() for p in exc.problems])
            return None
        stamp = cases.case_stamp(folder)
        return fleet, presets, f"dir:{folder}", f"dir:{folder}:{stamp}", str(label)

    upload = st.sidebar.file_uploader(
        "Zipped case (CSV tables + settings.yaml)",
        type=["zip"],
        key=state.UPLOAD,
        max_upload_size=cases.MAX_ZIP_BYTES // (1024 * 1024),
        help=f"Only .csv and .yaml files are read; {cases.caps_text()}.",
    )
    if upload is None:
        st.info(
            "Upload a zip of a fleet case folder (its CSV tables and settings.yaml) in the "
            "sidebar, or pick a bundled case."
        )
        return None
    data = upload.getvalue()
    name = safe_name(Path(upload.name).stem).lower() or "uploaded"
    try:
        case = load_upload(state.bytes_digest(data), data, name)
    except pl.FleetDataError as exc:
        show_problems(f"{exc.header} ({upload.name})", [p.render() for p in exc.problems])
        return None
    if case.skipped:
        st.sidebar.caption("Skipped (not part of a case): " + ", ".join(case.skipped[:10]))
    key = f"zip:{state.bytes_digest(data)}"
    return case.fleet, case.scenarios, key, key, upload.name


def on_preset(fleet: pl.Fleet, presets: dict[str, pl.Scenario]) -> None:
    """Load a named scenario from the case's scenarios.yaml into the controls.

    A callback runs outside the page's error boundary: its error is kept for the page to show.
    """
    try:
        state.reset_controls(ss, fleet, presets.get(ss[state.PRESET]))
    except Exception as exc:
        LOG.exception("loading preset %s failed", ss.get(state.PRESET))
        ss[state.CALLBACK_ERROR] = unexpected_text(exc)


# --------------------------------------------------------------------------- inputs
def sidebar_controls(fleet: pl.Fleet, presets: dict[str, pl.Scenario]) -> None:
    """Sidebar: preset, scenario name and the settings overrides."""
    sb = st.sidebar
    if presets:
        sb.selectbox(
            "Start from a scenario in scenarios.yaml",
            [state.NO_PRESET, *presets],
            key=state.PRESET,
            on_change=on_preset,
            args=(fleet, presets),
        )
    sb.text_input(
        "Scenario name",
        key=state.SCENARIO_NAME,
        help="Used in the YAML download and when saving for comparison.",
    )
    sb.number_input("Horizon (quarters)", min_value=1, max_value=40, step=1, key=state.HORIZON)
    sb.toggle("Disaster recovery (survive losing any one region)", key=state.DR)
    sb.selectbox(
        "Objective",
        state.OBJECTIVES,
        key=state.OBJECTIVE,
        format_func={
            "tco": "tco: capex + energy + maintenance",
            "power": "power: provisioned facility power",
            "capex": "capex: purchases only",
        }.get,
    )
    day.slots_control(fleet)
    with sb.expander("Solver"):
        st.number_input(
            "Time limit (s)", min_value=1.0, max_value=3600.0, step=5.0, key=state.TIME_LIMIT
        )
        st.number_input(
            "Relative MIP gap",
            min_value=0.0,
            max_value=0.5,
            step=0.001,
            format="%.4f",
            key=state.GAP,
        )
        st.caption("Not part of the scenario: the CLI takes `--time-limit` and `--gap`.")


def whatif_tab(fleet: pl.Fleet) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The what-if controls; return the edited platform-change, SLO and power-cap tables."""
    preset = ss.get(state.PRESET_OVERLAY)
    left, right = st.columns(2)
    with left:
        st.subheader("Demand growth")
        st.caption("Multipliers on peak demand (1.00 = as in the case; factors compound).")
        for b in state.buckets(fleet):
            st.number_input(
                f"Bucket **{b}**",
                min_value=0.0,
                max_value=100.0,
                step=0.05,
                format="%.2f",
                key=state.bucket_key(b),
            )
        if state.products(fleet):
            with st.expander(f"By product ({len(state.products(fleet))})"):
                for p in state.products(fleet):
                    st.number_input(
                        f"Product {p}",
                        min_value=0.0,
                        max_value=100.0,
                        step=0.05,
                        format="%.2f",
                        key=state.product_key(p),
                    )
        with st.expander("By region"):
            for r in state.regions(fleet):
                st.number_input(
                    f"Region {r}",
                    min_value=0.0,
                    max_value=100.0,
                    step=0.05,
                    format="%.2f",
                    key=state.region_key(r),
                )
    with right:
        st.subheader("Power caps")
        st.caption(
            "Facility power available per region and quarter (kW), as the case "
            "schedules it. Change a cell to change that quarter only; the last quarter's "
            "cap holds for a longer horizon. The factor scales every cap."
        )
        st.number_input(
            "Scale every cap by",
            min_value=0.01,
            max_value=10.0,
            step=0.05,
            format="%.2f",
            key=state.CAP_SCALE,
        )
    # Full width: a column per quarter (8 on the default case) does not fit half the page.
    quarters = {
        q: st.column_config.NumberColumn(q, min_value=0.001, step=1.0, format="%.1f", required=True)
        for q in state.quarter_columns(fleet)
    }
    power_caps = st.data_editor(
        state.cap_frame(fleet, preset),
        key=state.POWER_CAPS,
        hide_index=True,
        disabled=["region_id"],
        width="stretch",
        column_config={"region_id": st.column_config.TextColumn("region"), **quarters},
    )

    st.subheader("Platforms")
    st.caption(
        "Untick *available* to stop buying a platform; multipliers scale its throughput "
        "(all models), price and power."
    )
    mult = {
        c: st.column_config.NumberColumn(
            c.replace("_", " "), min_value=0.01, step=0.05, format="%.2f", required=True
        )
        for c in state.PLATFORM_CHANGE_COLUMNS[1:]
    }
    platform_changes = st.data_editor(
        state.platform_change_frame(fleet, preset),
        key=state.PLATFORM_CHANGES,
        hide_index=True,
        disabled=["platform_id", "platform_class"],
        width="stretch",
        column_config={"available": st.column_config.CheckboxColumn("available"), **mult},
    )

    st.subheader("Latency SLOs")
    st.caption(
        "Give a new SLO for a model and the throughput it allows relative to today "
        "(e.g. a looser SLO: 1.3× the queries per server). Blank = unchanged."
    )
    slo_changes = st.data_editor(
        state.slo_frame(fleet, preset),
        key=state.SLO_CHANGES,
        hide_index=True,
        placeholder="",
        disabled=["model_id", "bucket", "latency_slo_ms"],
        width="stretch",
        column_config={
            "latency_slo_ms": st.column_config.NumberColumn("current SLO (ms)", format="%g"),
            "new_latency_slo_ms": st.column_config.NumberColumn(
                "new SLO (ms)", min_value=0.1, format="%g"
            ),
            "throughput_multiplier": st.column_config.NumberColumn(
                "throughput multiplier", min_value=0.01, step=0.05, format="%.2f"
            ),
        },
    )
    return platform_changes, slo_changes, power_caps


def data_tab(fleet: pl.Fleet, case_key: str) -> tuple[pl.Fleet | None, bool]:
    """Fleet description and editable platforms/profiles; return (edited fleet, edited?)."""
    st.caption(
        "Edits here change the case's data (not the scenario): they are checked like "
        "files on disk. Download the edited CSVs to keep them; the scenario YAML does "
        "not carry them."
    )
    with st.expander("Case overview", expanded=False):
        c1, c2 = st.columns([1, 2])
        c1.dataframe(pl.table_rows(fleet), hide_index=True)
        c2.markdown("**Peak demand (queries/s) by bucket and quarter**")
        c2.dataframe(pl.demand_by_bucket(fleet))
        st.markdown("**Coverage: latency-bounded qps per server (blank: cannot run)**")
        st.dataframe(pl.coverage(fleet))
    st.subheader("platforms.csv")
    platforms = st.data_editor(
        fleet.platforms,
        key=state.EDIT_PLATFORMS,
        num_rows="dynamic",
        hide_index=True,
        width="stretch",
    )
    st.subheader("profiles.csv")
    profiles = st.data_editor(
        fleet.profiles,
        key=state.EDIT_PROFILES,
        num_rows="dynamic",
        hide_index=True,
        width="stretch",
    )
    edited = not (platforms.equals(fleet.platforms) and profiles.equals(fleet.profiles))
    if not edited:
        return fleet, False
    c1, c2 = st.columns(2)
    with c1:
        csv_button("Edited platforms.csv", platforms, "platforms.csv", "dl_edit_platforms")
    with c2:
        csv_button("Edited profiles.csv", profiles, "profiles.csv", "dl_edit_profiles")
    try:
        new = apply_edits(
            case_key, state.frame_digest(platforms, profiles), fleet, platforms, profiles
        )
    except pl.FleetDataError as exc:
        show_problems(exc.header + " (edited tables)", [p.render() for p in exc.problems])
        return None, True
    st.success(
        "The edited tables pass every check; Solve uses them.", icon=":material/check_circle:"
    )
    return new, True


# --------------------------------------------------------------------------- results
def objective_text(value: float | None, objective: str) -> str:
    """Format an objective value or bound of the planner (kUSD for tco and capex)."""
    if value is None:
        return "—"
    return usd(value * 1e3) if objective in ("tco", "capex") else f"{value:,.1f}"


def show_progress(steps: list[Any], objective: str) -> None:
    """Best plan and bound over time (chart) and the stage table of a solve."""
    frame = state.progress_frame(steps, objective)
    if frame.empty:
        st.caption("No progress reported (this solver has no anytime path).")
        return
    spec = charts.progress_spec(frame, state.objective_unit(objective))
    st.vega_lite_chart(spec=spec, width="stretch")
    money = state.objective_unit(objective) == "USD"
    number = st.column_config.NumberColumn(format="dollar" if money else "localized")
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            "seconds": st.column_config.NumberColumn(format="%.2f"),
            "best plan": number,
            "bound": number,
            "gap": st.column_config.NumberColumn(format="percent"),
        },
    )


def live_line(job: state.SolveJob, steps: list[pl.Progress]) -> str:
    """One line on a running solve: time, stage, best plan, bound and gap so far."""
    objective = job.meta.get("objective", "tco")
    parts = [
        f"**{'Stopping' if job.cancelled else 'Solving'}** scenario "
        f"**{md(job.meta.get('scenario_name', ''))}** · {job.elapsed():.1f} s"
    ]
    last = steps[-1] if steps else None
    if last is None:
        parts.append("building the model…")
    else:
        parts.append(f"after stage *{md(last.stage)}*")
        if last.objective is None:
            parts.append("looking for the first plan…")
        else:
            parts.append(f"best plan {objective_text(last.objective, objective)}")
        parts.append(f"bound {objective_text(last.bound, objective)}")
        parts.append(
            f"gap {state.gap_text(last.gap)} (target {state.gap_text(job.meta.get('mip_gap'))})"
        )
    return " · ".join(parts)


def running_panel(job: state.SolveJob) -> Any:
    """The live panel of a running solve with its Stop button; return the slot to fill."""
    with st.container(border=True):
        slot = st.empty()
        left, right = st.columns([4, 1])
        limit = job.meta.get("time_limit_s")
        if not job.meta.get("stoppable", True):
            left.caption(
                "Migration-aware solve (Keep current allocation): first the plan from "
                "scratch (shown live), then the plan that weighs moves, through HiGHS up "
                f"to about 1.5 × the time limit ({limit:g} s). It cannot be stopped early."
            )
            return slot
        left.caption(
            "The first plan comes within seconds; it is then improved and proven "
            f"until the gap target or the time limit ({limit:g} s). **Stop improving** "
            "ends that at the next stage and keeps the best plan so far (a proof "
            "already running ends by the time limit)."
        )
        right.button(
            "Stopping…" if job.cancelled else "Stop improving",
            key=state.CANCEL,
            on_click=job.cancel,
            disabled=job.cancelled,
            icon=":material/stop:",
            width="stretch",
        )
    return slot


def watch(job: state.SolveJob, slot: Any) -> None:
    """Show the running job's progress in ``slot`` until it finishes.

    The worker thread plans; this loop only reads its progress and writes to the page a few
    times a second. A rerun (any button or widget) interrupts the loop at its next Streamlit
    call; the job goes on and the next run shows it again.
    """
    with slot.container():
        head, chart = st.empty(), st.empty()
    shown = 0
    objective = job.meta.get("objective", "tco")
    while True:
        finished = job.wait(0.25)
        steps = job.progress()
        head.markdown(live_line(job, steps))
        if len(steps) != shown:
            shown = len(steps)
            frame = state.progress_frame(steps, objective)
            chart.vega_lite_chart(
                spec=charts.progress_spec(frame, state.objective_unit(objective)), width="stretch"
            )
        if finished:
            return


def verdict(outcome: dict[str, Any], stale: bool, base: pl.Plan | None) -> None:
    """Top strip: verifier verdict, status, gap and headline numbers (or what went wrong)."""
    name = outcome.get("scenario_name", "")
    objective = outcome.get("objective", "tco")
    if outcome["kind"] == "ok":
        plan: pl.Plan = outcome["plan"]
        s = plan.summary
        tick = "Verified" if s.get("verified") else "NOT verified"
        first = s.get("first_plan_seconds")
        first_text = (
            f"first plan in {first:.2f} s (gap {state.gap_text(s.get('first_plan_gap'))})"
            if isinstance(first, int | float)
            else ""
        )
        stopped = state.STOP_REASONS.get(s.get("stopped", ""), s.get("stopped", ""))
        parts = [
            f"**{tick}** {state.status_line(s)} plan for scenario **{md(name)}**"
            f"{'' if outcome.get('changes', True) else ' (no changes: the case as it is)'}",
            first_text,
            stopped,
            f"{s.get('solver', '')} {s.get('solve_seconds', 0):.2f} s "
            f"({outcome['seconds']:.2f} s with building and verification)",
        ]
        if outcome.get("cached"):
            parts.append("as solved earlier in this session")
        if s.get("source"):
            parts.append(md(s["source"]))
        (st.success if s.get("verified") else st.error)(
            " · ".join(p for p in parts if p),
            icon=":material/verified:" if s.get("verified") else ":material/error:",
        )
        for warning in s.get("warnings") or []:  # pl.fleet_warnings of the fleet planned
            st.warning(md(warning), icon=":material/warning:")
        deltas: dict[str, float] = {}
        if base is not None and base is not plan:
            totals = pl.compare_plans({"base": base, "this": plan})["Totals"]
            deltas = totals["this - base"].to_dict()
        cols = st.columns(5)
        items = [
            ("TCO", "total_cost_usd", usd),
            ("Capex", "capex_usd", usd),
            ("Energy", "energy_usd", usd),
            ("Servers bought", "servers_purchased", lambda v: f"{v:,.0f}"),
            ("Peak power", "peak_power_kw", lambda v: f"{v:,.0f} kW"),
        ]
        for col, (label, key, fmt) in zip(cols, items, strict=True):
            delta = deltas.get(key)
            col.metric(
                label,
                fmt(s[key]),
                delta=None if not delta else f"{fmt(delta)} vs base",
                delta_color="inverse",
                help=f"plan.summary['{key}']",
            )
        with cols[0]:
            st.badge(
                state.status_line(s),
                color="green" if s.get("status") == "optimal" else "orange",
                icon=":material/verified:"
                if s.get("status") == "optimal"
                else ":material/hourglass_bottom:",
            )
        base_entry = ss.get(state.SAVED, {}).get("base")
        if base is None and base_entry is not None and base_entry["plan"] is None:
            st.caption(
                "No change against base is shown: the case as it is has no plan "
                f"({md(no_plan_text(base_entry))})."
            )
        if outcome.get("stable") is not None:
            stability.show_moves(outcome["stable"], name)
        steps = s.get("stages") or outcome.get("progress") or []
        with st.expander(
            f"Solve progress: {len(steps)} stages, "
            f"{first_text or 'no first-plan time'}, best bound "
            f"{objective_text(s.get('best_bound'), objective)}"
        ):
            show_progress(steps, objective)
    elif outcome["kind"] == "infeasible":
        explanation = outcome.get("explanation")
        lines = outcome["message"].splitlines()
        st.error(
            f"**Infeasible scenario '{md(name)}'.** {md(lines[0])} The table shows the "
            "smallest relaxation that would make it feasible: which demand or limit, "
            "where, and by how much.",
            icon=":material/block:",
        )
        if isinstance(explanation, pd.DataFrame) and not explanation.empty:
            st.dataframe(
                explanation,
                hide_index=True,
                width="stretch",
                column_config={"amount": st.column_config.NumberColumn(format="%.1f")},
            )
            csv_button("Shortfalls (CSV)", explanation, f"{name}_shortfalls.csv", "dl_shortfalls")
        else:
            st.code("\n".join(lines[1:]) or "(no explanation available)")
    elif outcome["kind"] == "invalid":
        show_problems(outcome["header"], outcome["problems"])
    elif outcome.get("usage"):
        st.error(
            f"**This solve cannot run as asked.** {md(outcome['message'])}",
            icon=":material/block:",
        )
    else:
        st.error(
            f"**The solver found no plan.** {md(outcome['message'])} Nothing was kept: "
            "**Solve** tries again.",
            icon=":material/warning:",
        )
    if outcome["kind"] != "ok" and outcome.get("progress"):
        with st.expander("Solve progress"):
            show_progress(outcome["progress"], objective)
    if stale:
        st.info(
            "The inputs changed since this result was computed: press **Solve**.",
            icon=":material/refresh:",
        )


def plan_caption(plan: pl.Plan, name: str) -> None:
    """Say which plan a tab shows and how good it is (status and gap), first in the tab."""
    verified = "verified" if plan.summary.get("verified") else "NOT verified"
    st.caption(
        f"Plan of scenario **{md(name)}**: {state.status_line(plan.summary)}, {verified}, "
        f"TCO {usd(plan.total_cost_usd)}."
    )


def plan_tab(plan: pl.Plan, label: charts.Label, name: str, key: str) -> None:
    """Charts and tables of one plan."""
    plan_caption(plan, name)
    c1, c2 = st.columns(2)
    with c1:
        show_chart(
            f"{key}|class",
            lambda: charts.stacked_servers(
                plan.by("platform_class"),
                label,
                "in_service_servers",
                "platform_class",
                "Servers in service by platform class",
            ),
        )
    with c2:
        show_chart(
            f"{key}|bucket",
            lambda: charts.stacked_servers(
                plan.by("bucket"), label, "servers", "bucket", "Servers allocated by bucket"
            ),
        )
    c1, c2 = st.columns(2)
    with c1:
        show_chart(f"{key}|purchases", lambda: charts.purchases(plan.purchases, label))
    with c2:
        show_chart(f"{key}|tco", lambda: charts.tco_breakdown(plan.costs, label))
    show_chart(f"{key}|power", lambda: charts.power_vs_cap(plan.power, label), width="content")
    day.day_section(plan, key)
    many = plan.allocation["model_id"].nunique() > 25
    rows = st.segmented_control(
        "Utilisation rows",
        ["bucket", "model"],
        default="bucket" if many else "model",
        key="heatmap_rows",
    )
    rows = "model_id" if (rows or "model") == "model" else "bucket"
    show_chart(
        f"{key}|utilisation|{rows}", lambda: charts.utilisation_heatmap(plan.allocation, rows)
    )

    st.subheader("Tables")
    tables = plan.tables()
    which = st.segmented_control("Table", list(tables), default="allocation", key="table_pick")
    if which:
        units = tables[which].attrs.get("unit", {})
        if units:
            st.caption("Units: " + ", ".join(f"{k} in {v}" for k, v in units.items()))
        st.dataframe(tables[which], hide_index=True, width="stretch")
    cols = st.columns(len(tables) + 1)
    for col, (table, frame) in zip(cols, tables.items(), strict=False):
        with col:
            csv_button(f"{table}.csv", frame, f"{name}_{table}.csv", f"dl_{table}")
    with cols[-1]:
        st.download_button(
            "summary.json",
            json.dumps(tail_latency.summary_with_latency(plan.summary, key), indent=2,
                       default=str),
            file_name=f"{name}_summary.json",
            mime="application/json",
            key="dl_summary",
            on_click="ignore",
            icon=":material/download:",
        )


def insight_tab(outcome: dict[str, Any], fleet: pl.Fleet, scenario: pl.Scenario, view: str) -> None:
    """Savings against baselines, binding constraints and shadow prices, the frontier.

    ``view`` names the plan shown (solve key and plan token) for the caches of its views.
    """
    plan: pl.Plan = outcome["plan"]
    plan_caption(plan, outcome["scenario_name"])
    st.subheader("Savings against simple baselines")
    try:
        table = baselines(view, fleet, scenario, plan)
    except (pl.PlannerError, ValueError) as exc:
        st.warning(f"Baselines could not be costed: {md(exc)}")
    else:
        show_baselines(table, outcome["scenario_name"], view)

    st.subheader("Binding constraints and shadow prices")
    insight_section(outcome, fleet, scenario)

    st.subheader("Cost–power frontier")
    store = ss.setdefault(state.FRONTIERS, {})
    if st.button("Compute the frontier (several solves)", key=state.FRONTIER):
        with st.spinner("Solving along the frontier…"):
            try:
                store[outcome["key"]] = frontier(fleet, scenario)
            except pl.PlannerError as exc:
                store[outcome["key"]] = str(exc)
    result = store.get(outcome["key"])
    if isinstance(result, pd.DataFrame):
        if {"tco_usd", "power_kw"} <= set(result.columns):
            show_chart(f"{outcome['key']}|frontier", lambda: charts.frontier(result))
        st.dataframe(result, hide_index=True, width="stretch")
        csv_button(
            "frontier.csv", result, f"{outcome['scenario_name']}_frontier.csv", "dl_frontier"
        )
    elif isinstance(result, str):
        st.warning(f"The frontier could not be computed: {md(result)}")


def insight_section(outcome: dict[str, Any], fleet: pl.Fleet, scenario: pl.Scenario) -> None:
    """Binding constraints and shadow prices, on a button: they need a re-plan with insight."""
    plan: pl.Plan = outcome["plan"]
    store: dict[str, pl.Plan] = ss.setdefault(state.INSIGHTS, {})
    found = plan if plan.insight else store.get(outcome["key"])
    if found is None:
        st.caption(
            "Shadow prices come from the PuLP model around the plan: the planner "
            "re-plans the scenario with `insight=True`, which takes longer than Solve "
            "(about 20 s on fleet_data/default)."
        )
        if st.button(
            "Compute binding constraints and shadow prices",
            key=state.INSIGHT,
            icon=":material/insights:",
        ):
            options = {k: outcome[k] for k in ("time_limit_s", "mip_gap") if k in outcome}
            with st.spinner("Re-planning with insight…"):
                result = state.plan_outcome(
                    lambda: pl.make_plan(fleet, scenario, insight=True, **options)
                )
            if result["kind"] == "ok":
                found = store[outcome["key"]] = result["plan"]
            else:  # shown, not kept: the button tries again
                st.warning(
                    "The insight re-plan failed: "
                    f"{md(result.get('message') or result.get('header', ''))}"
                )
    if found is None:
        return
    if not found.insight:
        st.info("The solver returned no insight for this plan.")
        return
    if found is not plan:
        st.caption(
            f"From a re-plan with insight: {state.status_line(found.summary)}, TCO "
            f"{usd(found.total_cost_usd)} (the plan shown: {usd(plan.total_cost_usd)})."
        )
    show_insight(found.insight, outcome["scenario_name"], f"{outcome['key']}|insight")


def show_baselines(table: pd.DataFrame, name: str, key: str) -> None:
    """The optimised plan against each baseline: totals as metrics, buckets as a chart."""
    has = {"bucket", "baseline", "savings_usd"} <= set(table.columns)
    if has:
        totals = table[table["bucket"] == "total"]
        cols = st.columns(max(1, len(totals)))
        comparable = (
            table["comparable"].astype(bool)
            if "comparable" in table
            else pd.Series(True, index=table.index)
        )
        for col, row in zip(cols, totals.to_dict("records"), strict=False):
            pct = row.get("savings_pct")
            if not row.get("comparable", True):  # it breaks constraints: no yardstick
                col.metric(
                    f"Saved vs {row['baseline']}",
                    "not comparable",
                    delta=str(row.get("baseline_status", "infeasible")),
                    delta_color="off",
                    help="The verifier rejects this baseline (it breaks constraints), so "
                    "its cost is no yardstick: the saving is not shown.",
                )
                continue
            col.metric(
                f"Saved vs {row['baseline']}",
                usd(row["savings_usd"]),
                delta=None if pct is None or pd.isna(pct) else f"{pct:.1f}%",
                help="Baseline TCO minus the optimised plan's TCO over the horizon.",
            )
        by_bucket = table[(table["bucket"] != "total") & comparable]
        if by_bucket.empty:
            st.caption("No baseline passes the verifier: no saving to chart.")
        else:
            show_chart(f"{key}|savings", lambda: charts.savings_by_bucket(by_bucket))
    with st.expander("Baseline table", expanded=not has):
        st.dataframe(table, hide_index=True, width="stretch")
    csv_button("baselines.csv", table, f"{name}_baselines.csv", "dl_baselines")


def show_insight(insight: dict[str, pd.DataFrame], name: str, key: str) -> None:
    """Binding constraints (chart + table) and the shadow prices of every row."""
    binding = insight.get("binding")
    prices = insight.get("shadow_prices")
    note = next(
        (
            f.attrs.get("note")
            for f in (binding, prices)
            if isinstance(f, pd.DataFrame) and f.attrs.get("note")
        ),
        None,
    )
    if note:
        st.caption(md(note))
    if isinstance(binding, pd.DataFrame):
        st.markdown("**Binding constraints** (at their limit, largest shadow price first)")
        if {"description", "shadow_price"} <= set(binding.columns) and not binding.empty:
            show_chart(f"{key}|binding", lambda: charts.shadow_prices(binding.head(15)))
        _constraint_table(binding)
        csv_button("binding.csv", binding, f"{name}_binding.csv", "dl_binding")
    if isinstance(prices, pd.DataFrame):
        st.markdown("**Shadow prices**")
        shown = prices
        if "shadow_price" in prices.columns and not st.toggle(
            "Show zero prices too", key="show_zero_prices"
        ):
            shown = prices[prices["shadow_price"] != 0]
        _constraint_table(shown)
        csv_button("shadow_prices.csv", prices, f"{name}_shadow_prices.csv", "dl_shadow_prices")


def _constraint_table(frame: pd.DataFrame) -> None:
    """Show a constraint table with its description, price and unit first."""
    first = [c for c in ("description", "shadow_price", "unit") if c in frame.columns]
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_order=[*first, *[c for c in frame.columns if c not in first]],
    )


def compare_tab() -> None:
    """Side-by-side comparison of saved scenarios (``pl.compare_plans``)."""
    saved: dict[str, dict[str, Any]] = ss.setdefault(state.SAVED, {})
    if not saved:
        st.info(
            "Solve, then **Save for comparison** in the sidebar; the plan of the case as "
            "it is (solved with no changes) is saved as *base* automatically."
        )
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "scenario": n,
                    "case": e["case"],
                    "edited data": e["edited"],
                    "TCO (USD)": e["plan"].total_cost_usd if e["plan"] else None,
                    "status": state.status_line(e["plan"].summary)
                    if e["plan"]
                    else no_plan_text(e),
                    "first plan (s)": e["plan"].summary.get("first_plan_seconds")
                    if e["plan"]
                    else None,
                }
                for n, e in saved.items()
            ]
        ),
        hide_index=True,
        column_config={
            "TCO (USD)": st.column_config.NumberColumn(format="dollar"),
            "first plan (s)": st.column_config.NumberColumn(format="%.2f"),
        },
    )
    st.download_button(
        "All saved scenarios (scenarios.yaml)",
        state.merged_yaml([e["scenario"] for e in saved.values()]),
        file_name="scenarios.yaml",
        mime="application/x-yaml",
        key="dl_saved_yaml",
        on_click="ignore",
        icon=":material/download:",
    )
    ss[state.COMPARE_PICK] = [n for n in ss.get(state.COMPARE_PICK, []) if n in saved]
    names = st.multiselect(
        "Compare (the first is the reference)", list(saved), key=state.COMPARE_PICK
    )
    if len(names) < 2:
        st.info("Pick two or more saved scenarios to compare.")
        return
    if len({saved[n]["case"] for n in names}) > 1:
        st.warning("These scenarios come from different cases.")
    missing = [n for n in names if saved[n]["plan"] is None]
    for n in missing:
        role = "the reference (first picked)" if n == names[0] else "a scenario"
        st.error(
            f"**{md(n)}** ({role}) has no plan: {md(no_plan_text(saved[n]))}. It is left "
            "out of the numbers below: it has no cost, servers or power to compare.",
            icon=":material/block:",
        )
    names = [n for n in names if n not in missing]
    if missing and missing[0] == ss[state.COMPARE_PICK][0] and names:
        st.warning(
            f"Differences are shown against **{md(names[0])}**, the first picked scenario "
            "with a plan, not against the reference you picked.",
            icon=":material/warning:",
        )
    if len(names) < 2:
        st.info("Pick two or more saved scenarios that have a plan to compare numbers.")
        return
    tables = pl.compare_plans({n: saved[n]["plan"] for n in names})
    totals = tables["Totals"]
    key = "|".join(saved[n]["token"] for n in names)
    show_gap_notes({n: saved[n]["plan"] for n in names}, tables)
    show_chart(f"{key}|totals", lambda: charts.compare_totals(totals, names), width="content")
    for i, (title, frame) in enumerate(tables.items()):
        st.markdown(f"**{title}**")
        numeric = [
            c
            for c in frame.columns
            if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
        ]
        shown = (
            frame if all(frame[c].dtype != object for c in frame.columns) else frame.astype(str)
        )  # mixed tables (status and gap) as text
        st.dataframe(
            shown,
            width="stretch",
            column_config={c: st.column_config.NumberColumn(format="localized") for c in numeric},
        )
        csv_button(
            f"{title} (CSV)",
            frame.reset_index(names="item"),
            f"compare_{re.sub(r'[^a-z0-9]+', '_', title.lower()).strip('_')}.csv",
            f"dl_compare_{i}",
        )
    by_class = next((t for t in tables if t.startswith("TCO") and "class" in t), None)
    if by_class:
        show_chart(
            f"{key}|by_class",
            lambda: charts.compare_breakdown(tables[by_class], names, by_class, "platform_class"),
        )


def show_gap_notes(plans: dict[str, pl.Plan], tables: dict[str, pd.DataFrame]) -> None:
    """Say, for each plan against the first, whether the TCO difference exceeds the gaps.

    Uses the ``within_gaps`` column of ``pl.compare_plans``' differences table when the
    library gives one, else the same rule here (``state.within_gaps``).
    """
    (ref_name, ref), *others = plans.items()
    table = next((t for t in tables.values() if "within_gaps" in t.columns), None)
    lines = []
    for name, plan in others:
        a, b = ref.summary, plan.summary
        diff = plan.total_cost_usd - ref.total_cost_usd
        pct = diff / ref.total_cost_usd if ref.total_cost_usd else float("nan")
        row = f"{name} - {ref_name}"
        if table is not None and row in table.index:
            value = table.loc[row, "within_gaps"]
            within = None if value is None or pd.isna(value) else bool(value)
        else:
            within = state.within_gaps(a, b)
        gaps = f"gaps {state.gap_text(a.get('gap'))} and {state.gap_text(b.get('gap'))}"
        if within is None:
            note = (
                f"cannot be weighed against the {gaps} (a gap is unknown, or an objective "
                "other than tco)"
            )
        elif within:
            note = (
                f"**within the plans' {gaps}**: the optimal costs of the two scenarios "
                "could be equal or the other way round; raise the time limit or lower the "
                "gap to tell them apart"
            )
        else:
            note = f"larger than the plans' {gaps}: a real difference"
        lines.append(f"- **{md(name)}** − {md(ref_name)}: TCO {usd(diff)} ({pct:+.2%}), {note}.")
    st.markdown("**TCO differences against the plans' optimality gaps**\n\n" + "\n".join(lines))


def save_failure(name: str, outcome: dict[str, Any], scenario: pl.Scenario | None) -> None:
    """Keep a scenario without a plan (infeasible, no plan in the limits) for Compare.

    Nothing is kept as a plan: Compare lists it, marked, and leaves it out of the numbers.
    """
    message = outcome.get("message") or outcome.get("header") or ""
    ss.setdefault(state.SAVED, {})[name] = {
        "plan": None,
        "kind": outcome["kind"],
        "message": str(message).splitlines()[0] if message else "",
        "scenario": scenario or pl.scenario_from_dict({}, name),
        "case": outcome.get("case_label", ""),
        "edited": outcome.get("edited", False),
        "token": uuid.uuid4().hex,
    }
    ss[state.COMPARE_PICK] = list(dict.fromkeys([*ss.get(state.COMPARE_PICK, []), name]))


def no_plan_text(entry: dict[str, Any]) -> str:
    """How Compare marks a saved scenario without a plan."""
    what = "INFEASIBLE: no plan exists" if entry.get("kind") == "infeasible" else "NO PLAN"
    return f"{what} ({entry['message']})" if entry.get("message") else what


def save_plan(name: str, plan: pl.Plan, scenario: pl.Scenario, case: str, edited: bool) -> None:
    """Keep a solved scenario for comparison and tick it in the comparison picker."""
    ss.setdefault(state.SAVED, {})[name] = {
        "plan": plan,
        "scenario": scenario,
        "case": case,
        "edited": edited,
        "token": uuid.uuid4().hex,
    }
    ss[state.COMPARE_PICK] = list(dict.fromkeys([*ss.get(state.COMPARE_PICK, []), name]))


# --------------------------------------------------------------------------- page
def unexpected_text(exc: BaseException) -> str:
    """The message of an error the page did not expect: what, where to look, what to do."""
    detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else "no details"
    return (
        f"**The page stopped on an unexpected error** ({type(exc).__name__}: {md(detail)}). "
        "Nothing was planned or kept from this step. Change the input or reload the page; "
        "if it happens again, report it with the server's log, which has the details."
    )


def main() -> None:
    """The page: its title, then everything else inside one error boundary.

    Every exception of the page ends here as a message under the title (never a traceback in
    the browser); the traceback goes to the server's log. Streamlit's own rerun and stop
    signals are BaseExceptions and pass through.
    """
    st.set_page_config(
        page_title="Fleet planner · what-if", page_icon=":material/dns:", layout="wide"
    )
    st.sidebar.title("Fleet planner")
    st.title("Fleet planner: what-if")
    alerts = st.container()
    try:
        page()
    except pl.FleetDataError as exc:
        with alerts:
            show_problems(exc.header, [p.render() for p in exc.problems])
    except Exception as exc:
        LOG.exception("the dashboard page failed")
        with alerts:
            st.error(unexpected_text(exc), icon=":material/error:")


def page() -> None:
    """Lay out the page below its title: sidebar inputs, verdict strip, then tabs."""
    callback_error = ss.pop(state.CALLBACK_ERROR, None)
    if callback_error:
        st.error(callback_error, icon=":material/error:")
    picked = pick_case()
    if picked is None:
        return
    fleet, presets, identity, case_key, case_label = picked
    job: state.SolveJob | None = ss.get(state.JOB)
    if ss.get(state.ACTIVE_CASE) != identity:  # another case: start from it as it is
        if job is not None:  # the old case's solve: stop it, forget it
            job.cancel()
            ss.pop(state.JOB, None)
        state.reset_controls(ss, fleet)
        ss[state.ACTIVE_CASE] = identity
        ss[state.CURRENT] = None
        ss.pop(state.BASE, None)
    elif ss.get(state.ACTIVE_DATA) != case_key:  # its files changed on disk
        ss.pop(state.BASE, None)
        state.follow_data(ss, fleet)
    ss[state.ACTIVE_DATA] = case_key
    for tab in (history, sweeps, stability):
        tab.init_defaults(ss)
    job = ss.get(state.JOB)
    if job is not None and job.done():
        harvest(job)
    sidebar_controls(fleet, presets)
    solve_clicked = st.sidebar.button(
        "Solve",
        type="primary",
        key=state.SOLVE,
        icon=":material/play_arrow:",
        width="stretch",
        disabled=ss.get(state.JOB) is not None,
        help="Plan the scenario: a first plan within seconds, "
        "then improvement and proof, shown live.",
    )
    save_slot = st.sidebar.container()

    s = fleet.settings
    st.caption(
        f"Case **{md(case_label)}** · {len(fleet.platforms)} platforms · "
        f"{len(fleet.models)} models · {len(fleet.regions)} regions · "
        f"{s.horizon_quarters} quarters from {s.first_quarter} · objective {s.objective}"
    )
    top = st.container()
    tabs = st.tabs(["What-if", "Plan", "Insight", "Compare", "Fleet data", "History", "Sweep"])
    with tabs[0]:
        platform_changes, slo_changes, power_caps = whatif_tab(fleet)
        bucket_move_costs = stability.control(fleet)
    with tabs[4]:
        planned_fleet, edited = data_tab(fleet, case_key)

    name = safe_name(ss[state.SCENARIO_NAME])
    body = state.build_overrides(
        fleet, ss, platform_changes, slo_changes, ss.get(state.EXTRAS), power_caps
    )
    scenario: pl.Scenario | None = None
    with tabs[0]:
        try:
            scenario = pl.scenario_from_dict(body, name)
        except pl.FleetDataError as exc:
            show_problems(exc.header, [p.render() for p in exc.problems])
        else:
            text = pl.scenario_to_yaml(scenario)
            st.subheader("Scenario")
            keep_flags = (
                " "
                + stability.cli_flags(
                    ss, history.store_text(ss), stability.options_from(ss, bucket_move_costs)
                )
                if bucket_move_costs is not None
                else ""
            )
            st.caption(
                "Add this to the case's scenarios.yaml, then "
                f"`python -m planner plan <case> --scenario {name}{keep_flags}` reproduces "
                "the plan"
                + (" (table edits from *Fleet data* are not included)." if edited else ".")
            )
            st.code(text, language="yaml")
            st.download_button(
                "Scenario YAML",
                text,
                file_name=f"{name}.yaml",
                mime="application/x-yaml",
                key="dl_scenario",
                on_click="ignore",
                icon=":material/download:",
            )

    ready = scenario is not None and planned_fleet is not None
    edits = (
        state.frame_digest(planned_fleet.platforms, planned_fleet.profiles)
        if edited and planned_fleet is not None
        else "as-is"
    )
    scenario_text = pl.scenario_to_yaml(scenario) if scenario is not None else repr(body)
    keep_on = bucket_move_costs is not None
    move_options = stability.options_from(ss, bucket_move_costs) if keep_on else None
    keep_key = (
        stability.key_part(ss, history.store_text(ss), move_options) if move_options else "free"
    )
    key = f"{case_key}|{edits}|{ss[state.TIME_LIMIT]}|{ss[state.GAP]}|{keep_key}|{scenario_text}"
    job: state.SolveJob | None = ss.get(state.JOB)
    if solve_clicked and ready and job is None:
        cached = ss.get(state.PLANS, {}).get(key)
        keep = None
        if cached is not None:  # the same inputs solved before: no second solve
            ss[state.CURRENT] = {**cached, "cached": True}
        elif move_options is not None:
            try:  # read now, on the page: a missing plan is said here and nothing starts
                keep = (stability.read_current(ss, history.store_text(ss)), move_options)
            except pl.PlannerError as exc:
                top.error(
                    f"**The current allocation cannot be read**: {md(exc)}",
                    icon=":material/block:",
                )
        if cached is None and (move_options is None or keep is not None):
            job = start_solve(
                key,
                planned_fleet,
                scenario,
                {
                    "scenario_name": name,
                    "scenario": scenario,
                    "fleet": planned_fleet,
                    "changes": bool(body) or edited or keep_on,
                    "edited": edited,
                    "case_label": case_label,
                    "token": uuid.uuid4().hex,
                },
                keep,
            )
    elif solve_clicked and not ready:
        top.error("Fix the problems shown before solving.", icon=":material/block:")

    current = ss.get(state.CURRENT)
    with save_slot:
        can_save = (
            job is None
            and bool(current)
            and current["kind"] in ("ok", "infeasible", "error")
            and current["key"] == key
        )
        if st.button(
            "Save for comparison",
            key=state.SAVE,
            disabled=not can_save,
            icon=":material/bookmark_add:",
            width="stretch",
        ):
            if current["kind"] == "ok":
                save_plan(
                    current["scenario_name"],
                    current["plan"],
                    current["scenario"],
                    case_label,
                    edited=current["edited"],
                )
            else:  # Compare marks it: no plan, and why
                save_failure(current["scenario_name"], current, current["scenario"])
            st.toast(f"Saved '{current['scenario_name']}'")
        saved = ss.get(state.SAVED, {})
        if saved:
            st.caption("Saved: " + ", ".join(saved))

    label = fleet.settings.quarter_label
    slot = None
    with top:
        if job is not None:
            slot = running_panel(job)
        if current is None:
            if job is None:
                st.info(
                    "Press **Solve** to plan this case. Opening the page plans nothing: "
                    "the first plan comes within seconds of **Solve**, then it improves "
                    "live.",
                    icon=":material/play_arrow:",
                )
        else:
            verdict(current, stale=current["key"] != key, base=ss.get(state.BASE))
    ok = current is not None and current["kind"] == "ok"
    view = f"{current['key']}|{current.get('token', '')}" if ok else ""
    with tabs[1]:
        if ok:
            plan_tab(current["plan"], label, current["scenario_name"], view)
            tail_latency.section(current, view)
        else:
            st.info("No plan to show: press **Solve** (a feasible scenario) first.")
    with tabs[2]:
        if ok:
            insight_tab(current, current["fleet"], current["scenario"], view)
        else:
            st.info("No plan to analyse: press **Solve** (a feasible scenario) first.")
    with tabs[3]:
        compare_tab()
    with tabs[5]:
        history.history_tab(ss, fleet, current, fresh=job is None and ok and current["key"] == key)
    with tabs[6]:
        sweeps.sweep_tab(ss)
    if job is not None and slot is not None:
        watch(job, slot)  # until the plan is ready; a rerun on the way leaves the job running
        st.rerun()  # the next run takes the outcome (harvest) and shows the plan


main()
