"""The dashboard's tail-latency section: simulate the plan's cells, show the verdict.

The same check as ``python -m planner latency`` (``pl.check_latency`` with its default
settings) on the plan in view, run on a button press (it takes seconds to a minute on a large
plan, so opening a plan never starts it). The result is kept per plan (its view key) in the
session, shown as ``pl.latency_verdict_of`` words it, with the cells that miss, and added to
the plan's ``summary.json`` download under ``latency``, as the CLI writes it.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

import planner as pl
from app.ui import csv_button, md

RESULTS = "tail_latency_results"  # session key: {plan view key: pl.LatencyResult}


def _results() -> dict[str, Any]:
    return st.session_state.setdefault(RESULTS, {})


def summary_with_latency(summary: dict, key: str, results: dict | None = None) -> dict:
    """Return the plan's summary, with the ``latency`` entry once this plan was checked.

    ``results`` defaults to this session's checks (a test passes its AppTest's).
    """
    result = (_results() if results is None else results).get(key)
    return summary if result is None else summary | {"latency": result.summary}


def section(current: dict, key: str) -> None:
    """Tail-latency check of the plan in ``current`` (a solve outcome), keyed by ``key``."""
    st.subheader("Tail latency at peak demand")
    result = _results().get(key)
    if st.button(
        "Check tail latency" if result is None else "Check again",
        key=f"latency_check|{key}",
        icon=":material/timer:",
        help="Simulate every inference cell at its peak load as M/G/c queues (SimPy) and "
        "compare p95/p99 with each model's SLO, as `python -m planner latency` does.",
    ):
        fleet = pl.apply_scenario(current["fleet"], current["scenario"])
        with st.spinner("Simulating every cell at peak demand…"):
            result = pl.check_latency(fleet, current["plan"].allocation, pl.SimulationSettings())
        _results()[key] = result
    if result is None:
        st.caption("Not checked yet: a plan meets its throughput, but its tail latency is "
                   "checked only on request.")
        return
    verdict = pl.latency_verdict_of(result.summary, result.cells)
    line = md(verdict.line().removeprefix("tail latency: "))
    if verdict.ok:
        st.success(f"**{line}**", icon=":material/check_circle:")
    else:
        st.warning(f"**{line}**", icon=":material/warning:")
        st.dataframe(verdict.misses, hide_index=True, width="stretch")
    st.caption(md(f"{result.summary['service_model']}; {result.summary['simulation']}."))
    csv_button("latency.csv", result.cells, "latency.csv", f"dl_latency|{key}")
