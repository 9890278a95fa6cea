"""The :class:`Fleet` (one planning case) and :func:`load_fleet`, which reads it from a folder."""

from __future__ import annotations

import csv
import dataclasses
import difflib
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors
from pydantic import ValidationError

from planner.errors import FleetDataError, Problem
from planner.profile_curves import follow_slos, resolve_profiles
from planner.schema import FACTORS, ID_PATTERN, ID_RULE, PROFILES, TABLES, Column, Table
from planner.settings import REQUIRED_KEYS, Settings
from planner.yaml_safe import YamlDocument, load_yaml

SETTINGS_FILE = "settings.yaml"
_PANDAS_DTYPE = {"str": "str", "int": "int64", "float": "float64"}
_MAX_PROBLEMS_PER_COLUMN = 10


@dataclass(frozen=True)
class Fleet:
    """One planning case: typed input tables plus settings.

    A ``Fleet`` is treated as immutable: scenarios and edits return a new one
    (:func:`dataclasses.replace` with copied tables); nothing mutates a table in place.

    ``profiles`` has one row per (model, platform) that can serve, read at the model's SLO;
    ``profile_curves`` keeps the curve rows of ``profiles.csv`` (index: the file row - 1)
    they were read from (:mod:`planner.profile_curves`). :meth:`replace` re-reads curve rows
    whose model's SLO changed, so a scenario that changes an SLO changes the throughput.
    """

    name: str
    settings: Settings
    platforms: pd.DataFrame
    models: pd.DataFrame
    profiles: pd.DataFrame
    regions: pd.DataFrame
    region_power_caps: pd.DataFrame
    topology: pd.DataFrame
    inventory: pd.DataFrame
    products: pd.DataFrame
    calls: pd.DataFrame
    demand: pd.DataFrame
    # Scenario demand multipliers (model_id or None, region_id or None, multiplier); they act
    # on derived peak demand, so bucket and region multipliers work with the call graph too.
    demand_adjustments: pd.DataFrame | None = None
    # Time of day (planner.diurnal): 24-hour load shapes; in a slotted fleet (made by
    # planner.diurnal.expand_fleet) the daily volumes of training that may move between slots.
    load_shapes: pd.DataFrame = dataclasses.field(
        default_factory=lambda: empty_table(TABLES["load_shapes"])
    )
    slot_volumes: pd.DataFrame | None = None
    profile_curves: pd.DataFrame = field(default_factory=lambda: empty_table(PROFILES))
    factors: pd.DataFrame = field(default_factory=lambda: empty_table(FACTORS))

    def table(self, name: str) -> pd.DataFrame:
        """Return the input table called ``name`` (see :data:`planner.schema.TABLES`)."""
        return getattr(self, name)

    def replace(self, **changes: object) -> Fleet:
        """Return a copy with some tables or the settings replaced; other tables are copied."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for key, value in fields.items():
            if isinstance(value, pd.DataFrame) and key not in changes:
                fields[key] = value.copy()
        fields.update(changes)
        fields["profiles"] = follow_slos(
            fields["profiles"], fields["profile_curves"], fields["models"]
        )
        return Fleet(**fields)  # type: ignore[arg-type]

    @property
    def quarters(self) -> list[int]:
        """Return the 0-based quarter indices of the planning horizon."""
        return list(range(self.settings.horizon_quarters))


def empty_table(table: Table) -> pd.DataFrame:
    """Return an empty DataFrame with the declared columns and dtypes of ``table``."""
    return pd.DataFrame(
        {c.name: pd.Series(dtype=_dtype_of(c)) for c in table.columns},
    )


def _dtype_of(column: Column) -> str:
    if column.dtype == "int" and column.nullable:
        return "Int64"
    return _PANDAS_DTYPE[column.dtype]


def _pandera_schema(table: Table) -> pa.DataFrameSchema:
    columns = {}
    for c in table.columns:
        checks = []
        if c.allowed:
            checks.append(pa.Check.isin(list(c.allowed)))
        if c.is_id:
            checks.append(pa.Check.str_matches(ID_PATTERN.pattern))
        if c.positive:
            checks.append(pa.Check.gt(0))
        elif c.minimum is not None:
            checks.append(pa.Check.ge(c.minimum))
        if c.maximum is not None:
            checks.append(pa.Check.le(c.maximum))
        columns[c.name] = pa.Column(
            _dtype_of(c), checks=checks, nullable=c.nullable, coerce=True, required=False
        )
    return pa.DataFrameSchema(columns, strict=False)


def _fix_for(column: Column, check: str) -> tuple[str, str]:
    """Return (message, fix) for a pandera check that failed on ``column``."""
    if check == "not_nullable":
        return "is blank or NaN", f"fill in a value ({column.rule() or column.description})"
    if check.startswith("isin"):
        return "is not an allowed value", f"use one of {', '.join(column.allowed or ())}"
    if check.startswith("str_matches"):
        return "is not a valid id", f"use {ID_RULE}"
    if check.startswith("greater_than("):
        return (
            "must be greater than 0",
            "give a positive value (a missing profile row means 'cannot run'; never write 0)"
            if column.name == "qps_per_server"
            else "give a value greater than 0",
        )
    if check.startswith("greater_than_or_equal_to"):
        return f"must be at least {column.minimum:g}", f"give a value >= {column.minimum:g}"
    if check.startswith("less_than_or_equal_to"):
        return f"must be at most {column.maximum:g}", f"give a value <= {column.maximum:g}"
    return f"fails check {check}", column.rule()


def _parse_table(table: Table, text: str) -> tuple[pd.DataFrame | None, list[Problem]]:
    """Parse one CSV text against its declaration; return the typed frame and problems."""
    problems = _shape_problems(table, text)
    if problems:
        return None, problems
    try:
        # index_col=False: a first row with an extra field must not turn column 1 into the index
        raw = pd.read_csv(
            io.StringIO(text),
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
            index_col=False,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "no header row"
        return None, [
            Problem(
                table.file,
                f"cannot be read as CSV: {reason}",
                "save it as comma-separated UTF-8 text with a header row",
            )
        ]
    raw.columns = [str(c).strip() for c in raw.columns]
    declared = table.column_names
    for col in raw.columns:
        if col not in declared:
            close = difflib.get_close_matches(col, declared, n=1)
            hint = (
                f"did you mean '{close[0]}'?" if close else f"known columns: {', '.join(declared)}"
            )
            problems.append(
                Problem(table.file, "unknown column", f"remove or rename it ({hint})", column=col)
            )
    for c in table.columns:
        if c.required and c.name not in raw.columns:
            problems.append(
                Problem(
                    table.file,
                    "missing required column",
                    f"add a column '{c.name}' ({c.description})",
                    column=c.name,
                )
            )
    if raw.empty:
        problems.append(
            Problem(
                table.file,
                "table is empty",
                "add at least one data row below the header, or delete the file"
                if not table.required
                else "add at least one data row",
            )
        )
    if any(p.message in ("missing required column", "table is empty") for p in problems):
        return None, problems

    frame = raw[[c.name for c in table.columns if c.name in raw.columns]].astype(object)
    for c in table.columns:
        if c.name not in frame.columns:
            frame[c.name] = pd.Series([c.default] * len(frame), index=frame.index, dtype=object)
        blank = frame[c.name].isna() | (frame[c.name].astype(str).str.strip() == "")
        if c.default is not None:
            frame.loc[blank, c.name] = c.default
        else:
            frame[c.name] = frame[c.name].astype(object).where(~blank, None)
        if c.dtype == "str":
            frame[c.name] = frame[c.name].where(
                frame[c.name].isna(), frame[c.name].astype(str).str.strip()
            )
        if c.dtype in ("int", "float"):
            problems += _coerce_numeric(table, frame, c)
    reported = {(p.column, p.row) for p in problems}
    try:
        typed = _pandera_schema(table).validate(frame, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases
        counts: dict[str, int] = {}
        for case in cases.itertuples(index=False):
            col = getattr(case, "column", None)
            check = str(getattr(case, "check", ""))
            idx = getattr(case, "index", None)
            row = int(idx) + 1 if idx is not None and pd.notna(idx) else None
            if col is None or col not in declared or (col, row) in reported or row is None:
                continue
            counts[col] = counts.get(col, 0) + 1
            if counts[col] > _MAX_PROBLEMS_PER_COLUMN:
                continue
            message, fix = _fix_for(table.column(col), check)
            value = frame[col].iloc[int(idx)]
            problems.append(
                Problem(
                    table.file,
                    message,
                    fix,
                    row=row,
                    column=col,
                    value=None if pd.isna(value) else str(value),
                )
            )
        for col, n in counts.items():
            if n > _MAX_PROBLEMS_PER_COLUMN:
                problems.append(
                    Problem(
                        table.file,
                        f"{n - _MAX_PROBLEMS_PER_COLUMN} more rows have the same kind of problem",
                        column=col,
                    )
                )
        if not any(p.file == table.file for p in problems):
            # A failure we do not map: still never show pandera's raw text.
            problems.append(
                Problem(
                    table.file,
                    "does not match the declared schema",
                    "compare it with fleet_data/README.md",
                )
            )
        return None, problems
    if problems:
        return None, problems
    typed = typed.reset_index(drop=True)
    return typed, problems


def _shape_problems(table: Table, text: str) -> list[Problem]:
    """Report a header with repeated or blank names and rows with more fields than the header.

    pandas would silently rename a repeated column (``x.1``), or take the first column as the
    index when the first data row has an extra field, so the shape is checked with :mod:`csv`.
    """
    fix = "remove the extra field, or quote a value that contains a comma"
    problems: list[Problem] = []
    try:
        records = [r for r in csv.reader(io.StringIO(text), skipinitialspace=True) if r]
    except csv.Error as exc:
        return [
            Problem(
                table.file,
                f"cannot be read as CSV: {exc}",
                "save it as comma-separated UTF-8 text with a header row",
            )
        ]
    if not records:
        return problems
    header = [h.strip() for h in records[0]]
    for name in dict.fromkeys(h for h in header if header.count(h) > 1):
        problems.append(
            Problem(
                table.file,
                f"the header names column '{name}' {header.count(name)} times",
                "keep one column of that name",
                column=name,
            )
        )
    if "" in header:
        problems.append(
            Problem(
                table.file,
                f"the header has a blank column name (field {header.index('') + 1})",
                "name the column or delete it (a trailing comma on the header line adds one)",
            )
        )
    wide = [(n, len(r)) for n, r in enumerate(records[1:], start=1) if len(r) > len(header)]
    for n, width in wide[:_MAX_PROBLEMS_PER_COLUMN]:
        problems.append(
            Problem(
                table.file,
                f"has {width} fields but the header has {len(header)}",
                fix,
                row=n,
            )
        )
    if len(wide) > _MAX_PROBLEMS_PER_COLUMN:
        problems.append(
            Problem(
                table.file, f"{len(wide) - _MAX_PROBLEMS_PER_COLUMN} more rows have extra fields"
            )
        )
    return problems


def _coerce_numeric(table: Table, frame: pd.DataFrame, column: Column) -> list[Problem]:
    """Convert ``column`` of ``frame`` to numbers in place; report cells that are not numbers."""
    text = frame[column.name]
    numeric = pd.to_numeric(text, errors="coerce")
    # inf and 1e400 parse as numbers but are never meaningful inputs.
    bad = text.notna() & (numeric.isna() | numeric.abs().eq(float("inf")))
    if column.dtype == "int":
        bad |= numeric.notna() & (numeric != numeric.round())
    problems = []
    kind = "a whole number" if column.dtype == "int" else "a number"
    unit = f" in {column.unit}" if column.unit else ""
    for n, idx in enumerate(frame.index[bad]):
        if n == _MAX_PROBLEMS_PER_COLUMN:
            problems.append(
                Problem(
                    table.file, f"{int(bad.sum()) - n} more rows are not {kind}", column=column.name
                )
            )
            break
        problems.append(
            Problem(
                table.file,
                f"is not {kind}",
                f"write {kind}{unit}",
                row=int(idx) + 1,
                column=column.name,
                value=str(text[idx]),
            )
        )
    problems += _range_problems(table, frame, column, numeric.where(~bad))
    # Out-of-range cells are reported above and blanked, so a 1e300 never reaches the int cast.
    numeric = numeric.where(~bad & numeric.map(lambda v: pd.isna(v) or _plausible(column, v)))
    if column.dtype == "int":
        frame[column.name] = numeric.round().astype("Int64")
    else:
        frame[column.name] = numeric.astype("float64")
    return problems


def _plausible(column: Column, value: float) -> bool:
    """Return whether ``value`` is in range, or breaks a sign rule pandera reports itself."""
    if column.positive and value <= 0:
        return True  # "must be greater than 0", with its column-specific fix
    if not column.positive and column.minimum is not None and value < column.minimum:
        return True  # "must be at least ..."
    return column.in_range(value)


def _range_problems(
    table: Table, frame: pd.DataFrame, column: Column, numeric: pd.Series
) -> list[Problem]:
    """Report finite numbers outside the column's plausible range, with the range."""
    out = numeric.notna() & ~numeric.map(lambda v: pd.isna(v) or _plausible(column, v))
    problems = []
    for n, idx in enumerate(frame.index[out]):
        if n == _MAX_PROBLEMS_PER_COLUMN:
            problems.append(
                Problem(
                    table.file,
                    f"{int(out.sum()) - n} more rows are outside the plausible range",
                    column=column.name,
                )
            )
            break
        side = "above" if column.maximum is not None and numeric[idx] > column.maximum else "below"
        problems.append(
            Problem(
                table.file,
                f"is {side} the plausible range ({column.range_text()})",
                f"give a value {column.range_text()}; the ranges are declared in "
                "planner/schema.py (data reference: python -m planner reference)",
                row=int(idx) + 1,
                column=column.name,
                value=str(frame[column.name][idx]),
            )
        )
    return problems


