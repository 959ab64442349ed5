"""Browser SSO over SAML with a real HTTP client keeping cookies, as a browser does:
IdP- and SP-initiated sign-in, the role chooser, the console, replay and CSRF refusals."""

from __future__ import annotations

import base64
import json
import re
import zlib
from html import unescape
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests
from lxml import etree

from tests.conftest import Server
from tests.wire.test_saml_api import SamlWorld


@pytest.fixture
def world(server: Server, account) -> SamlWorld:  # type: ignore[no-untyped-def]
    return SamlWorld(server, account)


def _user_sso_copy_of_the_idp(server: Server, world: SamlWorld, mallory) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """Mallory registers the world's (public) IdP metadata in her account, for user-based
    SSO, with a user named like the world's person; her CreateSAMLProvider answer."""
    mallory_iam = server.client("iam", mallory.access_key_id, mallory.secret_access_key)
    copy = mallory_iam.create_saml_provider(Name="Corp", SAMLMetadataDocument=world.idp.metadata())
    mallory_iam.tag_saml_provider(
        SAMLProviderArn=copy["SAMLProviderArn"],
        Tags=[{"Key": "fedbridge:sso-mode", "Value": "user"}],
    )
    mallory_iam.create_user(UserName="alice@example.com")
    return dict(copy)


def _post_acs(
    server: Server, browser: requests.Session, response: str, relay: str | None = None
) -> requests.Response:
    data = {"SAMLResponse": response}
    if relay is not None:
        data["RelayState"] = relay
    return browser.post(server.url + "/saml/acs", data=data, allow_redirects=False, timeout=10)


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def _exports(html: str) -> dict[str, str]:
    return dict(re.findall(r"export (AWS_[A-Z_]+)=(\S+)", unescape(html)))


def test_idp_initiated_sign_in_lands_on_the_console_with_working_credentials(
    world: SamlWorld, server: Server
) -> None:
    browser = requests.Session()
    resp = _post_acs(server, browser, world.response())
    assert resp.status_code == 303 and resp.headers["Location"] == "/console"
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    console = browser.get(server.url + "/console", timeout=10)
    assert console.status_code == 200
    assert f"arn:aws:sts::{world.account_id}:assumed-role/Admins/alice@example.com" in console.text
    assert console.headers["Cache-Control"] == "no-store"
    creds = _exports(console.text)
    sts = server.client(
        "sts",
        creds["AWS_ACCESS_KEY_ID"],
        creds["AWS_SECRET_ACCESS_KEY"],
        creds["AWS_SESSION_TOKEN"],
    )
    assert sts.get_caller_identity()["Arn"].endswith("assumed-role/Admins/alice@example.com")
    assert "aws_session_token = " in unescape(console.text)
    assert '"Version": 1' in unescape(console.text)


def test_an_assertion_signs_in_only_once(world: SamlWorld, server: Server) -> None:
    response = world.response()
    assert _post_acs(server, requests.Session(), response).status_code == 303
    again = _post_acs(server, requests.Session(), response)
    assert again.status_code == 400
    assert "already been used" in again.text
    assert "Traceback" not in again.text and again.headers["Content-Type"].startswith("text/html")


