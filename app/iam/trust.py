"""A trust policy's IAM users and roles are bound to the entities, not to their names.

AWS turns each user or role ARN of a trust policy into that entity's unique id when the
policy is saved: a principal that does not exist is refused ("Invalid principal in
policy"); one deleted later matches nobody, not even a new user or role of the same
name, and the policy then shows its unique id; one renamed still matches and shows its
new ARN. fedbridge keeps the document as written and, beside it, each bound ARN's
unique id (`Role.trust_bindings`); evaluation and display go through the ids.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import replace
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.arn import Arn
from app.arn import iam_arn
from app.arn import is_account_id
from app.db.models import Role
from app.db.models import User
from app.errors import MalformedPolicyDocumentError
from app.iam import names
from app.iam.principal import Principal
from app.policy import PolicyDocument
from app.policy import parse_policy

#: What a bound principal whose entity was gone before the binding (a role stored by
#: a version of fedbridge that did not bind) is replaced with: it matches nobody.
UNBOUND = "(deleted)"

_KINDS: dict[str, Any] = {"user": User, "role": Role}


def _entity_arn(partition: str, kind: str, entity: Any) -> str:
    return iam_arn(partition, entity.account_id, kind, entity.path, entity.name)


def _unique_id(kind: str, entity: Any) -> str:
    return entity.user_id if kind == "user" else entity.role_id


def _aws_principals(document: str) -> list[str]:
    """The "AWS" principals of a trust policy already validated by parse_policy."""
    found: list[str] = []
    for statement in parse_policy(document, "trust").statements:
        found.extend((statement.principals or {}).get("AWS", ()))
    return found


def _named(principal: str) -> tuple[Arn, str, str] | None:
    """(ARN, kind, name) when `principal` is an IAM user's or role's ARN."""
    arn = Arn.parse(principal)
    if arn is None or arn.service != "iam":
        return None
    kind, _, rest = arn.resource.partition("/")
    if kind not in _KINDS:
        return None
    return arn, kind, rest.rpartition("/")[2]


def bind(session: Session, partition: str, document: str) -> dict[str, str]:
    """Each IAM user or role ARN of the trust policy, mapped to its entity's unique id.
    Refuses, as AWS does, an ARN that names no existing user or role."""
    bindings: dict[str, str] = {}
    for principal in _aws_principals(document):
        named = _named(principal)
        if named is None or principal in bindings:
            continue
        arn, kind, name = named
        entity = None
        if is_account_id(arn.account) and 0 < len(name) <= 128 and names.valid_name(name):
            model = _KINDS[kind]
            entity = session.scalar(
                select(model).where(model.account_id == arn.account, model.name_key == name.lower())
            )
        # Exactly its ARN (partition, no region, path, the name's letter case): in a
        # Principal the name is case-sensitive (AWS), and a policy must not come to trust
        # more than the text it was checked as.
        if entity is None or _entity_arn(partition, kind, entity) != principal:
            raise MalformedPolicyDocumentError(
                f'Invalid principal in policy: "AWS":"{names._shown(principal)}"'
            )
        bindings[principal] = _unique_id(kind, entity)
    return bindings


@lru_cache(maxsize=4096)
def _bound(document: str, bindings: tuple[tuple[str, str], ...]) -> PolicyDocument:
    policy = parse_policy(document, "trust")
    if not bindings:
        return policy
    ids = dict(bindings)
    statements = []
    for statement in policy.statements:
        principals = statement.principals
        if principals and "AWS" in principals:
            aws = tuple(ids.get(p, p) for p in principals["AWS"])
            principals = {**principals, "AWS": aws}
        statements.append(replace(statement, principals=principals))
    return replace(policy, statements=tuple(statements))


def bound_policy(role: Role) -> PolicyDocument:
    """The role's trust policy as evaluated: bound ARNs replaced by their unique ids."""
    bindings = role.trust_bindings or {}
    return _bound(role.trust_policy, tuple(sorted(bindings.items())))


def caller_unique_id(caller: Principal) -> str | None:
    """The unique id a bound principal matches: the user's, or the role's behind a role
    session (AWS's aws:userid is "AROA…:session")."""
    if caller.kind in ("user", "assumed-role"):
        return caller.user_id.split(":", 1)[0]
    return None


def shown(session: Session, partition: str, role: Role) -> str:
    """The trust policy as GetRole shows it: a bound principal renamed since shows its
    new ARN, one deleted its unique id, as AWS does. Unchanged, the text as written."""
    bindings: Mapping[str, str] = role.trust_bindings or {}
    now: dict[str, str] = {}
    for principal, unique_id in bindings.items():
        named = _named(principal)
        if named is None or unique_id == UNBOUND:
            continue
        kind = named[1]
        model = _KINDS[kind]
        column = model.user_id if kind == "user" else model.role_id
        entity = session.scalar(select(model).where(column == unique_id))
        current = _entity_arn(partition, kind, entity) if entity else unique_id
        if current != principal:
            now[principal] = current
    if not now:
        return role.trust_policy
    # Rewritten through json, numbers (a condition's 1e400, 1.50) stay as written: each
    # parses to a placeholder string that its numeral replaces afterwards.
    numerals: list[str] = []
    mark = f"\x00{secrets.token_hex(8)}:"

    def keep(numeral: str) -> str:
        numerals.append(numeral)
        return f"{mark}{len(numerals) - 1}"

    raw = json.loads(role.trust_policy, parse_float=keep, parse_int=keep)
    statements = raw["Statement"] if isinstance(raw["Statement"], list) else [raw["Statement"]]
    for statement in statements:
        principal = statement.get("Principal")
        if isinstance(principal, dict) and "AWS" in principal:
            aws = principal["AWS"]
            principal["AWS"] = (
                [now.get(p, p) for p in aws] if isinstance(aws, list) else now.get(aws, aws)
            )
    placeholder = re.escape(json.dumps(mark)[1:-1]) + r"(\d+)"
    return re.sub(f'"{placeholder}"', lambda m: numerals[int(m[1])], json.dumps(raw))