def _read_text(path: Path) -> tuple[str | None, Problem | None]:
    """Return a file's text (UTF-8, BOM allowed), or a problem naming the line of a bad byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        return None, not_utf8(path.name, data, exc)


def not_utf8(file: str, data: bytes, exc: UnicodeDecodeError) -> Problem:
    """Return the problem of a file that is not UTF-8, naming the line of the first bad byte."""
    line = data[: exc.start].count(b"\n") + 1
    return Problem(
        file,
        f"is not UTF-8 text: line {line} has byte 0x{data[exc.start]:02x} (position {exc.start})",
        "re-save the file with UTF-8 encoding (Excel: CSV UTF-8)",
    )


def parse_settings(
    data: object,
    file: str = SETTINGS_FILE,
    *,
    lines: YamlDocument | None = None,
    required: tuple[str, ...] = (),
) -> tuple[Settings | None, list[Problem]]:
    """Validate a settings mapping; return the settings and any problems, one per bad key.

    Args:
        data: The parsed mapping (``None`` for an empty file).
        file: File name for messages.
        lines: The parsed document, so problems can name the line of each key.
        required: Keys that must be present (a ``settings.yaml`` file needs
            :data:`planner.settings.REQUIRED_KEYS`; in-memory settings may rely on defaults).

    Returns:
        The settings (``None`` when invalid) and the problems.
    """
    see = "see the settings reference in fleet_data/README.md"
    if data is None or data == {}:
        if required:
            return None, [
                Problem(
                    file,
                    f"is empty, but a case needs at least {', '.join(required)}",
                    f"add {', '.join(f'{k}: ...' for k in required)} (and any other settings: "
                    f"{see})",
                )
            ]
        data = {}
    if not isinstance(data, dict):
        return None, [Problem(file, "must be a mapping of keys to values", see)]
    problems = [
        Problem(file, f"missing required key '{key}'", f"add '{key}: ...' ({see})")
        for key in required
        if key not in data
    ]
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            key = ".".join(str(p) for p in loc)
            line = lines.line_of(loc) if lines is not None else None
            at = f" (line {line})" if line is not None else ""
            if err["type"] == "extra_forbidden":
                problems.append(
                    Problem(
                        file,
                        f"unknown key '{key}'{at}",
                        f"remove it or fix its spelling ({see})",
                    )
                )
            else:
                problems.append(
                    Problem(
                        file,
                        f"key '{key}'{at}: {err['msg'].removeprefix('Value error, ')}",
                        see,
                        value=short_value(err.get("input")),
                    )
                )
        return None, problems
    return (None, problems) if problems else (settings, [])


def short_value(value: object, limit: int = 60) -> object:
    """Return ``value`` for a message: scalars as they are, anything long cut short."""
    if isinstance(value, bool | int | float) and len(repr(value)) <= limit:
        return value
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_fleet(case_dir: str | Path, check: bool = True) -> Fleet:
    """Read a fleet case folder (CSV tables plus ``settings.yaml``).

    Args:
        case_dir: Folder holding the case.
        check: Also run the cross-table checks of :func:`planner.checks.check_fleet`.

    Returns:
        The typed, validated fleet.

    Raises:
        FleetDataError: Listing every problem found, each with file, row, column and fix.
    """
    folder = Path(case_dir)
    if not folder.is_dir():
        raise FleetDataError(
            [
                Problem(
                    str(folder),
                    "is not a folder",
                    "pass the folder of a fleet case, e.g. fleet_data/default",
                )
            ]
        )
    present = sorted(p.name for p in folder.iterdir() if p.is_file())
    problems: list[Problem] = []
    tables: dict[str, pd.DataFrame] = {}
    for table in TABLES.values():
        path = folder / table.file
        if not path.exists():
            if table.required:
                problems.append(
                    Problem(
                        table.file,
                        "missing file",
                        f"add {table.file} to {folder} (files there: "
                        f"{', '.join(present) or 'none'})",
                    )
                )
            tables[table.name] = empty_table(table)
            continue
        text, problem = _read_text(path)
        if problem:
            problems.append(problem)
            continue
        frame, found = _parse_table(table, text or "")
        problems += found
        if frame is not None:
            tables[table.name] = frame

    settings: Settings | None = None
    settings_path = folder / SETTINGS_FILE
    if not settings_path.exists():
        problems.append(
            Problem(
                SETTINGS_FILE,
                "missing file",
                f"add {SETTINGS_FILE} to {folder} (files there: {', '.join(present) or 'none'})",
            )
        )
    else:
        text, problem = _read_text(settings_path)
        if problem:
            problems.append(problem)
        else:
            try:
                doc = load_yaml(text or "", SETTINGS_FILE)
            except FleetDataError as exc:
                problems += exc.problems
            else:
                settings, found = parse_settings(doc.data, lines=doc, required=REQUIRED_KEYS)
                problems += found
    if problems:
        raise FleetDataError(problems, header=f"Invalid fleet data in {folder}")
    fleet = Fleet(name=folder.name, settings=settings, **_read_curves(tables))  # type: ignore[arg-type]
    if check:
        from planner.checks import check_fleet

        check_fleet(fleet)
    return fleet


def _read_curves(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Return the tables with profiles read at the models' SLOs and the curve rows apart."""
    profiles, curves = resolve_profiles(tables["profiles"], tables["models"])
    return tables | {"profiles": profiles, "profile_curves": curves}