def test_role_chooser_switch_role_and_sign_out(world: SamlWorld, server: Server) -> None:
    readers = world.role("Readers")
    browser = requests.Session()
    resp = _post_acs(server, browser, world.response(roles=[world.pair(), world.pair(readers)]))
    assert resp.headers["Location"] == "/console/roles"
    chooser = browser.get(server.url + "/console/roles", timeout=10)
    assert "Admins" in chooser.text and "Readers" in chooser.text
    for hostile in ("\u00b2", "-1", "2", "99999999999999999999"):  # back to the chooser
        chosen = browser.post(
            server.url + "/console/roles",
            data={"role": hostile, "csrf": _csrf(chooser.text)},
            allow_redirects=False,
            timeout=10,
        )
        assert (chosen.status_code, chosen.headers["Location"]) == (303, "/console/roles")
    chosen = browser.post(
        server.url + "/console/roles",
        data={"role": "1", "csrf": _csrf(chooser.text)},
        allow_redirects=False,
        timeout=10,
    )
    assert chosen.headers["Location"] == "/console"
    console = browser.get(server.url + "/console", timeout=10)
    assert "assumed-role/Readers/alice@example.com" in console.text
    first_creds = _exports(console.text)
    # Switch to the other role offered by the same assertion.
    browser.post(
        server.url + "/console/roles", data={"role": "0", "csrf": _csrf(console.text)}, timeout=10
    )
    console = browser.get(server.url + "/console", timeout=10)
    assert "assumed-role/Admins/alice@example.com" in console.text
    # Sign out ends the browser session and revokes nothing else.
    out = browser.post(
        server.url + "/console/signout", data={"csrf": _csrf(console.text)}, timeout=10
    )
    assert "signed out" in out.text
    after = browser.get(server.url + "/console", allow_redirects=False, timeout=10)
    assert after.status_code == 303 and after.headers["Location"] == "/signin"
    sts = server.client(
        "sts",
        first_creds["AWS_ACCESS_KEY_ID"],
        first_creds["AWS_SECRET_ACCESS_KEY"],
        first_creds["AWS_SESSION_TOKEN"],
    )
    sts.get_caller_identity()


def test_forms_without_the_csrf_token_are_refused(world: SamlWorld, server: Server) -> None:
    readers = world.role("Readers")
    browser = requests.Session()
    _post_acs(server, browser, world.response(roles=[world.pair(), world.pair(readers)]))
    forged = browser.post(server.url + "/console/roles", data={"role": "0"}, timeout=10)
    assert forged.status_code == 403
    assert "did not come from this site" in forged.text


def _authn_request_id(location: str) -> str:
    query = parse_qs(urlsplit(location).query)
    xml = zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15)
    return etree.fromstring(xml).get("ID")  # type: ignore[no-any-return]


def test_sp_initiated_sign_in(world: SamlWorld, server: Server) -> None:
    browser = requests.Session()
    start = browser.get(
        server.url + "/saml/login",
        params={"provider": world.provider_arn, "next": "/console"},
        allow_redirects=False,
        timeout=10,
    )
    assert start.status_code == 303
    location = start.headers["Location"]
    assert location.startswith(world.idp.sso_url + "?SAMLRequest=")
    query = parse_qs(urlsplit(location).query)
    assert query["RelayState"] == ["/console"] and "Signature" in query  # signed AuthnRequest
    request_id = _authn_request_id(location)
    answer = world.response(in_response_to=request_id)
    # Another browser cannot use an answer to this browser's request.
    stolen = _post_acs(server, requests.Session(), answer, "/console")
    assert stolen.status_code == 403
    # Nor with InResponseTo cut from the unsigned Response: the assertion's signed copy
    # on its SubjectConfirmationData still binds it to this browser.
    cut = world.response(
        in_response_to=request_id,
        raw_xml_hook=lambda xml: re.sub(r' InResponseTo="[^"]*"', "", xml, count=1),
    )
    assert 'InResponseTo="' in base64.b64decode(cut).decode()  # the signed copy is still there
    assert _post_acs(server, requests.Session(), cut, "/console").status_code == 403
    # And the two copies must agree.
    swapped = world.response(
        in_response_to=request_id,
        raw_xml_hook=lambda xml: xml.replace(request_id, "_other", 1),
    )
    assert _post_acs(server, browser, swapped, "/console").status_code in (400, 403)
    ok = _post_acs(server, browser, world.response(in_response_to=request_id), "/console")
    assert ok.status_code == 303 and ok.headers["Location"] == "/console"
    # The same request cannot be answered twice.
    again = browser.get(
        server.url + "/saml/login",
        params={"provider": world.provider_arn},
        allow_redirects=False,
        timeout=10,
    )
    assert again.status_code == 303
    replay = _post_acs(server, browser, world.response(in_response_to=request_id))
    assert replay.status_code in (400, 403)


