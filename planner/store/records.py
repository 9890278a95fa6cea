"""The plan store: record plans with the case they came from, list, read back and export them.

Each record holds the case (its content hash, its input tables as Parquet and its settings;
stored once per hash), the scenario (name and YAML), the solver settings and library versions,
the plan's summary and tables, a user-given name and note, which command recorded it and when.
Every write is one transaction: a record appears whole or not at all, and concurrent writers
(processes, dashboard users) each get their own id.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import platform as _platform
from dataclasses import dataclass
from importlib import metadata as _metadata
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
import yaml
from sqlalchemy.dialects import postgresql, sqlite

from planner.fleet import Fleet, fleet_from_frames
from planner.results import UNITS, Plan
from planner.scenarios import Scenario, apply_scenario, parse_scenarios, scenario_to_yaml
from planner.store import schema
from planner.store.engine import StoreError, create_store_engine, upgrade
from planner.store.frames import (
    case_hash,
    case_settings,
    case_tables,
    from_parquet_bytes,
    to_parquet_bytes,
)

_VERSIONED = ("fleet-planner", "pulp", "highspy", "pandas", "sqlalchemy", "alembic")


@dataclass(frozen=True)
class StoredPlan:
    """One record of the store: the plan and everything needed to reproduce and compare it."""

    id: int
    case_hash: str
    case_name: str
    name: str | None
    note: str | None
    scenario: str | None
    scenario_yaml: str | None
    command: str
    current_plan: str | None
    solver: dict
    versions: dict
    created_at: dt.datetime
    plan: Plan
    extra: dict[str, pd.DataFrame]

    @property
    def summary(self) -> dict:
        """Return the plan's summary as recorded."""
        return self.plan.summary


