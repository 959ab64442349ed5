"""When each long-term access key was last used (GetAccessKeyLastUsed).

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
    op.add_column("access_keys", sa.Column("last_used_at", sa.DateTime(timezone=True)))
    op.add_column("access_keys", sa.Column("last_used_service", sa.String(length=32)))
    op.add_column("access_keys", sa.Column("last_used_region", sa.String(length=32)))


def downgrade() -> None:
    for column in ("last_used_region", "last_used_service", "last_used_at"):
        op.drop_column("access_keys", column)