@pytest.mark.parametrize(
    "relay", ["https://evil.test/", "//evil.test/x", "/\\evil.test", "javascript:alert(1)"]
)
def test_relay_state_never_leaves_the_site(world: SamlWorld, server: Server, relay: str) -> None:
    resp = _post_acs(server, requests.Session(), world.response(), relay)
    assert resp.status_code == 303 and resp.headers["Location"] == "/console"


def test_user_based_sso(world: SamlWorld, server: Server) -> None:
    world.admin.tag_saml_provider(
        SAMLProviderArn=world.provider_arn, Tags=[{"Key": "fedbridge:sso-mode", "Value": "user"}]
    )
    world.admin.create_user(UserName="alice@example.com")
    browser = requests.Session()
    resp = _post_acs(server, browser, world.response(roles=[]))
    assert resp.headers["Location"] == "/console"
    console = browser.get(server.url + "/console", timeout=10)
    assert f"arn:aws:iam::{world.account_id}:user/alice@example.com" in console.text
    stranger = _post_acs(
        server, requests.Session(), world.response(roles=[], name_id="bob@example.com")
    )
    assert stranger.status_code == 403
    assert "no IAM user" in unescape(stranger.text)


def _sp_initiated(server: Server, browser: requests.Session, provider_arn: str) -> str:
    start = browser.get(
        server.url + "/saml/login",
        params={"provider": provider_arn},
        allow_redirects=False,
        timeout=10,
    )
    return _authn_request_id(start.headers["Location"])


def test_another_account_registering_the_same_idp_captures_no_sign_in(
    world: SamlWorld, server: Server
) -> None:
    """An IdP's metadata is public: another tenant may register it too. The assertion's Role
    pairs (signed by the IdP) or the browser's own request choose the account."""
    # Listed first, so the first provider whose keys verify was Mallory's.
    mallory = server.runtime.create_account(str(int(world.account_id) - 1).zfill(12), None)
    _user_sso_copy_of_the_idp(server, world, mallory)

    browser = requests.Session()
    assert _post_acs(server, browser, world.response()).headers["Location"] == "/console"
    console = browser.get(server.url + "/console", timeout=10).text
    assert f"arn:aws:sts::{world.account_id}:assumed-role/Admins/alice@example.com" in console

    # User-based SSO names no role: IdP-initiated is ambiguous, SP-initiated is not.
    world.admin.tag_saml_provider(
        SAMLProviderArn=world.provider_arn, Tags=[{"Key": "fedbridge:sso-mode", "Value": "user"}]
    )
    world.admin.create_user(UserName="alice@example.com")
    ambiguous = _post_acs(server, requests.Session(), world.response(roles=[]))
    assert ambiguous.status_code == 400 and "/saml/login" in unescape(ambiguous.text)
    browser = requests.Session()
    request_id = _sp_initiated(server, browser, world.provider_arn)
    answer = world.response(roles=[], in_response_to=request_id)
    assert _post_acs(server, browser, answer).headers["Location"] == "/console"
    console = browser.get(server.url + "/console", timeout=10).text
    assert f"arn:aws:iam::{world.account_id}:user/alice@example.com" in console


def _refusal_reasons(server: Server, action: str) -> list[str | None]:
    from sqlalchemy import select

    from app.db.models import AuditEvent

    with server.runtime.sessions() as db:
        return list(
            db.scalars(
                select(AuditEvent.reason)
                .where(AuditEvent.action == action, AuditEvent.outcome == "refused")
                .order_by(AuditEvent.id)
            )
        )


