"""Rate-limit counters in the database, for workers and hosts that share no Redis.

Counts live for a second, so they skip what durability costs: unlogged on
PostgreSQL (no WAL; a crash empties the table), and without a rowid on SQLite (one
b-tree to write, not a table and its key's index).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "rate_limit_hits",
        sa.Column("second", sa.BigInteger(), nullable=False),
        sa.Column("key_digest", sa.String(length=64), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("second", "key_digest", name=op.f("pk_rate_limit_hits")),
        prefixes=["UNLOGGED"] if postgresql else [],
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("rate_limit_hits")