def library_versions() -> dict[str, str]:
    """Return the versions of Python and of the libraries that shape a plan."""
    out = {"python": _platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = _metadata.version(name)
        except _metadata.PackageNotFoundError:
            out[name] = "not installed"  # e.g. the planner run from a checkout
    return out


def _plain(value: object) -> object:
    """Return JSON-safe data: numpy scalars as Python numbers, NaN and infinity as None.

    PostgreSQL's json type rejects NaN, and a summary's gap can be NaN.
    """
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


class PlanStore:
    """A plan store at a database URL (see :func:`planner.store.engine.store_url`).

    Opening migrates the schema to the newest revision (pass ``revision`` to stop earlier,
    as the migration test does).
    """

    def __init__(self, store: str | Path | None = None, *, revision: str = "head"):
        self.engine = create_store_engine(store)
        try:
            self.revision = upgrade(self.engine, revision)
        except sa.exc.OperationalError as exc:
            self.engine.dispose()
            raise StoreError(
                f"cannot open the store {self.url}: {exc.orig}. Fix: check the "
                "path or URL and that the server is running"
            ) from None

    @property
    def url(self) -> str:
        """Return the store's URL without its password."""
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        """Close the store's connections."""
        self.engine.dispose()

    def __enter__(self) -> PlanStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _insert(self, table: sa.Table):
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    def record(
        self,
        fleet: Fleet,
        plan: Plan,
        *,
        scenario: Scenario | None = None,
        name: str | None = None,
        note: str | None = None,
        command: str = "plan",
        solver: dict | None = None,
        current_plan: str | None = None,
        extra: dict[str, pd.DataFrame] | None = None,
    ) -> int:
        """Record ``plan`` of ``fleet`` (the base case, before ``scenario``); return its id.

        Args:
            fleet: The case as loaded; the scenario is stored separately and reapplied on read.
            plan: The verified plan.
            scenario: The scenario the plan was made under, if any.
            name: A user-given name (several records may share one).
            note: A free-text note.
            command: What recorded it: plan, compare, sweep or dashboard.
            solver: The solver options asked for (None values mean "from settings").
            current_plan: The allocation a migration-aware plan was kept close to.
            extra: Further tables to keep with the plan (e.g. the moves of a stable plan).
        """
        digest = case_hash(fleet)
        now = dt.datetime.now(dt.UTC)
        options = fleet.settings.solver.model_dump(mode="json")
        options.update({k: v for k, v in (solver or {}).items() if v is not None})
        tables = {**plan.tables(), **(extra or {})}
        with self.engine.begin() as conn:
            # Concurrent writers may record the same case: the first insert wins, the others
            # find it there (the content is the same, since the key is its hash).
            conn.execute(
                self._insert(schema.cases)
                .values(
                    case_hash=digest, name=fleet.name, settings=case_settings(fleet), created_at=now
                )
                .on_conflict_do_nothing(index_elements=["case_hash"])
            )
            rows = [
                {"case_hash": digest, "table_name": t, "data": to_parquet_bytes(f)}
                for t, f in case_tables(fleet).items()
            ]
            if rows:
                conn.execute(
                    self._insert(schema.case_tables).on_conflict_do_nothing(
                        index_elements=["case_hash", "table_name"]
                    ),
                    rows,
                )
            plan_id = conn.execute(
                schema.plans.insert()
                .values(
                    case_hash=digest,
                    name=name,
                    note=note,
                    scenario=scenario.name if scenario is not None else None,
                    scenario_yaml=scenario_to_yaml(scenario) if scenario is not None else None,
                    solver=_plain(options),
                    versions=library_versions(),
                    summary=_plain(plan.summary),
                    created_at=now,
                    command=command,
                    current_plan=current_plan,
                )
                .returning(schema.plans.c.id)
            ).scalar_one()
            conn.execute(
                schema.plan_tables.insert(),
                [
                    {"plan_id": plan_id, "table_name": t, "data": to_parquet_bytes(f)}
                    for t, f in tables.items()
                ],
            )
        return int(plan_id)

    def history(self, case_hash: str | None = None, name: str | None = None) -> pd.DataFrame:
        """Return one row per record, oldest first, optionally filtered.

        Args:
            case_hash: Keep records of this case; a prefix of the hash is enough.
            name: Keep records with exactly this name.

        Columns: id, created_at, name, case, case_hash, scenario, command, status,
        total_cost_usd, gap, servers_purchased, peak_power_kw, note.
        """
        p, c = schema.plans, schema.cases
        query = (
            sa.select(
                p.c.id,
                p.c.created_at,
                p.c.name,
                c.c.name.label("case"),
                p.c.case_hash,
                p.c.scenario,
                p.c.command,
                p.c.summary,
                p.c.note,
            )
            .join(c, c.c.case_hash == p.c.case_hash)
            .order_by(p.c.id)
        )
        if case_hash:
            query = query.where(p.c.case_hash.startswith(case_hash.lower(), autoescape=True))
        if name is not None:
            query = query.where(p.c.name == name)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        keys = ("status", "total_cost_usd", "gap", "servers_purchased", "peak_power_kw")
        records = [
            {
                "id": r["id"],
                "created_at": _utc(r["created_at"]),
                "name": r["name"],
                "case": r["case"],
                "case_hash": r["case_hash"],
                "scenario": r["scenario"],
                "command": r["command"],
                **{k: (r["summary"] or {}).get(k) for k in keys},
                "note": r["note"],
            }
            for r in rows
        ]
        columns = [
            "id",
            "created_at",
            "name",
            "case",
            "case_hash",
            "scenario",
            "command",
            *keys,
            "note",
        ]
        return pd.DataFrame(records, columns=columns)

    def get(self, plan_id: int) -> StoredPlan:
        """Return record ``plan_id`` with its plan tables.

        Raises:
            StoreError: No record has this id.
        """
        p, c = schema.plans, schema.cases
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    sa.select(p, c.c.name.label("case_name"))
                    .join(c, c.c.case_hash == p.c.case_hash)
                    .where(p.c.id == int(plan_id))
                )
                .mappings()
                .first()
            )
            if row is None:
                raise StoreError(
                    f"the store {self.url} has no plan {plan_id}. Fix: pick an id "
                    "that `python -m planner history` lists"
                )
            tables = {
                t.table_name: from_parquet_bytes(t.data)
                for t in conn.execute(
                    sa.select(schema.plan_tables).where(schema.plan_tables.c.plan_id == row["id"])
                )
            }
        plan = _plan_from_tables(tables, dict(row["summary"]))
        extra = {k: v for k, v in tables.items() if k not in (*Plan.TABLES, "shortfalls")}
        return StoredPlan(
            id=row["id"],
            case_hash=row["case_hash"],
            case_name=row["case_name"],
            name=row["name"],
            note=row["note"],
            scenario=row["scenario"],
            scenario_yaml=row["scenario_yaml"],
            command=row["command"],
            current_plan=row["current_plan"],
            solver=dict(row["solver"]),
            versions=dict(row["versions"]),
            created_at=_utc(row["created_at"]),
            plan=plan,
            extra=extra,
        )

    def case(self, digest: str) -> Fleet:
        """Return the stored case with content hash ``digest``, as a validated fleet."""
        with self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(schema.cases).where(schema.cases.c.case_hash == digest))
                .mappings()
                .first()
            )
            if row is None:
                raise StoreError(f"the store {self.url} has no case {digest}")
            frames = {
                t.table_name: from_parquet_bytes(t.data)
                for t in conn.execute(
                    sa.select(schema.case_tables).where(schema.case_tables.c.case_hash == digest)
                )
            }
        return fleet_from_frames(row["name"], dict(row["settings"]), **frames)

    def planned_fleet(self, record: StoredPlan) -> Fleet:
        """Return the fleet record's plan was made for: its case with its scenario applied."""
        fleet = self.case(record.case_hash)
        scenario = stored_scenario(record)
        return apply_scenario(fleet, scenario) if scenario is not None else fleet

    def export(
        self, plan_id: int, out_dir: str | Path, formats: tuple[str, ...] = ("csv",)
    ) -> Path:
        """Write record ``plan_id`` as a plan folder, exactly as ``plan --out`` writes one.

        The folder holds the plan's tables, ``summary.json`` and ``report.md`` (and, for a
        migration-aware plan, ``moves.csv``), so ``verify`` checks it like any plan folder.
        """
        from planner.output import write_plan

        record = self.get(plan_id)
        fleet = self.planned_fleet(record)
        return write_plan(record.plan, out_dir, fleet, formats=formats, extra=record.extra)


