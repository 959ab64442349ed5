"""Browser sign-in over OpenID Connect: the authorization code flow with PKCE (S256).

/oidc/login keeps state, nonce and the PKCE verifier in a short-lived signed
cookie bound to this browser and sends the person to the IdP; /oidc/callback
accepts only the state it issued, and only once, exchanges the code (Authlib's
client, with the sealed client secret), validates the ID token exactly as
AssumeRoleWithWebIdentity does, checks the nonce, then maps the person to the
roles whose trust policies admit them, or to an IAM user.
"""

from __future__ import annotations

import hmac
import logging
import time
from datetime import timedelta
from typing import Any

from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_token_request
from flask import Blueprint
from flask import redirect
from flask import request
from itsdangerous import BadSignature
from itsdangerous import URLSafeTimedSerializer
from werkzeug.wrappers import Response as BaseResponse

from app.arn import is_account_id
from app.db.models import OidcProvider
from app.db.once import use_once
from app.errors import AccessDeniedError
from app.errors import IdpCommunicationError
from app.errors import IdpRejectedClaimError
from app.errors import InvalidIdentityTokenError
from app.errors import InvalidInputError
from app.errors import NoSuchEntityError
from app.errors import ServiceError
from app.iam.oidc_providers import OidcProviders
from app.oidc.jwks import KEYS
from app.oidc.jwks import Form
from app.oidc.jwks import fetch_json
from app.oidc.jwks import issuer_may_send_us_to
from app.oidc.tokens import TokenValidator
from app.oidc.tokens import ValidatedToken
from app.oidc.tokens import audiences
from app.web.common import audit
from app.web.common import now
from app.web.common import page_error
from app.web.common import rate_limited
from app.web.common import runtime
from app.web.signin import landing
from app.web.signin import start_oidc_session

log = logging.getLogger("fedbridge.oidc")
bp = Blueprint("oidc_web", __name__, template_folder="templates")

FLOW_COOKIE = "fedbridge_oidc_flow"
FLOW_MAX_AGE = 600


def _flow_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(runtime().secrets.derive("oidc-browser-flow"))


def _redirect_uri() -> str:
    return f"{runtime().settings.public_base_url}/oidc/callback"


def _provider(arn: str) -> tuple[OidcProvider, str]:
    rt = runtime()
    account = arn.split(":")[4] if arn.count(":") >= 5 else ""
    if not is_account_id(account):
        raise NoSuchEntityError("No such OpenID Connect provider.", reason="oidc.unknown_provider")
    with rt.sessions() as db:
        provider = OidcProviders(rt.iam(db, account)).get(arn)
        db.expunge(provider)
    if not provider.browser_client_id or not provider.browser_client_secret_sealed:
        raise InvalidInputError(
            "This identity provider is not set up for browser sign-in yet "
            "(fedbridge oidc set-client).",
            reason="oidc.no_browser_client",
        )
    return provider, rt.secrets.open(provider.browser_client_secret_sealed)


#: Discovery documents by (issuer, trusted thumbprints): (when fetched, document).
_discoveries: dict[tuple[str, tuple[str, ...]], tuple[float, dict[str, Any]]] = {}
#: How long a discovery document is reused: a browser sign-in reads it twice (start and
#: answer), and anyone may start sign-ins, which must not each make a fetch.
DISCOVERY_SECONDS = 300.0
_MAX_DISCOVERIES = 1000


def _discovery(provider: OidcProvider) -> dict[str, Any]:
    key = (provider.issuer, tuple(provider.thumbprints))
    kept = _discoveries.get(key)
    if kept is not None and time.monotonic() - kept[0] < DISCOVERY_SECONDS:
        return kept[1]
    document = fetch_json(
        provider.issuer.rstrip("/") + "/.well-known/openid-configuration", provider.thumbprints
    )
    if len(_discoveries) >= _MAX_DISCOVERIES:
        _discoveries.clear()
    _discoveries[key] = (time.monotonic(), document)
    return document


