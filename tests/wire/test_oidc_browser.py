"""Browser sign-in over OpenID Connect with a scripted client keeping cookies: the code flow
with PKCE against a real test issuer acting as the authorization server."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html import unescape
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import select

from app.db.models import AuditEvent
from app.iam.oidc_providers import OidcProviders
from tests.conftest import Server
from tests.oidc_issuer import CLIENT_ID
from tests.oidc_issuer import Issuer
from tests.wire.test_oidc import World

SECRET = "browser-client-secret"


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    from app.web import oidc_views

    oidc_views._discoveries.clear()  # a new issuer may reuse an old one's port
    issuer = Issuer("/realms/corp")
    issuer.clients[CLIENT_ID] = SECRET
    yield issuer
    issuer.stop()


@pytest.fixture
def world(server: Server, issuer: Issuer) -> World:
    world = World(server, issuer)
    runtime = server.runtime
    with runtime.sessions.begin() as db:
        OidcProviders(runtime.iam(db, world.account_id)).set_browser_client(
            world.provider_arn, CLIENT_ID, runtime.secrets.seal(SECRET)
        )
    return world


def _browser_client(server: Server, world: World, secret: str = SECRET) -> None:
    runtime = server.runtime
    with runtime.sessions.begin() as db:
        OidcProviders(runtime.iam(db, world.account_id)).set_browser_client(
            world.provider_arn, CLIENT_ID, runtime.secrets.seal(secret)
        )


def _sign_in_refusals(server: Server, account_id: str) -> list[str | None]:
    with server.runtime.sessions() as db:
        return list(
            db.scalars(
                select(AuditEvent.reason)
                .where(
                    AuditEvent.action == "oidc:SignIn",
                    AuditEvent.outcome == "refused",
                    AuditEvent.account_id == account_id,
                )
                .order_by(AuditEvent.id)
            )
        )


def _sub_trust(world: World, sub: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": world.provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {"StringEquals": {f"{world.issuer.key}:sub": sub}},
                }
            ],
        }
    )


def _login(server: Server, browser: requests.Session, provider_arn: str) -> requests.Response:
    """/oidc/login: the redirect to the issuer's /authorize."""
    return browser.get(
        server.url + "/oidc/login",
        params={"provider": provider_arn},
        allow_redirects=False,
        timeout=10,
    )


def _start(server: Server, world: World, browser: requests.Session) -> requests.Response:
    """/oidc/login, then the issuer's /authorize: returns the redirect back to us."""
    start = _login(server, browser, world.provider_arn)
    assert start.status_code == 303, start.text
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    assert query["redirect_uri"] == [server.url + "/oidc/callback"]
    back = browser.get(start.headers["Location"], allow_redirects=False, timeout=10)
    assert back.status_code == 302
    return back


def test_code_flow_with_pkce_signs_in_to_the_role_the_trust_admits(
    world: World, server: Server
) -> None:
    world.role("Mine", trust=_sub_trust(world, "user-1234"))
    world.role("NotMine", trust=_sub_trust(world, "someone-else"))
    world.issuer.extra_claims = {"email": "alice@example.com"}
    browser = requests.Session()
    back = _start(server, world, browser)
    landed = browser.get(back.headers["Location"], allow_redirects=False, timeout=10)
    assert landed.status_code == 303 and landed.headers["Location"] == "/console"
    console = browser.get(server.url + "/console", timeout=10)
    assert "assumed-role/Mine/alice@example.com" in console.text
    creds = dict(re.findall(r"export (AWS_[A-Z_]+)=(\S+)", unescape(console.text)))
    sts = server.client(
        "sts",
        creds["AWS_ACCESS_KEY_ID"],
        creds["AWS_SECRET_ACCESS_KEY"],
        creds["AWS_SESSION_TOKEN"],
    )
    assert sts.get_caller_identity()["Arn"].endswith("assumed-role/Mine/alice@example.com")


def test_two_trusting_roles_lead_to_the_chooser(world: World, server: Server) -> None:
    world.role("One", trust=_sub_trust(world, "user-1234"))
    world.role("Two", trust=_sub_trust(world, "user-1234"))
    browser = requests.Session()
    landed = browser.get(
        _start(server, world, browser).headers["Location"], allow_redirects=False, timeout=10
    )
    assert landed.headers["Location"] == "/console/roles"
    chooser = browser.get(server.url + "/console/roles", timeout=10)
    assert "role/One" in chooser.text and "role/Two" in chooser.text


