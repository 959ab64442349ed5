"""AssumeRoleWithWebIdentity: from a web identity token to a role session.

The token's `iss` must name an OpenID Connect provider of the role's account;
the token is validated (app.oidc.tokens); the role's trust policy must allow
sts:AssumeRoleWithWebIdentity for {"Federated": <provider arn>} under the
condition keys AWS defines for web identity (`<url>:aud`, `<url>:sub`,
`<url>:amr`, and `<url>:azp` / `<url>:oaud` when the token has `azp`, as AWS
does for Google), plus sts:TagSession when the token carries session tags;
then the STS module issues the credentials.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import replace
from typing import Any

from app.errors import AccessDeniedError
from app.errors import InvalidIdentityTokenError
from app.iam.oidc_providers import OidcProviders
from app.iam.service import IamService
from app.oidc.tokens import TokenValidator
from app.oidc.tokens import ValidatedToken
from app.sts.service import MFA_CONTEXTS_TAG
from app.sts.service import RoleSession
from app.sts.service import SessionRequest
from app.sts.service import StsService

ACTION = "sts:AssumeRoleWithWebIdentity"
#: Claims AWS reads session tags and the source identity from.
TAGS_CLAIM = "https://aws.amazon.com/tags"
SOURCE_IDENTITY_CLAIM = "https://aws.amazon.com/source_identity"
#: What counts as the IdP asserting a second factor (CONTRACT.md).
MFA_AMR = frozenset({"mfa", "otp", "hwk", "swk"})
MFA_ACR = "https://refeds.org/profile/mfa"


@dataclass(frozen=True)
class WebIdentitySession:
    role_session: RoleSession
    token: ValidatedToken
    provider_arn: str


def _strings(value: Any) -> tuple[str, ...]:
    """A claim that may be one string or a list of them, as a multivalued key."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def condition_keys(token: ValidatedToken) -> dict[str, str | tuple[str, ...]]:
    prefix, claims = token.provider.url_key, token.claims
    keys: dict[str, str | tuple[str, ...]] = {
        f"{prefix}:aud": token.audience,
        f"{prefix}:sub": token.subject,
        f"{prefix}:amr": _strings(claims.get("amr")),
    }
    azp = claims.get("azp")
    if isinstance(azp, str):
        keys[f"{prefix}:azp"] = azp
        keys[f"{prefix}:oaud"] = _strings(claims.get("aud"))
    return keys


def session_tags(
    claims: Mapping[str, Any],
) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """Session tags from the `https://aws.amazon.com/tags` claim, in AWS's shape:
    {"principal_tags": {"Key": ["value"]}, "transitive_tag_keys": ["Key"]}."""
    raw = claims.get(TAGS_CLAIM)
    if raw is None:
        return (), ()
    bad = InvalidIdentityTokenError(
        f"The {TAGS_CLAIM} claim must hold principal_tags (each a list of one string) and "
        "transitive_tag_keys (a list of strings).",
        reason="jwt.bad_tags",
    )
    if not isinstance(raw, dict):
        raise bad
    principal, transitive = raw.get("principal_tags", {}), raw.get("transitive_tag_keys", [])
    if not isinstance(principal, dict) or not isinstance(transitive, list):
        raise bad
    tags = []
    for key, value in principal.items():
        values = [value] if isinstance(value, str) else value
        if not (isinstance(values, list) and len(values) == 1 and isinstance(values[0], str)):
            raise bad
        tags.append((key, values[0]))
    if not all(isinstance(k, str) for k in transitive):
        raise bad
    return tuple(tags), tuple(transitive)


def mfa_asserted(claims: Mapping[str, Any], provider_tags: Mapping[str, str]) -> bool:
    """Did the IdP assert a second factor? The provider tag fedbridge:mfa-contexts
    (space-separated amr or acr values) replaces the defaults."""
    configured = provider_tags.get(MFA_CONTEXTS_TAG)
    if configured:
        accepted = frozenset(configured.split())
        return bool(accepted.intersection(_strings(claims.get("amr")))) or (
            claims.get("acr") in accepted
        )
    return bool(MFA_AMR.intersection(_strings(claims.get("amr")))) or claims.get("acr") == MFA_ACR


class WebIdentityFederation:
    def __init__(
        self,
        sts: StsService,
        iam_for: Callable[[str], IamService],
        validator: TokenValidator,
        on_provider: Callable[[str], None] | None = None,
    ) -> None:
        self.sts = sts
        self.iam_for = iam_for
        self.validator = validator
        #: Called with the provider's ARN once a token's signature is verified (rate limits).
        self.on_provider = on_provider

    def assume_role(
        self,
        web_token: str,
        req: SessionRequest,
        request_keys: Mapping[str, str],
        audit: dict[str, Any],
        *,
        second_factor: bool = False,
    ) -> WebIdentitySession:
        """Validate `web_token`, check the role's trust, issue the session. `req` holds the
        caller's parameters; tags and source identity come from the token. `audit` receives
        what is learnt on the way (provider, sub, aud), so a refusal is recorded with it."""
        account_id, role_name = self.sts.parse_role_arn(req.role_arn)
        role_iam = self.iam_for(account_id)
        providers = OidcProviders(role_iam)

        token = self.validator.validate(web_token, providers.find_by_issuer)
        provider_arn = providers.arn(token.provider)
        if self.on_provider is not None:
            # Once the issuer's signature is verified: tokens anyone can make up count
            # against their address only, not against another account's provider.
            self.on_provider(provider_arn)
        audit.update(provider=provider_arn, subject=token.subject, audience=token.audience)
        tags, transitive = session_tags(token.claims)
        source_identity = token.claims.get(SOURCE_IDENTITY_CLAIM)
        req = replace(
            req,
            tags=tags,
            transitive_tag_keys=transitive,
            source_identity=source_identity if isinstance(source_identity, str) else None,
            extra_keys={**condition_keys(token), "aws:FederatedProvider": provider_arn},
        )
        self.sts.check_session_request(req)
        role = role_iam.find_role(role_name)
        if role is None or role_iam.role_arn(role) != req.role_arn:
            # AWS does not say whether the role exists
            raise AccessDeniedError(
                f"Not authorized to perform {ACTION}", reason="oidc.trust_denied"
            )
        # The same keys AssumeRole's trust check sees (session name, request tags…),
        # plus the web identity ones carried in extra_keys.
        keys = {**request_keys, **self.sts.session_keys(req, None)}
        provider_tags = dict(providers.tags(token.provider))
        session = self.sts.assume_federated(
            role_iam,
            role,
            req,
            action=ACTION,
            keys=keys,
            provider_arn=provider_arn,
            provider_tags=provider_tags,
            mfa_asserted=mfa_asserted(token.claims, provider_tags) or second_factor,
            via="web",
        )
        return WebIdentitySession(session, token, provider_arn)


def roles_trusting(
    sts: StsService, role_iam: IamService, token: ValidatedToken, provider_arn: str
) -> list[str]:
    """The roles of the provider's account whose trust policies admit this token's
    subject (browser sign-in offers these, as a SAML assertion offers its Role pairs)."""
    keys = {**condition_keys(token), "aws:FederatedProvider": provider_arn}
    federated = {"Federated": frozenset({provider_arn})}
    return [
        role_iam.role_arn(role)
        for role in role_iam.all_roles()
        if sts.trust_allows(role, ACTION, keys, federated)
    ]
