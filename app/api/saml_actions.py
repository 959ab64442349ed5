"""SAML providers (IAM) and AssumeRoleWithSAML (STS)."""

from __future__ import annotations

from typing import Any

from app.api.registry import Call
from app.api.registry import Result
from app.api.registry import action
from app.api.sts_actions import role_session_shape
from app.api.tags import Target
from app.api.tags import register_tag_actions
from app.api.tags import tag_context
from app.api.tags import tags_shape
from app.arn import is_account_id
from app.db.models import SamlProvider
from app.errors import InvalidIdentityTokenError
from app.errors import NoSuchEntityError
from app.iam.saml_providers import OWNER_KIND
from app.iam.saml_providers import SamlProviders
from app.saml.federation import RolePair
from app.saml.validate import validate_response


def _providers(call: Call) -> SamlProviders:
    return SamlProviders(call.services.iam)


def _arn_resource(call: Call, providers: SamlProviders) -> str:
    arn = call.params.req("SAMLProviderArn")
    providers.name_from_arn(arn)  # a malformed ARN is refused before it reaches a message
    return arn


@action("iam", "CreateSAMLProvider")
def create_saml_provider(call: Call) -> Result:
    p, providers = call.params, _providers(call)
    name = p.req("Name")
    tags = p.tags()
    call.authorize(
        "iam:CreateSAMLProvider",
        f"arn:{providers.iam.partition}:iam::{providers.iam.account_id}:saml-provider/{name}",
        **tag_context(tags),
    )
    provider = providers.create(name, p.req("SAMLMetadataDocument"), tags)
    return {"SAMLProviderArn": providers.arn(provider), "Tags": tags_shape(tags) or None}


def _provider_shape(providers: SamlProviders, provider: SamlProvider) -> dict[str, Any]:
    return {
        "SAMLMetadataDocument": provider.metadata_document,
        "CreateDate": provider.created_at,
        "ValidUntil": provider.valid_until,
        "Tags": tags_shape(providers.iam.tags_of(OWNER_KIND, provider.pk)) or None,
    }


@action("iam", "GetSAMLProvider")
def get_saml_provider(call: Call) -> Result:
    providers = _providers(call)
    arn = _arn_resource(call, providers)
    call.authorize("iam:GetSAMLProvider", arn)
    return _provider_shape(providers, providers.get(arn))


@action("iam", "UpdateSAMLProvider")
def update_saml_provider(call: Call) -> Result:
    providers = _providers(call)
    arn = _arn_resource(call, providers)
    call.authorize("iam:UpdateSAMLProvider", arn)
    providers.update(arn, call.params.req("SAMLMetadataDocument"))
    return {"SAMLProviderArn": arn}


@action("iam", "ListSAMLProviders")
def list_saml_providers(call: Call) -> Result:
    providers = _providers(call)
    call.authorize("iam:ListSAMLProviders", "*")
    return {
        "SAMLProviderList": [
            {"Arn": providers.arn(p), "ValidUntil": p.valid_until, "CreateDate": p.created_at}
            for p in providers.list()
        ]
    }


@action("iam", "DeleteSAMLProvider")
def delete_saml_provider(call: Call) -> Result:
    providers = _providers(call)
    arn = _arn_resource(call, providers)
    call.authorize("iam:DeleteSAMLProvider", arn)
    providers.delete(arn)
    return None


def _tags_target(call: Call) -> Target:
    providers = _providers(call)
    arn = _arn_resource(call, providers)
    return arn, OWNER_KIND, lambda: providers.get(arn).pk


register_tag_actions("SAMLProvider", _tags_target)


@action("sts", "AssumeRoleWithSAML", signed=False, writes=lambda params: False)
def assume_role_with_saml(call: Call) -> Result:
    p, services = call.params, call.services
    pair = RolePair(p.req("RoleArn"), p.req("PrincipalArn"))
    assertion = p.req("SAMLAssertion")
    services.sts.parse_role_arn(pair.role_arn)
    providers = SamlProviders(services.iam_for(_account_of(pair.provider_arn)))
    try:
        provider = providers.get(pair.provider_arn)
    except NoSuchEntityError:
        raise InvalidIdentityTokenError(
            "The PrincipalArn names no SAML provider.", reason="saml.unknown_provider"
        ) from None
    validated = validate_response(assertion, [provider], services.saml_sp)
    # Counted once the provider's own signature is verified: calls anyone can make up
    # (junk naming another account's provider) count against their address only, and
    # cannot throttle that account's sign-ins.
    services.runtime.rate_limiter.check("provider", pair.provider_arn)
    call.audit_detail.update(
        provider=pair.provider_arn, subject=validated.name_id, assertion_id=validated.assertion_id
    )
    session = services.saml.assume(
        validated,
        pair,
        duration_seconds=p.integer("DurationSeconds"),
        policy=p.get("Policy"),
        policy_arns=tuple(s.get("arn", "") for s in p.structs("PolicyArns", ("arn",))),
        request_keys=services.request_keys(call),
    )
    role_session = session.role_session
    call.audit_detail.update(
        issued_access_key_id=role_session.credentials.access_key_id, session_arn=role_session.arn
    )
    return {
        **role_session_shape(role_session),
        "Subject": validated.name_id,
        "SubjectType": session.subject_type,
        "Issuer": validated.issuer,
        "Audience": validated.recipient,
        "NameQualifier": session.name_qualifier,
    }


def _account_of(provider_arn: str) -> str:
    parts = provider_arn.split(":")
    account = parts[4] if len(parts) > 5 else ""
    if not is_account_id(account):
        raise InvalidIdentityTokenError(
            "The PrincipalArn is not a SAML provider ARN.", reason="saml.unknown_provider"
        )
    return account
