"""From a validated SAML assertion to a role session: one path for the API and the browser.

The assertion offers roles (the Role attribute's `role-arn,provider-arn`
pairs, AWS's or Baidu's form); the caller picks one; the role's trust policy
must trust the provider for sts:AssumeRoleWithSAML under the SAML condition
keys AWS defines; then the STS module issues the credentials.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.arn import Arn
from app.errors import AccessDeniedError
from app.errors import InvalidIdentityTokenError
from app.iam.saml_providers import SamlProviders
from app.iam.service import IamService
from app.saml.validate import ValidatedResponse
from app.sts.service import MFA_CONTEXTS_TAG
from app.sts.service import RoleSession
from app.sts.service import SessionRequest
from app.sts.service import StsService

AWS_ATTRIBUTES = "https://aws.amazon.com/SAML/Attributes/"
ROLE_ATTRIBUTES = (AWS_ATTRIBUTES + "Role", "https://bce.baidu.com/SAML/Attributes/Role")
#: AuthnContextClassRef values that mean the IdP did a second factor (CONTRACT.md).
DEFAULT_MFA_CONTEXTS = frozenset(
    {
        "https://refeds.org/profile/mfa",
        "http://schemas.microsoft.com/claims/multipleauthn",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken",
    }
)
#: AWS: a NameID Format with this prefix is returned without it (persistent, transient,
#: entity, kerberos…); any other Format as it is.
_NAME_ID_FORMAT_2_0 = "urn:oasis:names:tc:SAML:2.0:nameid-format:"
#: SAML attributes AWS turns into trust-policy condition keys (multivalued ones marked).
_EDU = "urn:oid:1.3.6.1.4.1.5923.1."
_ATTRIBUTE_KEYS: dict[str, tuple[str, bool]] = {
    "urn:oid:2.5.4.3": ("SAML:commonName", False),
    _EDU + "2.1.2": ("SAML:eduorghomepageuri", False),
    _EDU + "2.1.3": ("SAML:eduorgidentityauthnpolicyuri", False),
    _EDU + "2.1.4": ("SAML:eduorglegalname", False),
    _EDU + "2.1.5": ("SAML:eduorgsuperioruri", False),
    _EDU + "2.1.6": ("SAML:eduorgwhitepagesuri", False),
    _EDU + "1.1.1": ("SAML:edupersonaffiliation", True),
    _EDU + "1.1.11": ("SAML:edupersonassurance", True),
    _EDU + "1.1.7": ("SAML:edupersonentitlement", True),
    _EDU + "1.1.2": ("SAML:edupersonnickname", True),
    _EDU + "1.1.3": ("SAML:edupersonorgdn", False),
    _EDU + "1.1.4": ("SAML:edupersonorgunitdn", True),
    _EDU + "1.1.5": ("SAML:edupersonprimaryaffiliation", False),
    _EDU + "1.1.8": ("SAML:edupersonprimaryorgunitdn", False),
    _EDU + "1.1.6": ("SAML:edupersonprincipalname", False),
    _EDU + "1.1.9": ("SAML:edupersonscopedaffiliation", True),
    _EDU + "1.1.10": ("SAML:edupersontargetedid", True),
    "urn:oid:2.5.4.42": ("SAML:givenName", False),
    "urn:oid:0.9.2342.19200300.100.1.3": ("SAML:mail", False),
    "urn:oid:2.5.4.41": ("SAML:name", False),
    "urn:oid:0.9.2342.19200300.100.1.45": ("SAML:organizationStatus", False),
    "http://schemas.microsoft.com/ws/2008/06/identity/claims/primarygroupsid": (
        "SAML:primaryGroupSID",
        False,
    ),
    "urn:oid:2.5.4.4": ("SAML:surname", False),
    "urn:oid:0.9.2342.19200300.100.1.1": ("SAML:uid", True),
    "urn:oid:2.5.4.45": ("SAML:x500UniqueIdentifier", False),
}


@dataclass(frozen=True)
class RolePair:
    role_arn: str
    provider_arn: str


@dataclass(frozen=True)
class SamlSession:
    role_session: RoleSession
    validated: ValidatedResponse
    provider_arn: str
    subject_type: str
    name_qualifier: str


def role_pairs(attributes: Mapping[str, list[str]], partition: str) -> list[RolePair]:
    """Every well-formed `role,provider` pair the assertion offers, in its order."""
    pairs: list[RolePair] = []
    for name in ROLE_ATTRIBUTES:
        for value in attributes.get(name, []):
            arns = [_full_arn(part.strip(), partition) for part in value.split(",")]
            roles = [a for a in arns if a and ":role/" in a]
            providers = [a for a in arns if a and ":saml-provider/" in a]
            if len(arns) == 2 and len(roles) == 1 and len(providers) == 1:
                pair = RolePair(roles[0], providers[0])
                if pair not in pairs:
                    pairs.append(pair)
    return pairs


def _full_arn(text: str, partition: str) -> str | None:
    """AWS form (a whole ARN) or Baidu form (`111122223333:role/Admins`)."""
    if not text.startswith("arn:"):
        text = f"arn:{partition}:iam::{text}"
    arn = Arn.parse(text)
    if arn is None or arn.service != "iam" or not arn.account.isdigit() or len(arn.account) != 12:
        return None
    return text


#: What AWS requires of a RoleSessionName or SourceIdentity an IdP asserts.
_ASSERTED_NAME = re.compile(r"[a-zA-Z_0-9+=,.@-]{2,64}")


def _check_asserted_names(session_name: str | None, source_identity: str | None) -> str:
    """The session name the IdP asserted. One, or a source identity, that AWS would
    refuse is refused with AWS's words (IAM User Guide, "Troubleshooting SAML 2.0
    federation"): the assertion is at fault, not a parameter of the call."""
    if session_name is None:
        raise InvalidIdentityTokenError(
            "RoleSessionName is required in AuthnResponse", reason="saml.no_session_name"
        )
    if not _ASSERTED_NAME.fullmatch(session_name):
        raise InvalidIdentityTokenError(
            f"RoleSessionName in AuthnResponse must match {_ASSERTED_NAME.pattern}",
            reason="saml.bad_session_name",
        )
    if source_identity is not None and (
        not _ASSERTED_NAME.fullmatch(source_identity) or source_identity.lower().startswith("aws:")
    ):
        raise InvalidIdentityTokenError(
            f'Source Identity must match {_ASSERTED_NAME.pattern} and not begin with "aws:"',
            reason="saml.bad_source_identity",
        )
    return session_name