def test_sp_initiated_sign_in_cannot_be_steered_to_a_provider_the_roles_do_not_name(
    world: SamlWorld, server: Server
) -> None:
    """Mallory registers the victim's (public) IdP metadata in her account, as user-based
    SSO with a user named like the victim, and sends the victim a link to /saml/login for
    HER provider. The IdP's signed Role pairs name only the victim's own provider."""
    mallory = server.new_account()
    copy = _user_sso_copy_of_the_idp(server, world, mallory)
    victim = requests.Session()
    request_id = _sp_initiated(server, victim, copy["SAMLProviderArn"])
    answer = world.response(in_response_to=request_id)  # Role pairs: the victim's provider
    refused = _post_acs(server, victim, answer)
    assert refused.status_code == 403
    assert "roles through another SAML provider" in unescape(refused.text)
    assert _refusal_reasons(server, "saml:SignIn")[-1] == "saml.provider_not_named"
    after = victim.get(server.url + "/console", allow_redirects=False, timeout=10)
    assert after.headers["Location"] == "/signin"
    # Through the victim's own provider, the same kind of answer signs in as before.
    request_id = _sp_initiated(server, victim, world.provider_arn)
    ok = _post_acs(server, victim, world.response(in_response_to=request_id))
    assert ok.headers["Location"] == "/console"
    console = victim.get(server.url + "/console", timeout=10).text
    assert f"arn:aws:sts::{world.account_id}:assumed-role/Admins/alice@example.com" in console


def test_the_provider_the_role_pair_names_signs_in(world: SamlWorld, server: Server) -> None:
    second = world.admin.create_saml_provider(
        Name="Corp2", SAMLMetadataDocument=world.idp.metadata()
    )["SAMLProviderArn"]
    trust = {
        "Effect": "Allow",
        "Principal": {"Federated": second},
        "Action": "sts:AssumeRoleWithSAML",
    }
    role = world.admin.create_role(
        RoleName="ViaCorp2",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [trust]}),
    )["Role"]["Arn"]
    browser = requests.Session()
    resp = _post_acs(server, browser, world.response(roles=[f"{role},{second}"]))
    assert resp.headers["Location"] == "/console"
    assert "assumed-role/ViaCorp2/" in browser.get(server.url + "/console", timeout=10).text


@pytest.mark.parametrize(
    "provider",
    ["", "nonsense", "arn:aws:iam::123456789012:saml-provider/" + "a" * 3000, "arn:aws:iam::x:y"],
)
def test_sp_initiated_sign_in_to_no_such_provider_gets_a_page(
    server: Server, provider: str
) -> None:
    resp = requests.get(server.url + "/saml/login", params={"provider": provider}, timeout=10)
    assert resp.status_code in (400, 404) and "Traceback" not in resp.text
    assert resp.headers["Content-Type"].startswith("text/html")


def test_bad_assertion_gets_a_page_not_a_trace(world: SamlWorld, server: Server) -> None:
    resp = _post_acs(server, requests.Session(), world.response(recipient="https://evil.test/acs"))
    assert resp.status_code == 400
    assert "ACS URL" in resp.text and "Traceback" not in resp.text
    garbage = _post_acs(server, requests.Session(), "%%%not-base64")
    assert garbage.status_code == 400


def test_sp_metadata(server: Server) -> None:
    resp = requests.get(server.url + "/saml/metadata", timeout=10)
    assert resp.headers["Content-Type"].startswith("application/samlmetadata+xml")
    root = etree.fromstring(resp.content)
    settings = server.runtime.settings
    assert root.get("entityID") == settings.sp_entity_id
    ns = {"md": "urn:oasis:names:tc:SAML:2.0:metadata", "ds": "http://www.w3.org/2000/09/xmldsig#"}
    acs = root.find(".//md:AssertionConsumerService", ns)
    assert acs is not None and acs.get("Location") == settings.saml_acs_url
    assert root.findall(".//ds:X509Certificate", ns)


def test_sign_in_start_page_lists_providers(world: SamlWorld, server: Server) -> None:
    page = requests.get(server.url + "/signin", params={"account": world.account_id}, timeout=10)
    assert "Corp (SAML)" in page.text and "/saml/login?provider=" in page.text


