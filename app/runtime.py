"""The wired-up service: database, secrets, audit, clock — built once per process.

`Runtime.start(settings)` applies migrations and bootstraps the root account;
the Flask app, the CLI and the tests all use it, so each concern has one place.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from app import ids
from app.arn import is_account_id
from app.arn import root_arn
from app.audit import AuditLog
from app.audit import AuditRecord
from app.clock import Clock
from app.config import Settings
from app.crypto import SecretBox
from app.db.config_cache import ConfigCache
from app.db.engine import SessionFactory
from app.db.engine import make_engine
from app.db.engine import make_reader_sessions
from app.db.engine import make_session_factory
from app.db.engine import migrate
from app.db.engine import one_first_start_at_a_time
from app.db.models import AccessKey
from app.db.models import Account
from app.errors import EntityAlreadyExistsError
from app.errors import ServiceError
from app.errors import ValidationError
from app.iam import names
from app.iam.authz import Authorizer
from app.iam.authz import resource_tag_keys
from app.iam.key_usage import KeyUsage
from app.iam.oidc_providers import OidcProviders
from app.iam.saml_providers import SamlProviders
from app.iam.service import IamService
from app.mfa.service import MfaService
from app.policy.context import ContextValue
from app.ratelimit import RateLimiter
from app.ratelimit import counter_for
from app.saml.federation import SamlFederation
from app.saml.sp import SpKeyRing
from app.saml.validate import ServiceProvider
from app.sts.service import StsService
from app.sts.tokens import TokenCodec
from app.sts.tokens import TokenKeyRing

log = logging.getLogger("fedbridge")


@contextmanager
def recording_refusals(session: Session) -> Iterator[None]:
    """Run a call's work in a savepoint of `session`'s transaction. A refusal rolls the work
    back; the writes it carries (ServiceError.after_rollback: a wrong MFA code counts
    towards the lockout) are then made and committed at once, under the locks taken
    before the savepoint, so the next call in line sees them. (Written in a transaction
    of their own once the call's had ended, parallel wrong codes were all checked
    before any was counted.)"""
    try:
        with session.begin_nested():
            yield
    except ServiceError as err:
        if err.after_rollback:
            for write in err.after_rollback:
                write(session)
            session.commit()
        raise


@dataclass(frozen=True)
class NewAccount:
    """An account just created, with its root key: the only time the secret is shown."""

    account_id: str
    name: str
    access_key_id: str
    secret_access_key: str


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    #: Transactions that only read (app.db.engine.make_reader_sessions).
    readers: SessionFactory
    secrets: SecretBox
    audit: AuditLog
    clock: Clock
    tokens: TokenCodec
    sp_keys: SpKeyRing
    rate_limiter: RateLimiter
    #: Configuration read-only calls take without querying (app.db.config_cache).
    config: ConfigCache
    #: When each long-term access key was last used (app.iam.key_usage).
    key_usage: KeyUsage
    #: The root account created by this start, if the store was new (its key shown once).
    created: NewAccount | None = None

    @classmethod
    def start(cls, settings: Settings, *, bootstrap: bool = True) -> Runtime:
        """The service's parts; with `bootstrap`, the root account too when the store has
        none (whoever asks for that must show its key: it is shown only once)."""
        # The store is the service's alone: every secret in it is sealed, but the audit
        # trail and who exists are not for other local users either.
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        engine = make_engine(settings.sqlalchemy_url)
        migrate(engine)
        if not settings.database_url:  # SQLite's journal files take the file's mode
            (settings.data_dir / "fedbridge.db").chmod(0o600)
        sessions = make_session_factory(engine)
        secrets = SecretBox.from_settings(settings.master_key, settings.data_dir)
        readers = make_reader_sessions(settings.sqlalchemy_url, engine)
        key_ring = TokenKeyRing(sessions, secrets, settings.clock, readers=readers)
        key_ring.ensure()
        sp_keys = SpKeyRing(sessions, secrets, settings.clock)
        sp_keys.ensure()
        runtime = cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            readers=readers,
            secrets=secrets,
            audit=AuditLog(engine),
            clock=settings.clock,
            tokens=TokenCodec(key_ring),
            sp_keys=sp_keys,
            rate_limiter=RateLimiter(
                counter_for(settings, engine),
                settings.rate_limit_per_ip,
                settings.rate_limit_per_provider,
            ),
            config=ConfigCache(),
            key_usage=KeyUsage(sessions),
        )
        if bootstrap:
            runtime.created = runtime.bootstrap()
        return runtime

    def iam(self, session: Session, account_id: str) -> IamService:
        return IamService(
            session,
            account_id,
            partition=self.settings.partition,
            clock=self.clock,
            secrets=self.secrets,
        )

    def sts(self, session: Session) -> StsService:
        return StsService(
            lambda account_id: self.iam(session, account_id),
            self.tokens,
            self.clock,
            self.settings.partition,
        )

    def saml_sp(self, session: Session) -> ServiceProvider:
        return ServiceProvider(
            entity_id=self.settings.sp_entity_id,
            acs_url=self.settings.saml_acs_url,
            keys=self.sp_keys.all(session),
            clock=self.clock,
            skew=timedelta(seconds=self.settings.clock_skew_seconds),
        )

    def saml(self, session: Session) -> SamlFederation:
        return SamlFederation(self.sts(session), lambda account_id: self.iam(session, account_id))

    # --- accounts ---------------------------------------------------------------

    def bootstrap(self) -> NewAccount | None:
        """Create the root account on first start; return it (with its key) if created now."""
        with self.sessions.begin() as session:
            one_first_start_at_a_time(session)
            if session.scalar(select(Account).limit(1)) is not None:
                return None
            return self._create_account(
                session,
                self.settings.account_id or ids.account_id(),
                "root",
                self.settings.root_access_key_id,
                self.settings.root_secret_access_key,
            )

    def root_account_id(self) -> str | None:
        """The first account made (None before bootstrap() has made it)."""
        with self.sessions() as session:
            return session.scalar(select(Account.id).order_by(Account.created_at).limit(1))

    def account_exists(self, account_id: str) -> bool:
        with self.sessions() as session:
            return session.get(Account, account_id) is not None

    def create_account(self, account_id: str | None, name: str | None) -> NewAccount:
        if account_id is not None and not is_account_id(account_id):
            raise ValidationError("An account id is 12 digits.")
        with self.sessions.begin() as session:
            account_id = account_id or ids.account_id()
            if session.get(Account, account_id) is not None:
                raise EntityAlreadyExistsError(f"Account {account_id} already exists.")
            return self._create_account(session, account_id, name or account_id, None, None)

    def _create_account(
        self,
        session: Session,
        account_id: str,
        name: str,
        key_id: str | None,
        secret: str | None,
    ) -> NewAccount:
        session.add(Account(id=account_id, name=name, created_at=self.clock.now()))
        session.flush()
        key_id = key_id or ids.access_key_id()
        secret = secret or ids.secret_access_key()
        session.add(
            AccessKey(
                access_key_id=key_id,
                account_id=account_id,
                user_pk=None,
                secret_sealed=self.secrets.seal(secret),
                status="Active",
                created_at=self.clock.now(),
            )
        )
        # A root key is the strongest credential there is: its issue is on record, in
        # the transaction that makes it.
        self.audit.add(
            session,
            AuditRecord(
                self.clock.now(),
                ids.request_id(),
                "fedbridge:CreateAccount",
                "allowed",
                account_id=account_id,
                principal=root_arn(self.settings.partition, account_id),
                detail={"name": name, "access_key_id": key_id},
            ),
        )
        return NewAccount(account_id, name, key_id, secret)


class CallServices:
    """What one API call may use, bound to its transaction and the caller's account."""

    def __init__(self, runtime: Runtime, session: Session, account_id: str | None) -> None:
        self.runtime = runtime
        self.session = session
        self.account_id = account_id

    @property
    def iam(self) -> IamService:
        assert self.account_id is not None, "unsigned calls have no account"
        return self.runtime.iam(self.session, self.account_id)

    def iam_for(self, account_id: str) -> IamService:
        return self.runtime.iam(self.session, account_id)

    @property
    def sts(self) -> StsService:
        return self.runtime.sts(self.session)

    @property
    def saml_sp(self) -> ServiceProvider:
        return self.runtime.saml_sp(self.session)

    @property
    def saml(self) -> SamlFederation:
        return self.runtime.saml(self.session)

    def request_keys(self, call: Any) -> dict[str, str]:
        """Condition keys that describe the request itself (not the caller)."""
        keys = {"aws:SecureTransport": "true" if call.secure else "false"}
        if call.source_ip:
            keys["aws:SourceIp"] = call.source_ip
        if call.user_agent:
            keys["aws:UserAgent"] = call.user_agent
        return keys

    def authorize(
        self, call: Any, action: str, resource: str, context: dict[str, ContextValue]
    ) -> None:
        keys = {**self.request_keys(call), **context}
        if call.caller is not None and not call.caller.is_root:
            keys.update(resource_tag_keys(self._target_tags(resource)))
        Authorizer(self.iam, self.runtime.clock).check(call.caller, action, resource, keys)

    def _target_tags(self, resource: str) -> list[tuple[str, str]]:
        """The tags aws:ResourceTag/… reads: those of the entity of the caller's account
        that `resource` names (a user, role, managed policy, SAML or OIDC provider or
        virtual MFA device, each of which can be tagged to fence it); none for anything
        else, such as the `user/*` of a List action, or for what does not exist."""
        iam = self.iam
        prefix = f"arn:{iam.partition}:iam::{iam.account_id}:"
        if not resource.startswith(prefix):
            return []
        # An ARN's resource type is also the kind its tags are filed under.
        kind, _, rest = resource.removeprefix(prefix).partition("/")
        try:
            if kind in ("user", "role"):
                name = rest.rsplit("/", 1)[-1]
                if len(name) > 64 or not names.valid_name(name):
                    return []
                owner = iam.owner(kind, name)
                if iam.arn(kind, owner.path, owner.name) != resource:
                    return []
                pk = owner.pk
            elif kind == "policy":
                pk = iam.policy(resource).pk
            elif kind == "saml-provider":
                pk = SamlProviders(iam).get(resource).pk
            elif kind == "oidc-provider":
                pk = OidcProviders(iam).get(resource).pk
            elif kind == "mfa":
                pk = MfaService(iam, self.runtime.secrets).device(resource).pk
            else:
                return []
        except ServiceError:  # not a name, or no such entity: no tags to read
            return []
        return iam.tags_of(kind, pk)
