"""The decision: explicit Deny wins, then an Allow is needed, else the default deny.

Identity policies (the principal's own, its groups', managed and inline) are
one pool. A permissions boundary, when the user or role has one, and session
policies, when a session has them, are further pools that must also allow: the
caller gets the intersection, and a Deny in any pool denies. Trust policies are
evaluated on their own against the caller's principal identities.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from collections.abc import Sequence

from app.policy.conditions import condition_holds
from app.policy.context import RequestContext
from app.policy.document import PolicyDocument
from app.policy.document import Statement
from app.policy.patterns import wildcard_match


class Decision(enum.Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit_deny"
    IMPLICIT_DENY = "implicit_deny"


def _any_match(
    patterns: Sequence[str], value: str, ctx: RequestContext | None, ignore_case: bool
) -> bool:
    return any(wildcard_match(p, value, ctx, ignore_case=ignore_case) for p in patterns)


def _principal_matches(principals: dict[str, tuple[str, ...]], ctx: RequestContext) -> bool:
    if "*" in principals:
        return True
    for kind, listed in principals.items():
        caller = ctx.principals.get(kind, frozenset())
        if not caller:
            continue
        for ident in listed:
            if ident == "*":
                return True
            if kind == "AWS" and ident.isdigit():
                ident = f"arn:{ctx.partition}:iam::{ident}:root"
            if ident in caller:
                return True
    return False


def statement_matches(statement: Statement, ctx: RequestContext, *, variables: bool = True) -> bool:
    """Does this statement apply to the request (action, resource, principal, conditions)?"""
    vars_ctx = ctx if variables else None
    # Action names are case-insensitive; resources are not.
    if statement.actions is not None:
        if not _any_match(statement.actions, ctx.action, None, True):
            return False
    elif statement.not_actions is not None and _any_match(
        statement.not_actions, ctx.action, None, True
    ):
        return False
    if statement.resources is not None:
        if not _any_match(statement.resources, ctx.resource, vars_ctx, False):
            return False
    elif statement.not_resources is not None and _any_match(
        statement.not_resources, ctx.resource, vars_ctx, False
    ):
        return False
    if statement.principals is not None and not _principal_matches(statement.principals, ctx):
        return False
    return all(
        condition_holds(c.operator, c.key, c.values, ctx, variables=variables)
        for c in statement.conditions
    )


def _pool(policies: Iterable[PolicyDocument], ctx: RequestContext) -> tuple[bool, bool]:
    """(any Allow applies, any Deny applies)."""
    allowed = denied = False
    for policy in policies:
        variables = policy.version != "2008-10-17"
        for statement in policy.statements:
            if statement_matches(statement, ctx, variables=variables):
                if statement.effect == "Deny":
                    return allowed, True
                allowed = True
    return allowed, denied


def evaluate(
    identity_policies: Iterable[PolicyDocument],
    ctx: RequestContext,
    *,
    session_policies: Iterable[PolicyDocument] | None = None,
    boundary: PolicyDocument | None = None,
) -> Decision:
    allowed, denied = _pool(identity_policies, ctx)
    if denied:
        return Decision.EXPLICIT_DENY
    for limit in (session_policies, None if boundary is None else [boundary]):
        if limit is not None:
            limit_allowed, limit_denied = _pool(limit, ctx)
            if limit_denied:
                return Decision.EXPLICIT_DENY
            allowed = allowed and limit_allowed
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def evaluate_trust(policy: PolicyDocument, ctx: RequestContext) -> Decision:
    allowed, denied = _pool([policy], ctx)
    if denied:
        return Decision.EXPLICIT_DENY
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY
