"""When each long-term access key was last used (GetAccessKeyLastUsed).

Its own table, outside the configuration tables whose writes reset every worker's
cache (0006): it is written as keys are used.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_key_uses",
        sa.Column("access_key_id", sa.String(length=32), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service", sa.String(length=32), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("access_key_id", name=op.f("pk_access_key_uses")),
    )


def downgrade() -> None:
    op.drop_table("access_key_uses")