def test_state_mismatch_is_refused(world: World, server: Server) -> None:
    world.role("Mine", trust=_sub_trust(world, "user-1234"))
    browser = requests.Session()
    back = _start(server, world, browser)
    forged = back.headers["Location"].replace("state=", "state=x")
    resp = browser.get(forged, allow_redirects=False, timeout=10)
    assert resp.status_code == 403 and "does not belong to the sign-in" in resp.text


def test_an_answer_without_the_browser_that_asked_is_refused(world: World, server: Server) -> None:
    world.role("Mine", trust=_sub_trust(world, "user-1234"))
    back = _start(server, world, requests.Session())
    resp = requests.get(back.headers["Location"], allow_redirects=False, timeout=10)
    assert resp.status_code == 403 and "not started in this browser" in resp.text
    # What to do is start again here, not ask an administrator for access.
    assert "Start again from the sign-in page, in this browser." in resp.text
    assert "administrator" not in resp.text


def test_nonce_mismatch_is_refused(world: World, server: Server) -> None:
    world.role("Mine", trust=_sub_trust(world, "user-1234"))
    world.issuer.extra_claims = {"nonce": "not-the-one-we-sent"}
    browser = requests.Session()
    resp = browser.get(
        _start(server, world, browser).headers["Location"], allow_redirects=False, timeout=10
    )
    assert resp.status_code == 400 and "nonce" in resp.text


def test_a_replayed_code_is_refused(world: World, server: Server) -> None:
    world.role("Mine", trust=_sub_trust(world, "user-1234"))
    browser = requests.Session()
    back = _start(server, world, browser)
    first = browser.get(back.headers["Location"], allow_redirects=False, timeout=10)
    assert first.headers["Location"] == "/console"
    # The same callback again, in a browser that keeps the (spent) flow cookie.
    replay = requests.Session()
    replay.cookies.update(browser.cookies)
    again = replay.get(back.headers["Location"], allow_redirects=False, timeout=10)
    assert again.status_code in (400, 403)


def test_user_based_sign_in_by_claim(world: World, server: Server) -> None:
    world.admin.tag_open_id_connect_provider(
        OpenIDConnectProviderArn=world.provider_arn,
        Tags=[
            {"Key": "fedbridge:sso-mode", "Value": "user"},
            {"Key": "fedbridge:user-attribute", "Value": "email"},
        ],
    )
    world.admin.create_user(UserName="alice@example.com")
    world.issuer.extra_claims = {"email": "alice@example.com"}
    browser = requests.Session()
    landed = browser.get(
        _start(server, world, browser).headers["Location"], allow_redirects=False, timeout=10
    )
    assert landed.headers["Location"] == "/console"
    console = browser.get(server.url + "/console", timeout=10)
    assert f"arn:aws:iam::{world.account_id}:user/alice@example.com" in console.text


def test_provider_without_a_browser_client_says_so(server: Server, issuer: Issuer) -> None:
    world = World(server, issuer)
    resp = requests.get(
        server.url + "/oidc/login", params={"provider": world.provider_arn}, timeout=10
    )
    assert resp.status_code == 400 and "set-client" in resp.text


def _sign_in(server: Server, world: World, trusted_ca: str | None = None) -> requests.Response:
    browser = requests.Session()
    if trusted_ca:  # the person's browser trusts their company's CA
        browser.verify, browser.trust_env = trusted_ca, False  # REQUESTS_CA_BUNDLE would win
    back = _start(server, world, browser)
    return browser.get(back.headers["Location"], allow_redirects=False, timeout=10)


def test_the_token_endpoint_gets_the_providers_tls_trust(server: Server) -> None:
    from tests.wire.test_oidc import THUMBPRINT

    issuer = Issuer("/realms/tls", tls=True)  # its CA is no system CA
    assert issuer.tls is not None
    issuer.clients[CLIENT_ID] = SECRET
    try:
        world = World(server, issuer, ThumbprintList=[THUMBPRINT, issuer.tls.ca_thumbprint])
        with server.runtime.sessions.begin() as db:
            OidcProviders(server.runtime.iam(db, world.account_id)).set_browser_client(
                world.provider_arn, CLIENT_ID, server.runtime.secrets.seal(SECRET)
            )
        world.role("Mine", trust=_sub_trust(world, "user-1234"))
        landed = _sign_in(server, world, trusted_ca=str(issuer.tls.chain))
        assert landed.headers["Location"] == "/console"
    finally:
        issuer.stop()


