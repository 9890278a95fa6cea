"""Reading a plan folder (as written by ``python -m planner plan``) back into a :class:`Plan`.

A plan folder holds each table in one or more formats (``allocation.csv``,
``allocation.parquet``, ``allocation.json``) plus ``summary.json``. :func:`read_plan` takes
each table from the first format present (CSV, then Parquet, then JSON), checks that the
columns the verifier needs are there and that every number parses, and reports every problem
at once as a :class:`~planner.errors.FleetDataError` naming file, row and column, so that a
plan edited by hand can be re-checked with ``python -m planner verify``.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd

from planner.errors import FleetDataError, Problem
from planner.results import Plan

FORMATS = ("csv", "parquet", "json")

# Columns of each table a plan writes: text ids and labels, whole quarters, other numbers.
TEXT = "text"
QUARTER = "quarter"
NUMBER = "number"
PLAN_COLUMNS: dict[str, dict[str, str]] = {
    "allocation": {
        "model_id": TEXT,
        "bucket": TEXT,
        "phase": TEXT,
        "platform_id": TEXT,
        "platform_class": TEXT,
        "region_id": TEXT,
        "quarter": QUARTER,
        "quarter_label": TEXT,
        "replicas": NUMBER,
        "servers": NUMBER,
        "capacity_qps": NUMBER,
        "served_qps": NUMBER,
        "utilization": NUMBER,
    },
    "purchases": {
        "platform_id": TEXT,
        "platform_class": TEXT,
        "region_id": TEXT,
        "order_quarter": QUARTER,
        "order_quarter_label": TEXT,
        "arrival_quarter": QUARTER,
        "arrival_quarter_label": TEXT,
        "servers": NUMBER,
        "capex_usd": NUMBER,
    },
    "fleet": {
        "platform_id": TEXT,
        "platform_class": TEXT,
        "region_id": TEXT,
        "quarter": QUARTER,
        "quarter_label": TEXT,
        "available_servers": NUMBER,
        "in_service_servers": NUMBER,
        "allocated_servers": NUMBER,
        "facility_kw": NUMBER,
    },
    "power": {
        "region_id": TEXT,
        "quarter": QUARTER,
        "quarter_label": TEXT,
        "power_kw": NUMBER,
        "cap_kw": NUMBER,
        "headroom_kw": NUMBER,
    },
    "costs": {
        "platform_id": TEXT,
        "region_id": TEXT,
        "quarter": QUARTER,
        "quarter_label": TEXT,
        "capex_usd": NUMBER,
        "energy_usd": NUMBER,
        "maintenance_usd": NUMBER,
        "total_usd": NUMBER,
    },
}
SUMMARY_FILE = "summary.json"
_MAX_PER_COLUMN = 5


def read_plan(folder: str | Path) -> Plan:
    """Read the plan in ``folder`` (any format ``plan`` writes) into a :class:`Plan`.

    Args:
        folder: A plan folder written by ``python -m planner plan --out FOLDER``.

    Returns:
        The plan, its tables typed (ids as text, quarters as integers, the rest as floats)
        and ``summary`` from ``summary.json`` (empty when the file is absent).

    Raises:
        FleetDataError: Listing every problem: a missing folder or table, missing columns,
            cells that are not numbers or not whole quarters, a summary that is not JSON.
    """
    root = Path(folder)
    if not root.is_dir():
        parked = root.with_name(f".{root.name}.old")
        fix = (
            f"a run was killed while replacing it; the previous plan is in {parked.name}: "
            f"rename it back to {root.name} (the next `plan --out` to it puts it back too)"
            if parked.is_dir()
            else "pass the --out folder of a `plan` run"
        )
        raise FleetDataError(
            [Problem(str(root), "no such plan folder", fix)], header="Cannot read the plan"
        )
    problems: list[Problem] = []
    tables = {
        name: _read_table(root, name, columns, problems) for name, columns in PLAN_COLUMNS.items()
    }
    summary = _read_summary(root, problems)
    if problems:
        raise FleetDataError(problems, header=f"Cannot read the plan in {root}")
    return Plan(**tables, summary=summary)


def _read_table(
    root: Path, name: str, columns: dict[str, str], problems: list[Problem]
) -> pd.DataFrame:
    path = next(
        (root / f"{name}.{fmt}" for fmt in FORMATS if (root / f"{name}.{fmt}").exists()), None
    )
    if path is None:
        problems.append(
            Problem(
                f"{name}.csv",
                "file missing from the plan folder",
                f"restore it, or re-run `plan` (formats read: {', '.join(FORMATS)})",
            )
        )
        return pd.DataFrame(columns=list(columns))
    try:
        frame = _load(path)
    except Exception as exc:  # any parser's error: report it as unreadable data
        problems.append(
            Problem(
                path.name,
                f"cannot be read ({type(exc).__name__}: {exc})",
                "restore the file or re-run `plan`",
            )
        )
        return pd.DataFrame(columns=list(columns))
    if frame.empty and len(frame.columns) == 0:
        frame = pd.DataFrame(columns=list(columns))  # an empty JSON list has no columns
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        problems.append(
            Problem(
                path.name,
                f"missing columns {', '.join(missing)}",
                "restore the header written by `plan`",
            )
        )
        return pd.DataFrame(columns=list(columns))
    typed = _typed(path.name, frame, columns, problems)
    typed.attrs["file"] = path.name  # where violations are reported
    return typed


def _load(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        text = path.read_text(encoding="utf-8")
        _check_widths(text)
        # Ids stay text (keep_default_na=False: an id such as "nan" is not a missing value).
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    with path.open(encoding="utf-8") as fh:
        records = json.load(fh)
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValueError("expected a JSON list of records")
    return pd.DataFrame.from_records(records)


def _check_widths(text: str) -> None:
    """Raise ValueError naming the first row with more fields than the header.

    pandas took the first column as the index when a row had an extra field, and the typed
    read then failed far from the cause (an "unexpected ValueError", exit 1).
    """
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header is None:
        return
    for line, row in enumerate(rows, start=2):
        if len(row) > len(header):
            raise ValueError(
                f"row {line - 1} (line {line}) has {len(row)} fields but the header has "
                f"{len(header)}; remove the extra field"
            )


def _typed(
    file: str, frame: pd.DataFrame, columns: dict[str, str], problems: list[Problem]
) -> pd.DataFrame:
    """Return ``frame`` with declared dtypes; bad cells become problems (row, column, value)."""
    out = pd.DataFrame(index=frame.index)
    for column, kind in columns.items():
        raw = frame[column]
        if kind == TEXT:
            out[column] = raw.astype(str).str.strip()
            continue
        text = raw.astype(str).str.strip() if raw.dtype == object else raw
        numbers = pd.to_numeric(text, errors="coerce")
        bad = numbers.isna() | ~numbers.astype(float).map(_finite)
        if kind == QUARTER:
            bad |= numbers.notna() & (numbers != numbers.round())
        for i in list(frame.index[bad])[:_MAX_PER_COLUMN]:
            problems.append(
                Problem(
                    file,
                    "not a whole quarter number" if kind == QUARTER else "not a number",
                    "write a finite number (as `plan` wrote it)",
                    row=int(i) + 1,
                    column=column,
                    value=raw.loc[i],
                )
            )
        if int(bad.sum()) > _MAX_PER_COLUMN:
            problems.append(
                Problem(file, f"{int(bad.sum()) - _MAX_PER_COLUMN} more bad cells", column=column)
            )
        out[column] = (
            numbers.fillna(0).astype("int64") if kind == QUARTER else numbers.astype(float)
        )
    return out.reset_index(drop=True)


def _finite(value: float) -> bool:
    return value == value and value not in (float("inf"), float("-inf"))


def plan_files(plan: Plan) -> dict[str, str]:
    """Return the file each table of ``plan`` was read from (``summary`` too), by table name."""
    files = {name: getattr(plan, name).attrs.get("file", f"{name}.csv") for name in PLAN_COLUMNS}
    return files | {"summary": SUMMARY_FILE}


def _read_summary(root: Path, problems: list[Problem]) -> dict:
    path = root / SUMMARY_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        problems.append(
            Problem(SUMMARY_FILE, f"is not valid JSON ({exc})", "restore the file or re-run `plan`")
        )
        return {}
    if not isinstance(data, dict):
        problems.append(
            Problem(SUMMARY_FILE, "is not a JSON object", "restore the file or re-run `plan`")
        )
        return {}
    return data