def first(attributes: Mapping[str, list[str]], name: str) -> str | None:
    values = attributes.get(AWS_ATTRIBUTES + name)
    return values[0] if values else None


def console_duration(attributes: Mapping[str, list[str]], role_maximum: int) -> int | None:
    """SessionDuration (900-43200 s), kept within what the role allows; ignored when it
    is not a number, as a console sign-in should not fail over it."""
    value = first(attributes, "SessionDuration")
    if value is None or not value.strip().isdigit():
        return None
    return max(900, min(int(value), 43200, role_maximum))


def mfa_asserted(validated: ValidatedResponse, provider_tags: Mapping[str, str]) -> bool:
    configured = provider_tags.get(MFA_CONTEXTS_TAG)
    accepted = frozenset(configured.split()) if configured else DEFAULT_MFA_CONTEXTS
    return bool(accepted.intersection(validated.authn_contexts))


def name_qualifier(issuer: str, account_id: str, provider_name: str) -> str:
    """AWS's NameQualifier: base64(SHA-1(Issuer + account id + "/" + provider name))."""
    digest = hashlib.sha1(f"{issuer}{account_id}/{provider_name}".encode()).digest()  # noqa: S324
    return base64.b64encode(digest).decode()


def subject_type(name_id_format: str | None) -> str:
    if name_id_format is None:
        return "persistent"
    return name_id_format.removeprefix(_NAME_ID_FORMAT_2_0) or name_id_format


