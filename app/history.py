"""The History tab: the plan store (``pl.open_store``) in the dashboard.

What ``python -m planner history / show / diff / export`` do, on a page: list the plans of a
store (the default file, a path or a URL the user types), filter them by case hash or name,
show one (where it came from, status and gap, summary and tables), diff two, export one to a
folder that ``verify`` accepts; and record the dashboard's own solve with a name and a note.

Opening the page opens no store: a store is opened when the user asks (a file store would
otherwise be created in the working folder by merely looking at the page).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import streamlit as st

import planner as pl
from app import stability, state
from app.ui import csv_button, error_text, md, usd

STORE_ENV = "FLEET_PLANNER_STORE"  # the store the History tab starts with (default file if unset)

# Widget keys.
STORE_URL = "store_url"
OPEN_STORE = "open_store"
FILTER_HASH = "history_case_hash"
FILTER_NAME = "history_name"
THIS_CASE = "history_this_case"
SHOW_ID = "history_show"
SHOW_TABLE = "history_table"
USE_AS_CURRENT = "history_use_as_current"
DIFF_A = "history_diff_a"
DIFF_B = "history_diff_b"
EXPORT_DIR = "history_export_dir"
EXPORT = "history_export"
RECORD_NAME = "record_name"
RECORD_NOTE = "record_note"
RECORD = "record"
OPENED = "_store_opened"  # the URL text of the store opened in this session
RECORDED = "_store_recorded"  # {solve key and plan token: id} of plans recorded here
RECORD_FOR = "_record_for"  # the plan the name and note fields were filled for
RECORD_RESULT = "_record_result"  # (plan token, ok, message) of the last Record press

DIFF_TITLES = {
    "inputs": "Inputs that changed",
    "totals": "Totals (a, b, b − a)",
    "servers": "Servers in service by platform, region and quarter",
    "purchases": "Purchases by platform, region and order quarter",
    "cost": "Cost (USD) by platform, region and quarter",
    "power": "Facility power (kW) by region and quarter",
    "replicas": "Replicas by model, platform, region and quarter",
}


def init_defaults(ss: MutableMapping[str, Any]) -> None:
    """Give the store field its first value: ``$FLEET_PLANNER_STORE`` or blank (default)."""
    ss.setdefault(STORE_URL, os.environ.get(STORE_ENV, ""))


def store_text(ss: MutableMapping[str, Any]) -> str | None:
    """The store the user named (None: the default file in the working folder)."""
    text = str(ss.get(STORE_URL) or "").strip()
    return text or None


@st.cache_resource(show_spinner="Opening the plan store…", max_entries=8)
def open_store(url: str) -> pl.PlanStore:
    """Open (and migrate) a store once per URL; a failure raises and is not cached."""
    return pl.open_store(url or None)


@st.cache_resource(show_spinner=False, max_entries=64)
def stored(url: str, plan_id: int, created_at: str) -> pl.StoredPlan:
    """Read one record once per store, id and time of recording.

    A record never changes; ``created_at`` tells apart a store made again at the same path.
    """
    del created_at
    return open_store(url).get(plan_id)


@st.cache_resource(show_spinner=False, max_entries=32)
def diffed(url: str, a: int, b: int, created: tuple[str, str]) -> dict[str, Any]:
    """``pl.diff_records`` of two records, once per pair (records never change)."""
    del created
    return pl.diff_records(open_store(url), a, b)


def opened_store(ss: MutableMapping[str, Any]) -> pl.PlanStore | None:
    """The store opened in this session, or None."""
    if OPENED not in ss:
        return None
    return open_store(ss[OPENED])


def _open_clicked(ss: MutableMapping[str, Any]) -> None:
    ss[OPENED] = store_text(ss) or ""


# --------------------------------------------------------------------------- recording
def record_section(
    ss: MutableMapping[str, Any], outcome: dict[str, Any] | None, fresh: bool
) -> None:
    """Record the dashboard's current plan in the store, with a name and a note."""
    st.subheader("Record the current plan")
    ok = bool(outcome) and outcome["kind"] == "ok" and fresh
    if not ok:
        st.caption("Solve first: the verified plan of the inputs shown can be recorded here.")
        return
    token = f"{outcome['key']}|{outcome.get('token', '')}"
    done = ss.setdefault(RECORDED, {})
    if ss.get(RECORD_FOR) != token:  # a new plan: its scenario's name, a fresh note
        ss[RECORD_FOR], ss[RECORD_NAME], ss[RECORD_NOTE] = token, outcome["scenario_name"], ""
    c1, c2 = st.columns([1, 2])
    c1.text_input("Name", key=RECORD_NAME)
    c2.text_input("Note", key=RECORD_NOTE, placeholder="why this plan, for whom")
    st.button(
        "Record in the store",
        key=RECORD,
        icon=":material/save:",
        disabled=token in done,
        on_click=_record,
        args=(ss, outcome, token),
        help="Records the case, scenario, solver settings, summary and tables (command "
        "'dashboard'), as `plan --store` does.",
    )
    result = ss.get(RECORD_RESULT)
    if result and result[0] == token:
        (st.success if result[1] else st.error)(
            result[2], icon=":material/save:" if result[1] else ":material/error:"
        )
    elif token in done:
        st.caption(f"This plan is recorded as plan {done[token]}.")


