"""Trust policies bind their IAM users and roles by unique id (app.iam.trust).

Existing roles are bound here to the users and roles their trust policies name now,
by exactly the ARN written, as they were matched before. An ARN that names nobody now
is bound to nobody when it only allows (AWS would have refused to save it), and left
matching by its text where a Deny names it, which then keeps denying as it did.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import json
import os

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UNBOUND = "(deleted)"  # app.iam.trust.UNBOUND, copied: migrations do not import the app


def _aws_principals(document: str) -> list[tuple[str, str]]:
    """(Effect, ARN) of each "AWS" principal."""
    try:
        raw = json.loads(document)
        statements = raw["Statement"]
    except (ValueError, KeyError, TypeError):
        return []
    found: list[tuple[str, str]] = []
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict):
            continue
        principal = statement.get("Principal")
        aws = principal.get("AWS") if isinstance(principal, dict) else None
        effect = str(statement.get("Effect"))
        found.extend(
            (effect, p) for p in (aws if isinstance(aws, list) else [aws]) if isinstance(p, str)
        )
    return found


_UNIQUE_ID_BY_NAME = {
    "user": "SELECT user_id FROM users "
    "WHERE account_id = :account AND name = :name AND path = :path",
    "role": "SELECT role_id FROM roles "
    "WHERE account_id = :account AND name = :name AND path = :path",
}


def _named(arn: str) -> tuple[str, dict[str, str]] | None:
    """(kind, query parameters) for an IAM user's or role's ARN in this partition."""
    parts = arn.split(":", 5)
    partition = os.environ.get("FEDBRIDGE_PARTITION") or "aws"  # as app.config reads it
    if len(parts) != 6 or parts[:4] != ["arn", partition, "iam", ""]:
        return None
    kind, _, rest = parts[5].partition("/")
    if kind not in ("user", "role"):
        return None
    path, _, name = ("/" + rest).rpartition("/")
    return kind, {"account": parts[4], "name": name, "path": path + "/"}


def upgrade() -> None:
    op.add_column("roles", sa.Column("trust_bindings", sa.JSON(), nullable=True))
    conn = op.get_bind()
    roles = conn.execute(sa.text("SELECT pk, trust_policy FROM roles")).all()
    for pk, document in roles:
        principals = _aws_principals(document)
        denied = {arn for effect, arn in principals if effect == "Deny"}
        bindings = {}
        for _, arn in principals:
            named = _named(arn)
            if named is None or arn in bindings:
                continue
            kind, params = named
            found = conn.execute(sa.text(_UNIQUE_ID_BY_NAME[kind]), params).scalar()
            if found is not None:
                bindings[arn] = found
            elif arn not in denied:
                bindings[arn] = UNBOUND
        if bindings:
            update = sa.text("UPDATE roles SET trust_bindings = :bindings WHERE pk = :pk")
            conn.execute(
                update.bindparams(sa.bindparam("bindings", type_=sa.JSON())),
                {"bindings": bindings, "pk": pk},
            )


def downgrade() -> None:
    op.drop_column("roles", "trust_bindings")
