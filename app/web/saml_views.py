"""Browser SSO over SAML: the SP's metadata, SP-initiated login, and the ACS.

SP-initiated: /saml/login signs an AuthnRequest and remembers its ID in a
short-lived signed cookie bound to this browser; the ACS accepts an answer
(InResponseTo) only from the browser that asked, and only once. Every
assertion that signs a browser in is recorded, so it is refused the second
time on any worker. RelayState only ever leads to our own console pages.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Blueprint
from flask import Response
from flask import redirect
from flask import request
from itsdangerous import BadSignature
from itsdangerous import URLSafeTimedSerializer
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from werkzeug.wrappers import Response as BaseResponse

from app.arn import is_account_id
from app.db.models import SamlProvider
from app.db.once import use_once
from app.errors import AccessDeniedError
from app.errors import InvalidIdentityTokenError
from app.errors import InvalidInputError
from app.errors import NoSuchEntityError
from app.errors import ServiceError
from app.iam.saml_providers import SamlProviders
from app.iam.saml_providers import providers_for_issuer
from app.saml.federation import role_pairs
from app.saml.metadata import sp_metadata
from app.saml.validate import ValidatedResponse
from app.saml.validate import read_issuer
from app.saml.validate import saml_settings
from app.saml.validate import validate_response
from app.web.common import audit
from app.web.common import now
from app.web.common import page_error
from app.web.common import rate_limited
from app.web.common import runtime
from app.web.signin import landing
from app.web.signin import start_saml_session

bp = Blueprint("saml_web", __name__, template_folder="templates")

PENDING_COOKIE = "fedbridge_saml_request"
PENDING_MAX_AGE = 600
_SAFE_RETURN = re.compile(r"/console(/[A-Za-z0-9/_-]*)?")


def _pending_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(runtime().secrets.derive("saml-pending-request"))


def safe_return_path(value: str | None) -> str:
    """RelayState is the IdP's to set; follow it only to our own console pages."""
    if value and len(value) <= 256 and _SAFE_RETURN.fullmatch(value):
        return value
    return "/console"


@bp.get("/saml/metadata")
def metadata() -> Response:
    rt = runtime()
    with rt.sessions() as db:
        certs = [key.certificate_pem for key in rt.sp_keys.all(db)]
    body = sp_metadata(rt.settings.sp_entity_id, rt.settings.saml_acs_url, certs)
    return Response(body, content_type="application/samlmetadata+xml")


@bp.get("/saml/login")
@rate_limited("saml:Login")
def login() -> BaseResponse:
    rt = runtime()
    arn = request.args.get("provider", "")
    try:
        with rt.sessions() as db:
            account = arn.split(":")[4] if arn.count(":") >= 5 else ""
            if not is_account_id(account):
                raise NoSuchEntityError("No such SAML provider.", reason="saml.unknown_provider")
            providers = SamlProviders(rt.iam(db, account))
            provider = providers.get(arn)
            idp = providers.metadata(provider)
            sp_key = rt.sp_keys.all(db)[0]
        sso_url = idp.sso_url(C.BINDING_HTTP_REDIRECT)
        if sso_url is None:
            raise InvalidInputError(
                "This identity provider does not accept HTTP-Redirect sign-in requests; "
                "start from the identity provider instead.",
                reason="saml.no_redirect_binding",
            )
        settings = saml_settings(
            rt.settings.sp_entity_id,
            rt.settings.saml_acs_url,
            sp_key.certificate_pem,
            sp_key.private_key_pem,
            idp.entity_id,
            sso_url,
            idp.signing_certs,
        )
        auth = OneLogin_Saml2_Auth({"http_host": "unused", "script_name": ""}, settings)
        relay_state = safe_return_path(request.args.get("next"))
        url = auth.login(return_to=relay_state)
        request_id = auth.get_last_request_id()
    except ServiceError as err:
        return page_error(err, "saml:Login", resource=arn[:256])
    response = redirect(url, code=303)
    response.set_cookie(
        PENDING_COOKIE,
        _pending_serializer().dumps({"rid": request_id, "provider": arn}),
        max_age=PENDING_MAX_AGE,
        path="/saml/acs",
        httponly=True,
        secure=rt.settings.secure_cookies,
        # The IdP answers with a cross-site POST: only SameSite=None reaches us then,
        # and browsers accept that only with Secure (https).
        samesite="None" if rt.settings.secure_cookies else "Lax",
    )
    audit(
        "saml:Login", "allowed", account_id=account, resource=arn, detail={"request_id": request_id}
    )
    return response


def _pending_request() -> dict[str, Any] | None:
    raw = request.cookies.get(PENDING_COOKIE)
    if not raw:
        return None
    try:
        return _pending_serializer().loads(raw, max_age=PENDING_MAX_AGE)
    except BadSignature:
        return None


