"""OpenID Connect providers (IAM) and AssumeRoleWithWebIdentity (STS)."""

from __future__ import annotations

from app.api.registry import Call
from app.api.registry import Result
from app.api.registry import action
from app.api.sts_actions import role_session_shape
from app.api.tags import Target
from app.api.tags import register_tag_actions
from app.api.tags import tag_context
from app.api.tags import tags_shape
from app.errors import InvalidParameterValueError
from app.iam import names
from app.iam.oidc_providers import OWNER_KIND
from app.iam.oidc_providers import OidcProviders
from app.iam.oidc_providers import check_url
from app.oidc.jwks import KEYS
from app.oidc.tokens import MAX_TOKEN_CHARS
from app.oidc.tokens import TokenValidator
from app.oidc.web_identity import WebIdentityFederation
from app.sts.service import SessionRequest


def _providers(call: Call) -> OidcProviders:
    return OidcProviders(call.services.iam)


def _arn(call: Call, providers: OidcProviders) -> str:
    arn = call.params.req("OpenIDConnectProviderArn")
    providers.key_from_arn(arn)  # a malformed ARN is refused before it reaches a message
    return arn


@action("iam", "CreateOpenIDConnectProvider")
def create_open_id_connect_provider(call: Call) -> Result:
    p, providers = call.params, _providers(call)
    url, tags = p.req("Url"), p.tags()
    call.authorize(
        "iam:CreateOpenIDConnectProvider", providers.arn_for(check_url(url)), **tag_context(tags)
    )
    provider = providers.create(url, p.members("ClientIDList"), p.members("ThumbprintList"), tags)
    return {"OpenIDConnectProviderArn": providers.arn(provider), "Tags": tags_shape(tags) or None}


@action("iam", "GetOpenIDConnectProvider")
def get_open_id_connect_provider(call: Call) -> Result:
    providers = _providers(call)
    arn = _arn(call, providers)
    call.authorize("iam:GetOpenIDConnectProvider", arn)
    provider = providers.get(arn)
    return {
        # AWS answers the Url without its scheme.
        "Url": provider.url_key,
        "ClientIDList": provider.client_ids,
        "ThumbprintList": provider.thumbprints,
        "CreateDate": provider.created_at,
        "Tags": tags_shape(providers.tags(provider)) or None,
    }


@action("iam", "ListOpenIDConnectProviders")
def list_open_id_connect_providers(call: Call) -> Result:
    providers = _providers(call)
    call.authorize("iam:ListOpenIDConnectProviders", "*")
    return {"OpenIDConnectProviderList": [{"Arn": providers.arn(p)} for p in providers.list()]}


@action("iam", "AddClientIDToOpenIDConnectProvider")
def add_client_id(call: Call) -> Result:
    providers = _providers(call)
    arn = _arn(call, providers)
    call.authorize("iam:AddClientIDToOpenIDConnectProvider", arn)
    providers.add_client_id(arn, call.params.req("ClientID"))
    return None


@action("iam", "RemoveClientIDFromOpenIDConnectProvider")
def remove_client_id(call: Call) -> Result:
    providers = _providers(call)
    arn = _arn(call, providers)
    call.authorize("iam:RemoveClientIDFromOpenIDConnectProvider", arn)
    providers.remove_client_id(arn, call.params.req("ClientID"))
    return None


@action("iam", "UpdateOpenIDConnectProviderThumbprint")
def update_thumbprint(call: Call) -> Result:
    providers = _providers(call)
    arn = _arn(call, providers)
    call.authorize("iam:UpdateOpenIDConnectProviderThumbprint", arn)
    providers.update_thumbprints(arn, call.params.members("ThumbprintList"))
    return None


@action("iam", "DeleteOpenIDConnectProvider")
def delete_open_id_connect_provider(call: Call) -> Result:
    providers = _providers(call)
    arn = _arn(call, providers)
    call.authorize("iam:DeleteOpenIDConnectProvider", arn)
    providers.delete(arn)
    return None


def _tags_target(call: Call) -> Target:
    providers = _providers(call)
    arn = _arn(call, providers)
    return arn, OWNER_KIND, lambda: providers.get(arn).pk


register_tag_actions("OpenIDConnectProvider", _tags_target)


@action("sts", "AssumeRoleWithWebIdentity", signed=False, writes=lambda params: False)
def assume_role_with_web_identity(call: Call) -> Result:
    p, services = call.params, call.services
    token = p.req("WebIdentityToken")
    names.check_length("webIdentityToken", token, 4, MAX_TOKEN_CHARS)
    if p.get("ProviderId") is not None:
        # Only for the OAuth 2.0 access tokens of Login with Amazon and Facebook, which
        # this service does not federate; AWS says to leave it out for OpenID Connect.
        raise InvalidParameterValueError(
            "ProviderId is only for OAuth 2.0 access tokens (www.amazon.com, "
            "graph.facebook.com); leave it out for OpenID Connect tokens."
        )
    req = SessionRequest(
        role_arn=p.req("RoleArn"),
        session_name=p.req("RoleSessionName"),
        duration_seconds=p.integer("DurationSeconds"),
        policy=p.get("Policy"),
        policy_arns=tuple(s.get("arn", "") for s in p.structs("PolicyArns", ("arn",))),
    )
    runtime = services.runtime
    federation = WebIdentityFederation(
        services.sts,
        services.iam_for,
        TokenValidator(KEYS, runtime.clock, runtime.settings.clock_skew_seconds),
        on_provider=lambda arn: runtime.rate_limiter.check("provider", arn),
    )
    result = federation.assume_role(token, req, services.request_keys(call), call.audit_detail)
    credentials = result.role_session.credentials
    call.audit_detail.update(
        issued_access_key_id=credentials.access_key_id, session_arn=result.role_session.arn
    )
    return {
        **role_session_shape(result.role_session),
        "SubjectFromWebIdentityToken": result.token.subject,
        # What AWS answers for an OpenID Connect provider: its ARN.
        "Provider": result.provider_arn,
        "Audience": result.token.audience,
    }