def _copy(browser: requests.Session) -> requests.Session:
    other = requests.Session()
    for c in browser.cookies:
        other.cookies.set_cookie(c)
    return other


def test_a_new_sign_in_ends_the_browsers_last_session(world: SamlWorld, server: Server) -> None:
    browser = requests.Session()
    _post_acs(server, browser, world.response())
    old = _copy(browser)
    _post_acs(server, browser, world.response())
    assert browser.get(server.url + "/console", timeout=10).status_code == 200
    stale = old.get(server.url + "/console", allow_redirects=False, timeout=10)
    assert stale.status_code == 303 and stale.headers["Location"] == "/signin"


def test_user_based_totp_enrolment_can_be_abandoned_and_begun_again(
    world: SamlWorld, server: Server
) -> None:
    world.admin.tag_saml_provider(
        SAMLProviderArn=world.provider_arn,
        Tags=[
            {"Key": "fedbridge:sso-mode", "Value": "user"},
            {"Key": "fedbridge:require-mfa", "Value": "true"},
        ],
    )
    world.admin.create_user(UserName="alice@example.com")
    shown = []
    for _ in range(2):  # the first tab is closed half-way
        browser = requests.Session()
        assert _post_acs(server, browser, world.response(roles=[])).headers["Location"] == (
            "/console/mfa"
        )
        page = browser.get(server.url + "/console/mfa", timeout=10)
        assert page.status_code == 200
        shown.append(_secret(page.text))
    assert shown[0] != shown[1]  # a fresh seed: the abandoned page's is worth nothing
    # The IAM user removed while the step is pending: an error page, not a 500.
    world.admin.delete_user(UserName="alice@example.com")
    gone = browser.get(server.url + "/console/mfa", timeout=10)
    assert 400 <= gone.status_code < 500 and "<html" in gone.text.lower()


def _secret(html: str) -> str:
    return re.search(r'<code id="secret">([A-Z2-7 ]+)</code>', html).group(1).replace(" ", "")  # type: ignore[union-attr]


def test_totp_enrolment_then_prompt_on_the_next_sign_in(world: SamlWorld, server: Server) -> None:
    import pyotp

    world.admin.tag_role(
        RoleName="Admins", Tags=[{"Key": "fedbridge:require-mfa", "Value": "true"}]
    )
    browser = requests.Session()
    resp = _post_acs(server, browser, world.response())
    assert resp.headers["Location"] == "/console/mfa"
    enrol = browser.get(server.url + "/console/mfa", timeout=10)
    assert (
        "Set up two-factor authentication" in enrol.text and "data:image/png;base64," in enrol.text
    )
    before_mfa = _copy(browser)  # a cookie planted or seen before the second factor
    totp = pyotp.TOTP(_secret(enrol.text))
    step = lambda: int(server.clock.now().timestamp()) // 30  # noqa: E731
    wrong = f"{(int(totp.generate_otp(step())) + 1) % 1_000_000:06d}"
    refused = browser.post(
        server.url + "/console/mfa", data={"code": wrong, "csrf": _csrf(enrol.text)}, timeout=10
    )
    assert refused.status_code == 403 and "invalid MFA one time pass code" in refused.text
    ok = browser.post(
        server.url + "/console/mfa",
        data={"code": totp.generate_otp(step()), "csrf": _csrf(enrol.text)},
        allow_redirects=False,
        timeout=10,
    )
    assert ok.headers["Location"] == "/console"
    console = browser.get(server.url + "/console", timeout=10)
    assert "assumed-role/Admins/alice@example.com" in console.text
    # The session got a new id with the second factor: the old cookie opens nothing.
    stale = before_mfa.get(server.url + "/console", allow_redirects=False, timeout=10)
    assert stale.status_code == 303 and stale.headers["Location"] == "/signin"
    # The next sign-in asks for a code without enrolling again.
    server.clock.advance(30)
    second = requests.Session()
    assert _post_acs(server, second, world.response()).headers["Location"] == "/console/mfa"
    prompt = second.get(server.url + "/console/mfa", timeout=10)
    assert "Type the six-digit code" in prompt.text and 'id="secret"' not in prompt.text
    done = second.post(
        server.url + "/console/mfa",
        data={"code": totp.generate_otp(step()), "csrf": _csrf(prompt.text)},
        allow_redirects=False,
        timeout=10,
    )
    assert done.headers["Location"] == "/console"
    # Without the TOTP step there is no way to the credentials.
    third = requests.Session()
    _post_acs(server, third, world.response())
    assert (
        third.get(server.url + "/console", allow_redirects=False, timeout=10).headers["Location"]
        == "/console/mfa"
    )


