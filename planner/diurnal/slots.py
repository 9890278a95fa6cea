"""Representative time-of-day slots and the slotted fleet the model builders plan.

``settings.diurnal.slots`` = n (a divisor of 24) cuts the UTC day into n slots of 24/n
consecutive hours. A slot's demand is the **largest hourly demand inside it**, so every slot
keeps its own peak and capacity sized for the slot covers every hour in it: fewer slots never
under-size an hour, they only give up some of the off-peak idle capacity (24 slots: all of it;
1 slot: the daily peak all day, which is the peak-only model for shaped products).

:func:`expand_fleet` writes the slotted problem as a plain fleet that both model builders plan
(see :mod:`planner.diurnal.layout` for the marks they read).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from planner.diurnal.layout import (
    BASE_COLUMN,
    EVERY_SLOT,
    HOURS_PER_DAY,
    SLOT_COLUMN,
    VOLUME_COLUMNS,
)
from planner.diurnal.shapes import hourly_demand
from planner.fleet import Fleet

SLOT_DEMAND_COLUMNS = ["model_id", "region_id", "quarter", "slot", "peak_qps"]
REL_TOL = 1e-9


def slot_length(n_slots: int) -> int:
    """Return the hours of one slot; ``n_slots`` must divide 24."""
    if n_slots < 1 or HOURS_PER_DAY % n_slots:
        raise ValueError(f"slots must divide 24 (1, 2, 3, 4, 6, 8, 12 or 24), not {n_slots}")
    return HOURS_PER_DAY // n_slots


def slot_of_hour(hour: np.ndarray | pd.Series, n_slots: int) -> np.ndarray:
    """Return the slot of each UTC hour."""
    return np.asarray(hour, dtype=np.int64) // slot_length(n_slots)


def slot_demand(hourly: pd.DataFrame, n_slots: int) -> pd.DataFrame:
    """Return each slot's peak: the largest hourly demand in the slot, per model/region/quarter."""
    if hourly.empty:
        return pd.DataFrame(columns=SLOT_DEMAND_COLUMNS)
    frame = hourly.assign(slot=slot_of_hour(hourly["hour"], n_slots))
    key = ["model_id", "region_id", "quarter", "slot"]
    out = frame.groupby(key, as_index=False)["qps"].max().rename(columns={"qps": "peak_qps"})
    return out[SLOT_DEMAND_COLUMNS]


def copy_id(model_id: str, slot: int) -> str:
    """Return the id of a model's copy in one slot (a valid snake_case id)."""
    return f"{model_id}__s{slot:02d}"


def expand_fleet(fleet: Fleet, hourly: pd.DataFrame | None = None) -> Fleet:
    """Return the slotted fleet of ``fleet`` (``settings.diurnal.slots`` slots per day).

    - An inference model whose slot demand varies gets one copy per slot with that slot's
      peak as its demand (DR and minimum replicas hold in every slot); one whose demand is the
      same in every slot stays one model, sized for its peak all day.
    - Training models, with ``harvest_training``, get a copy per slot, no per-slot demand and
      a daily volume (the mean of their hourly demand): they may run in any slot, on servers
      the slot's inference leaves idle, where a training profile exists and memory fits
      (the candidate rules of every model). Without it they run flat all day at their peak.
    - Products and calls are folded into plain per-model demand rows; scenario multipliers
      are already applied.
    """
    n = fleet.settings.diurnal.slots
    hourly = hourly_demand(fleet) if hourly is None else hourly
    per_slot = slot_demand(hourly, n)
    phase = fleet.models.set_index("model_id")["phase"]
    movable = set()
    if fleet.settings.diurnal.harvest_training:
        movable = {m for m in per_slot["model_id"].unique() if phase[m] == "training"}
    varies = _varying(per_slot, n) - movable
    models, profiles, demand = [], [], []
    for row in fleet.models.itertuples(index=False):
        m = row.model_id
        if m in varies or m in movable:
            for s in range(n):
                extra = {"min_replicas": 0} if m in movable else {}
                models.append(
                    {
                        **row._asdict(),
                        **extra,
                        "model_id": copy_id(m, s),
                        BASE_COLUMN: m,
                        SLOT_COLUMN: s,
                    }
                )
        else:
            models.append({**row._asdict(), BASE_COLUMN: m, SLOT_COLUMN: EVERY_SLOT})
    for row in fleet.profiles.to_dict("records"):
        m = row["model_id"]
        if m in varies or m in movable:
            profiles += [{**row, "model_id": copy_id(m, s)} for s in range(n)]
        else:
            profiles.append(row)
    shaped = per_slot[per_slot["model_id"].isin(varies)]
    demand.append(
        shaped.assign(
            model_id=[
                copy_id(m, int(s)) for m, s in zip(shaped["model_id"], shaped["slot"], strict=True)
            ]
        )
    )
    flat = per_slot[~per_slot["model_id"].isin(varies | movable)]
    demand.append(
        flat.groupby(["model_id", "region_id", "quarter"], as_index=False)["peak_qps"].max()
    )
    plain = pd.concat(demand, ignore_index=True)[["model_id", "region_id", "quarter", "peak_qps"]]
    plain = plain.assign(
        source=f"diurnal slots ({n} per day) from load shapes", source_kind="derived"
    )
    volume = hourly[hourly["model_id"].isin(movable)]
    volume = (
        volume.groupby(["model_id", "region_id", "quarter"], as_index=False)["qps"]
        .sum()
        .rename(columns={"model_id": BASE_COLUMN})
    )
    volume["mean_qps"] = volume.pop("qps") / HOURS_PER_DAY
    return dataclasses.replace(
        fleet,
        models=pd.DataFrame(models).astype({SLOT_COLUMN: "int64", "min_replicas": "int64"}),
        profiles=pd.DataFrame(profiles, columns=fleet.profiles.columns),
        products=fleet.products.iloc[0:0].copy(),
        calls=fleet.calls.iloc[0:0].copy(),
        demand=plain.astype({"quarter": "int64"}).reset_index(drop=True),
        demand_adjustments=None,
        slot_volumes=volume[VOLUME_COLUMNS].reset_index(drop=True),
    )


def _varying(per_slot: pd.DataFrame, n_slots: int) -> set[str]:
    """Return models whose slot demand differs between slots somewhere (or is zero in a slot)."""
    if per_slot.empty:
        return set()
    stats = per_slot.groupby(["model_id", "region_id", "quarter"])["peak_qps"].agg(
        ["min", "max", "count"]
    )
    differs = (stats["count"] < n_slots) | (stats["max"] > stats["min"] * (1 + REL_TOL))
    return set(stats.index[differs.to_numpy()].get_level_values("model_id"))
