"""What operators rely on: health, readiness, metrics, request ids, and rate limits."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from app import create_app
from app.config import Settings
from app.runtime import Runtime
from tests.conftest import ROOT_KEY
from tests.conftest import Server
from tests.conftest import free_port


def test_health_and_readiness(server: Server) -> None:
    assert requests.get(server.url + "/healthz", timeout=5).text == "ok\n"
    ready = requests.get(server.url + "/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json() == {"ready": True, "problems": {}}


def test_metrics_count_calls_refusals_and_issued_credentials(server: Server, iam, sts) -> None:  # type: ignore[no-untyped-def]
    iam.list_users()
    sts.get_session_token(DurationSeconds=900)
    bad = requests.post(
        server.url + "/", data={"Action": "ListUsers", "Version": "2010-05-08"}, timeout=5
    )
    assert bad.status_code == 403
    text = requests.get(server.url + "/metrics", timeout=5).text
    assert 'fedbridge_requests_total{action="iam:ListUsers",outcome="allowed"}' in text
    assert 'fedbridge_refusals_total{reason="sigv4.missing"}' in text
    assert 'fedbridge_credentials_issued_total{action="sts:GetSessionToken"}' in text
    assert 'fedbridge_request_seconds_bucket{endpoint="api.query_endpoint"' in text


def test_request_id_header_matches_the_body(server: Server) -> None:
    resp = requests.post(
        server.url + "/", data={"Action": "Nope", "Version": "2010-05-08"}, timeout=5
    )
    request_id = resp.headers["x-amzn-RequestId"]
    assert f"<RequestId>{request_id}</RequestId>" in resp.text


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[str]:
    """A server of its own whose limits a test can reach: 3 per second per address."""
    port = free_port()
    settings = Settings(
        data_dir=tmp_path,
        base_url=f"http://127.0.0.1:{port}",
        root_access_key_id=ROOT_KEY,
        root_secret_access_key="x" * 40,
        redis_url=os.environ.get("FEDBRIDGE_TEST_REDIS_URL") or None,
        rate_limit_per_ip=3,
        rate_limit_per_provider=3,
    )
    runtime = Runtime.start(settings)
    http = make_server("127.0.0.1", port, create_app(settings, runtime), threaded=True)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    yield settings.base_url
    http.shutdown()
    http.server_close()
    runtime.engine.dispose()


def test_unsigned_sts_actions_and_sign_in_pages_are_rate_limited(limited: str) -> None:
    body = {
        "Action": "AssumeRoleWithWebIdentity",
        "Version": "2011-06-15",
        "RoleArn": "arn:aws:iam::111122223333:role/R",
        "RoleSessionName": "s1",
        "WebIdentityToken": "not-a-token",
    }
    codes = []
    for _ in range(8):
        resp = requests.post(limited + "/", data=body, timeout=5)
        codes.append(resp.text.split("<Code>")[1].split("</Code>")[0])
    assert "Throttling" in codes and codes[0] == "InvalidIdentityToken"
    pages = [
        requests.post(limited + "/saml/acs", data={"SAMLResponse": "x"}, timeout=5)
        for _ in range(8)
    ]
    assert any("Too many sign-in attempts" in p.text for p in pages)
