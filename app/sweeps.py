"""The Sweep tab: a sweep results folder (``python -m planner sweep … --out DIR``) on a page.

It shows what ``python -m planner sweep-report DIR`` reports, from the library's own tables
(``pl.read_results`` and ``pl.sweep_report``): the scenarios per status, the distribution of
cost and power (histograms and quantiles), which inputs move the cost (rank correlation and a
tornado chart), how often each purchase appears, and the failed scenarios. Nothing is computed
here beyond choosing rows to draw.
"""

from __future__ import annotations

import json
import os
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

import planner as pl
from app import cases, charts, state
from app.ui import csv_button, error_text, md, show_chart

SWEEP_ENV = "FLEET_PLANNER_SWEEP"  # the folder the Sweep tab starts with
SWEEP_DIR = "sweep_dir"  # widget key
PLANNED = ("optimal", "feasible")  # a verified plan (the library's planned statuses)
RESULT_FILES = ("results.parquet", "results.csv")
TITLES = {
    "status": "Scenarios per status",
    "quantiles": "Distribution over the planned scenarios",
    "sensitivity": "What moves the cost: Spearman rank correlation and tornado swing",
    "purchases": "How often each purchase (platform, region, order quarter) appears",
}


def init_defaults(ss: MutableMapping[str, Any]) -> None:
    """Give the folder field its first value: ``$FLEET_PLANNER_SWEEP`` or blank."""
    ss.setdefault(SWEEP_DIR, os.environ.get(SWEEP_ENV, ""))


@st.cache_data(show_spinner="Reading the sweep…", max_entries=8)
def read_sweep(folder: str, stamp: str) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Return the results table and ``pl.sweep_report``'s tables.

    Cached on the files' stamps; a folder that cannot be read raises, and nothing is cached.
    """
    del stamp
    results = pl.read_results(folder)
    return results, pl.sweep_report(results)


def meta(folder: Path) -> dict[str, Any]:
    """``sweep.json`` of the folder (what was swept), or {} when absent or unreadable."""
    try:
        return json.loads((folder / "sweep.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def sweep_tab(ss: MutableMapping[str, Any]) -> None:
    """The Sweep tab."""
    st.text_input(
        "Sweep results folder",
        key=SWEEP_DIR,
        placeholder="sweeps/s1",
        help="The --out folder of `python -m planner sweep CASE SWEEP.yaml --out DIR`.",
    )
    text = str(ss.get(SWEEP_DIR) or "").strip()
    if not text:
        st.info(
            "Type the folder of a sweep (`python -m planner sweep fleet_data/default "
            "sweep.yaml --out sweeps/s1`) to see its report."
        )
        return
    folder = Path(text).expanduser()
    if not any((folder / f).is_file() for f in RESULT_FILES):
        st.error(
            f"`{md(folder)}` holds no sweep results (results.parquet or results.csv). "
            "Fix: type the --out folder of `python -m planner sweep`, or run the sweep first.",
            icon=":material/block:",
        )
        return
    try:
        results, report = read_sweep(str(folder.resolve()), cases.case_stamp(folder))
    except (pl.PlannerError, OSError, ValueError) as exc:
        st.error(f"The sweep cannot be read: {error_text(exc)}", icon=":material/error:")
        return
    show_report(results, report, meta(folder), str(folder.resolve()))


def show_report(
    results: pd.DataFrame, report: dict[str, pd.DataFrame], about: dict[str, Any], key: str
) -> None:
    """Draw the sweep report."""
    planned = results[results["status"].isin(PLANNED)] if len(results) else results
    failed = results[~results["status"].isin(PLANNED)] if len(results) else results
    swept = ", ".join(f"`{md(p)}`" for p in about.get("parameters", []) or [])
    gaps = planned["gap"].astype(float) if "gap" in planned else pd.Series(dtype=float)
    worst = state.gap_text(float(gaps.max())) if gaps.notna().any() else "n/a"
    st.markdown(
        f"**{len(results)} scenarios**"
        + (f" of base scenario **{md(about['base'])}**" if about.get("base") else "")
        + (f", sweeping {swept}" if swept else "")
        + f": {len(planned)} planned and verified "
        f"({(planned['status'] == 'optimal').sum()} optimal, "
        f"{(planned['status'] == 'feasible').sum()} feasible), largest gap {worst}; "
        f"{len(failed)} without a plan."
    )
    st.markdown(f"**{TITLES['status']}**")
    st.dataframe(report["status"], hide_index=True)

    st.markdown(f"**{TITLES['quantiles']}**")
    st.dataframe(report["quantiles"], hide_index=True, width="stretch")
    csv_button("quantiles.csv", report["quantiles"], "quantiles.csv", "dl_sweep_quantiles")
    c1, c2 = st.columns(2)
    with c1:
        show_chart(
            f"{key}|{len(results)}|cost",
            lambda: charts.sweep_histogram(
                planned, "total_cost_usd", "TCO over the scenarios", "USD"
            ),
        )
    with c2:
        show_chart(
            f"{key}|{len(results)}|power",
            lambda: charts.sweep_histogram(
                planned, "peak_power_kw", "Peak facility power over the scenarios", "kW"
            ),
        )

    st.markdown(f"**{TITLES['sensitivity']}**")
    sensitivity = report["sensitivity"]
    show_chart(f"{key}|{len(results)}|tornado", lambda: charts.tornado(sensitivity))
    st.dataframe(sensitivity, hide_index=True, width="stretch")
    csv_button("sensitivity.csv", sensitivity, "sensitivity.csv", "dl_sweep_sensitivity")

    st.markdown(f"**{TITLES['purchases']}**")
    st.dataframe(
        report["purchases"],
        hide_index=True,
        width="stretch",
        column_config={"share": st.column_config.NumberColumn(format="percent")},
    )
    csv_button(
        "purchase_frequency.csv",
        report["purchases"],
        "purchase_frequency.csv",
        "dl_sweep_purchases",
    )

    st.markdown("**Scenarios without a plan**")
    if failed.empty:
        st.caption("(none: every scenario was planned and verified)")
    else:
        columns = [c for c in ("scenario_id", "status", "message") if c in failed.columns]
        st.dataframe(failed[columns], hide_index=True, width="stretch")
    csv_button("results.csv", results, "results.csv", "dl_sweep_results")
