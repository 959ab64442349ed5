"""Parsing and validating policy documents: strict, so what is stored can be evaluated.

Three kinds share the grammar. Identity and session policies name Resources
and never a Principal; trust policies (a role's AssumeRolePolicyDocument) name
a Principal and never a Resource. Anything else is refused with
MalformedPolicyDocument and AWS's wording where AWS has one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from typing import Literal

from app.errors import MalformedPolicyDocumentError
from app.policy.conditions import known_operator

PolicyKind = Literal["identity", "trust", "session"]

VERSIONS = ("2012-10-17", "2008-10-17")
_STATEMENT_FIELDS = {
    "Sid",
    "Effect",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Principal",
    "NotPrincipal",
    "Condition",
}
_PRINCIPAL_KINDS = ("AWS", "Federated", "Service", "CanonicalUser")
_ACTION = re.compile(r"\*|[A-Za-z0-9-]+:[A-Za-z0-9*?_-]+")
_SID = re.compile(r"[A-Za-z0-9]*")
_ACCOUNT = re.compile(r"[0-9]{12}")
#: What an "AWS" principal ARN may name: an account's root, a user, a role, a role
#: session or a federated user. No wildcards: AWS "cannot use a wildcard to match part of
#: a principal name or ARN", and one that matched nobody would leave a Deny inert.
_AWS_PRINCIPAL = re.compile(
    r"arn:[a-z][a-z0-9-]*:(?:iam::[0-9]{12}:(?:root|(?:user|role)/[^*?\s]+)"
    r"|sts::[0-9]{12}:(?:assumed-role/[^/*?\s]+/[^*?\s]+|federated-user/[^*?\s]+))"
)


@dataclass(frozen=True)
class Condition:
    operator: str
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Statement:
    effect: str  # "Allow" | "Deny"
    sid: str | None = None
    actions: tuple[str, ...] | None = None
    not_actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] | None = None
    not_resources: tuple[str, ...] | None = None
    #: kind -> identifiers; the bare "*" principal is {"*": ("*",)}.
    principals: dict[str, tuple[str, ...]] | None = None
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class PolicyDocument:
    version: str
    statements: tuple[Statement, ...]
    id: str | None = None


def _malformed(message: str) -> MalformedPolicyDocumentError:
    return MalformedPolicyDocumentError(message, reason="policy.malformed")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _malformed(f"Duplicate key {key!r} in policy.")
        result[key] = value
    return result


def _not_json(constant: str) -> None:
    raise ValueError(constant)  # NaN and Infinity: Python's json reads them, JSON has none


def parse_policy(text: str, kind: PolicyKind = "identity") -> PolicyDocument:
    if not isinstance(text, str) or not text.strip():
        raise _malformed("Syntax errors in policy.")
    try:
        raw = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_not_json)
    except MalformedPolicyDocumentError:
        raise
    except (ValueError, RecursionError):
        raise _malformed("Syntax errors in policy.") from None
    if not isinstance(raw, dict):
        raise _malformed("Syntax errors in policy.")
    unknown = set(raw) - {"Version", "Id", "Statement"}
    if unknown:
        raise _malformed(f"Syntax errors in policy. Unknown field {sorted(unknown)[0]}")
    version = raw.get("Version", "2008-10-17")
    if version not in VERSIONS:
        raise _malformed("The policy must contain a valid version string")
    policy_id = raw.get("Id")
    if policy_id is not None and not isinstance(policy_id, str):
        raise _malformed("Syntax errors in policy.")
    if "Statement" not in raw:
        raise _malformed("Syntax errors in policy.")
    body = raw["Statement"]
    items = body if isinstance(body, list) else [body]
    if not items:
        raise _malformed("Syntax errors in policy.")
    statements = tuple(_statement(item, kind) for item in items)
    sids = [s.sid for s in statements if s.sid]
    if len(sids) != len(set(sids)):
        raise _malformed("Statement IDs (SID) in a single policy must be unique.")
    return PolicyDocument(version=version, statements=statements, id=policy_id)


def _statement(raw: object, kind: PolicyKind) -> Statement:
    if not isinstance(raw, dict):
        raise _malformed("Syntax errors in policy.")
    unknown = set(raw) - _STATEMENT_FIELDS
    if unknown:
        raise _malformed(f"Syntax errors in policy. Unknown field {sorted(unknown)[0]}")
    sid = raw.get("Sid")
    if sid is not None and (not isinstance(sid, str) or not _SID.fullmatch(sid)):
        raise _malformed("Statement IDs (SID) must be alpha-numeric.")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise _malformed("Missing required field Effect" if effect is None else "Invalid effect")
    actions, not_actions = _either(
        raw, "Action", "NotAction", "Policy statement must contain actions."
    )
    for action in actions or not_actions or ():
        if not _ACTION.fullmatch(action):
            raise _malformed(
                f"Actions/Conditions must be prefaced by a vendor, e.g., iam, sts. "
                f"Action {action!r} is invalid."
            )
    resources = not_resources = None
    principals = None
    if kind == "trust":
        if "Resource" in raw or "NotResource" in raw:
            raise _malformed("Has prohibited field Resource")
        # AWS allows NotPrincipal in no trust policy: with Allow it would trust everyone
        # not listed, in any account.
        if "NotPrincipal" in raw:
            raise _malformed("Has prohibited field NotPrincipal")
        if "Principal" not in raw:
            raise _malformed("Missing required field Principal")
        principals = _principal(raw["Principal"])
    else:
        if "Principal" in raw or "NotPrincipal" in raw:
            raise _malformed("Policy document should not specify a principal.")
        resources, not_resources = _either(
            raw, "Resource", "NotResource", "Policy statement must contain resources."
        )
        for resource in resources or not_resources or ():
            if resource != "*" and not (resource.startswith("arn:") and resource.count(":") >= 5):
                raise _malformed(f'Resource {resource} must be in ARN format or "*".')
    return Statement(
        effect=effect,
        sid=sid,
        actions=actions,
        not_actions=not_actions,
        resources=resources,
        not_resources=not_resources,
        principals=principals,
        conditions=_conditions(raw.get("Condition")),
    )


def _strings(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, str) and v for v in items):
        raise _malformed("Syntax errors in policy.")
    return tuple(items)


def _either(
    raw: dict[str, Any], name: str, negated: str, missing: str
) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    if name in raw and negated in raw:
        raise _malformed("Syntax errors in policy.")
    if name in raw:
        return _strings(raw[name]), None
    if negated in raw:
        return None, _strings(raw[negated])
    raise _malformed(missing)


def _principal(raw: object) -> dict[str, tuple[str, ...]]:
    if raw == "*":
        return {"*": ("*",)}
    if not isinstance(raw, dict) or not raw:
        raise _malformed("Invalid principal in policy")
    result: dict[str, tuple[str, ...]] = {}
    for kind, value in raw.items():
        if kind not in _PRINCIPAL_KINDS:
            raise _malformed(f"Invalid principal in policy: {kind!r}")
        ids = _strings(value)
        for ident in ids:
            if kind == "AWS" and not (
                ident == "*" or _ACCOUNT.fullmatch(ident) or _AWS_PRINCIPAL.fullmatch(ident)
            ):
                raise _malformed(f'Invalid principal in policy: "AWS":"{ident}"')
        result[kind] = ids
    return result


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return value
    raise _malformed("Syntax errors in policy.")


def _conditions(raw: object) -> tuple[Condition, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise _malformed("Syntax errors in policy.")
    result = []
    for operator, block in raw.items():
        if not known_operator(operator):
            raise _malformed(f"Invalid Condition type : {operator}.")
        if not isinstance(block, dict) or not block:
            raise _malformed("Syntax errors in policy.")
        for key, values in block.items():
            if not key or len(key) > 256:
                raise _malformed("Syntax errors in policy.")
            items = values if isinstance(values, list) else [values]
            result.append(Condition(operator, key, tuple(_scalar(v) for v in items)))
    return tuple(result)
