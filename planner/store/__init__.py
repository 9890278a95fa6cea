"""The plan store: every plan recorded with the case, scenario and solver that produced it.

SQLAlchemy Core on an embedded SQLite file by default, or on PostgreSQL (psycopg 3) for a
team; the schema is migrated by Alembic on open. See :class:`PlanStore` and
:func:`diff_records`.
"""

import importlib as _importlib

# Public name -> defining module, loaded on first use (PEP 562): the CLI registers the store's
# commands without importing SQLAlchemy and Alembic, so `--help` and `check` start fast.
_EXPORTS: dict[str, str] = {
    "DEFAULT_STORE": "planner.store.location",
    "PlanFolderError": "planner.store.planfiles",
    "PlanStore": "planner.store.records",
    "StoreError": "planner.store.engine",
    "StoredPlan": "planner.store.records",
    "case_hash": "planner.store.frames",
    "diff_records": "planner.store.diff",
    "open_store": "planner.store.records",
    "read_plan_folder": "planner.store.planfiles",
    "store_url": "planner.store.engine",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    """Import the module that defines ``name`` on first use, and cache the value."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'planner.store' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
