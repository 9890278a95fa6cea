"""The plan store: every plan recorded with the case, scenario and solver that produced it.

SQLAlchemy Core on an embedded SQLite file by default, or on PostgreSQL (psycopg 3) for a
team; the schema is migrated by Alembic on open. See :class:`PlanStore` and
:func:`diff_records`.
"""

from planner.store.diff import diff_records
from planner.store.engine import DEFAULT_STORE, StoreError, store_url
from planner.store.frames import case_hash
from planner.store.planfiles import PlanFolderError, read_plan_folder
from planner.store.records import PlanStore, StoredPlan, open_store

__all__ = [
    "DEFAULT_STORE",
    "PlanFolderError",
    "PlanStore",
    "StoreError",
    "StoredPlan",
    "case_hash",
    "diff_records",
    "open_store",
    "read_plan_folder",
    "store_url",
]
