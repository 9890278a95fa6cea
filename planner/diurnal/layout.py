"""How a slotted (time-of-day) fleet marks its models; read by both model builders.

:func:`planner.diurnal.slots.expand_fleet` turns a fleet with load shapes into a *slotted*
fleet: every model whose load varies over the day gets one copy per slot (``rmc1__s03``),
carrying ``base_model_id`` and ``slot`` columns in ``models``; a model whose load does not vary
stays one model with ``slot`` = :data:`EVERY_SLOT` and occupies its servers in every slot.
Training models that may move within the day get a copy per slot and no per-slot demand: one
``volume`` row per (model, region, quarter) asks for their daily volume over all slots.

This module is a leaf (pandas only), so :mod:`planner.model` and :mod:`planner.scale` can read
it without importing the rest of the diurnal package. A fleet without the ``slot`` column is
the peak-only model, exactly as before.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

SLOT_COLUMN = "slot"
BASE_COLUMN = "base_model_id"
EVERY_SLOT = -1  # a model whose load is the same in every slot: one set of replicas all day
HOURS_PER_DAY = 24
VOLUME_COLUMNS = ["base_model_id", "region_id", "quarter", "mean_qps"]


def is_slotted(fleet) -> bool:
    """Return whether ``fleet`` is a slotted fleet (made by ``expand_fleet``)."""
    return SLOT_COLUMN in fleet.models.columns


def slot_count(fleet) -> int:
    """Return the number of time-of-day slots of a slotted fleet (0 for a peak-only fleet)."""
    return int(fleet.settings.diurnal.slots) if is_slotted(fleet) else 0


def model_slots(fleet) -> dict[str, int]:
    """Return each model's slot (:data:`EVERY_SLOT` for models that run all day)."""
    if not is_slotted(fleet):
        return {}
    return dict(zip(fleet.models["model_id"], fleet.models[SLOT_COLUMN].astype(int), strict=True))


def slots_of(slot: int, n_slots: int) -> Iterable[int]:
    """Return the slots whose capacity a model of ``slot`` occupies."""
    return range(n_slots) if slot == EVERY_SLOT else (slot,)


def volumes(fleet) -> pd.DataFrame:
    """Return the daily volumes of movable training (base_model_id, region_id, quarter, mean_qps).

    ``mean_qps`` is the daily volume as a mean rate (samples per day / 86,400 s).
    """
    frame = getattr(fleet, "slot_volumes", None)
    if frame is None or not is_slotted(fleet):
        return pd.DataFrame(columns=VOLUME_COLUMNS)
    return frame


def volume_copies(fleet) -> dict[str, list[str]]:
    """Return the per-slot copies of each movable training model, in slot order."""
    if not is_slotted(fleet):
        return {}
    bases = set(volumes(fleet)["base_model_id"])
    models = fleet.models[fleet.models[BASE_COLUMN].isin(bases)]
    models = models.sort_values(SLOT_COLUMN)
    return {b: list(g["model_id"]) for b, g in models.groupby(BASE_COLUMN, sort=True)}


def allocated_by_slot(fleet, alloc: pd.DataFrame) -> pd.DataFrame:
    """Return allocated servers per (platform, region, quarter, slot) of a slotted plan.

    Models that run all day count in every slot. Columns: platform_id, region_id, quarter,
    slot, servers.
    """
    n = slot_count(fleet)
    cols = ["platform_id", "region_id", "quarter", SLOT_COLUMN, "servers"]
    if alloc.empty or n == 0:
        return pd.DataFrame(columns=cols)
    slot = alloc["model_id"].map(model_slots(fleet)).astype(int)
    every = alloc[slot == EVERY_SLOT]
    parts = [alloc[slot != EVERY_SLOT].assign(slot=slot[slot != EVERY_SLOT])]
    parts += [every.assign(slot=s) for s in range(n)]
    frame = pd.concat(parts, ignore_index=True)
    key = ["platform_id", "region_id", "quarter", SLOT_COLUMN]
    return frame.groupby(key, as_index=False)["servers"].sum()[cols]


def allocated_servers(fleet, alloc: pd.DataFrame) -> dict[tuple[str, str, int], float]:
    """Return allocated servers per (platform, region, quarter): the busiest slot's (slotted)."""
    by_slot = allocated_by_slot(fleet, alloc)
    if by_slot.empty:
        return {}
    peak = by_slot.groupby(["platform_id", "region_id", "quarter"])["servers"].max()
    return {(p, r, int(t)): float(v) for (p, r, t), v in peak.items()}


def volume_cells(fleet) -> pd.DataFrame:
    """Return the (copy, region, quarter) cells movable training may run in (no demand rows)."""
    vol = volumes(fleet)
    copies = volume_copies(fleet)
    rows = [
        (c, r, int(t))
        for b, r, t in zip(vol["base_model_id"], vol["region_id"], vol["quarter"], strict=True)
        for c in copies[b]
    ]
    return pd.DataFrame(rows, columns=["model_id", "region_id", "quarter"])
