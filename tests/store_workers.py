"""Worker processes for the store's parallel-writer tests (importable by spawned children)."""

from __future__ import annotations

import planner.store  # noqa: F401 (preloaded once by the fork server)


def write_records(url: str, fleet, plan, writer: int, count: int, start) -> None:
    """Open the store at ``url`` when ``start`` is set, then record ``plan`` ``count`` times."""
    from planner.store import PlanStore

    start.wait(120)  # every writer opens (and migrates) the new store at the same moment
    with PlanStore(url) as store:
        for i in range(count):
            store.record(fleet, plan, name=f"writer{writer}", note=str(i), command="sweep")
