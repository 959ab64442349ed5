"""STS session token keys.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "token_keys",
        sa.Column("kid", sa.String(length=16), nullable=False),
        sa.Column("key_sealed", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_token_keys")),
    )
    with op.batch_alter_table("token_keys") as batch_op:
        batch_op.create_index(batch_op.f("ix_token_keys_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_table("token_keys")
