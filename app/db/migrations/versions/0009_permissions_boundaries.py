"""Permissions boundaries: the managed policy that bounds a user or role, if any.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("users", "roles"):
        op.add_column(table, sa.Column("boundary_pk", sa.Integer(), nullable=True))


def downgrade() -> None:
    for table in ("users", "roles"):
        op.drop_column(table, "boundary_pk")
