"""Mutation suite: every table and YAML file of a small case, broken in every way we know.

Each mutation is applied to a small valid case that has all ten tables, ``settings.yaml`` and
``scenarios.yaml``; ``python -m planner check`` (in-process, through :func:`planner.cli.main`
with ``sys.argv``, as a user runs it) must exit 3, name the file and, where the problem sits
in one place, its row and column (CSV) or line and key (YAML), and never show a traceback.
Accepted-but-valid variants (BOM, CRLF, quoted numbers, reordered columns) must still pass.

The mutations are generated from the schema (:data:`planner.schema.TABLES`): one for every
numeric column and magnitude class, so a column added later is covered without a new test.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from planner import cli
from planner.schema import TABLES, Column, Table

SRC = {"source": "mutation suite", "source_kind": "estimate"}

BASE_TABLES: dict[str, list[dict[str, object]]] = {
    "platforms": [
        {
            "platform_id": "cpu",
            "platform_class": "cpu",
            "family": "tp",
            "generation": "skl",
            "power_w": 400,
            "capex_usd": 8000,
            "host_memory_gb": 64,
            "accel_memory_gb": 0,
            "accelerators": 0,
            "lead_time_quarters": 1,
            "lifetime_quarters": 12,
            "rack_units": 1,
            "supply_per_quarter": 100,
            "available_from_quarter": 0,
            "maintenance_usd_per_quarter": 50,
            **SRC,
        },
        {
            "platform_id": "asic",
            "platform_class": "inference_asic",
            "family": "yv2",
            "generation": "gp",
            "power_w": 300,
            "capex_usd": 12000,
            "host_memory_gb": 32,
            "accel_memory_gb": 32,
            "accelerators": 4,
            "lead_time_quarters": 1,
            "lifetime_quarters": 12,
            "rack_units": 0.5,
            "supply_per_quarter": 50,
            "available_from_quarter": 0,
            "maintenance_usd_per_quarter": 80,
            **SRC,
        },
    ],
    "models": [
        {
            "model_id": "rank",
            "bucket": "ranking",
            "phase": "inference",
            "latency_slo_ms": 100,
            "latency_percentile": 99,
            "memory_gb": 16,
            "min_replicas": 1,
            "max_shards": 1,
            "unit": "predictions",
            **SRC,
        },
        {
            "model_id": "vision",
            "bucket": "cv",
            "phase": "inference",
            "latency_slo_ms": 50,
            "latency_percentile": 99,
            "memory_gb": 2,
            "min_replicas": 1,
            "max_shards": 2,
            "unit": "images",
            **SRC,
        },
    ],
    "profiles": [
        {
            "model_id": "rank",
            "platform_id": "cpu",
            "qps_per_server": 100,
            "power_w_at_load": 350,
            **SRC,
        },
        {
            "model_id": "rank",
            "platform_id": "asic",
            "qps_per_server": 250,
            "power_w_at_load": 280,
            **SRC,
        },
        {
            "model_id": "vision",
            "platform_id": "cpu",
            "qps_per_server": 50,
            "power_w_at_load": 380,
            **SRC,
        },
    ],
    "regions": [
        {
            "region_id": "east",
            "power_cap_kw": 500,
            "pue": 1.1,
            "electricity_usd_per_kwh": 0.07,
            "space_limit_ru": 4000,
            "demand_share": 0.6,
            **SRC,
        },
        {
            "region_id": "west",
            "power_cap_kw": 400,
            "pue": 1.2,
            "electricity_usd_per_kwh": 0.08,
            "space_limit_ru": 3000,
            "demand_share": 0.4,
            **SRC,
        },
    ],
    "region_power_caps": [
        {"region_id": "east", "quarter": 1, "power_cap_kw": 600, **SRC},
    ],
    "topology": [
        {"region_id": "east", "backup_region_id": "west", "network_latency_ms": 40, **SRC},
        {"region_id": "west", "backup_region_id": "east", "network_latency_ms": 40, **SRC},
    ],
    "inventory": [
        {"platform_id": "cpu", "region_id": "east", "servers": 10, "retire_quarter": 1, **SRC},
        {"platform_id": "cpu", "region_id": "west", "servers": 8, "retire_quarter": "", **SRC},
    ],
    "products": [
        {
            "product_id": "feed",
            "daily_requests": 1e7,
            "peak_to_average": 2.0,
            "growth_per_quarter": 0.05,
            **SRC,
        },
    ],
    "calls": [
        {"caller_id": "feed", "model_id": "rank", "items_per_request": 2, **SRC},
    ],
    "demand": [
        {"model_id": "vision", "region_id": r, "quarter": q, "peak_qps": 1000 + 500 * q, **SRC}
        for r in ("east", "west")
        for q in (0, 1)
    ],
    "factors": [{"factor_id": "asic_factor", "value": 1.0, "low": 0.5, "high": 2.0, **SRC}],
    "load_shapes": [
        {"shape_of": "feed", "hour": h, "relative_load": 1.0, **SRC} for h in range(24)
    ],
}
BASE_SETTINGS = (
    "horizon_quarters: 2\n"
    "first_quarter: 2020Q1\n"
    "objective: tco\n"
    "disaster_recovery:\n"
    "  enabled: true\n"
    "  emergency_utilization: 0.9\n"
    "solver:\n"
    "  name: highs\n"
    "  time_limit_s: 30\n"
    "  mip_gap: 0.01\n"
    "  threads: 1\n"
)
BASE_SCENARIOS = (
    "scenarios:\n"
    "  growth:\n"
    "    description: more ranking\n"
    "    demand_multiplier:\n"
    "      bucket:\n"
    "        ranking: 1.5\n"
    "  cheap_asic:\n"
    "    platform_changes:\n"
    "      asic:\n"
    "        capex_multiplier: 0.8\n"
    "    power_cap_kw:\n"
    "      west: 450\n"
)

Files = dict[str, str | bytes]


def base_files() -> Files:
    """Return the valid base case as ``{file name: text}``."""
    files: Files = {
        TABLES[name].file: pd.DataFrame(rows).to_csv(index=False)
        for name, rows in BASE_TABLES.items()
    }
    files["settings.yaml"] = BASE_SETTINGS
    files["scenarios.yaml"] = BASE_SCENARIOS
    return files


def write_files(folder: Path, files: Files) -> Path:
    """Write ``files`` into a new folder ``folder``."""
    folder.mkdir(parents=True)
    for name, data in files.items():
        path = folder / name
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            # newline="" keeps the text's own line endings (the CRLF control relies on it)
            with path.open("w", encoding="utf-8", newline="") as handle:
                handle.write(data)
    return folder


def run_check(case: Path) -> tuple[int, str]:
    """Run ``python -m planner check CASE`` in-process; return the exit code and all output."""
    return run_cli("check", str(case))


def run_cli(*args: str) -> tuple[int, str]:
    """Run ``python -m planner ARGS`` in-process; return the exit code and all output."""
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["planner", *args]
    # the CLI's rich consoles look up sys.stdout/sys.stderr at each print, so redirecting those
    # is enough; never assign Console.file here, it would pin the buffer for later tests
    try:
        with redirect_stdout(out), redirect_stderr(err):
            cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
    return code, out.getvalue() + err.getvalue()


# ----------------------------------------------------------------------------------------------
# CSV mutations: one run per mutation class, applied to every table at once. The loader reports
# every problem of every file in one message, so each table's own location is asserted in it.


@dataclass(frozen=True)
class Mutation:
    """One way to break one file, and the text its problem line must contain.

    Attributes:
        apply: Changes the files in place.
        expect: Contiguous text of the problem line: file, then ``row N (line M)`` and
            ``column 'c'`` for a CSV cell, or the line and key for YAML.
    """

    apply: Callable[[Files], None]
    expect: tuple[str, ...]


def _frame(files: Files, table: Table) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(str(files[table.file])), dtype=str, keep_default_na=False)


def _where(table: Table, row: int | None = None, column: str | None = None) -> str:
    """Return the location prefix :meth:`planner.errors.Problem.render` writes."""
    text = table.file
    if row is not None:
        text += f", row {row} (line {row + 1})"
    if column is not None:
        text += f", column '{column}'"
    return text


def _set_cell(table: Table, column: str, value: str, row: int = 1) -> Mutation:
    def apply(files: Files) -> None:
        frame = _frame(files, table)
        frame.loc[row - 1, column] = value
        files[table.file] = frame.to_csv(index=False)

    return Mutation(apply, (_where(table, row, column),))


def _change_frame(
    table: Table, change: Callable[[pd.DataFrame], pd.DataFrame], *expect: str
) -> Mutation:
    def apply(files: Files) -> None:
        files[table.file] = change(_frame(files, table)).to_csv(index=False)

    return Mutation(apply, expect)


def _change_text(table: Table, change: Callable[[str], str | bytes], *expect: str) -> Mutation:
    def apply(files: Files) -> None:
        files[table.file] = change(str(files[table.file]))

    return Mutation(apply, expect)


def _pick(table: Table, k: int, ok: Callable[[Column], bool]) -> Column | None:
    """Return the k-th (cyclically) column of ``table`` that ``ok`` accepts, or None.

    Each class starts at a different column, so the classes together reach most columns.
    """
    columns = [c for c in table.columns if ok(c)]
    return columns[k % len(columns)] if columns else None


def _numeric(c: Column) -> bool:
    return c.dtype != "str"


# value classes: (name, column filter, value for the column)
VALUE_CLASSES: list[tuple[str, Callable[[Column], bool], Callable[[Column], str]]] = [
    ("huge", _numeric, lambda c: "1e300"),
    (
        "above_max",
        lambda c: _numeric(c) and c.maximum is not None,
        lambda c: repr(float(c.maximum) * 10),
    ),
    ("tiny", lambda c: _numeric(c) and c.positive and bool(c.minimum), lambda c: "1e-300"),
    ("inf", _numeric, lambda c: "inf"),
    ("nan", _numeric, lambda c: "NaN"),
    (
        "negative",
        lambda c: _numeric(c) and (c.positive or c.minimum is not None),
        lambda c: repr(-1 - 2 * abs(float(c.minimum or 0))),
    ),
    ("zero", lambda c: _numeric(c) and c.positive, lambda c: "0"),
    ("wrong_type", _numeric, lambda c: "lots"),
    ("fraction_in_int", lambda c: c.dtype == "int", lambda c: "1.5"),
    ("blank", lambda c: c.required and not c.nullable and c.default is None, lambda c: ""),
    ("bad_id", lambda c: c.is_id, lambda c: "Bad-Id"),
    ("not_allowed", lambda c: bool(c.allowed), lambda c: "not_allowed"),
]


def _value_class(k: int) -> dict[str, Mutation]:
    _, ok, value = VALUE_CLASSES[k]
    out = {}
    for table in TABLES.values():
        column = _pick(table, k, ok)
        if column is not None:
            out[table.name] = _set_cell(table, column.name, value(column))
    return out


def _first_required(table: Table) -> str:
    return next(c.name for c in table.columns if c.required)


def _extra_field(row: int) -> Callable[[str], str]:
    def change(text: str) -> str:
        lines = text.splitlines()
        lines[row] += ",surplus"
        return "\n".join(lines) + "\n"

    return change


def _duplicate(table: Table) -> Mutation:
    row = len(BASE_TABLES[table.name]) + 1
    return _change_frame(
        table,
        lambda f: pd.concat([f, f.iloc[[0]]]),
        _where(table, row, ", ".join(table.key)) + ": duplicate key",
    )


def _dangling(table: Table) -> Mutation | None:
    column = next((c.name for c in table.columns if c.ref), None)
    if column is None:
        return None
    mutation = _set_cell(table, column, "no_such_id")
    return Mutation(mutation.apply, (mutation.expect[0] + ": refers to an unknown id",))


def _missing(table: Table) -> Mutation:
    name = _first_required(table)
    return _change_frame(
        table,
        lambda f: f.drop(columns=[name]),
        _where(table, column=name) + ": missing required column",
    )


def _renamed(table: Table) -> Mutation:
    name = _first_required(table)
    typo = name[:-1] + "x"
    return _change_frame(
        table,
        lambda f: f.rename(columns={name: typo}),
        _where(table, column=typo) + ": unknown column",
        _where(table, column=name) + ": missing required column",
    )


STRUCTURE_CLASSES: dict[str, Callable[[Table], Mutation | None]] = {
    "missing_column": _missing,
    "extra_column": lambda t: _change_frame(
        t, lambda f: f.assign(colour="red"), _where(t, column="colour") + ": unknown column"
    ),
    "renamed_column": _renamed,
    "extra_field_last_row": lambda t: _change_text(
        t, _extra_field(len(BASE_TABLES[t.name])), _where(t, len(BASE_TABLES[t.name])) + ": has"
    ),
    # pandas took the first column as the index when the first row had an extra field
    "extra_field_first_row": lambda t: _change_text(t, _extra_field(1), _where(t, 1) + ": has"),
    "non_utf8": lambda t: _change_text(
        t,
        lambda x: x.replace(",", ",\xe9", 1).encode("latin-1"),
        f"{t.file}: is not UTF-8 text: line 1",
    ),
    "empty_file": lambda t: _change_text(t, lambda x: "", f"{t.file}: cannot be read as CSV"),
    "header_only": lambda t: _change_text(
        t, lambda x: x.splitlines()[0] + "\n", f"{t.file}: table is empty"
    ),
    "repeated_header": lambda t: _change_text(
        t,
        lambda x: x.replace("\n", f",{_first_required(t)}\n", 1),
        _where(t, column=_first_required(t)) + ": the header names column",
    ),
    "duplicate_row": _duplicate,
    "dangling_id": _dangling,
}

CSV_CLASSES: dict[str, dict[str, Mutation]] = {
    **{name: _value_class(k) for k, (name, _, _) in enumerate(VALUE_CLASSES)},
    **{
        name: {t.name: m for t in TABLES.values() if (m := make(t)) is not None}
        for name, make in STRUCTURE_CLASSES.items()
    },
}


def _check_output(code: int, text: str) -> None:
    assert code == 3, text
    assert "Traceback" not in text and "unexpected" not in text, text
    assert len(text) < 8_000, text[:500]  # never an echo of an expanded or huge value


@pytest.mark.parametrize("kind", list(CSV_CLASSES))
def test_csv_mutation_class_exits_3_naming_file_row_and_column(tmp_path: Path, kind: str) -> None:
    files = base_files()
    for mutation in CSV_CLASSES[kind].values():
        mutation.apply(files)
    code, text = run_check(write_files(tmp_path / "case", files))
    _check_output(code, text)
    for table, mutation in CSV_CLASSES[kind].items():
        for part in mutation.expect:
            assert part in text, f"{table}: {part!r} missing from:\n{text}"


def test_every_table_gets_every_class_that_applies() -> None:
    """Each table is in every structural class; each value class reaches every table it can."""
    for kind in STRUCTURE_CLASSES:
        if kind != "dangling_id":
            assert set(CSV_CLASSES[kind]) == set(TABLES), kind
    for name, ok, _ in VALUE_CLASSES:
        assert set(CSV_CLASSES[name]) == {
            t.name for t in TABLES.values() if any(ok(c) for c in t.columns)
        }
    assert set(CSV_CLASSES["huge"]) == set(TABLES)


# The failures measured in issue 12, one file at a time: each passed check and then crashed or
# planned nonsense.
MEASURED = [
    ("platforms", "lead_time_quarters", "1e300"),
    ("inventory", "servers", "1e300"),
    ("models", "memory_gb", "1e300"),
    ("products", "growth_per_quarter", "1e300"),
    ("platforms", "power_w", "1e300"),
    ("demand", "peak_qps", "1e300"),
    ("products", "daily_requests", "1e300"),
    ("platforms", "capex_usd", "1e300"),
    ("regions", "power_cap_kw", "1e300"),
    ("profiles", "qps_per_server", "1e300"),
    ("inventory", "servers", "1e12"),
    ("profiles", "qps_per_server", "1e-300"),
    ("models", "min_replicas", "1e9"),
]


@pytest.mark.parametrize(
    ("table", "column", "value"), MEASURED, ids=[f"{t}.{c}={v}" for t, c, v in MEASURED]
)
def test_measured_failure_is_rejected_with_its_range(
    tmp_path: Path, table: str, column: str, value: str
) -> None:
    files = case_with(table)
    mutation = _set_cell(TABLES[table], column, value)
    mutation.apply(files)
    code, text = run_check(write_files(tmp_path / "case", files))
    _check_output(code, text)
    assert f"{mutation.expect[0]}: is above the plausible range" in text or (
        f"{mutation.expect[0]}: is below the plausible range" in text
    ), text
    assert TABLES[table].column(column).range_text() in text


# ----------------------------------------------------------------------------------------------
# YAML mutations, one run each, on the case without the optional tables (faster to load).

CORE = ("platforms", "models", "profiles", "regions", "demand")


def core_files() -> Files:
    """Return the base case without its optional tables (products, calls, topology, ...)."""
    return case_with()


def case_with(*tables: str) -> Files:
    """Return the core of the base case plus ``tables`` (products and calls come together).

    Fewer files load faster; the CSV classes above still run on all ten tables at once.
    """
    keep = set(CORE) | set(tables)
    if keep & {"products", "calls"}:
        keep |= {"products", "calls"}
    return {
        k: v
        for k, v in base_files().items()
        if not k.endswith(".csv") or k.removesuffix(".csv") in keep
    }


BOMB = (
    "horizon_quarters: 2\n"
    "first_quarter: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    "objective: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "allocation: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
    "target_utilization: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
)
S, SC = BASE_SETTINGS, BASE_SCENARIOS
SETTINGS_MUTATIONS: dict[str, tuple[str | bytes, tuple[str, ...]]] = {
    "alias_bomb": (BOMB, ("line 2: defines an anchor (&a)",)),
    "duplicate_key": (
        S + "objective: power\n",
        ("line 12: duplicate key 'objective' (first on line 3)",),
    ),
    "duplicate_nested_key": (
        S.replace("  threads: 1\n", "  threads: 1\n  threads: 2\n"),
        ("line 12: duplicate key 'solver.threads' (first on line 11)",),
    ),
    "unknown_key": (S + "horizon: 4\n", ("unknown key 'horizon' (line 12)",)),
    "unknown_nested_key": (
        S.replace("emergency_utilization", "emergency_utilisation"),
        ("unknown key 'disaster_recovery.emergency_utilisation' (line 6)",),
    ),
    "empty": ("", ("is empty, but a case needs at least horizon_quarters",)),
    "comments_only": ("# nothing\n", ("is empty, but a case needs at least horizon_quarters",)),
    "missing_required_key": (
        S.replace("horizon_quarters: 2\n", ""),
        ("missing required key 'horizon_quarters'",),
    ),
    "wrong_type": (
        S.replace("horizon_quarters: 2", "horizon_quarters: two"),
        ("key 'horizon_quarters' (line 1)",),
    ),
    "negative": (
        S.replace("horizon_quarters: 2", "horizon_quarters: -2"),
        ("key 'horizon_quarters' (line 1)",),
    ),
    "zero": (
        S.replace("time_limit_s: 30", "time_limit_s: 0"),
        ("key 'solver.time_limit_s' (line 9)",),
    ),
    "huge": (
        S.replace("horizon_quarters: 2", "horizon_quarters: 1.0e+300"),
        ("key 'horizon_quarters' (line 1)",),
    ),
    "huge_int_digits": (
        S.replace("horizon_quarters: 2", "horizon_quarters: " + "9" * 5000),
        ("settings.yaml: has a value that cannot be read",),
    ),
    "tiny": (S + "target_utilization: 1.0e-300\n", ("key 'target_utilization' (line 12)",)),
    "inf_time_limit": (
        S.replace("time_limit_s: 30", "time_limit_s: .inf"),
        ("key 'solver.time_limit_s' (line 9)",),
    ),
    "nan": (S.replace("mip_gap: 0.01", "mip_gap: .nan"), ("key 'solver.mip_gap' (line 10)",)),
    "threads_above_cores": (
        S.replace("threads: 1", "threads: 1000000"),
        ("key 'solver.threads' (line 11)", "cores of this machine"),
    ),
    # pydantic's lax mode read these as 1 s, 1 thread and "off", silently
    "bool_for_number": (
        S.replace("time_limit_s: 30", "time_limit_s: true"),
        ("key 'solver.time_limit_s' (line 9): must be a number, not true/false",),
    ),
    "bool_for_count": (
        S.replace("threads: 1", "threads: yes"),
        ("key 'solver.threads' (line 11): must be a number, not true/false",),
    ),
    "number_for_switch": (
        S.replace("enabled: true", "enabled: 0"),
        ("key 'disaster_recovery.enabled' (line 5): must be true or false",),
    ),
    "text_for_switch": (
        S.replace("enabled: true", 'enabled: "no"'),
        ("key 'disaster_recovery.enabled' (line 5): must be true or false",),
    ),
    "invalid_syntax": ("horizon_quarters: [2,\n", ("settings.yaml: is not valid YAML: line",)),
    "not_a_mapping": ("- 1\n- 2\n", ("settings.yaml: must be a mapping",)),
    "deep_nesting": (
        "horizon_quarters: " + "[" * 200 + "]" * 200 + "\n",
        ("line 1: nested more than",),
    ),
    "merge_key": ("<<: {horizon_quarters: 2}\n", ("line 1: uses a merge key",)),
    "non_utf8": (
        S.replace("2020Q1", "2020Q1 \xe9").encode("latin-1"),
        ("settings.yaml: is not UTF-8 text: line 2",),
    ),
}
SCENARIO_MUTATIONS: dict[str, tuple[str | bytes, tuple[str, ...]]] = {
    "alias": ("scenarios:\n  a: &a {description: x}\n  b: *a\n", ("line 2: defines an anchor",)),
    "duplicate_scenario": (
        SC + "  growth:\n    description: again\n",
        ("line 13: duplicate key 'scenarios.growth' (first on line 2)",),
    ),
    "huge_multiplier": (
        SC.replace("ranking: 1.5", "ranking: 1.0e+300"),
        ("scenario 'growth', key 'demand_multiplier.bucket.ranking' (line 6)",),
    ),
    "inf_multiplier": (
        SC.replace("ranking: 1.5", "ranking: .inf"),
        ("scenario 'growth', key 'demand_multiplier.bucket.ranking' (line 6)",),
    ),
    "negative_multiplier": (
        SC.replace("ranking: 1.5", "ranking: -1"),
        ("scenario 'growth', key 'demand_multiplier.bucket.ranking'",),
    ),
    "zero_multiplier": (
        SC.replace("capex_multiplier: 0.8", "capex_multiplier: 0"),
        ("scenario 'cheap_asic', key 'platform_changes.asic.capex_multiplier' (line 10)",),
    ),
    "tiny_multiplier": (
        SC.replace("capex_multiplier: 0.8", "capex_multiplier: 1.0e-300"),
        ("scenario 'cheap_asic', key 'platform_changes.asic.capex_multiplier'",),
    ),
    "huge_power_cap": (
        SC.replace("west: 450", "west: 1.0e+300"),
        ("scenario 'cheap_asic', key 'power_cap_kw.west", "(line 12)"),
    ),
    "bool_for_number": (
        SC.replace("capex_multiplier: 0.8", "capex_multiplier: true"),
        ("scenario 'cheap_asic', key 'platform_changes.asic.capex_multiplier'",
         "must be a number, not true/false"),
    ),
    "number_for_switch": (
        SC.replace("    description: more ranking\n", "    disaster_recovery: 1\n"),
        ("scenario 'growth', key 'disaster_recovery'", "must be true or false"),
    ),
    "wrong_type": (
        SC.replace("capex_multiplier: 0.8", "capex_multiplier: cheap"),
        ("scenario 'cheap_asic', key 'platform_changes.asic.capex_multiplier'",),
    ),
    "unknown_key": (
        SC.replace("description: more ranking", "colour: red"),
        ("scenario 'growth', key 'colour' (line 3): unknown key",),
    ),
    "dangling_region": (
        SC.replace("west: 450", "north: 450"),
        ("scenario 'cheap_asic' names unknown region 'north'",),
    ),
    "dangling_bucket": (
        SC.replace("ranking: 1.5", "audio: 1.5"),
        ("scenario 'growth' names unknown bucket 'audio'",),
    ),
    "dangling_platform": (
        SC.replace("      asic:", "      gpu:"),
        ("scenario 'cheap_asic' names unknown platform 'gpu'",),
    ),
    "compounded_demand": (
        SC.replace(
            "ranking: 1.5",
            "cv: 1000\n      model:\n        vision: 1000\n      region:\n        east: 1000",
        ),
        ("scenario 'growth'", "model 'vision' gets a peak demand of"),
    ),
    "out_of_range_after_applying": (
        SC.replace("capex_multiplier: 0.8", "capex_multiplier: 1000").replace(
            "      asic:", "      asic:\n        power_multiplier: 1000"
        ),
        ("scenario 'cheap_asic' makes platforms.csv row 2 power_w",),
    ),
    "empty": ("", ("scenarios.yaml: must have one top-level key 'scenarios'",)),
    "not_a_mapping": ("scenarios: [a, b]\n", ("scenarios.yaml: must have one top-level key",)),
    "scenario_not_a_mapping": (
        "scenarios:\n  a: [1, 2]\n",
        ("scenario 'a' (line 2) must be a mapping",),
    ),
    "invalid_syntax": (
        "scenarios:\n  a: {description: [x,\n",
        ("scenarios.yaml: is not valid YAML: line",),
    ),
    "non_utf8": (
        SC.replace("more", "m\xe9").encode("latin-1"),
        ("scenarios.yaml: is not UTF-8 text: line 3",),
    ),
}
YAML_MUTATIONS = {
    **{f"settings:{k}": ("settings.yaml", *v) for k, v in SETTINGS_MUTATIONS.items()},
    **{f"scenarios:{k}": ("scenarios.yaml", *v) for k, v in SCENARIO_MUTATIONS.items()},
}


@pytest.mark.parametrize("kind", list(YAML_MUTATIONS))
def test_yaml_mutation_exits_3_naming_file_line_and_key(tmp_path: Path, kind: str) -> None:
    file, text, expect = YAML_MUTATIONS[kind]
    files = core_files()
    files[file] = text
    code, output = run_check(write_files(tmp_path / "case", files))
    _check_output(code, output)
    assert file in output, output
    for part in expect:
        assert part in output, f"{part!r} missing from:\n{output}"
    assert "lol" not in output  # an expanded alias is never echoed


# ----------------------------------------------------------------------------------------------
# Accepted-but-valid controls


def test_the_base_case_is_valid(tmp_path: Path) -> None:
    code, text = run_check(write_files(tmp_path / "case", base_files()))
    assert code == 0, text
    assert "2 scenarios in scenarios.yaml, all valid" in text


def _bom(files: Files) -> None:
    for name in ("platforms.csv", "settings.yaml", "scenarios.yaml"):
        files[name] = str(files[name]).encode("utf-8-sig")


def _crlf(files: Files) -> None:
    for name in ("models.csv", "demand.csv", "settings.yaml", "scenarios.yaml"):
        files[name] = str(files[name]).replace("\n", "\r\n")


def _quoted_numbers(files: Files) -> None:
    frame = _frame(files, TABLES["profiles"])
    files["profiles.csv"] = frame.to_csv(index=False, quoting=1)  # csv.QUOTE_ALL


def _reordered_columns(files: Files) -> None:
    for name in ("platforms", "regions", "demand"):
        frame = _frame(files, TABLES[name])
        files[TABLES[name].file] = frame[list(reversed(frame.columns))].to_csv(index=False)


def _spaces_after_commas(files: Files) -> None:
    files["regions.csv"] = str(files["regions.csv"]).replace(",", ", ")


CONTROLS = {
    "bom": _bom,
    "crlf": _crlf,
    "quoted_numbers": _quoted_numbers,
    "reordered_columns": _reordered_columns,
    "spaces_after_commas": _spaces_after_commas,
}


@pytest.mark.parametrize("control", list(CONTROLS))
def test_valid_variants_still_load(tmp_path: Path, control: str) -> None:
    files = case_with("products")  # products.csv and calls.csv besides the core tables
    CONTROLS[control](files)
    code, text = run_check(write_files(tmp_path / "case", files))
    assert code == 0, text
    assert "valid fleet case" in text


def test_bomb_is_rejected_before_it_is_expanded(tmp_path: Path, monkeypatch) -> None:
    """The alias bomb must fail in the loader, before any Python object is built."""
    import planner.yaml_safe as ys

    built = []
    original = ys._StrictLoader.construct_document
    monkeypatch.setattr(
        ys._StrictLoader,
        "construct_document",
        lambda self, node: built.append(node) or original(self, node),
    )
    files = base_files()
    files["settings.yaml"] = BOMB
    code, text = run_check(write_files(tmp_path / "case", files))
    assert code == 3 and not built
    assert "lol" not in text  # no echo of the (expanded) value


def test_yaml_line_numbers_come_from_the_file() -> None:
    """Lines in messages are the file's own: keys on line 3 and 5 are reported there."""
    from planner.yaml_safe import load_yaml

    doc = load_yaml("a: 1\nb:\n  c: 2\n  d:\n    - 3\n", "x.yaml")
    assert doc.line_of(("b", "c")) == 3
    assert doc.line_of(("b", "d", 0)) == 5
    assert doc.line_of(("b", "d", 0, "nope")) == 5
    assert doc.data == {"a": 1, "b": {"c": 2, "d": [3]}}


