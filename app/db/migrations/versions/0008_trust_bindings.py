"""Trust policies bind their IAM users and roles by unique id (app.iam.trust).

Existing roles are bound here to the users and roles their trust policies name now;
a name that matches nothing is bound to nobody, as AWS would have refused it.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UNBOUND = "(deleted)"  # app.iam.trust.UNBOUND, copied: migrations do not import the app


def _aws_principals(document: str) -> list[str]:
    try:
        raw = json.loads(document)
        statements = raw["Statement"]
    except (ValueError, KeyError, TypeError):
        return []
    found: list[str] = []
    for statement in statements if isinstance(statements, list) else [statements]:
        principal = statement.get("Principal") if isinstance(statement, dict) else None
        aws = principal.get("AWS") if isinstance(principal, dict) else None
        found.extend(p for p in (aws if isinstance(aws, list) else [aws]) if isinstance(p, str))
    return found


_UNIQUE_ID_BY_NAME = {
    "user": "SELECT user_id FROM users "
    "WHERE account_id = :account AND name_key = :name AND path = :path",
    "role": "SELECT role_id FROM roles "
    "WHERE account_id = :account AND name_key = :name AND path = :path",
}


def _binding(conn: Any, arn: str) -> str | None:
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iam":
        return None
    kind, _, rest = parts[5].partition("/")
    if kind not in ("user", "role"):
        return None
    path, _, name = ("/" + rest).rpartition("/")
    found = conn.execute(
        sa.text(_UNIQUE_ID_BY_NAME[kind]),
        {"account": parts[4], "name": name.lower(), "path": path + "/"},
    ).scalar()
    return found or UNBOUND


def upgrade() -> None:
    op.add_column("roles", sa.Column("trust_bindings", sa.JSON(), nullable=True))
    conn = op.get_bind()
    roles = conn.execute(sa.text("SELECT pk, trust_policy FROM roles")).all()
    for pk, document in roles:
        bindings = {}
        for arn in _aws_principals(document):
            bound = _binding(conn, arn)
            if bound is not None:
                bindings[arn] = bound
        if bindings:
            update = sa.text("UPDATE roles SET trust_bindings = :bindings WHERE pk = :pk")
            conn.execute(
                update.bindparams(sa.bindparam("bindings", type_=sa.JSON())),
                {"bindings": bindings, "pk": pk},
            )


def downgrade() -> None:
    op.drop_column("roles", "trust_bindings")
