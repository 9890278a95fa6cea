"""The plan store: every plan recorded with the case, scenario and solver that produced it.

SQLAlchemy Core on an embedded SQLite file by default, or on PostgreSQL (psycopg 3) for a
team; the schema is migrated by Alembic on open. See :class:`PlanStore` and
:func:`diff_records`.
"""

from planner.lazy import lazy_exports

# Public name -> defining module, loaded on first use (planner.lazy): the CLI registers the
# store's commands without importing SQLAlchemy and Alembic.
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


__getattr__, __dir__ = lazy_exports("planner.store", _EXPORTS, globals())