def test_base_case_yaml_round_trips() -> None:
    """The base YAML texts are what yaml itself reads (guards the suite against typos)."""
    assert yaml.safe_load(BASE_SETTINGS)["solver"]["threads"] == 1
    assert set(yaml.safe_load(BASE_SCENARIOS)["scenarios"]) == {"growth", "cheap_asic"}


# ----------------------------------------------------------------------------------------------
# Bad command lines: usage errors exit 2 with the choices; interrupts and bugs are one line

CORES = os.cpu_count() or 1
USAGE_ERRORS = {
    "negative_time_limit": (["--time-limit", "-1"], "--time-limit"),
    "zero_time_limit": (["--time-limit", "0"], "--time-limit"),
    "inf_time_limit": (["--time-limit", "inf"], "--time-limit"),
    "nan_time_limit": (["--time-limit", "nan"], "--time-limit"),
    "unknown_solver": (["--solver", "gurobi"], "choose one of highs, cbc"),
    "zero_threads": (["--threads", "0"], f"give 1 to {CORES}"),
    "threads_above_cores": (["--threads", str(CORES + 1)], f"give 1 to {CORES}"),
    "gap_of_one": (["--gap", "1"], "--gap"),
    "unknown_scenario": (["--scenario", "nosuch"], "these scenarios: growth, cheap_asic"),
}


