"""Authorization: IAM policy evaluation for one caller, action and resource.

The request context is built once per decision from the principal, its
session and the request (source IP, user agent, TLS). Root may do everything
in its own account; everyone else needs an Allow from an identity policy (and,
for sessions with session policies, from those too) and no Deny anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime

from app.clock import Clock
from app.clock import iso_ms
from app.errors import AccessDeniedError
from app.iam.principal import Principal
from app.iam.service import IamService
from app.iam.service import parsed_policy
from app.policy import Decision
from app.policy import PolicyDocument
from app.policy import RequestContext
from app.policy import evaluate
from app.policy.context import ContextValue

_PRINCIPAL_TYPES = {"root": "Account", "user": "User", "assumed-role": "AssumedRole"}


def _iso(moment: object) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # type: ignore[attr-defined]


def principal_keys(iam: IamService, principal: Principal, clock: Clock) -> dict[str, str]:
    """The global condition keys that describe the caller (aws:Principal*, aws:username…)."""
    now = clock.now()
    keys: dict[str, str] = {
        "aws:PrincipalAccount": principal.account_id,
        "aws:PrincipalArn": principal.identity_arn or principal.arn,
        "aws:PrincipalType": _PRINCIPAL_TYPES[principal.kind],
        "aws:userid": principal.user_id,
        "aws:CurrentTime": _iso(now),
        "aws:EpochTime": str(int(now.timestamp())),
        "aws:RequestedRegion": "us-east-1",
        "aws:ViaAWSService": "false",
    }
    tags: dict[str, str] = {}
    if principal.kind == "user" and principal.owner_pk is not None:
        keys["aws:username"] = principal.name or ""
        tags.update(iam.tags_of("user", principal.owner_pk))
    if principal.kind == "assumed-role" and principal.owner_pk is not None:
        tags.update(iam.tags_of("role", principal.owner_pk))
    session = principal.session
    if session is not None:
        # Session tags override the role's tags with the same key (AWS).
        tags.update(dict(session.tags))
        keys["aws:TokenIssueTime"] = iso_ms(session.issued_at)
        # Only temporary credentials carry aws:MultiFactorAuthPresent (AWS).
        keys["aws:MultiFactorAuthPresent"] = "true" if session.mfa_authenticated else "false"
        if session.mfa_authenticated_at is not None:
            age = int((now - session.mfa_authenticated_at).total_seconds())
            keys["aws:MultiFactorAuthAge"] = str(max(age, 0))
        if session.source_identity:
            keys["aws:SourceIdentity"] = session.source_identity
    for key, value in tags.items():
        keys[f"aws:PrincipalTag/{key}"] = value
    return keys


def resource_tag_keys(tags: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The condition keys that describe the target's tags: aws:ResourceTag/… and
    iam:ResourceTag/…."""
    return {f"{scope}:ResourceTag/{key}": value for key, value in tags for scope in ("aws", "iam")}


def _to_ms(moment: datetime) -> datetime:
    """As precise as a session's issue time, which its token keeps in milliseconds."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class Authorizer:
    def __init__(self, iam: IamService, clock: Clock) -> None:
        self.iam = iam
        self.clock = clock

    def decide(
        self,
        principal: Principal,
        action: str,
        resource: str,
        request_keys: Mapping[str, ContextValue],
    ) -> Decision:
        if principal.is_root:
            # The root identity may do everything in its own account.
            return Decision.ALLOW
        ctx = self._context(principal, action, resource, request_keys)
        identity = [parsed_policy(d) for d in self._identity_documents(principal)]
        return evaluate(
            identity,
            ctx,
            session_policies=self._session_policies(principal),
            boundary=self._boundary(principal),
        )

    def limits_allow(
        self,
        principal: Principal,
        action: str,
        resource: str,
        request_keys: Mapping[str, ContextValue],
    ) -> bool:
        """Whether the caller's permissions boundary and session policies, each alone,
        allow this (True for a caller with neither)."""
        limits = [[b] for b in (self._boundary(principal),) if b is not None]
        session = self._session_policies(principal)
        if session is not None:
            limits.append(session)
        ctx = self._context(principal, action, resource, request_keys)
        return all(evaluate(limit, ctx) is Decision.ALLOW for limit in limits)

    def check(
        self,
        principal: Principal,
        action: str,
        resource: str,
        request_keys: Mapping[str, ContextValue],
    ) -> None:
        """decide(), raising AccessDenied with AWS's explanation unless it allows."""
        decision = self.decide(principal, action, resource, request_keys)
        if decision is Decision.ALLOW:
            return
        ctx = self._context(principal, action, resource, request_keys)
        identity = [parsed_policy(d) for d in self._identity_documents(principal)]
        session = self._session_policies(principal)
        boundary = self._boundary(principal)
        if decision is Decision.EXPLICIT_DENY:
            denied = Decision.EXPLICIT_DENY
            if boundary is not None and evaluate([boundary], ctx) is denied:
                why, reason = (
                    "with an explicit deny in a permissions boundary",
                    "policy.boundary_deny",
                )
            elif session is not None and evaluate(session, ctx) is denied:
                why, reason = "with an explicit deny in a session policy", "policy.session_deny"
            else:
                why, reason = (
                    "with an explicit deny in an identity-based policy",
                    "policy.explicit_deny",
                )
        elif boundary is not None and evaluate([boundary], ctx) is not Decision.ALLOW:
            why, reason = (
                f"because no permissions boundary allows the {action} action",
                "policy.boundary_no_allow",
            )
        elif session is not None and evaluate(identity, ctx) is Decision.ALLOW:
            why, reason = (
                f"because no session policy allows the {action} action",
                "policy.session_no_allow",
            )
        else:
            why, reason = (
                f"because no identity-based policy allows the {action} action",
                "policy.no_allow",
            )
        raise AccessDeniedError(
            f"User: {principal.arn} is not authorized to perform: {action} on resource: "
            f"{resource} {why}",
            reason=reason,
        )

    def _context(
        self,
        principal: Principal,
        action: str,
        resource: str,
        request_keys: Mapping[str, ContextValue],
    ) -> RequestContext:
        return RequestContext(
            action=action,
            resource=resource,
            keys={**principal_keys(self.iam, principal, self.clock), **request_keys},
            partition=self.iam.partition,
        )

    def _identity_documents(self, principal: Principal) -> list[str]:
        if principal.owner_pk is None:
            return []
        kind = "user" if principal.kind == "user" else "role"
        return self.iam.policy_documents(kind, principal.owner_pk)

    def _boundary(self, principal: Principal) -> PolicyDocument | None:
        if principal.owner_pk is None:
            return None
        kind = "user" if principal.kind == "user" else "role"
        document = self.iam.boundary_document(kind, principal.owner_pk)
        return None if document is None else parsed_policy(document)

    def _session_policies(self, principal: Principal) -> list | None:
        session = principal.session
        if session is None or not (session.policies or session.policy_arns):
            return None
        documents = list(session.policies)
        for arn in session.policy_arns:
            policy = self.iam.find_policy(arn)
            # The policy the session was issued with: one deleted and made again under its
            # name since is another policy, and grants the session nothing.
            if policy is not None and _to_ms(policy.created_at) <= session.issued_at:
                documents.append(self.iam.default_document(policy))
        return [parsed_policy(d, "session") for d in documents]
