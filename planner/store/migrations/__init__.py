"""Alembic migrations of the plan store, applied by :func:`planner.store.engine.upgrade`."""