@pytest.mark.parametrize(
    ("status", "body", "headers"),
    [
        (200, b'{"id_token": "' + b"a" * 2_000_000 + b'"}', {}),  # over the 1 MB cap
        (400, b'{"error": "invalid_grant"}', {}),
        (200, b"[1, 2]", {}),
    ],
    ids=["two-megabytes", "invalid-grant", "not-an-object"],
)
def test_a_token_endpoint_that_misbehaves_signs_nobody_in(
    world: World, server: Server, status: int, body: bytes, headers: dict[str, str]
) -> None:
    world.role("Mine", trust=_sub_trust(world, "user-1234"))
    world.issuer.token_answer, world.issuer.token_headers = (status, body), headers
    resp = _sign_in(server, world)
    assert resp.status_code == 403 and "refused to exchange the sign-in code" in resp.text


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "ci-pipeline"},  # trusted for web identity, but not this sign-in's client
        {"aud": [CLIENT_ID, "https://untrusted.example"]},  # an audience nobody trusts
        {"aud": CLIENT_ID, "azp": "ci-pipeline"},  # authorized for another party
    ],
    ids=["other-client", "untrusted-extra-audience", "azp-another-client"],
)
def test_the_id_token_must_be_meant_for_this_client(
    world: World, server: Server, claims: dict[str, object]
) -> None:
    world.admin.add_client_id_to_open_id_connect_provider(
        OpenIDConnectProviderArn=world.provider_arn, ClientID="ci-pipeline"
    )
    world.role("Mine", trust=_sub_trust(world, "user-1234"))
    world.issuer.extra_claims = claims
    resp = _sign_in(server, world)
    assert resp.status_code == 400 and "not meant for this sign-in" in unescape(resp.text)


def test_the_code_and_verifier_never_follow_a_redirect(world: World, server: Server) -> None:
    from http.server import BaseHTTPRequestHandler
    from http.server import ThreadingHTTPServer
    from threading import Thread

    received: list[str] = []

    class Elsewhere(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers["Content-Length"] or 0)).decode())
            self.send_response(400)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    elsewhere = ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)
    Thread(target=elsewhere.serve_forever, daemon=True).start()
    try:
        world.role("Mine", trust=_sub_trust(world, "user-1234"))
        target = f"http://127.0.0.1:{elsewhere.server_port}/steal"
        world.issuer.token_answer, world.issuer.token_headers = (307, b""), {"Location": target}
        resp = _sign_in(server, world)
        assert resp.status_code == 403 and received == []
    finally:
        elsewhere.shutdown()
        elsewhere.server_close()


