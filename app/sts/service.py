"""STS: temporary credentials for role sessions and user sessions.

Every path that hands out credentials (AssumeRole, GetSessionToken, and the
federation actions to come) ends in `issue()`, so the token format, duration
rules and session contents live in one place. `principal_for()` is the other
half: it turns a presented token back into the one principal it acts as,
refusing it once expired or once its role or user is gone.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

from app import ids
from app.arn import Arn
from app.arn import iam_arn
from app.arn import is_account_id
from app.arn import root_arn
from app.clock import Clock
from app.db.config_cache import cached_get
from app.db.models import Role
from app.db.models import User
from app.errors import AccessDeniedError
from app.errors import ExpiredTokenError
from app.errors import InvalidClientTokenIdError
from app.errors import MalformedPolicyDocumentError
from app.errors import PackedPolicyTooLargeError
from app.errors import ValidationError
from app.iam import names
from app.iam import trust
from app.iam.authz import Authorizer
from app.iam.authz import principal_keys
from app.iam.authz import resource_tag_keys
from app.iam.principal import Principal
from app.iam.principal import SessionInfo
from app.iam.service import IamService
from app.policy import Decision
from app.policy import RequestContext
from app.policy import evaluate_trust
from app.policy import parse_policy
from app.sts.tokens import InvalidSessionTokenError
from app.sts.tokens import SessionClaims
from app.sts.tokens import TokenCodec

MIN_DURATION = 900
#: AWS caps a role session started from another role session at one hour.
CHAINED_MAX_DURATION = 3600
#: GetSessionToken: up to 36 hours for IAM users, 1 hour for the root user.
USER_SESSION_MAX = 129600
ROOT_SESSION_MAX = 3600
SESSION_POLICY_MAX_CHARS = 2048
MAX_POLICY_ARNS = 10
MAX_SESSION_TAGS = 50
#: Compressed bytes of session policies that make 100 % of PackedPolicySize.
PACKED_POLICY_BYTES = 2048
#: Bytes of session tags (keys and values, as written) that make 100 %. AWS does not
#: compress tags: nine of 250 "a"s each, 2,268 bytes, "consume 498% of allotted space"
#: (AWS's answer reproduced in aws-actions/configure-aws-credentials#1898).
PACKED_TAG_BYTES = 456

#: A role, user or provider tagged with this (value "true") needs a second factor.
REQUIRE_MFA_TAG = "fedbridge:require-mfa"
#: On a provider: the AuthnContextClassRef (SAML) or amr/acr (OIDC) values that count as MFA.
MFA_CONTEXTS_TAG = "fedbridge:mfa-contexts"
_INVALID_TOKEN = "The security token included in the request is invalid."  # noqa: S105
_SESSION_NAME = r"[\w+=,.@-]*"
_EXTERNAL_ID = r"[\w+=,.@:/-]*"


@dataclass(frozen=True)
class IssuedCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime


@dataclass(frozen=True)
class RoleSession:
    credentials: IssuedCredentials
    #: AROA…:session-name
    assumed_role_id: str
    #: arn:aws:sts::111122223333:assumed-role/Role/session-name
    arn: str
    packed_policy_size: int | None
    source_identity: str | None


@dataclass(frozen=True)
class SessionRequest:
    """What a caller asks of a new role session (AssumeRole's parameters, and the
    equivalent attributes or claims of a federated sign-in)."""

    role_arn: str
    session_name: str
    duration_seconds: int | None = None
    policy: str | None = None
    policy_arns: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    transitive_tag_keys: tuple[str, ...] = ()
    source_identity: str | None = None
    external_id: str | None = None
    mfa_authenticated: bool = False
    extra_keys: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)


def _permission_only_actions(
    req: SessionRequest, source_identity: str | None
) -> list[tuple[str, str]]:
    """What a session request needs allowed beyond assuming the role, with the refusal's
    reason: tags need sts:TagSession, a source identity sts:SetSourceIdentity (AWS)."""
    needed = []
    if req.tags or req.transitive_tag_keys:
        needed.append(("sts:TagSession", "sts.tag_session_denied"))
    if source_identity is not None:
        needed.append(("sts:SetSourceIdentity", "sts.source_identity_denied"))
    return needed


class StsService:
    def __init__(self, iam_for: Any, codec: TokenCodec, clock: Clock, partition: str) -> None:
        #: account id -> IamService bound to the current transaction
        self._iam_for = iam_for
        self.codec = codec
        self.clock = clock
        self.partition = partition

    # --- AssumeRole ------------------------------------------------------------------

    def assume_role(
        self, caller: Principal, req: SessionRequest, request_keys: Mapping[str, str]
    ) -> RoleSession:
        if caller.is_root:
            raise AccessDeniedError(
                "Roles may not be assumed by root accounts.", reason="sts.root_cannot_assume"
            )
        self.check_session_request(req)
        role_account, role_name = self.parse_role_arn(req.role_arn)
        role_iam: IamService = self._iam_for(role_account)
        role = role_iam.find_role(role_name)
        denied = AccessDeniedError(
            f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: "
            f"{req.role_arn}",
            reason="sts.trust_denied",
        )
        if role is None or role_iam.role_arn(role) != req.role_arn:
            raise denied  # AWS does not say whether the role exists
        caller_iam: IamService = self._iam_for(caller.account_id)
        keys = {
            **principal_keys(caller_iam, caller, self.clock),
            **request_keys,
            **self.session_keys(req, caller),
        }
        chained = caller.kind == "assumed-role"
        inherited = caller.session
        source_identity = self._source_identity(req, inherited)
        role_tags = role_iam.tags_of("role", role.pk)
        # The caller's own policies (and boundary, and session policies) see the request
        # as the trust does, its session name, external id and tags included; and they may
        # fence roles by their tags.
        # (Not the MFA of this request's TokenCode: AWS asks for it when "the trust
        # policy of the role being assumed requires MFA"; the caller's own conditions on
        # MFA keep reading its credentials.)
        own_keys = {
            **request_keys,
            **self.session_keys(req, caller, with_mfa=False),
            **resource_tag_keys(role_tags),
        }
        for action, reason in (
            ("sts:AssumeRole", "sts.trust_denied"),
            *_permission_only_actions(req, source_identity),
        ):
            self._authorize_on_role(
                caller, caller_iam, role, action, keys, own_keys, req.role_arn, reason
            )
        mfa = bool(inherited and inherited.mfa_authenticated) or req.mfa_authenticated
        # Carried over, MFA keeps its time: aws:MultiFactorAuthAge counts from the code.
        mfa_since = (
            inherited.mfa_authenticated_at if inherited and not req.mfa_authenticated else None
        )
        if not mfa and dict(role_tags).get(REQUIRE_MFA_TAG) == "true":
            raise AccessDeniedError(
                f"Role {req.role_arn} requires multi-factor authentication: pass SerialNumber "
                "and TokenCode, or use credentials obtained with MFA.",
                reason="mfa.required",
            )
        tags, transitive = self._session_tags(req, inherited)
        return self.issue_role_session(
            role_iam,
            role,
            req,
            tags=tags,
            transitive_tag_keys=transitive,
            source_identity=source_identity,
            mfa_authenticated=mfa,
            mfa_since=mfa_since,
            federated_via=None,
            chained=chained,
        )

    def assume_federated(
        self,
        role_iam: IamService,
        role: Role,
        req: SessionRequest,
        *,
        action: str,
        keys: Mapping[str, Any],
        provider_arn: str,
        provider_tags: Mapping[str, str],
        mfa_asserted: bool,
        via: str,
        not_after: datetime | None = None,
    ) -> RoleSession:
        """The end of every federated path (SAML, web identity; API and browser): the
        role's trust for `action` (and sts:TagSession when tags come along,
        sts:SetSourceIdentity when a source identity does), MFA when a tag requires it,
        then the session. `via` is "saml" or "web"; `mfa_asserted` is
        True when the IdP asserted MFA or this service verified a TOTP code."""
        federated = {"Federated": frozenset({provider_arn})}
        if not self.trust_allows(role, action, keys, federated):
            raise AccessDeniedError(
                f"Not authorized to perform {action} on {req.role_arn}",
                reason=f"{'saml' if via == 'saml' else 'oidc'}.trust_denied",
            )
        for extra, reason in _permission_only_actions(req, req.source_identity):
            if not self.trust_allows(role, extra, keys, federated):
                raise AccessDeniedError(
                    f"Not authorized to perform {extra} on {req.role_arn}", reason=reason
                )
        if not mfa_asserted and (
            provider_tags.get(REQUIRE_MFA_TAG) == "true"
            or dict(role_iam.tags_of("role", role.pk)).get(REQUIRE_MFA_TAG) == "true"
        ):
            raise AccessDeniedError(
                "This role requires multi-factor authentication, and the identity provider "
                "did not assert it.",
                reason="mfa.required",
            )
        tags, transitive = self._session_tags(req, None)  # transitive keys name session tags
        return self.issue_role_session(
            role_iam,
            role,
            req,
            tags=tags,
            transitive_tag_keys=transitive,
            source_identity=req.source_identity,
            mfa_authenticated=mfa_asserted,
            federated_via=f"{via}:{provider_arn}",
            chained=False,
            not_after=not_after,
        )

    def _authorize_on_role(
        self,
        caller: Principal,
        caller_iam: IamService,
        role: Role,
        action: str,
        keys: Mapping[str, Any],
        request_keys: Mapping[str, str],
        role_arn: str,
        reason: str,
    ) -> None:
        """AWS's rule for sts:AssumeRole, sts:TagSession and sts:SetSourceIdentity on a
        role: its trust policy must allow the caller, by name or through the caller's
        account, and no policy on either side may deny. The caller's own policies must
        allow as well, unless the trust names the caller in the role's own account."""
        # The account's root ARN among the caller's ids: a Deny naming the account binds
        # every principal in it (and the ids named without it are a subset of these).
        trusted = self._trust_decision(
            role, action, keys, self._caller_ids(caller, with_account=True)
        )
        if trusted is not Decision.ALLOW:
            raise AccessDeniedError(
                f"User: {caller.arn} is not authorized to perform: {action} on resource: "
                f"{role_arn}",
                reason=reason,
            )
        authorizer = Authorizer(caller_iam, self.clock)
        own = authorizer.decide(caller, action, role_arn, request_keys)
        if own is Decision.ALLOW:
            return
        named_ids = self._caller_ids(caller, with_account=False)
        if caller.kind == "assumed-role" and not authorizer.limits_allow(
            caller, action, role_arn, request_keys
        ):
            # AWS: the role's permissions boundary and the session's policies still limit
            # a session that a trust names by the role; only the session's own ARN is
            # beyond them.
            named_ids = {"AWS": frozenset({caller.arn})}
        named = caller.account_id == role.account_id and (
            self._trust_decision(role, action, keys, named_ids) is Decision.ALLOW
        )
        if own is Decision.EXPLICIT_DENY or not named:
            authorizer.check(caller, action, role_arn, request_keys)  # raises, saying why

    def trust_allows(
        self,
        role: Role,
        action: str,
        keys: Mapping[str, str | tuple[str, ...]],
        principals: Mapping[str, frozenset[str]],
    ) -> bool:
        """For the federation paths: does the role trust this provider for `action`?"""
        return self._trust_decision(role, action, keys, principals) is Decision.ALLOW

    def _trust_decision(
        self,
        role: Role,
        action: str,
        keys: Mapping[str, str | tuple[str, ...]],
        principals: Mapping[str, frozenset[str]],
    ) -> Decision:
        ctx = RequestContext(
            action=action,
            resource=f"arn:{self.partition}:iam::{role.account_id}:role{role.path}{role.name}",
            keys=keys,
            principals=principals,
            partition=self.partition,
        )
        return evaluate_trust(trust.bound_policy(role), ctx)

    def _caller_ids(self, caller: Principal, *, with_account: bool) -> dict[str, frozenset[str]]:
        ids_ = {caller.arn}
        if caller.identity_arn:
            ids_.add(caller.identity_arn)
        # A trust policy's users and roles are bound to their unique ids (app.iam.trust).
        if (unique_id := trust.caller_unique_id(caller)) is not None:
            ids_.add(unique_id)
        if with_account:
            ids_.add(root_arn(self.partition, caller.account_id))
        return {"AWS": frozenset(ids_)}

    def parse_role_arn(self, role_arn: str) -> tuple[str, str]:
        names.check_length("roleArn", role_arn, 20, 2048)
        arn = Arn.parse(role_arn)
        if (
            arn is None
            or arn.service != "iam"
            or not arn.resource.startswith("role/")
            or not is_account_id(arn.account)
        ):
            raise ValidationError(f"{names._shown(role_arn)} is invalid", reason="sts.bad_role_arn")
        return arn.account, arn.resource.rsplit("/", 1)[1]

    # --- checks on the request ----------------------------------------------------

    def check_session_request(self, req: SessionRequest) -> None:
        names.check_length("roleSessionName", req.session_name, 2, 64)
        names.check_pattern("roleSessionName", req.session_name, _SESSION_NAME)
        if req.external_id is not None:
            names.check_length("externalId", req.external_id, 2, 1224)
            names.check_pattern("externalId", req.external_id, _EXTERNAL_ID)
        if req.source_identity is not None:
            names.check_length("sourceIdentity", req.source_identity, 2, 64)
            names.check_pattern("sourceIdentity", req.source_identity, _SESSION_NAME)
            if req.source_identity.lower().startswith("aws:"):
                raise ValidationError("SourceIdentity may not start with 'aws:'.")
        if req.policy is not None:
            names.check_length("policy", req.policy, 1, SESSION_POLICY_MAX_CHARS)
            names.check_pattern("policy", req.policy, names.POLICY_DOCUMENT_PATTERN)
            parse_policy(req.policy, "session")
        if len(req.policy_arns) > MAX_POLICY_ARNS:
            raise names.validation_error(
                "policyArns",
                None,
                f"Member must have length less than or equal to {MAX_POLICY_ARNS}",
            )
        for policy_arn in req.policy_arns:
            arn = Arn.parse(policy_arn)
            if arn is None or arn.service != "iam" or not arn.resource.startswith("policy/"):
                raise MalformedPolicyDocumentError(f"Invalid policy ARN {names._shown(policy_arn)}")
        for name, items in (("tags", req.tags), ("transitiveTagKeys", req.transitive_tag_keys)):
            if len(items) > MAX_SESSION_TAGS:
                raise names.validation_error(
                    name, None, f"Member must have length less than or equal to {MAX_SESSION_TAGS}"
                )
        names.check_tags(list(req.tags))

    def session_keys(
        self, req: SessionRequest, caller: Principal | None, *, with_mfa: bool = True
    ) -> dict[str, Any]:
        keys: dict[str, Any] = {"sts:RoleSessionName": req.session_name, **req.extra_keys}
        if req.external_id is not None:
            keys["sts:ExternalId"] = req.external_id
        if req.source_identity is not None:
            keys["sts:SourceIdentity"] = req.source_identity
        for key, value in req.tags:
            keys[f"aws:RequestTag/{key}"] = value
        if req.tags:
            keys["aws:TagKeys"] = tuple(k for k, _ in req.tags)
        if req.transitive_tag_keys:
            keys["sts:TransitiveTagKeys"] = tuple(req.transitive_tag_keys)
        if req.mfa_authenticated and with_mfa:
            # A code checked with this very request: MFA is present and fresh.
            keys["aws:MultiFactorAuthPresent"] = "true"
            keys["aws:MultiFactorAuthAge"] = "0"
        return keys

    def _session_tags(
        self, req: SessionRequest, inherited: SessionInfo | None
    ) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
        """Tags of the new session: transitive ones from a chained caller, then the request's."""
        tags: dict[str, tuple[str, str]] = {}
        transitive: dict[str, str] = {}
        if inherited is not None:
            carried = {k.lower() for k in inherited.transitive_tag_keys}
            for key, value in inherited.tags:
                if key.lower() in carried:
                    tags[key.lower()] = (key, value)
                    transitive[key.lower()] = key
        for key, value in req.tags:
            if key.lower() in transitive:
                raise ValidationError(
                    f"Tag key {key} is transitive from the calling session and cannot be changed."
                )
            tags[key.lower()] = (key, value)
        for key in req.transitive_tag_keys:
            if key.lower() not in tags:
                raise ValidationError(f"Transitive tag key {key} is not a session tag.")
            transitive[key.lower()] = key
        return tuple(tags.values()), tuple(transitive.values())

    @staticmethod
    def _source_identity(req: SessionRequest, inherited: SessionInfo | None) -> str | None:
        if inherited is not None and inherited.source_identity:
            if req.source_identity and req.source_identity != inherited.source_identity:
                raise AccessDeniedError(
                    "SourceIdentity is set once per chain of sessions and cannot be changed.",
                    reason="sts.source_identity_changed",
                )
            return inherited.source_identity
        return req.source_identity

    def _duration(self, requested: int | None, maximum: int, *, chained: bool) -> int:
        if requested is None:
            return min(3600, maximum)
        if requested < MIN_DURATION:
            raise names.validation_error(
                "durationSeconds",
                str(requested),
                f"Member must have value greater than or equal to {MIN_DURATION}",
            )
        if chained and requested > CHAINED_MAX_DURATION:
            raise ValidationError(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles "
                "assumed by role chaining.",
                reason="sts.duration_too_long",
            )
        if requested > maximum:
            raise ValidationError(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
                reason="sts.duration_too_long",
            )
        return requested

    # --- issuing ------------------------------------------------------------------

    def issue_role_session(
        self,
        role_iam: IamService,
        role: Role,
        req: SessionRequest,
        *,
        tags: tuple[tuple[str, str], ...],
        transitive_tag_keys: tuple[str, ...],
        source_identity: str | None,
        mfa_authenticated: bool,
        federated_via: str | None,
        chained: bool,
        not_after: datetime | None = None,
        mfa_since: datetime | None = None,
    ) -> RoleSession:
        """`mfa_since`: when the caller's MFA happened, when it was not in this call."""
        maximum = CHAINED_MAX_DURATION if chained else role.max_session_duration
        duration = self._duration(req.duration_seconds, role.max_session_duration, chained=chained)
        duration = min(duration, maximum)
        for policy_arn in req.policy_arns:
            # AWS: "The policies must exist in the same account as the role." One that did
            # not would be looked up by its name later, and could be created then.
            if role_iam.find_policy(policy_arn) is None:
                raise MalformedPolicyDocumentError(
                    f"Policy {names._shown(policy_arn)} does not exist in the role's account."
                )
        packed = self._packed_size(req.policy, req.policy_arns, tags)
        now = self.clock.now()
        expires = now + timedelta(seconds=duration)
        if not_after is not None:
            expires = min(expires, not_after)
        session_arn = (
            f"arn:{self.partition}:sts::{role.account_id}:assumed-role/"
            f"{role.name}/{req.session_name}"
        )
        user_id = f"{role.role_id}:{req.session_name}"
        body = {
            "kind": "assumed-role",
            "acct": role.account_id,
            "arn": session_arn,
            "uid": user_id,
            "name": role.name,
            "pk": role.pk,
            "oid": role.role_id,
            "iarn": role_iam.role_arn(role),
            "pol": [req.policy] if req.policy else [],
            "parn": list(req.policy_arns),
            "tags": [list(t) for t in tags],
            "ttk": list(transitive_tag_keys),
            "si": source_identity,
            "mfa": mfa_authenticated,
            "mfat": (mfa_since or now).timestamp() if mfa_authenticated else None,
            "fed": federated_via,
            "ch": chained,
        }
        credentials = self._credentials(now, expires, body)
        return RoleSession(credentials, user_id, session_arn, packed, source_identity)

    def get_session_token(
        self, caller: Principal, duration_seconds: int | None, *, mfa_authenticated: bool = False
    ) -> IssuedCredentials:
        if caller.session is not None:  # a role's, or GetSessionToken's own (renewed forever)
            raise AccessDeniedError(
                "Cannot call GetSessionToken with session credentials",
                reason="sts.session_from_session",
            )
        requested = 43200 if duration_seconds is None else duration_seconds
        if not MIN_DURATION <= requested <= USER_SESSION_MAX:
            bound = (
                f"greater than or equal to {MIN_DURATION}"
                if requested < MIN_DURATION
                else f"less than or equal to {USER_SESSION_MAX}"
            )
            raise names.validation_error(
                "durationSeconds", str(requested), f"Member must have value {bound}"
            )
        # The root's sessions last an hour at most, whatever it asks for (AWS).
        duration = min(requested, ROOT_SESSION_MAX) if caller.is_root else requested
        now = self.clock.now()
        body: dict[str, Any] = {
            "kind": caller.kind,
            "acct": caller.account_id,
            "arn": caller.arn,
            "uid": caller.user_id,
            "name": caller.name,
            "pk": caller.owner_pk,
            "oid": caller.user_id,
            "iarn": caller.identity_arn,
            "pol": [],
            "parn": [],
            "tags": [],
            "ttk": [],
            "si": None,
            "mfa": mfa_authenticated,
            "mfat": now.timestamp() if mfa_authenticated else None,
            "fed": None,
            "ch": False,
        }
        return self._credentials(now, now + timedelta(seconds=duration), body)

    def _credentials(
        self, now: datetime, expires: datetime, body: dict[str, Any]
    ) -> IssuedCredentials:
        akid = ids.access_key_id(ids.TEMPORARY_KEY_PREFIX)
        secret = ids.secret_access_key()
        body = {**body, "iat_ms": int(now.timestamp() * 1000)}
        token = self.codec.seal(SessionClaims(akid, secret, now, expires, body))
        return IssuedCredentials(akid, secret, token, expires)

    @staticmethod
    def _packed_size(
        policy: str | None, policy_arns: Sequence[str], tags: Sequence[tuple[str, str]]
    ) -> int | None:
        """PackedPolicySize: the fuller of the two budgets, policies' and tags'."""
        percents = []
        if policy or policy_arns:
            packed = len(zlib.compress(json.dumps([policy, list(policy_arns)]).encode()))
            percents.append(("policies", -(-packed * 100 // PACKED_POLICY_BYTES)))
        if tags:
            written = sum(len(k.encode()) + len(v.encode()) for k, v in tags)
            percents.append(("tags", -(-written * 100 // PACKED_TAG_BYTES)))
        if not percents:
            return None
        what, percent = max(percents, key=lambda p: p[1])
        if percent > 100:
            raise PackedPolicyTooLargeError(
                f"Packed size of session {what} consumes {percent}% of allotted space.",
                reason="sts.packed_policy_too_large",
            )
        return percent

    # --- presented tokens ------------------------------------------------------------

    def open_token(self, token: str, access_key_id: str) -> SessionClaims:
        try:
            claims = self.codec.open(token, access_key_id)
        except InvalidSessionTokenError:
            raise InvalidClientTokenIdError(_INVALID_TOKEN, reason="sts.bad_token") from None
        if claims.access_key_id != access_key_id:
            raise InvalidClientTokenIdError(_INVALID_TOKEN, reason="sts.token_key_mismatch")
        if self.clock.now() >= claims.expires_at:
            raise ExpiredTokenError(
                "The security token included in the request is expired", reason="sts.expired"
            )
        return claims

    def principal_for(self, claims: SessionClaims, session: Any) -> Principal:
        """The principal a verified token acts as; refused once its role or user is gone."""
        body = claims.body
        kind = body["kind"]
        arn, name, identity_arn = body["arn"], body["name"], body["iarn"]
        if kind == "assumed-role":
            role = cached_get(session, Role, body["pk"])
            if role is None or role.role_id != body["oid"]:
                raise InvalidClientTokenIdError(_INVALID_TOKEN, reason="sts.role_deleted")
        elif kind == "user":
            user = cached_get(session, User, body["pk"])
            if user is None or user.user_id != body["oid"]:
                raise InvalidClientTokenIdError(_INVALID_TOKEN, reason="sts.user_deleted")
            # The user as it is now: renamed since, the session acts as that user under its
            # new name (aws:username, requests for "myself"), never as whoever took the
            # old one.
            name = user.name
            arn = identity_arn = iam_arn(self.partition, user.account_id, "user", user.path, name)
        issued_at = datetime.fromtimestamp(body["iat_ms"] / 1000, UTC)
        return Principal(
            kind=kind,
            account_id=body["acct"],
            arn=arn,
            user_id=body["uid"],
            name=name,
            owner_pk=body["pk"],
            identity_arn=identity_arn,
            access_key_id=claims.access_key_id,
            session=SessionInfo(
                issued_at=issued_at,
                expires_at=claims.expires_at,
                policies=tuple(body["pol"]),
                policy_arns=tuple(body["parn"]),
                tags=tuple((k, v) for k, v in body["tags"]),
                transitive_tag_keys=tuple(body["ttk"]),
                source_identity=body["si"],
                mfa_authenticated=body["mfa"],
                mfa_authenticated_at=datetime.fromtimestamp(body["mfat"], UTC)
                if body["mfat"]
                else None,
                federated_via=body["fed"],
                chained=body["ch"],
            ),
        )