def validate_rows(table: Table, frame: pd.DataFrame) -> tuple[pd.DataFrame | None, list[Problem]]:
    """Validate in-memory rows of ``table`` exactly like a CSV file; return typed rows."""
    return _parse_table(table, frame.to_csv(index=False))


def fleet_from_frames(
    name: str, settings: Settings | dict, check: bool = True, **frames: pd.DataFrame
) -> Fleet:
    """Build a fleet from in-memory DataFrames (notebooks, tests, generators).

    Tables not given are empty; given tables go through the same validation as CSV files.
    """
    problems: list[Problem] = []
    tables: dict[str, pd.DataFrame] = {}
    for table in TABLES.values():
        if table.name not in frames:
            if table.required:
                problems.append(Problem(table.file, "missing table", f"pass {table.name}=..."))
            tables[table.name] = empty_table(table)
            continue
        frame, found = validate_rows(table, frames[table.name])
        problems += found
        if frame is not None:
            tables[table.name] = frame
    unknown = set(frames) - set(TABLES)
    problems += [
        Problem(f"{u}", "unknown table", f"use one of {', '.join(TABLES)}") for u in unknown
    ]
    if isinstance(settings, dict):
        settings, found = parse_settings(settings)
        problems += found
    if problems:
        raise FleetDataError(problems, header=f"Invalid fleet data in {name}")
    fleet = Fleet(name=name, settings=settings, **_read_curves(tables))  # type: ignore[arg-type]
    if check:
        from planner.checks import check_fleet

        check_fleet(fleet)
    return fleet
