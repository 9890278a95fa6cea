"""Recording a sweep's plans in the plan store, from the workers that made them.

Each worker records its own scenarios (one transaction per plan), so a sweep of many workers
is many concurrent writers: SQLite waits for the write lock (WAL, ``BEGIN IMMEDIATE``, busy
timeout), PostgreSQL takes row inserts in parallel, and the case is stored once per hash
(:meth:`planner.store.records.PlanStore.record`). A worker keeps its store open between
scenarios, so the schema check on open is paid once per worker, not per scenario.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from planner.fleet import Fleet
from planner.results import Plan
from planner.scenarios import Scenario


@dataclass(frozen=True)
class SweepRecording:
    """Where and how a sweep records its plans: the store URL, a name and a note."""

    store: str
    name: str | None = None
    note: str | None = None


def absolute_store(store: str | None) -> str:
    """Return the store as a URL every local worker opens alike (SQLite paths absolute)."""
    from planner.store.engine import store_url

    return store_url(store).render_as_string(hide_password=False)


@functools.cache
def _opened(url: str):
    from planner.store.records import PlanStore

    return PlanStore(url)


def record_scenario(
    recording: SweepRecording,
    case: Fleet,
    plan: Plan,
    scenario: Scenario,
    solver: dict,
) -> int:
    """Record one scenario's verified plan (``case`` is the base case); return its store id."""
    return _opened(recording.store).record(
        case,
        plan,
        scenario=scenario,
        name=recording.name,
        note=recording.note,
        command="sweep",
        solver=solver,
    )