def test_a_transient_name_id_cannot_enrol_a_totp_device(world: SamlWorld, server: Server) -> None:
    """Role-based SSO keys the person's device on provider + NameID; a transient NameID is
    someone new at every sign-in, who could enrol afresh each time."""
    import uuid

    from sqlalchemy import func
    from sqlalchemy import select

    from app.db.models import MfaDevice

    def devices() -> int:
        with server.runtime.sessions() as db:
            query = select(func.count()).where(MfaDevice.account_id == world.account_id)
            return db.scalar(query) or 0

    transient = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
    readers = world.role("Readers")
    world.admin.tag_role(
        RoleName="Admins", Tags=[{"Key": "fedbridge:require-mfa", "Value": "true"}]
    )
    browser = requests.Session()
    refused = _post_acs(
        server, browser, world.response(name_id=f"_{uuid.uuid4().hex}", name_id_format=transient)
    )
    assert refused.status_code == 403
    text = unescape(refused.text)
    assert "transient NameID" in text and "persistent (or other stable) NameID" in text
    assert _refusal_reasons(server, "saml:SignIn")[-1] == "mfa.transient_name_id"
    assert devices() == 0
    after = browser.get(server.url + "/console", allow_redirects=False, timeout=10)
    assert after.headers["Location"] == "/signin"
    # A role without MFA works; switching to the MFA role is refused and changes nothing.
    answer = world.response(
        roles=[world.pair(readers), world.pair()],
        name_id=f"_{uuid.uuid4().hex}",
        name_id_format=transient,
    )
    assert _post_acs(server, browser, answer).headers["Location"] == "/console/roles"
    chooser = browser.get(server.url + "/console/roles", timeout=10)
    browser.post(
        server.url + "/console/roles", data={"role": "0", "csrf": _csrf(chooser.text)}, timeout=10
    )
    console = browser.get(server.url + "/console", timeout=10)
    assert "assumed-role/Readers/alice@example.com" in console.text
    switch = browser.post(
        server.url + "/console/roles",
        data={"role": "1", "csrf": _csrf(console.text)},
        allow_redirects=False,
        timeout=10,
    )
    assert switch.status_code == 403 and "transient NameID" in unescape(switch.text)
    assert _refusal_reasons(server, "console:AssumeRole")[-1] == "mfa.transient_name_id"
    assert devices() == 0
    still = browser.get(server.url + "/console", allow_redirects=False, timeout=10)
    assert still.status_code == 200 and "assumed-role/Readers/alice@example.com" in still.text
    assert (
        browser.get(server.url + "/console/mfa", allow_redirects=False, timeout=10).headers[
            "Location"
        ]
        == "/console"
    )


def test_session_duration_attribute_sets_the_console_session(
    world: SamlWorld, server: Server
) -> None:
    from tests.saml_idp import AWS_ATTR

    world.admin.update_role(RoleName="Admins", MaxSessionDuration=7200)
    browser = requests.Session()
    _post_acs(server, browser, world.response(attributes={AWS_ATTR + "SessionDuration": ["5400"]}))
    seconds = int(
        re.search(
            r'data-seconds="(\d+)"', browser.get(server.url + "/console", timeout=10).text
        ).group(1)
    )  # type: ignore[union-attr]
    assert 5300 < seconds <= 5400
    # More than the role allows: the role's maximum.
    other = requests.Session()
    _post_acs(server, other, world.response(attributes={AWS_ATTR + "SessionDuration": ["43200"]}))
    seconds = int(
        re.search(
            r'data-seconds="(\d+)"', other.get(server.url + "/console", timeout=10).text
        ).group(1)
    )  # type: ignore[union-attr]
    assert 7100 < seconds <= 7200