def _endpoints(provider: OidcProvider, discovery: dict[str, Any] | None = None) -> tuple[str, str]:
    if discovery is None:
        discovery = _discovery(provider)
    endpoints = discovery.get("authorization_endpoint"), discovery.get("token_endpoint")
    if discovery.get("issuer") != provider.issuer or not all(
        isinstance(e, str) and issuer_may_send_us_to(provider.issuer, e) for e in endpoints
    ):
        raise IdpCommunicationError(
            "The identity provider's discovery document has no usable authorization and "
            "token endpoints.",
            reason="oidc.bad_discovery",
        )
    return endpoints  # type: ignore[return-value]


def _client(provider: OidcProvider, secret: str) -> OAuth2Session:
    return OAuth2Session(
        provider.browser_client_id,
        secret,
        scope="openid email profile",
        redirect_uri=_redirect_uri(),
        code_challenge_method="S256",
    )


@bp.get("/oidc/login")
@rate_limited("oidc:Login")
def login() -> BaseResponse:
    arn = request.args.get("provider", "")
    try:
        provider, secret = _provider(arn)
        authorize_url, _ = _endpoints(provider)
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        url, _ = _client(provider, secret).create_authorization_url(
            authorize_url, state=state, nonce=nonce, code_verifier=verifier
        )
    except ServiceError as err:
        return page_error(err, "oidc:Login", resource=arn[:256])
    response = redirect(url, code=303)
    response.set_cookie(
        FLOW_COOKIE,
        # The PKCE verifier sealed: the cookie is signed, not encrypted, and the verifier
        # is the confidential client's own, not the browser's (which holds the code).
        _flow_serializer().dumps(
            {"p": arn, "s": state, "n": nonce, "v": runtime().secrets.seal(verifier)}
        ),
        max_age=FLOW_MAX_AGE,
        path="/oidc/callback",
        httponly=True,
        secure=runtime().settings.secure_cookies,
        samesite="Lax",  # the IdP sends the browser back with a top-level GET
    )
    audit("oidc:Login", "allowed", account_id=arn.split(":")[4], resource=arn)
    return response


def _flow() -> dict[str, Any]:
    raw = request.cookies.get(FLOW_COOKIE, "")
    try:
        return _flow_serializer().loads(raw, max_age=FLOW_MAX_AGE)
    except BadSignature:
        raise AccessDeniedError(
            "This sign-in was not started in this browser, or took longer than ten minutes.",
            reason="oidc.no_flow",
        ) from None


@bp.get("/oidc/callback")
@rate_limited("oidc:SignIn")
def callback() -> BaseResponse:
    rt = runtime()
    fields: dict[str, Any] = {}
    try:
        flow = _flow()
        fields = {"account_id": flow["p"].split(":")[4], "resource": flow["p"]}
        state = request.args.get("state", "")
        if not hmac.compare_digest(state.encode(), flow["s"].encode()):
            raise AccessDeniedError(
                "This answer does not belong to the sign-in this browser started.",
                reason="oidc.state_mismatch",
            )
        provider, secret = _provider(flow["p"])
        discovery = _discovery(provider)
        # Before anything else is done with the answer (RFC 9207): a code another IdP
        # issued must never reach this provider's token endpoint (the mix-up attack).
        _check_issuer(provider, discovery)
        if request.args.get("error"):
            raise IdpRejectedClaimError(
                "The identity provider did not sign you in.", reason="oidc.idp_error"
            )
        with rt.sessions.begin() as db:
            if not use_once(
                db, "oidc-state", state, now() + timedelta(seconds=FLOW_MAX_AGE), now()
            ):
                raise InvalidIdentityTokenError(
                    "This sign-in answer has already been used.", reason="oidc.replayed"
                )
        verifier = rt.secrets.open(flow["v"])
        id_token = _exchange(provider, secret, request.args.get("code", ""), verifier, discovery)
        validator = TokenValidator(KEYS, rt.clock, rt.settings.clock_skew_seconds)
        token = validator.validate(
            id_token, lambda iss: provider if iss == provider.issuer else None
        )
        if not hmac.compare_digest(str(token.claims.get("nonce", "")), flow["n"]):
            raise InvalidIdentityTokenError(
                "The ID token does not carry the nonce of this sign-in.",
                reason="oidc.nonce_mismatch",
            )
        _check_meant_for(token, provider)
        # Sign-ins count against their provider once its keys verify them: anyone can
        # start one naming another account's provider, and must not throttle it.
        rt.rate_limiter.check("provider", flow["p"])
        fields["detail"] = {"subject": token.subject, "audience": token.audience}
        with rt.sessions.begin() as db:
            signed_in = start_oidc_session(db, token, id_token)
    except ServiceError as err:
        return page_error(err, "oidc:SignIn", **fields)
    current = signed_in["current"]
    audit("oidc:SignIn", "allowed", principal=current["arn"] if current else None, **fields)
    response = redirect(landing(signed_in), code=303)
    response.delete_cookie(FLOW_COOKIE, path="/oidc/callback")
    return response


