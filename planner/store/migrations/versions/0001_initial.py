"""The first store schema: cases with their tables, plans with their tables.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create cases, case_tables, plans and plan_tables."""
    op.create_table(
        "cases",
        sa.Column("case_hash", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "case_tables",
        sa.Column("case_hash", sa.String(64), sa.ForeignKey("cases.case_hash"), primary_key=True),
        sa.Column("table_name", sa.String(64), primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "plans",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_hash", sa.String(64), sa.ForeignKey("cases.case_hash"), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("note", sa.Text),
        sa.Column("scenario", sa.String(200)),
        sa.Column("scenario_yaml", sa.Text),
        sa.Column("solver", sa.JSON, nullable=False),
        sa.Column("versions", sa.JSON, nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_plans_case_hash", "plans", ["case_hash"])
    op.create_table(
        "plan_tables",
        sa.Column("plan_id", sa.Integer, sa.ForeignKey("plans.id"), primary_key=True),
        sa.Column("table_name", sa.String(64), primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    """Drop every table."""
    for name in ("plan_tables", "plans", "case_tables", "cases"):
        op.drop_table(name)