def _seconds_left(html: str) -> int:
    return int(re.search(r'data-seconds="(\d+)"', html).group(1))  # type: ignore[union-attr]


def test_a_role_chosen_later_never_outlives_the_console_session(
    world: SamlWorld, server: Server
) -> None:
    """Switch role re-uses the assertion the person signed in with: what it issues ends
    with the console session of that sign-in, not a SessionDuration after the switch."""
    from tests.saml_idp import AWS_ATTR

    readers = world.role("Readers")
    for name in ("Admins", "Readers"):
        world.admin.update_role(RoleName=name, MaxSessionDuration=43200)
    browser = requests.Session()
    answer = world.response(
        roles=[world.pair(), world.pair(readers)],
        attributes={AWS_ATTR + "SessionDuration": ["43200"]},
    )
    assert _post_acs(server, browser, answer).headers["Location"] == "/console/roles"
    chooser = browser.get(server.url + "/console/roles", timeout=10)
    browser.post(
        server.url + "/console/roles", data={"role": "1", "csrf": _csrf(chooser.text)}, timeout=10
    )
    console = browser.get(server.url + "/console", timeout=10).text
    assert "assumed-role/Readers/" in console and 43000 < _seconds_left(console) <= 43200
    # Six hours on, a switch gets what is left of the twelve-hour console session.
    server.clock.advance(6 * 3600)
    switched = browser.post(
        server.url + "/console/roles",
        data={"role": "0", "csrf": _csrf(console)},
        allow_redirects=False,
        timeout=10,
    )
    assert switched.headers["Location"] == "/console"
    console = browser.get(server.url + "/console", timeout=10).text
    assert "assumed-role/Admins/" in console and 21400 < _seconds_left(console) <= 21600
    admins_key = _exports(console)["AWS_ACCESS_KEY_ID"]
    # Ten minutes before the end: too little for any credentials; sign in again.
    server.clock.advance(5 * 3600 + 50 * 60)
    late = browser.post(
        server.url + "/console/roles",
        data={"role": "1", "csrf": _csrf(console)},
        allow_redirects=False,
        timeout=10,
    )
    assert late.status_code == 403 and "Location" not in late.headers
    assert "Sign in again" in late.text
    assert _refusal_reasons(server, "console:AssumeRole")[-1] == "console.session_ending"
    console = browser.get(server.url + "/console", timeout=10).text  # unchanged
    assert "assumed-role/Admins/" in console
    assert _exports(console)["AWS_ACCESS_KEY_ID"] == admins_key


@pytest.mark.parametrize(("session_duration", "lasts"), [(None, 3600), ("7200", 7200)])
def test_the_console_session_lasts_what_session_duration_says(
    world: SamlWorld, server: Server, session_duration: str | None, lasts: int
) -> None:
    """As AWS's console: SessionDuration, or one hour without it, then sign in again."""
    from tests.saml_idp import AWS_ATTR

    world.admin.update_role(RoleName="Admins", MaxSessionDuration=43200)
    attributes = {AWS_ATTR + "SessionDuration": [session_duration]} if session_duration else {}
    browser = requests.Session()
    _post_acs(server, browser, world.response(attributes=attributes))
    server.clock.advance(lasts - 60)
    assert browser.get(server.url + "/console", timeout=10).status_code == 200
    server.clock.advance(61)
    ended = browser.get(server.url + "/console", allow_redirects=False, timeout=10)
    assert ended.status_code == 303 and ended.headers["Location"] == "/signin"