@bp.post("/saml/acs")
@rate_limited("saml:SignIn")
def acs() -> BaseResponse:
    rt = runtime()
    saml_response = request.form.get("SAMLResponse", "")
    fields: dict[str, Any] = {}
    try:
        pending = _pending_request()
        with rt.sessions.begin() as db:
            candidates = providers_for_issuer(db, read_issuer(saml_response))
            sp, request_id = rt.saml_sp(db), pending["rid"] if pending else None
            validated = validate_response(saml_response, candidates, sp, request_id=request_id)

            def verifies(provider: SamlProvider) -> bool:
                try:
                    validate_response(saml_response, [provider], sp, request_id=request_id)
                except ServiceError:
                    return False
                return True

            provider = _intended_provider(db, candidates, validated, pending, verifies)
            if provider is not validated.provider:  # its own keys must verify it too
                validated = validate_response(saml_response, [provider], sp, request_id=request_id)
            fields = {
                "account_id": provider.account_id,
                "resource": SamlProviders(rt.iam(db, provider.account_id)).arn(provider),
                "detail": {"subject": validated.name_id, "assertion_id": validated.assertion_id},
            }
            # Counted against the provider once its keys verify the response (as the API).
            rt.rate_limiter.check("provider", fields["resource"])
            _check_answers_our_request(db, validated.in_response_to, pending)
            # Recorded in its own transaction, before anything else can fail: an
            # assertion that reached this point is spent, whatever happens next.
            expires = validated.not_on_or_after + timedelta(seconds=rt.settings.clock_skew_seconds)
            key = hashlib.sha256(
                f"{validated.issuer}\n{validated.assertion_id}".encode()
            ).hexdigest()
            if not use_once(db, "saml-assertion", key, expires, now()):
                raise InvalidIdentityTokenError(
                    "This sign-in response has already been used.", reason="saml.replayed"
                )
        with rt.sessions.begin() as db:
            state = start_saml_session(db, validated)
    except ServiceError as err:
        return page_error(err, "saml:SignIn", **fields)
    current = state["current"]
    audit(
        "saml:SignIn",
        "allowed",
        principal=current["arn"] if current else None,
        **fields,
    )
    target = landing(state, safe_return_path(request.form.get("RelayState")))
    response = redirect(target, code=303)
    response.delete_cookie(PENDING_COOKIE, path="/saml/acs")
    return response


def _intended_provider(
    db: Any,
    candidates: list[SamlProvider],
    validated: ValidatedResponse,
    pending: dict[str, Any] | None,
    verifies: Callable[[SamlProvider], bool],
) -> SamlProvider:
    """Which account's provider this sign-in is for. Several accounts may register one IdP
    (its metadata is public), so the first whose keys verify is not enough: the provider
    the browser asked (SP-initiated), else the first the assertion's Role pairs name (the
    IdP's signed choice), else the only one whose keys verify the response. An
    SP-initiated answer whose Role pairs name only other providers is refused: the IdP
    answers every account's request alike, so the asked provider alone proves nothing."""
    rt = runtime()
    by_arn = {SamlProviders(rt.iam(db, p.account_id)).arn(p): p for p in candidates}
    named = [pair.provider_arn for pair in role_pairs(validated.attributes, rt.settings.partition)]
    if pending and validated.in_response_to == pending.get("rid"):
        asked_arn = pending.get("provider", "")
        asked = by_arn.get(asked_arn)
        if asked is None:
            raise InvalidIdentityTokenError(
                "This sign-in response comes from another identity provider than the one asked.",
                reason="saml.wrong_issuer",
            )
        if named and asked_arn not in named:
            # The browser's request chose the provider, but the IdP's signed Role pairs
            # name others: a link to /saml/login?provider=<someone else's copy of this
            # IdP> must not sign the person in to that account.
            raise AccessDeniedError(
                "Your identity provider gave you roles through another SAML provider than "
                "the one this sign-in was started with. Start the sign-in from your own "
                "account's sign-in page, or from your identity provider.",
                reason="saml.provider_not_named",
            )
        return asked
    for arn in named:
        if arn in by_arn:
            return by_arn[arn]
    if named:
        raise AccessDeniedError(
            "The identity provider did not give you a role through a provider registered here.",
            reason="saml.no_roles",
        )
    verifying = [p for p in candidates if p is validated.provider or verifies(p)]
    if len(verifying) == 1:
        return verifying[0]
    raise InvalidIdentityTokenError(
        "Several accounts register this identity provider and the assertion names no "
        "role: start the sign-in from /saml/login?provider=<provider ARN>.",
        reason="saml.ambiguous_provider",
    )


def _check_answers_our_request(
    db: Any, in_response_to: str | None, pending: dict[str, Any] | None
) -> None:
    if in_response_to is None:
        return  # IdP-initiated
    if pending is None or pending.get("rid") != in_response_to:
        raise AccessDeniedError(
            "This sign-in response answers a request this browser did not make.",
            reason="saml.in_response_to",
        )
    if not use_once(db, "saml-request", in_response_to, now() + timedelta(hours=1), now()):
        raise InvalidIdentityTokenError(
            "This sign-in request has already been answered.", reason="saml.replayed"
        )
