"""Check a slotted plan against the hourly demand of the original fleet.

:func:`planner.verify.verify_plan` checks the slotted fleet (each copy's slot demand, DR and
minimum replicas per slot, servers per slot); this adds what only the original fleet knows:
every UTC hour of every (model, region, quarter) is served by the replicas of the hour's slot,
and movable training gets its daily volume.
"""

from __future__ import annotations

import pandas as pd

from planner.diurnal.layout import EVERY_SLOT, HOURS_PER_DAY, volumes
from planner.fleet import Fleet
from planner.results import Plan

REL_TOL = 1e-6


def check_slots(fleet: Fleet, slotted: Fleet, plan: Plan, hourly: pd.DataFrame) -> list[str]:
    """Return one line per hour or daily volume the plan does not serve (empty: all served)."""
    util = fleet.settings.target_utilization
    n = slotted.settings.diurnal.slots
    length = HOURS_PER_DAY // n
    alloc = plan.allocation
    have: dict[tuple[str, str, int, int], float] = {}
    for a in alloc.itertuples(index=False):
        for s in range(n) if a.slot == EVERY_SLOT else (a.slot,):
            key = (a.base_model_id, a.region_id, int(a.quarter), int(s))
            have[key] = have.get(key, 0.0) + float(a.capacity_qps) * util
    problems = []
    movable = set(volumes(slotted)["base_model_id"])
    for h in hourly.itertuples(index=False):
        if h.model_id in movable:
            continue
        got = have.get((h.model_id, h.region_id, int(h.quarter), int(h.hour) // length), 0.0)
        if got < h.qps * (1 - REL_TOL) - 1e-9:
            problems.append(
                f"{h.model_id} in {h.region_id} Q{h.quarter} UTC hour {h.hour}: "
                f"usable {got:,.1f} qps < {h.qps:,.1f}"
            )
    for v in volumes(slotted).itertuples(index=False):
        got = (
            sum(have.get((v.base_model_id, v.region_id, int(v.quarter), s), 0.0) for s in range(n))
            / n
        )
        if got < v.mean_qps * (1 - REL_TOL) - 1e-9:
            problems.append(
                f"{v.base_model_id} in {v.region_id} Q{v.quarter}: daily volume "
                f"{got:,.1f} < {v.mean_qps:,.1f} qps on average"
            )
    return problems