def test_a_token_endpoint_trickling_its_headers_is_cut_off(
    world: World, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket
    import threading
    import time

    from app.oidc.jwks import FETCH_SECONDS

    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def trickle() -> None:  # a status line, then a header a byte a second, for 30 s
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            for _ in range(30):
                if done.wait(1):
                    break
                conn.sendall(b"a")

    threading.Thread(target=trickle, daemon=True).start()
    document = world.issuer.document

    def discovery(path: str):  # type: ignore[no-untyped-def]
        answer = document(path)
        if isinstance(answer, dict) and "token_endpoint" in answer:
            answer["token_endpoint"] = f"http://127.0.0.1:{listener.getsockname()[1]}/token"
        return answer

    monkeypatch.setattr(world.issuer, "document", discovery)
    world.role("Mine", trust=_sub_trust(world, "user-1234"))
    started = time.monotonic()
    try:
        resp = _sign_in(server, world)
        waited = time.monotonic() - started
    finally:
        done.set()
        listener.close()
    assert resp.status_code == 403 and waited < FETCH_SECONDS + 5  # not the trickle's 30 s


def test_a_mix_up_never_sends_another_idps_code_to_a_token_endpoint(server: Server) -> None:
    """RFC 9700 §4.4: an IdP registered in another account (the attacker's) forwards the
    victim's sign-in to the honest IdP, which answers to the one shared redirect URI. The
    answer names its issuer (RFC 9207), so the code goes to no token endpoint at all."""
    from urllib.parse import urlencode

    honest, evil = Issuer("/realms/honest"), Issuer("/realms/evil")
    honest.clients[CLIENT_ID], evil.clients[CLIENT_ID] = "honest-secret", "evil-secret"
    honest.subject = "victim-sub"
    try:
        victim_org = World(server, honest)
        _browser_client(server, victim_org, "honest-secret")
        victim_org.role("VictimAdmin", trust=_sub_trust(victim_org, "victim-sub"))
        attacker_org = World(server, evil)
        _browser_client(server, attacker_org, "evil-secret")
        # The attacker's own sign-in with the honest IdP: its PKCE challenge and nonce.
        attacker = requests.Session()
        own = _login(server, attacker, victim_org.provider_arn)
        mine = {k: v[0] for k, v in parse_qs(urlsplit(own.headers["Location"]).query).items()}

        def forward(query: dict[str, str]) -> tuple[int, str]:
            kept = {k: query[k] for k in ("redirect_uri", "state", "scope")}
            forged = {**mine, **kept}  # the victim's state, the attacker's challenge
            return 302, f"{honest.url}/authorize?{urlencode(forged)}"

        stolen: list[str] = []

        def steal(form: dict[str, str], authorization: str | None) -> tuple[int, dict[str, str]]:
            stolen.append(form.get("code", ""))
            return 400, {"error": "invalid_grant"}

        evil.authorize = forward  # type: ignore[method-assign]
        evil.exchange = steal  # type: ignore[method-assign,assignment]

        victim = requests.Session()
        url = server.url + "/oidc/login?" + urlencode({"provider": attacker_org.provider_arn})
        for _ in range(4):  # fedbridge -> evil /authorize -> honest /authorize -> callback
            resp = victim.get(url, allow_redirects=False, timeout=10)
            if "Location" not in resp.headers:
                break
            url = resp.headers["Location"]
        assert url.startswith(server.url + "/oidc/callback?") and "iss=" in url
        assert resp.status_code == 400
        assert "another identity provider" in unescape(resp.text)
        assert stolen == [] and evil.requests["/realms/evil/token"] == 0
        assert honest.requests["/realms/honest/token"] == 0  # nothing redeemed at all
        assert _sign_in_refusals(server, attacker_org.account_id)[-1] == "oidc.iss_mismatch"
        # Nothing was signed in, and the victim's browser has no session.
        assert (
            victim.get(server.url + "/console", allow_redirects=False, timeout=10).headers[
                "Location"
            ]
            == "/signin"
        )
    finally:
        honest.stop()
        evil.stop()


def test_an_answer_without_iss_from_a_provider_that_always_sends_it_is_refused(
    world: World, server: Server
) -> None:
    world.role("Mine", trust=_sub_trust(world, "user-1234"))
    world.issuer.send_iss = False  # advertise_iss stays on
    resp = _sign_in(server, world)
    assert resp.status_code == 400 and "does not say which identity provider" in resp.text
    assert world.issuer.requests["/realms/corp/token"] == 0
    assert _sign_in_refusals(server, world.account_id)[-1] == "oidc.iss_missing"


def test_a_provider_that_does_not_send_iss_still_signs_in(world: World, server: Server) -> None:
    world.role("Mine", trust=_sub_trust(world, "user-1234"))
    world.issuer.send_iss = world.issuer.advertise_iss = False
    assert _sign_in(server, world).headers["Location"] == "/console"


def test_sign_ins_reuse_the_discovery_document(world: World, server: Server) -> None:
    """Anyone may start sign-ins: each must not make a fetch from the identity provider."""
    world.role("Mine", trust=_sub_trust(world, "user-1234"))
    for _ in range(3):
        assert _sign_in(server, world).headers["Location"] == "/console"
    # One read for the sign-in endpoints, one with the signing keys (app.oidc.jwks); it
    # was one per sign-in start and one per answer besides.
    assert world.issuer.requests["/realms/corp/.well-known/openid-configuration"] == 2


def test_the_flow_cookie_does_not_give_the_browser_the_pkce_verifier(
    world: World, server: Server
) -> None:
    """The cookie is signed, not encrypted: anything in it is the browser's to read."""
    import base64
    import hashlib

    browser = requests.Session()
    start = _login(server, browser, world.provider_arn)
    challenge = parse_qs(urlsplit(start.headers["Location"]).query)["code_challenge"][0]
    from itsdangerous import URLSafeTimedSerializer

    # Read as anyone can read it: without the key (the signature is not checked).
    _, flow = URLSafeTimedSerializer("no-key").loads_unsafe(browser.cookies["fedbridge_oidc_flow"])
    digest = hashlib.sha256(flow["v"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != challenge
    world.role("Mine", trust=_sub_trust(world, "user-1234"))
    back = browser.get(start.headers["Location"], allow_redirects=False, timeout=10)
    done = browser.get(back.headers["Location"], allow_redirects=False, timeout=10)
    assert done.headers["Location"] == "/console"  # the sealed verifier still proves us
