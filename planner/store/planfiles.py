"""Reading a plan folder (what ``plan --out`` and ``export`` write) back into a :class:`Plan`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from planner.errors import PlannerError
from planner.results import UNITS, Plan

_READERS = {
    "csv": pd.read_csv,
    "parquet": pd.read_parquet,
    "json": lambda path: pd.read_json(path, orient="records"),
}


class PlanFolderError(PlannerError):
    """A folder that should hold a plan does not."""

    exit_code = 2


def read_table(folder: Path, name: str) -> pd.DataFrame | None:
    """Return table ``name`` of a plan folder in the first format found (None if absent)."""
    for fmt, reader in _READERS.items():
        path = folder / f"{name}.{fmt}"
        if path.exists():
            try:
                return reader(path)
            except pd.errors.EmptyDataError:
                return pd.DataFrame()
    return None


def read_plan_folder(folder: str | Path) -> Plan:
    """Return the plan stored in ``folder``: its tables and ``summary.json``.

    Raises:
        PlanFolderError: The folder or one of the plan's tables is missing.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise PlanFolderError(
            f"{folder} is not a plan folder. Fix: pass the --out folder of "
            "`python -m planner plan` or a store id"
        )
    tables = {}
    for name in Plan.TABLES:
        frame = read_table(folder, name)
        if frame is None:
            raise PlanFolderError(
                f"{folder}: {name}.csv (or .parquet/.json) is missing. Fix: "
                "pass a folder written by `python -m planner plan --out`"
            )
        tables[name] = frame
    summary_path = folder / "summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.exists() else {}
    plan = Plan(**tables, summary=summary)
    for name, units in UNITS.items():
        getattr(plan, name).attrs["unit"] = units
    return plan
