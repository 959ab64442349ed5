"""Identity providers (SAML, OIDC), the SP's keys, and one-time-use records.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _at(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "saml_providers",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("name_key", sa.String(length=128), nullable=False),
        sa.Column("entity_id", sa.String(length=1024), nullable=False),
        sa.Column("metadata_document", sa.Text(), nullable=False),
        _at("valid_until", nullable=True),
        _at("created_at"),
        _at("updated_at"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_saml_providers_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_saml_providers")),
        sa.UniqueConstraint("account_id", "name_key", name=op.f("uq_saml_providers_account_id")),
    )
    op.create_index(op.f("ix_saml_providers_account_id"), "saml_providers", ["account_id"])
    op.create_index(op.f("ix_saml_providers_entity_id"), "saml_providers", ["entity_id"])
    op.create_table(
        "oidc_providers",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("issuer", sa.String(length=1024), nullable=False),
        sa.Column("url_key", sa.String(length=1024), nullable=False),
        sa.Column("client_ids", sa.JSON(), nullable=False),
        sa.Column("thumbprints", sa.JSON(), nullable=False),
        sa.Column("browser_client_id", sa.String(length=255), nullable=True),
        sa.Column("browser_client_secret_sealed", sa.Text(), nullable=True),
        _at("created_at"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_oidc_providers_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_oidc_providers")),
        sa.UniqueConstraint("account_id", "url_key", name=op.f("uq_oidc_providers_account_id")),
    )
    op.create_index(op.f("ix_oidc_providers_account_id"), "oidc_providers", ["account_id"])
    op.create_index(op.f("ix_oidc_providers_url_key"), "oidc_providers", ["url_key"])
    op.create_table(
        "sp_keys",
        sa.Column("kid", sa.String(length=16), nullable=False),
        sa.Column("private_key_sealed", sa.Text(), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        _at("created_at"),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_sp_keys")),
    )
    op.create_index(op.f("ix_sp_keys_created_at"), "sp_keys", ["created_at"])
    op.create_table(
        "one_time_uses",
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        _at("expires_at"),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_one_time_uses")),
    )
    op.create_index(op.f("ix_one_time_uses_expires_at"), "one_time_uses", ["expires_at"])


def downgrade() -> None:
    op.drop_table("one_time_uses")
    op.drop_table("sp_keys")
    op.drop_table("oidc_providers")
    op.drop_table("saml_providers")
