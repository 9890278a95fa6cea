"""The store's tables as SQLAlchemy Core objects, at the newest migration.

The tables are created and changed only by the Alembic migrations in
``planner/store/migrations/versions``; this module describes the result for queries. A test
pins the two together (a store migrated to head has exactly these columns).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

cases = sa.Table(
    "cases",
    metadata,
    sa.Column("case_hash", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("settings", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

case_tables = sa.Table(
    "case_tables",
    metadata,
    sa.Column("case_hash", sa.String(64), sa.ForeignKey("cases.case_hash"), primary_key=True),
    sa.Column("table_name", sa.String(64), primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

plans = sa.Table(
    "plans",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "case_hash", sa.String(64), sa.ForeignKey("cases.case_hash"), nullable=False, index=True
    ),
    sa.Column("name", sa.String(200), index=True),
    sa.Column("note", sa.Text),
    sa.Column("scenario", sa.String(200)),
    sa.Column("scenario_yaml", sa.Text),
    sa.Column("solver", sa.JSON, nullable=False),
    sa.Column("versions", sa.JSON, nullable=False),
    sa.Column("summary", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # added by revision 0002
    sa.Column("command", sa.String(32), nullable=False, server_default="plan"),
    sa.Column("current_plan", sa.String(500)),
)

plan_tables = sa.Table(
    "plan_tables",
    metadata,
    sa.Column("plan_id", sa.Integer, sa.ForeignKey("plans.id"), primary_key=True),
    sa.Column("table_name", sa.String(64), primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)