def _check_issuer(provider: OidcProvider, discovery: dict[str, Any]) -> None:
    """RFC 9207: the authorization response names the issuer that sent it. Every provider
    shares one redirect URI (/oidc/callback), so this is what tells an answer of this
    sign-in's provider from one another IdP had issued (RFC 9700 §4.4, mix-up). When
    the provider says it always sends `iss`, an answer without it is refused too."""
    sent = request.args.getlist("iss")
    if not sent:
        if discovery.get("authorization_response_iss_parameter_supported") is True:
            raise InvalidIdentityTokenError(
                "The identity provider's answer does not say which identity provider sent "
                "it, though this provider always says so.",
                reason="oidc.iss_missing",
            )
        return
    if len(sent) != 1 or not hmac.compare_digest(sent[0].encode(), provider.issuer.encode()):
        raise InvalidIdentityTokenError(
            "This sign-in answer comes from another identity provider than the one this "
            "sign-in was started with.",
            reason="oidc.iss_mismatch",
        )


def _check_meant_for(token: ValidatedToken, provider: OidcProvider) -> None:
    """OpenID Connect Core 3.1.3.7: the ID token's aud must list this client, and no
    audience the provider does not trust; an azp must be this client. (The validator
    admits any client of the provider's list, as AssumeRoleWithWebIdentity does.)"""
    client, listed = provider.browser_client_id, audiences(token.claims)
    if (
        client not in listed
        or any(a not in provider.client_ids for a in listed)
        or ("azp" in token.claims and token.claims["azp"] != client)
    ):
        raise InvalidIdentityTokenError(
            "The ID token is not meant for this sign-in's client.", reason="oidc.wrong_client"
        )


def _exchange(
    provider: OidcProvider, secret: str, code: str, verifier: str, discovery: dict[str, Any]
) -> str:
    """The code for tokens at the IdP's token endpoint; the PKCE verifier proves it is us.
    Authlib writes the request; fedbridge's own fetch sends it, with the provider's TLS
    trust (system CAs, then its thumbprints), a deadline, a size cap and no redirect."""
    _, token_url = _endpoints(provider, discovery)
    body = prepare_token_request(
        "authorization_code", code=code, redirect_uri=_redirect_uri(), code_verifier=verifier
    )
    try:
        _, headers, body = ClientAuth(provider.browser_client_id, secret).prepare(
            "POST", token_url, {}, body
        )
        tokens = fetch_json(token_url, provider.thumbprints, Form(body, headers))
    except (ServiceError, UnicodeEncodeError) as err:  # Basic auth is Latin-1
        why = err.reason if isinstance(err, ServiceError) else "client id or secret not Latin-1"
        log.info("token endpoint of %s refused the code: %s", provider.issuer, why)
        raise IdpRejectedClaimError(
            "The identity provider refused to exchange the sign-in code.",
            reason="oidc.code_refused",
        ) from None
    id_token = tokens.get("id_token")
    if not isinstance(id_token, str):
        raise InvalidIdentityTokenError(
            "The identity provider returned no ID token.", reason="oidc.no_id_token"
        )
    return id_token
