"""Virtual MFA devices.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mfa_devices",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("name_key", sa.String(length=512), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("seed_sealed", sa.Text(), nullable=False),
        sa.Column("user_pk", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(length=1024), nullable=True),
        sa.Column("enabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_step", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_mfa_devices_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["user_pk"], ["users.pk"], name=op.f("fk_mfa_devices_user_pk_users")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_mfa_devices")),
        sa.UniqueConstraint("account_id", "name_key", name=op.f("uq_mfa_devices_account_id")),
    )
    op.create_index(op.f("ix_mfa_devices_account_id"), "mfa_devices", ["account_id"])
    op.create_index(op.f("ix_mfa_devices_user_pk"), "mfa_devices", ["user_pk"])
    op.create_index(op.f("ix_mfa_devices_subject"), "mfa_devices", ["subject"])


def downgrade() -> None:
    op.drop_table("mfa_devices")