def _record(ss: MutableMapping[str, Any], outcome: dict[str, Any], token: str) -> None:
    """Record the plan; a button callback, so the page that follows shows it recorded.

    A failure is said and nothing is remembered: the button tries again.
    """
    stable: pl.StablePlan | None = outcome.get("stable")
    try:
        store = open_store(store_text(ss) or "")
        plan_id = store.record(
            outcome["fleet"],
            outcome["plan"],
            scenario=outcome["scenario"],
            name=str(ss.get(RECORD_NAME) or "").strip() or None,
            note=str(ss.get(RECORD_NOTE) or "").strip() or None,
            command="dashboard",
            solver={k: outcome.get(k) for k in ("time_limit_s", "mip_gap")},
            current_plan=stable.summary["current"] if stable else None,
            extra={"moves": stable.moves} if stable else None,
        )
    except Exception as exc:  # a callback runs outside the page's error boundary
        ss[RECORD_RESULT] = (token, False, f"Not recorded: {error_text(exc)}")
        return
    ss.setdefault(RECORDED, {})[token] = plan_id
    ss[OPENED] = store_text(ss) or ""
    ss[RECORD_RESULT] = (token, True, f"Recorded as plan {plan_id} in {md(store.url)}.")


# --------------------------------------------------------------------------- the tab
def history_tab(
    ss: MutableMapping[str, Any], fleet: pl.Fleet, outcome: dict[str, Any] | None, fresh: bool
) -> None:
    """The History tab: open a store, list and filter, show, diff, export, record."""
    c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
    c1.text_input(
        "Plan store",
        key=STORE_URL,
        placeholder="blank: fleet_plans.db in the working folder",
        help="A file path or sqlite:///PATH, or postgresql://USER@HOST/DB (as --store).",
    )
    c2.button(
        "Open the store",
        key=OPEN_STORE,
        on_click=_open_clicked,
        args=(ss,),
        icon=":material/folder_open:",
        width="stretch",
    )
    record_section(ss, outcome, fresh)
    st.subheader("Plans in the store")
    if OPENED not in ss:
        st.info("Press **Open the store** to list the plans of the store named above.")
        return
    try:
        store = opened_store(ss)
    except (pl.PlannerError, OSError) as exc:  # OSError: e.g. a path under a file
        st.error(f"The store cannot be opened: {error_text(exc)}", icon=":material/error:")
        return
    assert store is not None
    st.caption(f"Store: {md(store.url)}")
    f1, f2, f3 = st.columns(3)
    f1.text_input("Case hash (a prefix)", key=FILTER_HASH)
    f2.text_input("Name (exactly)", key=FILTER_NAME)
    f3.toggle("Only the case open here", key=THIS_CASE)
    digest = pl.case_hash(fleet) if ss.get(THIS_CASE) else str(ss.get(FILTER_HASH) or "").strip()
    name = str(ss.get(FILTER_NAME) or "").strip() or None
    table = store.history(case_hash=digest or None, name=name)
    if table.empty:
        st.info("No plans recorded" + (" that match the filters." if digest or name else "."))
        return
    shown = table.assign(
        status=[state.status_line(r) for r in table.to_dict("records")],
        case_hash=table["case_hash"].str[:12],
    )
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        column_config={
            "total_cost_usd": st.column_config.NumberColumn("TCO (USD)", format="dollar"),
            "gap": st.column_config.NumberColumn(format="percent"),
        },
    )
    csv_button("history.csv", table, "history.csv", "dl_history")
    created = {int(i): str(t) for i, t in zip(table["id"], table["created_at"], strict=True)}
    show_record(ss, store, created)
    diff_section(store, created)


