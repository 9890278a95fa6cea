"""Alembic environment for developers' ``alembic`` commands (e.g. ``alembic revision``).

The planner itself never runs this file: :func:`planner.store.engine.upgrade` applies the
revisions programmatically on open. Use from the repository root with::

    alembic -x url=sqlite:///fleet_plans.db -c planner/store/migrations/alembic.ini upgrade head
"""

from alembic import context
from sqlalchemy import create_engine

from planner.store.schema import metadata

url = context.get_x_argument(as_dictionary=True).get("url", "sqlite:///fleet_plans.db")
with create_engine(url).connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
