"""What every browser page shares: the runtime, CSRF, the signed-in session, error pages
and the audit of sign-ins. A person never sees a stack trace: every refusal is a page
that says what happened and what to do."""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from flask import Response
from flask import current_app
from flask import render_template
from flask import request
from flask import session as cookie
from sqlalchemy.orm import Session

from app.audit import AuditRecord
from app.errors import AccessDeniedError
from app.errors import ServiceError
from app.observability import REQUEST_ID
from app.runtime import Runtime
from app.web.state import WebSessions

log = logging.getLogger("fedbridge.web")

#: What a person can do about each kind of refusal.
_ADVICE = {
    "ExpiredTokenException": "Your sign-in took too long or the link was old. Start again.",
    "ExpiredToken": "Your session has ended. Sign in again.",
    "AccessDenied": "Ask your administrator to grant you access, then sign in again.",
    "InvalidIdentityToken": "Your identity provider's answer could not be accepted. "
    "Start again from your identity provider; if it happens again, tell your administrator.",
    "IDPRejectedClaim": "Your identity provider did not sign you in. Try again there.",
    "Throttling": "Too many sign-in attempts from your network. Wait a minute and try again.",
}
#: Refusals that are not about access, though AWS's code for them is AccessDenied.
_ADVICE_BY_REASON = {
    reason: "Start again from the sign-in page, in this browser."
    for reason in ("oidc.no_flow", "oidc.state_mismatch", "saml.in_response_to", "web.csrf")
}
_ADVICE_BY_REASON["mfa.transient_name_id"] = (
    "Tell your administrator: signing in again will not help until the identity provider "
    "sends a stable NameID."
)
_ADVICE_BY_REASON["saml.provider_not_named"] = (
    "Start again from your identity provider, or from your own account's sign-in page."
)


def runtime() -> Runtime:
    return current_app.extensions["fedbridge"]


def now() -> datetime:
    return runtime().clock.now()


def web_sessions(db: Session) -> WebSessions:
    return WebSessions(db, runtime().secrets, now())


# --- CSRF ---------------------------------------------------------------------------


def csrf_token() -> str:
    token = cookie.get("csrf")
    if not token:
        token = cookie["csrf"] = secrets.token_urlsafe(24)
    return token


def csrf_protected(view: Callable[..., Any]) -> Callable[..., Any]:
    """Every form POST carries the token from the signed cookie session."""

    @wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        sent = request.form.get("csrf", "")
        expected = cookie.get("csrf", "")
        if not expected or not hmac.compare_digest(str(sent), str(expected)):
            return page_error(
                AccessDeniedError(
                    "This form has expired or did not come from this site.",
                    reason="web.csrf",
                ),
                "web:Form",
            )
        return view(*args, **kwargs)

    return checked


def rate_limited(action: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Sign-in doors are open to anyone: limit them per source IP. A throttled request
    is audited under the view's own `action`, like its other refusals."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def limited(*args: Any, **kwargs: Any) -> Any:
            try:
                runtime().rate_limiter.check("ip", request.remote_addr)
            except ServiceError as err:
                return page_error(err, action)
            return view(*args, **kwargs)

        return limited

    return decorate


# --- audit and errors -----------------------------------------------------------------


def audit(
    action: str,
    outcome: str,
    *,
    account_id: str | None = None,
    principal: str | None = None,
    resource: str | None = None,
    err: ServiceError | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    record = AuditRecord(
        at=now(),
        request_id=request.environ[REQUEST_ID],
        action=action,
        outcome=outcome,
        account_id=account_id,
        principal=principal,
        resource=resource,
        source_ip=request.remote_addr,
        user_agent=request.user_agent.string[:512] or None,
        error_code=err.code if err else None,
        reason=err.reason if err else None,
        detail=detail or None,
    )
    try:
        runtime().audit.write(record)
    except Exception:
        log.exception("could not write the audit record of %s", action)


def page_error(err: ServiceError, action: str, **audit_fields: Any) -> Response:
    log.info("refused %s: %s (%s)", action, err.code, err.reason)
    audit(action, "refused", err=err, **audit_fields)
    body = render_template(
        "error.html",
        code=err.code,
        message=err.message,
        advice=_ADVICE_BY_REASON.get(err.reason or "")
        or _ADVICE.get(err.code, "Start again from the sign-in page."),
    )
    # A browser is told "too many requests" plainly; the API answers Throttling with
    # AWS's 400.
    status = 429 if err.code == "Throttling" else err.status if err.status < 500 else 500
    return Response(body, status=status, content_type="text/html; charset=utf-8")


def page(template: str, status: int = 200, **context: Any) -> Response:
    response = Response(
        render_template(template, **context), status=status, content_type="text/html; charset=utf-8"
    )
    # Pages may show credentials: never cache them, never frame them.
    response.headers["Cache-Control"] = "no-store"
    return response


def secure_headers(response: Response) -> Response:
    if runtime().settings.public_base_url.startswith("https://"):
        # Served over https: browsers never try plain http for it again (a year).
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self'; "
        "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
    )
    return response
