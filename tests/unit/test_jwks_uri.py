"""Where an issuer may send the key fetch: never to this machine from elsewhere."""

from __future__ import annotations

from typing import Any

import pytest

from app.errors import InvalidIdentityTokenError
from app.oidc import jwks


@pytest.mark.parametrize(
    ("issuer", "jwks_uri", "fetched"),
    [
        # An issuer elsewhere may not point the fetch at fedbridge's own machine.
        ("https://idp.example.com", "http://127.0.0.1:8000/healthz", False),
        ("https://idp.example.com", "https://localhost/keys", False),
        ("https://idp.example.com", "https://keys.example.net/jwks", True),
        # A loopback issuer (development, tests) keeps its keys beside it.
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000/keys", True),
    ],
)
def test_the_jwks_uri_may_not_lead_home(
    monkeypatch: pytest.MonkeyPatch, issuer: str, jwks_uri: str, fetched: bool
) -> None:
    asked: list[str] = []

    def remote_idp(url: str, thumbprints: Any) -> dict[str, Any]:  # stands in for the network
        asked.append(url)
        if url.endswith("/.well-known/openid-configuration"):
            return {"issuer": issuer, "jwks_uri": jwks_uri}
        return {"keys": []}

    monkeypatch.setattr(jwks, "fetch_json", remote_idp)
    if fetched:
        assert jwks.fetch_keys(issuer, ()).keys == ()
        assert asked[-1] == jwks_uri
    else:
        with pytest.raises(InvalidIdentityTokenError):
            jwks.fetch_keys(issuer, ())
        assert jwks_uri not in asked


@pytest.mark.parametrize(
    ("issuer", "endpoint", "allowed"),
    [
        # The browser sign-in's token request carries the client secret and the code.
        ("https://idp.example.com", "http://127.0.0.1:8000/token", False),
        ("https://idp.example.com", "https://[::1]/token", False),
        ("https://idp.example.com", "http://login.example.com/token", False),
        ("https://idp.example.com", "https://login.example.com/token", True),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000/token", True),
    ],
)
def test_where_an_issuer_may_send_the_token_request(
    issuer: str, endpoint: str, allowed: bool
) -> None:
    assert jwks.issuer_may_send_us_to(issuer, endpoint) is allowed