def stored_scenario(record: StoredPlan) -> Scenario | None:
    """Return the scenario a record was planned under (None for the case itself)."""
    if not record.scenario_yaml:
        return None
    scenarios = parse_scenarios(yaml.safe_load(record.scenario_yaml))
    return scenarios.get(record.scenario)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """Return a timestamp as aware UTC (SQLite gives naive datetimes back)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


def _plan_from_tables(tables: dict[str, pd.DataFrame], summary: dict) -> Plan:
    """Return a :class:`Plan` from its stored tables, units attached as on a fresh plan."""
    plan = Plan(
        **{name: tables[name] for name in Plan.TABLES},
        summary=summary,
        shortfalls=tables.get("shortfalls", pd.DataFrame()),
    )
    for name, units in UNITS.items():
        getattr(plan, name).attrs["unit"] = units
    return plan


def open_store(store: str | Path | None = None) -> PlanStore:
    """Open (and migrate) the store at ``store``: a URL, a path, or None for the default file."""
    return PlanStore(store)


def to_json(record: StoredPlan) -> str:
    """Return a record's metadata and summary as JSON text (``show --json``)."""
    data = {
        "id": record.id,
        "name": record.name,
        "note": record.note,
        "case": record.case_name,
        "case_hash": record.case_hash,
        "scenario": record.scenario,
        "command": record.command,
        "current_plan": record.current_plan,
        "created_at": record.created_at.isoformat(),
        "solver": record.solver,
        "versions": record.versions,
        "summary": record.summary,
    }
    return json.dumps(_plain(data), indent=2)