@pytest.fixture(scope="module")
def valid_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_files(tmp_path_factory.mktemp("cli") / "case", base_files())


@pytest.mark.parametrize("kind", list(USAGE_ERRORS))
def test_usage_error_exits_2_listing_the_choices(
    valid_case: Path, tmp_path: Path, kind: str
) -> None:
    args, expect = USAGE_ERRORS[kind]
    code, text = run_cli("plan", str(valid_case), "--out", str(tmp_path / "out"), *args)
    assert code == 2, text
    assert expect in " ".join(text.replace("│", " ").split()), text  # rich wraps and boxes it
    assert "Traceback" not in text
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("points", "expect"),
    [("1", "greater than or equal to 2"), ("0", "greater than or equal to 2"),
     ("100000", "less than or equal to 50")],
)
def test_frontier_points_out_of_range_are_a_usage_error(
    valid_case: Path, points: str, expect: str
) -> None:
    # 1 point was an "unexpected ValueError" (exit 1); 100,000 points never ended
    code, text = run_cli("frontier", str(valid_case), "--points", points)
    assert code == 2, text
    assert expect in " ".join(text.replace("│", " ").split()), text
    assert "Traceback" not in text and "unexpected" not in text


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--reps", "0"], "reps must be from 2 to 1000, not 0"),
        (["--queries", "-5"], "queries must be from 100 to 1,000,000, not -5"),  # IndexError
        (["--queries", "1000000000000"], "queries must be from 100"),  # asked for 8 TiB
        (["--seed", "-1"], "seed must be from 0"),
    ],
)
def test_latency_simulation_settings_out_of_range_are_a_usage_error(
    valid_case: Path, tmp_path: Path, args: list[str], expect: str
) -> None:
    # refused before the plan folder is read: no plan is needed to see the mistake
    code, text = run_cli("latency", str(valid_case), str(tmp_path / "plan"), *args)
    assert code == 2, text
    assert expect in text and "unexpected" not in text and "Traceback" not in text


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--move-cost", "-5"], "--move-cost=-5"),  # was an unexpected ValidationError
        (["--max-moves", "-1"], "--max-moves=-1"),
        (["--move-cost", "inf"], "--move-cost=inf"),  # was planned: objective inf
        (["--bucket-move-cost", "ranking=-3"], "--bucket-move-cost ranking=-3"),
    ],
)
def test_migration_options_out_of_range_are_a_usage_error(
    valid_case: Path, tmp_path: Path, args: list[str], expect: str
) -> None:
    code, text = run_cli("plan", str(valid_case), "--out", str(tmp_path / "out"),
                         "--current", str(tmp_path / "nowhere"), *args)
    assert code == 2, text
    assert f"{expect}: give a finite number, 0 or more" in text, text
    assert "unexpected" not in text and not (tmp_path / "out").exists()


