"""24-hour load shapes: hourly demand per model, region and quarter, in UTC hours.

A shape (``load_shapes.csv``) gives a product's or a model's relative load per *local* hour,
mean 1. A region's ``utc_offset_h`` turns local hours into UTC hours, so the same product peaks
at different UTC hours in different regions. The shape only says how the load falls off from
the peak: hourly demand is ``peak * shape(hour) / max(shape)``, so every product keeps the
sourced peak (``peak_to_average``) of the peak-only model and the planner's daily peak of a
lone product is exactly today's. Products without a shape load every hour at their peak
(the conservative choice when nothing is known); plain ``demand`` rows take their model's
shape when it has one.
"""

from __future__ import annotations

import difflib

import numpy as np
import pandas as pd

from planner.demand import _apply_adjustments, product_demand
from planner.diurnal.layout import HOURS_PER_DAY
from planner.errors import FleetDataError, Problem
from planner.fleet import Fleet

HOURLY_COLUMNS = ["model_id", "region_id", "quarter", "hour", "qps"]
SHAPE_FILE = "load_shapes.csv"
MEAN_TOLERANCE = 0.02  # a shape's mean may differ from 1 by rounding in its source, not more


def shape_problems(fleet: Fleet) -> list[Problem]:
    """Return every problem of ``load_shapes.csv`` that its column checks cannot see.

    Per ``shape_of``: it names a product or a model of the case, it has one row for each
    local hour 0..23, its 24 values average 1 (within :data:`MEAN_TOLERANCE`) and are not all
    zero. Rows are 1-based data rows (the line is ``row + 1``); the column checks already
    refuse negative loads and hours outside 0..23, and the key check repeated hours.
    """
    table = getattr(fleet, "load_shapes", None)
    if table is None or table.empty:
        return []
    known = set(fleet.products["product_id"]) | set(fleet.models["model_id"])
    problems: list[Problem] = []
    for subject, rows in table.groupby("shape_of", sort=False):
        first = int(rows.index[0]) + 1
        if subject not in known:
            close = difflib.get_close_matches(str(subject), sorted(known), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            problems.append(
                Problem(
                    SHAPE_FILE,
                    f"shape_of '{subject}' is neither a product (products.csv) nor a model "
                    "(models.csv)",
                    f"{hint}name a product_id or model_id of the case, or delete its rows",
                    row=first,
                    column="shape_of",
                    value=subject,
                )
            )
            continue
        hours = sorted(set(rows["hour"].astype(int)))
        if hours != list(range(HOURS_PER_DAY)):
            missing = sorted(set(range(HOURS_PER_DAY)) - set(hours))
            problems.append(
                Problem(
                    SHAPE_FILE,
                    f"shape of '{subject}' lacks hours {missing}",
                    "give one row for each local hour 0..23",
                    row=first,
                    column="hour",
                )
            )
            continue
        values = rows["relative_load"].to_numpy(dtype=float)
        mean = float(values.mean())
        if abs(mean - 1.0) > MEAN_TOLERANCE:
            fix = (
                "a shape needs some load in some hour"
                if values.max() <= 0
                else f"divide the 24 values by {mean:.3f} so they average 1"
            )
            problems.append(
                Problem(
                    SHAPE_FILE,
                    f"shape of '{subject}' has mean relative_load {mean:.3f}, not 1 "
                    f"(tolerance {MEAN_TOLERANCE:g})",
                    fix,
                    row=first,
                    column="relative_load",
                )
            )
    return problems


def shapes(fleet: Fleet) -> dict[str, np.ndarray]:
    """Return each shaped product's or model's 24 relative loads (local hours 0..23, mean 1).

    Raises:
        FleetDataError: Any problem of :func:`shape_problems` (a fleet that skipped ``check``).
    """
    table = getattr(fleet, "load_shapes", None)
    if table is None or table.empty:
        return {}
    problems = shape_problems(fleet)
    if problems:
        raise FleetDataError(problems, header="Invalid load shapes")
    out: dict[str, np.ndarray] = {}
    for subject, rows in table.groupby("shape_of", sort=True):
        hours = rows["hour"].astype(int)
        out[str(subject)] = rows.set_index(hours)["relative_load"].sort_index().to_numpy(float)
    return out


def utc_offsets(fleet: Fleet) -> dict[str, int]:
    """Return each region's UTC offset in whole hours (0 where none is given)."""
    regions = fleet.regions
    if "utc_offset_h" not in regions.columns:
        return dict.fromkeys(regions["region_id"], 0)
    offsets = regions["utc_offset_h"].fillna(0.0)
    return {r: round(float(v)) for r, v in zip(regions["region_id"], offsets, strict=True)}


def relative_to_peak(shape: np.ndarray | None, offset_h: int) -> np.ndarray:
    """Return the load per UTC hour as a fraction of the peak; flat 1 without a shape."""
    if shape is None:
        return np.ones(HOURS_PER_DAY)
    local = (np.arange(HOURS_PER_DAY) + offset_h) % HOURS_PER_DAY
    return shape[local] / shape.max()


def hourly_demand(fleet: Fleet) -> pd.DataFrame:
    """Return demand in queries/s per model, region, quarter and UTC hour (zero rows dropped).

    The daily maximum of every (model, region, quarter) is at most the peak-only demand of
    :func:`planner.demand.peak_demand` (equal where one shape, or none, drives it); scenario
    demand multipliers apply as there.
    """
    known = shapes(fleet)
    offsets = utc_offsets(fleet)
    shares = fleet.regions.set_index("region_id")["demand_share"].fillna(0.0).to_dict()
    parts: list[pd.DataFrame] = []
    by_product = product_demand(fleet)
    hours = np.arange(HOURS_PER_DAY)
    for (product, model, quarter), peak in (
        by_product.groupby(["product_id", "model_id", "quarter"])["peak_qps"].sum().items()
    ):
        for region, share in shares.items():
            if share <= 0:
                continue
            load = relative_to_peak(known.get(product), offsets[region]) * peak * share
            parts.append(_frame(model, region, quarter, hours, load))
    plain = fleet.demand[fleet.demand["quarter"] < fleet.settings.horizon_quarters]
    for d in plain.itertuples(index=False):
        load = relative_to_peak(known.get(d.model_id), offsets[d.region_id]) * float(d.peak_qps)
        parts.append(_frame(d.model_id, d.region_id, int(d.quarter), hours, load))
    if not parts:
        return pd.DataFrame(
            {c: pd.Series(dtype="float64" if c == "qps" else "object") for c in HOURLY_COLUMNS}
        )
    frame = pd.concat(parts, ignore_index=True)
    key = ["model_id", "region_id", "quarter", "hour"]
    frame = frame.groupby(key, as_index=False)["qps"].sum()
    frame = _apply_adjustments(fleet, frame, column="qps")  # as peak_demand does
    return frame[frame["qps"] > 0].sort_values(key).reset_index(drop=True)


def _frame(
    model: str, region: str, quarter: int, hours: np.ndarray, load: np.ndarray
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model_id": model,
            "region_id": region,
            "quarter": int(quarter),
            "hour": hours,
            "qps": load,
        }
    )
