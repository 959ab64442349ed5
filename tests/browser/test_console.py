"""The console as a person meets it, in headless chromium: SAML sign-in (IdP- and
SP-initiated), the role chooser, first-time MFA enrolment and the prompt after it,
copy-ready credentials that work with boto3, switch role, sign out."""

from __future__ import annotations

import re

import pyotp
import pytest

from tests.browser.conftest import shot
from tests.conftest import Server
from tests.saml_idp_server import IdpServer
from tests.wire.test_saml_api import SamlWorld


@pytest.fixture
def world(server: Server, account):  # type: ignore[no-untyped-def]
    world = SamlWorld(server, account)
    world.idp_server = IdpServer(world.idp, world.acs, world.audience)
    # The provider must know the IdP's real SSO URL for SP-initiated sign-in.
    world.admin.update_saml_provider(
        SAMLProviderArn=world.provider_arn, SAMLMetadataDocument=world.idp.metadata()
    )
    world.readers = world.role("Readers")
    world.admin.tag_role(
        RoleName="Admins", Tags=[{"Key": "fedbridge:require-mfa", "Value": "true"}]
    )
    world.idp_server.response_kwargs = {"roles": [world.pair(), world.pair(world.readers)]}
    yield world
    world.idp_server.stop()


def _code(server: Server, secret: str, offset: int = 0) -> str:
    step = int(server.clock.now().timestamp()) // 30 + offset
    return pyotp.TOTP(secret).generate_otp(step)


def _credentials(page) -> dict[str, str]:  # type: ignore[no-untyped-def]
    page.click("summary")
    text = page.locator("#credentials pre").first.inner_text()
    return dict(re.findall(r"export (AWS_[A-Z_]+)=(\S+)", text))


def test_saml_sign_in_chooser_mfa_enrolment_console_switch_and_sign_out(
    world: SamlWorld, server: Server, page
) -> None:  # type: ignore[no-untyped-def]
    page.goto(world.idp_server.url + "/start")  # IdP-initiated: the IdP posts to our ACS
    page.wait_for_url("**/console/roles")
    assert page.locator("h1").inner_text() == "Choose a role"
    shot(page, "01-role-chooser")
    page.click("button:has-text('Admins')")
    page.wait_for_url("**/console/mfa")
    assert "Set up two-factor authentication" in page.inner_text("h1")
    shot(page, "02-mfa-enrolment")
    secret = page.inner_text("#secret").replace(" ", "")
    wrong = f"{(int(_code(server, secret)) + 1) % 1_000_000:06d}"
    page.fill("#code", wrong)
    page.click("button:has-text('Verify')")
    assert "invalid MFA one time pass code" in page.inner_text("#error")
    shot(page, "03-mfa-wrong-code")
    page.fill("#code", _code(server, secret))
    page.click("button:has-text('Verify')")
    page.wait_for_url("**/console")
    assert "assumed-role/Admins/alice@example.com" in page.inner_text("#principal")
    assert re.search(r"in \d+ min", page.inner_text("#countdown"))
    shot(page, "04-console")
    creds = _credentials(page)
    shot(page, "05-console-credentials")
    sts = server.client(
        "sts",
        creds["AWS_ACCESS_KEY_ID"],
        creds["AWS_SECRET_ACCESS_KEY"],
        creds["AWS_SESSION_TOKEN"],
    )
    assert sts.get_caller_identity()["Arn"].endswith("assumed-role/Admins/alice@example.com")
    page.click("button:has-text('Readers')")  # switch role
    page.wait_for_url("**/console")
    assert "assumed-role/Readers/alice@example.com" in page.inner_text("#principal")
    page.click("button:has-text('Sign out')")
    assert "You are signed out" in page.inner_text("h1")
    shot(page, "06-signed-out")
    page.goto(server.url + "/console")
    page.wait_for_url("**/signin")
    sts.get_caller_identity()  # signing out revoked nothing else

    # SP-initiated, from the sign-in start page; MFA is now a prompt, not an enrolment.
    server.clock.advance(30)
    page.goto(f"{server.url}/signin?account={world.account_id}")
    shot(page, "07-sign-in-start")
    page.click("a:has-text('Corp (SAML)')")  # /saml/login -> the IdP -> POST to our ACS
    page.wait_for_url("**/console/roles")
    page.click("button:has-text('Admins')")
    page.wait_for_url("**/console/mfa")
    assert page.locator("#secret").count() == 0
    shot(page, "08-mfa-prompt")
    page.fill("#code", _code(server, secret))
    page.click("button:has-text('Verify')")
    page.wait_for_url("**/console")
    assert "assumed-role/Admins/alice@example.com" in page.inner_text("#principal")


def test_a_refused_sign_in_is_a_readable_page(world: SamlWorld, server: Server, page) -> None:  # type: ignore[no-untyped-def]
    world.idp_server.response_kwargs = {
        "roles": [world.pair()],
        "recipient": "https://evil.test/acs",
    }
    page.goto(world.idp_server.url + "/start")
    page.wait_for_load_state()
    assert "ACS URL" in page.inner_text("#message")
    assert "Traceback" not in page.content()
    shot(page, "09-refused")


def test_oidc_sign_in_from_the_start_page(server: Server, page) -> None:  # type: ignore[no-untyped-def]
    from app.iam.oidc_providers import OidcProviders
    from tests.oidc_issuer import CLIENT_ID
    from tests.oidc_issuer import Issuer
    from tests.wire.test_oidc import World

    issuer = Issuer("/realms/corp")
    issuer.clients[CLIENT_ID] = "browser-secret"
    issuer.extra_claims = {"email": "dana@example.com"}
    try:
        world = World(server, issuer)
        with server.runtime.sessions.begin() as db:
            OidcProviders(server.runtime.iam(db, world.account_id)).set_browser_client(
                world.provider_arn, CLIENT_ID, server.runtime.secrets.seal("browser-secret")
            )
        world.role("Developers")
        page.goto(f"{server.url}/signin?account={world.account_id}")
        page.click("a:has-text('OpenID Connect')")  # -> the issuer -> /oidc/callback
        page.wait_for_url("**/console")
        assert "assumed-role/Developers/dana@example.com" in page.inner_text("#principal")
        shot(page, "10-oidc-console")
    finally:
        issuer.stop()
