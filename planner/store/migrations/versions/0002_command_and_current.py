"""Which command recorded a plan, the allocation it was kept close to, and a name index.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add plans.command (plans recorded before it came from ``plan``) and current_plan."""
    with op.batch_alter_table("plans") as batch:
        batch.add_column(sa.Column("command", sa.String(32), nullable=False, server_default="plan"))
        batch.add_column(sa.Column("current_plan", sa.String(500)))
    op.create_index("ix_plans_name", "plans", ["name"])


def downgrade() -> None:
    """Drop the index and the two columns."""
    op.drop_index("ix_plans_name", "plans")
    with op.batch_alter_table("plans") as batch:
        batch.drop_column("current_plan")
        batch.drop_column("command")