def show_record(ss: MutableMapping[str, Any], store: pl.PlanStore, created: dict[int, str]) -> None:
    """One record: where it came from, status and gap, summary, tables; export it."""
    st.subheader("Show a plan")
    ids = list(created)
    if ss.get(SHOW_ID) not in ids:
        ss[SHOW_ID] = ids[-1]
    plan_id = st.selectbox("Plan id", ids, key=SHOW_ID)
    record = stored(ss[OPENED], plan_id, created[plan_id])
    s = record.summary
    lines = [
        f"**Plan {record.id}: {md(record.name or '(no name)')}**, recorded "
        f"{record.created_at:%Y-%m-%d %H:%M:%S} UTC by {md(record.command)}",
        f"case {md(record.case_name)} (`{record.case_hash[:12]}`), scenario "
        f"{md(record.scenario or '(none: the case as it is)')}",
        f"**{state.status_line(s)}**"
        + (", verified" if s.get("verified") else ", NOT verified")
        + f" · TCO {usd(s.get('total_cost_usd') or 0.0)} · servers purchased "
        f"{(s.get('servers_purchased') or 0):,.0f} · peak power "
        f"{(s.get('peak_power_kw') or 0):,.0f} kW",
    ]
    if record.note:
        lines.append(f"note: {md(record.note)}")
    if record.current_plan:
        lines.append(f"kept close to {md(record.current_plan)}")
    st.markdown("  \n".join(lines))
    with st.expander("Solver settings and library versions"):
        st.json({"solver": record.solver, "versions": record.versions}, expanded=False)
    tables = {**record.plan.tables(), **record.extra}
    which = st.segmented_control("Table", list(tables), default="allocation", key=SHOW_TABLE)
    if which in tables:
        st.dataframe(tables[which], hide_index=True, width="stretch")
        csv_button(f"{which}.csv", tables[which], f"plan{record.id}_{which}.csv", "dl_record")
    st.button(
        "Use as the current allocation (Keep current allocation, What-if tab)",
        key=USE_AS_CURRENT,
        on_click=_use_as_current,
        args=(ss, record.id),
        icon=":material/push_pin:",
    )
    export_section(ss, store, record)


def _use_as_current(ss: MutableMapping[str, Any], plan_id: int) -> None:
    ss[stability.KEEP_CURRENT] = True
    ss[stability.CURRENT_SOURCE] = stability.FROM_STORE
    ss[stability.CURRENT_ID] = int(plan_id)
    ss[STORE_URL] = ss.get(OPENED, "")


def export_section(
    ss: MutableMapping[str, Any], store: pl.PlanStore, record: pl.StoredPlan
) -> None:
    """Write a record as a plan folder (as ``export``) and check it with the verifier."""
    c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
    c1.text_input("Export to folder", key=EXPORT_DIR, placeholder="plans/from_store")
    clicked = c2.button("Export", key=EXPORT, icon=":material/download:", width="stretch")
    if not clicked:
        return
    folder = str(ss.get(EXPORT_DIR) or "").strip()
    if not folder:
        st.error("Type the folder to write the plan to.", icon=":material/block:")
        return
    try:
        written = store.export(record.id, Path(folder).expanduser())
        check = pl.verify_plan(store.planned_fleet(record), pl.read_plan(written))
    except (pl.PlannerError, OSError) as exc:
        st.error(f"Not exported: {error_text(exc)}", icon=":material/error:")
        return
    verdict = "passes the verifier" if check.ok else f"FAILS the verifier: {md(check)}"
    (st.success if check.ok else st.error)(
        f"Plan {record.id} written to `{written}`; the folder {verdict}. "
        f"`python -m planner verify <case> {written}` checks it again.",
        icon=":material/check_circle:" if check.ok else ":material/error:",
    )


def diff_section(store: pl.PlanStore, created: dict[int, str]) -> None:
    """What changed from plan a to plan b (``pl.diff_records``), and whether gaps explain it."""
    st.subheader("Diff two plans")
    ids = list(created)
    if len(ids) < 2:
        st.info("Record a second plan to diff two.")
        return
    c1, c2 = st.columns(2)
    a = c1.selectbox("Plan a", ids, index=len(ids) - 2, key=DIFF_A)
    b = c2.selectbox("Plan b", ids, index=len(ids) - 1, key=DIFF_B)
    if a == b:
        st.info("Pick two different plans.")
        return
    url = st.session_state[OPENED]
    tables = diffed(url, a, b, (created[a], created[b]))
    sa = stored(url, a, created[a]).summary
    sb = stored(url, b, created[b]).summary
    within = state.within_gaps(sa, sb)
    diff = (sb.get("total_cost_usd") or 0.0) - (sa.get("total_cost_usd") or 0.0)
    gaps = f"gaps {state.gap_text(sa.get('gap'))} and {state.gap_text(sb.get('gap'))}"
    if within is None:
        note = f"cannot be weighed against the {gaps} (a gap is unknown, or not tco)"
    elif within:
        note = f"**within the plans' {gaps}**: it may be solver slack, not the inputs"
    else:
        note = f"larger than the plans' {gaps}: a real difference"
    st.markdown(
        f"TCO of plan {b} − plan {a}: {usd(diff)}, {note}. Plan {a}: "
        f"{state.status_line(sa)}; plan {b}: {state.status_line(sb)}."
    )
    for key, frame in tables.items():
        st.markdown(f"**{DIFF_TITLES.get(key, key)}**")
        if frame.empty:
            st.caption("(no change)")
            continue
        shown = frame.reset_index() if key == "totals" else frame
        st.dataframe(
            shown.astype(str) if key == "totals" else shown, hide_index=True, width="stretch"
        )
