"""The relational model. Every entity belongs to one account; ARNs carry its id.

Names are unique per account case-insensitively, as in AWS, which is why each
named entity keeps a lower-cased `name_key` beside the name as given.
Attachments, inline policies and tags point at their owner by
(`owner_kind`, `owner_pk`) so users, groups, roles (and later providers) share
one mechanism; the services delete those rows together with their owner.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlalchemy import BigInteger
from sqlalchemy import DateTime
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import MetaData
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import TypeDecorator
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    #: The master account overseeing this one, once organizations exist.
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("account_id", "name_key"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(512))
    user_id: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: The managed policy that bounds this user's permissions (a permissions boundary).
    boundary_pk: Mapped[int | None] = mapped_column(Integer, default=None)


class Group(Base):
    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("account_id", "name_key"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    name_key: Mapped[str] = mapped_column(String(128))
    path: Mapped[str] = mapped_column(String(512))
    group_id: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class GroupMember(Base):
    __tablename__ = "group_members"

    group_pk: Mapped[int] = mapped_column(
        ForeignKey("groups.pk", ondelete="CASCADE"), primary_key=True
    )
    user_pk: Mapped[int] = mapped_column(
        ForeignKey("users.pk", ondelete="CASCADE"), primary_key=True, index=True
    )


class Role(Base):
    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("account_id", "name_key"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(512))
    role_id: Mapped[str] = mapped_column(String(32), unique=True)
    trust_policy: Mapped[str] = mapped_column(Text)
    #: Each IAM user or role ARN of the trust policy -> that entity's unique id, taken
    #: when the policy was saved (app.iam.trust).
    trust_bindings: Mapped[dict[str, str] | None] = mapped_column(JSON, default=None)
    description: Mapped[str | None] = mapped_column(String(1000), default=None)
    max_session_duration: Mapped[int] = mapped_column(Integer, default=3600)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: The managed policy that bounds its sessions' permissions (a permissions boundary).
    boundary_pk: Mapped[int | None] = mapped_column(Integer, default=None)


class ManagedPolicy(Base):
    __tablename__ = "managed_policies"
    __table_args__ = (UniqueConstraint("account_id", "name_key"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    name_key: Mapped[str] = mapped_column(String(128))
    path: Mapped[str] = mapped_column(String(512))
    policy_id: Mapped[str] = mapped_column(String(32), unique=True)
    description: Mapped[str | None] = mapped_column(String(1000), default=None)
    default_version: Mapped[int] = mapped_column(Integer, default=1)
    #: Version numbers are never reused, even after a version is deleted.
    next_version: Mapped[int] = mapped_column(Integer, default=2)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PolicyVersion(Base):
    __tablename__ = "policy_versions"

    policy_pk: Mapped[int] = mapped_column(
        ForeignKey("managed_policies.pk", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    document: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PolicyAttachment(Base):
    __tablename__ = "policy_attachments"

    policy_pk: Mapped[int] = mapped_column(
        ForeignKey("managed_policies.pk", ondelete="CASCADE"), primary_key=True
    )
    owner_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    owner_pk: Mapped[int] = mapped_column(Integer, primary_key=True)

    __table_args__ = (Index("ix_policy_attachments_owner", "owner_kind", "owner_pk"),)


class InlinePolicy(Base):
    __tablename__ = "inline_policies"

    owner_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    owner_pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    name_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    document: Mapped[str] = mapped_column(Text)


class Tag(Base):
    __tablename__ = "tags"

    owner_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    owner_pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Tag keys are unique case-insensitively, as in AWS.
    key_lower: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(128))
    value: Mapped[str] = mapped_column(String(256))


class AccessKey(Base):
    __tablename__ = "access_keys"

    access_key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    #: None for the account's root key.
    user_pk: Mapped[int | None] = mapped_column(
        ForeignKey("users.pk", ondelete="CASCADE"), index=True, default=None
    )
    #: The secret, encrypted with the master key (app.crypto.SecretBox).
    secret_sealed: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="Active")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AccessKeyUse(Base):
    """When a request signed with a long-term key was last verified, for which service
    and region (app.iam.key_usage: to the hour). Apart from access_keys, whose writes
    reset every worker's configuration cache: this one is written as keys are used."""

    __tablename__ = "access_key_uses"

    access_key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_used_at: Mapped[datetime] = mapped_column(UtcDateTime)
    service: Mapped[str] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(32))


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    request_id: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str | None] = mapped_column(String(12), index=True, default=None)
    principal: Mapped[str | None] = mapped_column(String(2048), default=None)
    #: "iam:CreateRole", "saml:SignIn", "console:SignOut"…
    action: Mapped[str] = mapped_column(String(128), index=True)
    resource: Mapped[str | None] = mapped_column(String(2048), default=None)
    source_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(512), default=None)
    #: "allowed" or "refused".
    outcome: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(64), default=None)
    #: Stable machine reason ("sigv4.bad_signature", "policy.explicit_deny"…).
    reason: Mapped[str | None] = mapped_column(String(128), index=True, default=None)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class TokenKey(Base):
    """A key that seals STS session tokens. Tokens name their key, so keys rotate
    without cutting live sessions short: old keys stay until their tokens expire."""

    __tablename__ = "token_keys"

    kid: Mapped[str] = mapped_column(String(16), primary_key=True)
    #: The 256-bit AES-GCM key, encrypted with the master key.
    key_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class SamlProvider(Base):
    """A SAML IdP registered from its metadata document (CreateSAMLProvider)."""

    __tablename__ = "saml_providers"
    __table_args__ = (UniqueConstraint("account_id", "name_key"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    name_key: Mapped[str] = mapped_column(String(128))
    #: The IdP's entity id: a Response's Issuer selects its providers by it.
    entity_id: Mapped[str] = mapped_column(String(1024), index=True)
    #: The metadata document as uploaded; keys and URLs are read from it.
    metadata_document: Mapped[str] = mapped_column(Text)
    valid_until: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class OidcProvider(Base):
    """An OpenID Connect issuer (CreateOpenIDConnectProvider)."""

    __tablename__ = "oidc_providers"
    __table_args__ = (UniqueConstraint("account_id", "url_key"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    #: The issuer URL exactly as tokens name it in `iss` (https://…, or http:// on loopback).
    issuer: Mapped[str] = mapped_column(String(1024))
    #: The issuer without its scheme: the ARN's resource and the condition-key prefix.
    url_key: Mapped[str] = mapped_column(String(1024), index=True)
    client_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    thumbprints: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: For browser sign-in only (`fedbridge oidc set-client`); the secret is sealed.
    browser_client_id: Mapped[str | None] = mapped_column(String(255), default=None)
    browser_client_secret_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SpKey(Base):
    """The SAML service provider's signing (and decryption) key pair. The newest is
    used to sign; all are offered in metadata and tried to decrypt, so it rotates."""

    __tablename__ = "sp_keys"

    kid: Mapped[str] = mapped_column(String(16), primary_key=True)
    private_key_sealed: Mapped[str] = mapped_column(Text)
    certificate_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class OneTimeUse(Base):
    """Things that may be used once across all workers: SAML assertion ids at the
    ACS, SP-initiated request ids, OIDC states, TOTP codes. Inserting a used key
    again violates the primary key: that is the replay check."""

    __tablename__ = "one_time_uses"

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class RateLimitHit(Base):
    """Requests counted per limit key and second, where workers or hosts share the
    limits without Redis (app.ratelimit.DatabaseCounter). Keys are digested: they
    carry text a caller chose (a provider ARN)."""

    __tablename__ = "rate_limit_hits"
    #: Unlogged on PostgreSQL too (migration 0007): counts live for a second.
    __table_args__ = ({"sqlite_with_rowid": False},)

    second: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    key_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer)


class WebSession(Base):
    """A browser's signed-in state, kept server-side: the cookie carries only a random
    id, whose hash is the key here; the state (credentials included) is sealed."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    data_sealed: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class MfaDevice(Base):
    """A virtual (TOTP) MFA device. Assigned to an IAM user once enabled, or bound to a
    federated subject (provider ARN + subject) for role-based browser sign-in."""

    __tablename__ = "mfa_devices"
    __table_args__ = (UniqueConstraint("account_id", "name_key"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(512))
    name_key: Mapped[str] = mapped_column(String(512))
    path: Mapped[str] = mapped_column(String(512))
    #: The TOTP seed (base32), encrypted with the master key.
    seed_sealed: Mapped[str] = mapped_column(Text)
    user_pk: Mapped[int | None] = mapped_column(ForeignKey("users.pk"), index=True, default=None)
    #: "<provider arn> <subject>" for devices of federated people.
    subject: Mapped[str | None] = mapped_column(String(1024), index=True, default=None)
    enabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    #: The newest TOTP time step accepted: a code is never accepted twice.
    last_step: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ConfigGeneration(Base):
    """One row, bumped by database triggers on every write to a configuration table
    (migration 0006 lists them): read-only calls cache configuration while it stays
    the same (app.db.config_cache). A new configuration table needs its triggers
    there too, and an SQLite batch migration that copies a listed table must
    create them again."""

    __tablename__ = "config_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)
