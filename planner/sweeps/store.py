"""A sweep's output folder: one JSON file per finished scenario, consolidated atomically.

Layout of ``DIR``::

    rows/<scenario_id>.json   one row per finished scenario, written as it arrives
    results.parquet           every finished row of the current sweep (atomic rename)
    results.csv               the same table as CSV
    sweep.json                the sweep's case, base, parameters and options

A row file carries ``input_key`` (a hash of the scenario's inputs and options); a re-run with
the same folder skips scenarios whose row file has the same key, so a killed sweep resumes
and a changed sweep file re-plans only what changed.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import pandas as pd

from planner.output import write_text_atomic
from planner.sweeps.worker import rows_frame

ROWS = "rows"
RESULTS = "results"


def _clean(value: object) -> object:
    """Return ``value`` with NaN as None, so rows are valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_row(out_dir: Path, row: dict) -> None:
    """Write one finished scenario's row (atomically: a killed run leaves no partial file)."""
    text = json.dumps({k: _clean(v) for k, v in row.items()}, default=str)
    write_text_atomic(out_dir / ROWS / f"{row['scenario_id']}.json", text)


def read_rows(out_dir: Path) -> dict[str, dict]:
    """Return the finished rows by scenario id (unreadable files are ignored: re-planned)."""
    rows = {}
    for path in sorted((out_dir / ROWS).glob("*.json")):
        try:
            row = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        rows[str(row.get("scenario_id", path.stem))] = row
    return rows


def consolidate(out_dir: Path, ids: list[str]) -> pd.DataFrame:
    """Write ``results.parquet`` and ``results.csv`` from the rows of ``ids`` (those done).

    Each file is written to a temporary name and renamed, so a reader never sees half a table.
    """
    done = read_rows(out_dir)
    frame = rows_frame([done[i] for i in ids if i in done])
    if "purchases" in frame:
        frame["purchases"] = frame["purchases"].astype("string")
    write_text_atomic(out_dir / f"{RESULTS}.csv", frame.to_csv(index=False))
    fd, tmp = tempfile.mkstemp(prefix=f".{RESULTS}.", suffix=".parquet", dir=out_dir)
    os.close(fd)
    try:
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, out_dir / f"{RESULTS}.parquet")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return frame


def read_results(out_dir: str | Path) -> pd.DataFrame:
    """Return a sweep folder's results table (Parquet, or CSV when Parquet is missing)."""
    out_dir = Path(out_dir)
    parquet = out_dir / f"{RESULTS}.parquet"
    if parquet.exists():
        return pd.read_parquet(parquet)
    return pd.read_csv(out_dir / f"{RESULTS}.csv")


def write_meta(out_dir: Path, meta: dict) -> None:
    """Write ``sweep.json`` (what was swept, for the report)."""
    write_text_atomic(out_dir / "sweep.json", json.dumps(meta, indent=2, default=str))