class SamlFederation:
    def __init__(self, sts: StsService, iam_for: Callable[[str], IamService]) -> None:
        self.sts = sts
        self.iam_for = iam_for

    def condition_keys(
        self, validated: ValidatedResponse, qualifier: str
    ) -> dict[str, str | tuple[str, ...]]:
        provider = validated.provider
        keys: dict[str, str | tuple[str, ...]] = {
            "SAML:aud": validated.recipient,
            "SAML:iss": validated.issuer,
            "SAML:sub": validated.name_id,
            "SAML:sub_type": subject_type(validated.name_id_format),
            "SAML:namequalifier": qualifier,
            "SAML:doc": f"{provider.account_id}/{provider.name}",
        }
        for attribute, values in validated.attributes.items():
            mapped = _ATTRIBUTE_KEYS.get(attribute)
            if mapped and values:
                key, multivalued = mapped
                keys[key] = tuple(values) if multivalued else values[0]
        return keys

    def assume(
        self,
        validated: ValidatedResponse,
        pair: RolePair,
        *,
        duration_seconds: int | None = None,
        policy: str | None = None,
        policy_arns: tuple[str, ...] = (),
        request_keys: Mapping[str, str] | None = None,
        second_factor: bool = False,
        console: bool = False,
        not_after: datetime | None = None,
    ) -> SamlSession:
        """Assume `pair` (which must be one the assertion offers). `second_factor` is True
        when this service itself verified a TOTP code; `console` for browser sign-in, whose
        session lasts what the SessionDuration attribute says, as in AWS's console.
        `not_after`: the credentials end by then at the latest (the console session's end,
        for a role chosen after sign-in), as they do by the assertion's
        SessionNotOnOrAfter."""
        provider = validated.provider
        providers = SamlProviders(self.iam_for(provider.account_id))
        provider_arn = providers.arn(provider)
        denied = AccessDeniedError(
            f"Not authorized to perform sts:AssumeRoleWithSAML on {pair.role_arn}",
            reason="saml.trust_denied",
        )
        offered = role_pairs(validated.attributes, providers.iam.partition)
        if pair not in offered:
            raise AccessDeniedError(
                "The RoleArn and PrincipalArn are not a pair the SAML assertion offers.",
                reason="saml.role_not_offered",
            )
        if pair.provider_arn != provider_arn:
            raise AccessDeniedError(
                "The PrincipalArn is not the provider that signed the SAML assertion.",
                reason="saml.provider_mismatch",
            )
        role_account, role_name = self.sts.parse_role_arn(pair.role_arn)
        if role_account != provider.account_id:
            raise denied
        role_iam = self.iam_for(role_account)
        role = role_iam.find_role(role_name)
        if role is None or role_iam.role_arn(role) != pair.role_arn:
            raise denied
        attributes = validated.attributes
        source_identity = first(attributes, "SourceIdentity")
        session_name = _check_asserted_names(first(attributes, "RoleSessionName"), source_identity)
        tags = tuple(
            (name.removeprefix(AWS_ATTRIBUTES + "PrincipalTag:"), values[0])
            for name, values in attributes.items()
            if name.startswith(AWS_ATTRIBUTES + "PrincipalTag:") and values
        )
        transitive = tuple(attributes.get(AWS_ATTRIBUTES + "TransitiveTagKeys", []))
        if console and duration_seconds is None:
            duration_seconds = console_duration(attributes, role.max_session_duration)
        req = SessionRequest(
            role_arn=pair.role_arn,
            session_name=session_name,
            duration_seconds=duration_seconds,
            policy=policy,
            policy_arns=policy_arns,
            tags=tags,
            transitive_tag_keys=transitive,
            source_identity=source_identity,
        )
        self.sts.check_session_request(req)
        qualifier = name_qualifier(validated.issuer, provider.account_id, provider.name)
        keys: dict[str, Any] = {
            **(request_keys or {}),
            **self.condition_keys(validated, qualifier),
            "aws:FederatedProvider": provider_arn,
        }
        for key, value in tags:
            keys[f"aws:RequestTag/{key}"] = value
        if tags:
            keys["aws:TagKeys"] = tuple(k for k, _ in tags)
        provider_tags = providers.tags(provider)
        session = self.sts.assume_federated(
            role_iam,
            role,
            req,
            action="sts:AssumeRoleWithSAML",
            keys=keys,
            provider_arn=provider_arn,
            provider_tags=provider_tags,
            mfa_asserted=mfa_asserted(validated, provider_tags) or second_factor,
            via="saml",
            not_after=min(
                (t for t in (validated.session_not_on_or_after, not_after) if t is not None),
                default=None,
            ),
        )
        return SamlSession(
            role_session=session,
            validated=validated,
            provider_arn=provider_arn,
            subject_type=subject_type(validated.name_id_format),
            name_qualifier=qualifier,
        )