def test_synthetic_negative_seed_is_a_usage_error(tmp_path: Path) -> None:
    code, text = run_cli("synthetic", "XS", "--out", str(tmp_path / "syn"), "--seed", "-1")
    assert code == 2, text
    assert "greater than or equal to 0" in " ".join(text.replace("│", " ").split())
    assert "unexpected" not in text and not (tmp_path / "syn").exists()


def test_unknown_scenario_in_compare_is_a_usage_error(valid_case: Path) -> None:
    code, text = run_cli("compare", str(valid_case), "--scenario", "base", "--scenario", "x")
    assert code == 2, text
    assert "unknown --scenario 'x'" in text and "growth, cheap_asic" in text


def _raise(exc: BaseException) -> Callable[..., None]:
    def fail(*args: object, **kwargs: object) -> None:
        raise exc

    return fail


def test_unexpected_exception_is_one_line_naming_it_and_debug(
    valid_case: Path, monkeypatch
) -> None:
    monkeypatch.setattr(
        "planner.fleet.load_fleet", _raise(RuntimeError("disk on fire\nsecond line"))
    )
    code, text = run_cli("check", str(valid_case))
    assert code == 1
    assert text.strip().splitlines() == [
        "error: unexpected RuntimeError: disk on fire. This is a bug in the planner, not in "
        "your data; run the command again with --debug to see the traceback"
    ]


