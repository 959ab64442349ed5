"""What operators rely on: health, readiness, metrics, request ids, and rate limits."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from app import create_app
from app.config import Settings
from app.db.models import AuditEvent
from app.logs import request_id_var
from app.runtime import Runtime
from tests.conftest import ROOT_KEY
from tests.conftest import Server
from tests.conftest import error_code
from tests.conftest import free_port
from tests.conftest import running


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


def test_a_sign_in_page_audits_under_the_request_id_it_returns(server: Server) -> None:
    resp = requests.post(server.url + "/saml/acs", data={"SAMLResponse": "x"}, timeout=5)
    request_id = resp.headers["x-amzn-RequestId"]
    with server.runtime.sessions() as session:
        query = select(AuditEvent.outcome).where(AuditEvent.request_id == request_id)
        assert session.scalars(query).all() == ["refused"]


def test_browsers_may_not_sniff_replies_or_frame_pages(server: Server) -> None:
    page = requests.post(server.url + "/saml/acs", data={"SAMLResponse": "x"}, timeout=5)
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    reply = requests.post(server.url + "/", data={"Action": "Nope"}, timeout=5)
    for resp in (page, reply):
        assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_the_query_endpoint_answers_get_head_and_post_only(server: Server) -> None:
    query = {"Action": "GetCallerIdentity", "Version": "2011-06-15"}
    head = requests.head(server.url + "/", params=query, timeout=5)
    get = requests.get(server.url + "/", params=query, timeout=5)
    assert head.status_code == get.status_code == 403 and head.content == b""
    put = requests.put(server.url + "/", data=query, timeout=5)
    assert (put.status_code, put.headers["Allow"]) == (405, "GET, HEAD, POST")
    assert put.headers["x-amzn-RequestId"]


def _limited(tmp_path: Path, trusted_proxies: int = 0) -> Settings:
    """A server of its own whose limits a test can reach: 3 per second per address."""
    return Settings(
        data_dir=tmp_path,
        base_url=f"http://127.0.0.1:{free_port()}",
        root_access_key_id=ROOT_KEY,
        root_secret_access_key="x" * 40,
        redis_url=os.environ.get("FEDBRIDGE_TEST_REDIS_URL") or None,
        rate_limit_per_ip=3,
        rate_limit_per_provider=3,
        trusted_proxies=trusted_proxies,
    )


@pytest.fixture
def limited_server(tmp_path: Path) -> Iterator[tuple[str, Runtime]]:
    with running(_limited(tmp_path)) as server:
        yield server


@pytest.fixture
def limited(limited_server: tuple[str, Runtime]) -> str:
    return limited_server[0]


@pytest.fixture
def behind_one_proxy(tmp_path: Path) -> Iterator[tuple[str, Runtime]]:
    with running(_limited(tmp_path, trusted_proxies=1)) as server:
        yield server


_UNSIGNED_CALL = {
    "Action": "AssumeRoleWithWebIdentity",
    "Version": "2011-06-15",
    "RoleArn": "arn:aws:iam::111122223333:role/R",
    "RoleSessionName": "s1",
    "WebIdentityToken": "not-a-token",
}


def _codes(url: str, forwarded_for: list[str | None]) -> list[str]:
    return [
        error_code(
            requests.post(
                url + "/",
                data=_UNSIGNED_CALL,
                headers={"X-Forwarded-For": xff} if xff else {},
                timeout=5,
            )
        )
        for xff in forwarded_for
    ]


def test_unsigned_sts_actions_and_sign_in_pages_are_rate_limited(
    limited_server: tuple[str, Runtime],
) -> None:
    limited, runtime = limited_server
    codes = _codes(limited, [None] * 8)
    assert "Throttling" in codes and codes[0] == "InvalidIdentityToken"
    pages = [
        requests.post(limited + "/saml/acs", data={"SAMLResponse": "x"}, timeout=5)
        for _ in range(8)
    ]
    throttled = [p for p in pages if "Too many sign-in attempts" in p.text]
    assert throttled and all(p.status_code == 429 for p in throttled)
    # The start page lists an account's providers: it is a door too.
    time.sleep(1.1)  # the next second's allowance
    starts = [
        requests.get(limited + "/signin?account=111122223333", timeout=5).status_code
        for _ in range(8)
    ]
    assert starts[0] == 200 and 429 in starts
    with runtime.sessions() as session:
        reasons = set(
            session.execute(
                select(AuditEvent.action, AuditEvent.reason).where(
                    AuditEvent.reason == "throttled.ip"
                )
            )
        )
    # Throttled pages are on record under their own actions, like their other refusals.
    assert reasons >= {("saml:SignIn", "throttled.ip"), ("console:SignInStart", "throttled.ip")}


def test_a_forwarded_address_does_not_dodge_the_limit_unless_proxies_are_trusted(
    limited: str,
) -> None:
    codes = _codes(limited, [f"198.51.100.{n}" for n in range(1, 9)])
    assert "Throttling" in codes


def _source_ips(runtime: Runtime) -> list[str | None]:
    with runtime.sessions() as session:
        return list(
            session.scalars(
                select(AuditEvent.source_ip)
                .where(AuditEvent.action == "sts:AssumeRoleWithWebIdentity")
                .order_by(AuditEvent.id)
            )
        )


def test_behind_a_trusted_proxy_each_client_has_its_own_limit_and_audit_address(
    behind_one_proxy: tuple[str, Runtime],
) -> None:
    url, runtime = behind_one_proxy
    # The proxy appends the address it saw; what the client wrote before it is ignored.
    crowd = _codes(url, ["203.0.113.9, 198.51.100.1"] * 8)
    assert "Throttling" in crowd
    # Another client behind the same proxy is not throttled by the first one's calls.
    assert _codes(url, ["198.51.100.2"]) == ["InvalidIdentityToken"]
    addresses = _source_ips(runtime)
    assert addresses[0] == "198.51.100.1" and addresses[-1] == "198.51.100.2"
    assert "203.0.113.9" not in addresses


def test_made_up_calls_naming_a_provider_do_not_spend_its_limit(
    behind_one_proxy: tuple[str, Runtime],
) -> None:
    """Anyone can name another account's provider in a junk call; only calls its own
    keys verify count against it, or a few addresses could throttle that account."""
    url, runtime = behind_one_proxy
    # Addresses no other test uses: with Redis, every test server counts in one place.
    junk = {
        "Action": "AssumeRoleWithSAML",
        "Version": "2011-06-15",
        "RoleArn": "arn:aws:iam::111122223333:role/R",
        "PrincipalArn": "arn:aws:iam::111122223333:saml-provider/Corp",
        "SAMLAssertion": "bm90IGFuIGFzc2VydGlvbg==",
    }
    codes = [
        error_code(
            requests.post(
                url + "/", data=junk, headers={"X-Forwarded-For": f"192.0.2.{n}"}, timeout=5
            )
        )
        for n in range(1, 9)  # eight addresses, one call each: the provider's limit is 3
    ]
    assert "Throttling" not in codes and codes[0] == "InvalidIdentityToken"
    # Calls the provider's keys verify do count: the fourth in a second is throttled,
    # from whichever address.
    import boto3

    from tests.saml_idp import TestIdp

    base = runtime.settings.base_url
    iam = boto3.client(
        "iam",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=ROOT_KEY,
        aws_secret_access_key="x" * 40,
    )
    idp = TestIdp()
    provider = iam.create_saml_provider(Name="Corp", SAMLMetadataDocument=idp.metadata())
    account = provider["SAMLProviderArn"].split(":")[4]
    signed = {
        **junk,
        "RoleArn": f"arn:aws:iam::{account}:role/R",
        "PrincipalArn": provider["SAMLProviderArn"],
    }
    # Made before the calls, so that the calls come quickly: twelve within a few seconds.
    assertions = [
        idp.response(acs=base + "/saml/acs", audience=base + "/saml/metadata") for _ in range(12)
    ]
    time.sleep(1.1)  # the next second's allowance
    codes = [
        error_code(
            requests.post(
                url + "/",
                data={**signed, "SAMLAssertion": assertion},
                headers={"X-Forwarded-For": f"192.0.2.{n}"},
                timeout=5,
            )
        )
        for n, assertion in enumerate(assertions, start=1)
    ]
    assert "Throttling" in codes and codes[0] == "AccessDenied", codes


def test_behind_a_trusted_proxy_its_forwarded_proto_is_aws_secure_transport(
    behind_one_proxy: tuple[str, Runtime],
) -> None:
    import boto3

    url, _ = behind_one_proxy
    admin = boto3.client(
        "iam",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=ROOT_KEY,
        aws_secret_access_key="x" * 40,
    )
    admin.create_user(UserName="tls-only")
    admin.put_user_policy(
        UserName="tls-only",
        PolicyName="p",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"},
                    {
                        "Effect": "Deny",
                        "Action": "*",
                        "Resource": "*",
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    },
                ],
            }
        ),
    )
    key = admin.create_access_key(UserName="tls-only")["AccessKey"]

    def as_user(proto: str):  # type: ignore[no-untyped-def]
        client = boto3.client(
            "iam",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )
        client.meta.events.register(
            "before-send",
            lambda request, **_: request.headers.__setitem__("X-Forwarded-Proto", proto),
        )
        return client

    as_user("https").list_users()
    for proto in ("http", "javascript"):
        with pytest.raises(Exception, match="AccessDenied"):
            as_user(proto).list_users()


@pytest.mark.parametrize("junk", ["not-an-address", "fe80::1%" + "z" * 80, "x" * 5000])
def test_a_forwarded_entry_that_is_not_an_address_is_ignored(
    behind_one_proxy: tuple[str, Runtime], junk: str
) -> None:
    url, runtime = behind_one_proxy
    assert _codes(url, [junk]) == ["InvalidIdentityToken"]
    assert _source_ips(runtime) == ["127.0.0.1"]


def test_lines_logged_after_a_request_carry_no_request_id(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    runtime = Runtime.start(settings)
    try:
        resp = create_app(settings, runtime).test_client().post("/", data={"Action": "Nope"})
        assert resp.headers["x-amzn-RequestId"]
        assert request_id_var.get() is None
    finally:
        runtime.engine.dispose()


@pytest.mark.parametrize("base", ["https://sso.example.com", "http://127.0.0.1:8000"])
def test_pages_forbid_inline_script_and_pin_https_when_served_so(tmp_path: Path, base: str) -> None:
    settings = Settings(data_dir=tmp_path, base_url=base)
    runtime = Runtime.start(settings)
    try:
        resp = create_app(settings, runtime).test_client().get("/signin")
        policy = resp.headers["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "'unsafe-inline'; img" not in policy
        hsts = resp.headers.get("Strict-Transport-Security")
        assert hsts == ("max-age=31536000" if base.startswith("https") else None)
    finally:
        runtime.engine.dispose()
