"""The browser side: SAML (and OIDC) sign-in pages and the console.

Cookies are signed with a key derived from the master key (every worker
agrees on it), HttpOnly, SameSite=Lax, and Secure when the base URL is https.
The console's state lives server-side (app.web.state); the cookie only names it.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask import Request
from flask.sessions import SecureCookieSession
from flask.sessions import SecureCookieSessionInterface

from app.runtime import Runtime

#: Paths no browser page lives on: health and metrics (the Query endpoint never
#: reaches Flask: app.api.views).
_NOT_PAGES = frozenset({"/healthz", "/readyz", "/metrics"})


class _PageCookies(SecureCookieSessionInterface):
    """The signed cookie belongs to the pages. API calls never read it, and opening it
    builds a serializer each time (6% of a refused STS call), so they get Flask's
    null session: empty, and an error if anything tried to write to it."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path in _NOT_PAGES:
            return None
        return super().open_session(app, request)


def init_web(app: Flask, runtime: Runtime) -> None:
    from app.web import console
    from app.web import oidc_views
    from app.web import saml_views
    from app.web.common import secure_headers

    app.secret_key = runtime.secrets.derive("flask-session-cookie")
    app.session_interface = _PageCookies()
    app.config.update(
        SESSION_COOKIE_NAME="fedbridge_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=runtime.settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
    )
    app.register_blueprint(saml_views.bp)
    app.register_blueprint(oidc_views.bp)
    app.register_blueprint(console.bp)
    app.after_request(secure_headers)
