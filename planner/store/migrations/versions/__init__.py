"""Alembic revisions of the plan store, oldest first (0001, 0002, ...)."""