def test_debug_shows_the_traceback(valid_case: Path, monkeypatch) -> None:
    monkeypatch.setattr("planner.fleet.load_fleet", _raise(RuntimeError("disk on fire")))
    with pytest.raises(RuntimeError, match="disk on fire"):
        run_cli("check", str(valid_case), "--debug")


def test_unexpected_exception_outside_run_is_one_line(valid_case: Path, monkeypatch) -> None:
    monkeypatch.setattr(cli, "_run", _raise(ZeroDivisionError("division by zero")))
    code, text = run_cli("check", str(valid_case))
    assert code == 1
    assert text.strip().splitlines()[0].startswith("error: unexpected ZeroDivisionError")
    assert len(text.strip().splitlines()) == 1


@pytest.mark.parametrize("where", ["in_the_command", "outside_run"])
def test_ctrl_c_is_one_line_and_exit_130(valid_case: Path, monkeypatch, where: str) -> None:
    target = "planner.fleet.load_fleet" if where == "in_the_command" else "planner.cli._run"
    monkeypatch.setattr(target, _raise(KeyboardInterrupt()))
    code, text = run_cli("check", str(valid_case))
    assert code == 130
    assert text.strip().splitlines() == ["interrupted; no output was written"]


@pytest.mark.parametrize("after_module", ["planner", "planner.cli"])
def test_ctrl_c_during_start_up_is_one_line_and_exit_130(after_module: str) -> None:
    """A real SIGINT while ``python -m planner`` imports its modules: one line, exit 130.

    The signal is sent when ``-X importtime`` reports that ``after_module`` has been imported,
    so it lands in the planner's own start-up (a signal during the interpreter's ``site``
    import, before any planner code runs, is CPython's to handle). A signal during the command
    itself is tested in-process above.
    """
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "planner",
            "check",
            str(root / "fleet_data" / "default"),
        ],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen = False
    for line in proc.stderr:
        if line.startswith("import time:") and line.rstrip().endswith(f"| {after_module}"):
            seen = True
            break
    assert seen, f"{after_module} was never imported"
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    proc.wait(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the check finished before the signal")  # not expected: it takes > 2 s
    err = "\n".join(line for line in rest.splitlines() if not line.startswith("import time:"))
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.strip().splitlines()[-1] == "interrupted; no output was written"
    assert len([line for line in err.splitlines() if "interrupted" in line]) == 1
