"""Who is calling: the one principal a set of credentials acts as."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import Literal

PrincipalKind = Literal["root", "user", "assumed-role"]


@dataclass(frozen=True)
class SessionInfo:
    """What temporary credentials carry beyond the identity (STS sessions)."""

    issued_at: datetime
    expires_at: datetime
    #: Session policies (JSON text) that narrow the role's or user's permissions.
    policies: tuple[str, ...] = ()
    #: Managed policy ARNs passed as session policies.
    policy_arns: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    transitive_tag_keys: tuple[str, ...] = ()
    source_identity: str | None = None
    mfa_authenticated: bool = False
    mfa_authenticated_at: datetime | None = None
    #: "saml:<provider arn>", "web:<provider arn>", or None for AssumeRole/GetSessionToken.
    federated_via: str | None = None
    #: True when this session came from a role session assuming a role (chaining).
    chained: bool = False


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    account_id: str
    #: The caller's ARN as GetCallerIdentity reports it.
    arn: str
    #: GetCallerIdentity's UserId: account id (root), AIDA… (user), AROA…:session (role).
    user_id: str
    #: User name for users, role name for role sessions, None for root.
    name: str | None = None
    #: Database key of the user or role whose policies apply.
    owner_pk: int | None = None
    #: The ARN of the IAM user or role behind the session (trust policies name these).
    identity_arn: str | None = None
    access_key_id: str | None = None
    session: SessionInfo | None = field(default=None)

    @property
    def is_root(self) -> bool:
        return self.kind == "root"
