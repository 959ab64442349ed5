"""A counter every configuration write bumps, so workers can cache configuration.

Read-only calls (every STS call) cache roles, providers, policies and keys per
process (app.db.config_cache) and check this one row per call instead of
querying each. Triggers bump it, so no writer can forget: the API, the CLI, a
second host, a hand-run UPDATE. On PostgreSQL the triggers are deferred to
commit, so the counter's row lock is always the last a transaction takes (no
deadlock with the account lock of count rules) and is held only while committing.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: What read-only calls may cache. Not here: audit_events, one_time_uses,
#: web_sessions and mfa_devices, which hot paths write and nobody caches.
CONFIG_TABLES = (
    "accounts",
    "users",
    "groups",
    "group_members",
    "roles",
    "managed_policies",
    "policy_versions",
    "policy_attachments",
    "inline_policies",
    "tags",
    "access_keys",
    "token_keys",
    "saml_providers",
    "oidc_providers",
    "sp_keys",
)
_BUMP = "UPDATE config_generation SET value = value + 1 WHERE id = 1"


def upgrade() -> None:
    op.create_table(
        "config_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_generation")),
    )
    op.execute("INSERT INTO config_generation (id, value) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION fedbridge_bump_config_generation() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN {_BUMP}; RETURN NULL; END $$"
        )
        for table in CONFIG_TABLES:
            op.execute(
                f"CREATE CONSTRAINT TRIGGER {table}_bump_config_generation "
                f"AFTER INSERT OR UPDATE OR DELETE ON {table} "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                "EXECUTE FUNCTION fedbridge_bump_config_generation()"
            )
        return
    for table in CONFIG_TABLES:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_{event.lower()}_bump_config_generation "
                f"AFTER {event} ON {table} BEGIN {_BUMP}; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in CONFIG_TABLES:
            op.execute(f"DROP TRIGGER {table}_bump_config_generation ON {table}")
        op.execute("DROP FUNCTION fedbridge_bump_config_generation()")
    else:
        for table in CONFIG_TABLES:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER {table}_{event}_bump_config_generation")
    op.drop_table("config_generation")
