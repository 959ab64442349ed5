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
