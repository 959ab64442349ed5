"""SAML over the API with boto3: providers from metadata, AssumeRoleWithSAML with real signed
responses, and every way an assertion can be wrong refused with nothing issued."""

from __future__ import annotations

import base64
import json
import os
import random
import re
import threading
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError
from lxml import etree

from tests.conftest import Server
from tests.saml_idp import AWS_ATTR
from tests.saml_idp import TestIdp
from tests.saml_idp import encrypt_assertion
from tests.saml_idp import encrypted_id
from tests.saml_idp import make_key_pair
from tests.saml_idp import sibling_forgery


def _doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return err.value.response["Error"]["Code"]


class SamlWorld:
    def __init__(self, server: Server, account) -> None:  # type: ignore[no-untyped-def]
        settings = server.runtime.settings
        self.server = server
        self.acs = settings.saml_acs_url
        self.audience = settings.sp_entity_id
        self.account_id = account.account_id
        self.admin = server.client("iam", account.access_key_id, account.secret_access_key)
        self.sts = server.client("sts", "AKIAUNUSED0000000000", "x" * 40)
        self.idp = TestIdp()
        self.provider_arn = self.admin.create_saml_provider(
            Name="Corp", SAMLMetadataDocument=self.idp.metadata()
        )["SAMLProviderArn"]
        self.role_arn = self.role("Admins")

    def role(self, name: str, condition: dict | None = None, *also: str) -> str:  # type: ignore[type-arg]
        actions = ["sts:AssumeRoleWithSAML", *also]
        trust = {
            "Effect": "Allow",
            "Principal": {"Federated": self.provider_arn},
            "Action": actions,
            "Condition": condition or {"StringEquals": {"SAML:aud": self.acs}},
        }
        arn = self.admin.create_role(RoleName=name, AssumeRolePolicyDocument=_doc(trust))["Role"][
            "Arn"
        ]
        self.admin.put_role_policy(
            RoleName=name,
            PolicyName="all",
            PolicyDocument=_doc({"Effect": "Allow", "Action": "*", "Resource": "*"}),
        )
        return arn

    def pair(self, role_arn: str | None = None) -> str:
        return f"{role_arn or self.role_arn},{self.provider_arn}"

    def response(self, **kwargs) -> str:  # type: ignore[no-untyped-def]
        kwargs.setdefault("roles", [self.pair()])
        return self.idp.response(acs=self.acs, audience=self.audience, **kwargs)

    def assume(self, assertion: str, role_arn: str | None = None, **kwargs) -> dict:  # type: ignore[no-untyped-def,type-arg]
        return self.sts.assume_role_with_saml(
            RoleArn=role_arn or self.role_arn,
            PrincipalArn=self.provider_arn,
            SAMLAssertion=assertion,
            **kwargs,
        )

    def refused(self, assertion: str, code: str, **kwargs) -> None:  # type: ignore[no-untyped-def]
        with pytest.raises(ClientError) as err:
            self.assume(assertion, **kwargs)
        assert _code(err) == code, err.value.response["Error"]["Message"]


@pytest.fixture
def world(server: Server, account) -> SamlWorld:  # type: ignore[no-untyped-def]
    return SamlWorld(server, account)


def test_provider_lifecycle(world: SamlWorld) -> None:
    iam = world.admin
    listed = iam.list_saml_providers()["SAMLProviderList"]
    assert [p["Arn"] for p in listed] == [world.provider_arn]
    assert world.provider_arn == f"arn:aws:iam::{world.account_id}:saml-provider/Corp"
    got = iam.get_saml_provider(SAMLProviderArn=world.provider_arn)
    assert got["SAMLMetadataDocument"] == world.idp.metadata()
    iam.tag_saml_provider(SAMLProviderArn=world.provider_arn, Tags=[{"Key": "k", "Value": "v"}])
    assert iam.list_saml_provider_tags(SAMLProviderArn=world.provider_arn)["Tags"] == [
        {"Key": "k", "Value": "v"}
    ]
    with pytest.raises(ClientError) as err:
        iam.create_saml_provider(Name="Corp", SAMLMetadataDocument=world.idp.metadata())
    assert _code(err) == "EntityAlreadyExists"
    iam.delete_saml_provider(SAMLProviderArn=world.provider_arn)
    assert iam.list_saml_providers()["SAMLProviderList"] == []
    with pytest.raises(ClientError) as err:
        iam.get_saml_provider(SAMLProviderArn=world.provider_arn)
    assert _code(err) == "NoSuchEntity"


def test_assume_role_with_saml_gives_working_credentials(world: SamlWorld) -> None:
    resp = world.assume(world.response())
    assert resp["AssumedRoleUser"]["Arn"] == (
        f"arn:aws:sts::{world.account_id}:assumed-role/Admins/alice@example.com"
    )
    assert resp["Subject"] == "alice@example.com"
    assert resp["SubjectType"] == "persistent"
    assert resp["Issuer"] == world.idp.entity_id
    # AWS strips SAML 2.0's format prefix from every format, and leaves others whole.
    for sent, shown in (
        ("urn:oasis:names:tc:SAML:2.0:nameid-format:entity", "entity"),
        ("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", None),
    ):
        other = world.assume(world.response(name_id_format=sent))
        assert other["SubjectType"] == (shown or sent)
    assert resp["Audience"] == world.acs
    assert resp["NameQualifier"]
    creds = resp["Credentials"]
    sts = world.server.client(
        "sts", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]
    )
    assert sts.get_caller_identity()["Arn"] == resp["AssumedRoleUser"]["Arn"]


def test_both_pair_orders_and_baidu_form(world: SamlWorld) -> None:
    reversed_pair = f"{world.provider_arn},{world.role_arn}"
    world.assume(world.response(roles=[reversed_pair]))
    baidu = f"{world.account_id}:role/Admins, {world.account_id}:saml-provider/Corp"
    world.assume(
        world.response(roles=[], attributes={"https://bce.baidu.com/SAML/Attributes/Role": [baidu]})
    )


def test_several_roles_caller_picks_one_it_was_offered(world: SamlWorld) -> None:
    other = world.role("Readers")
    unoffered = world.role("Secret")
    assertion = world.response(roles=[world.pair(), world.pair(other)])
    assert world.assume(assertion, role_arn=other)["AssumedRoleUser"]["Arn"].endswith(
        "assumed-role/Readers/alice@example.com"
    )
    world.refused(assertion, "AccessDenied", role_arn=unoffered)


def test_certificate_rollover_with_two_keys(world: SamlWorld) -> None:
    new_key = make_key_pair("rolled")
    world.idp.keys.append(new_key)
    world.admin.update_saml_provider(
        SAMLProviderArn=world.provider_arn, SAMLMetadataDocument=world.idp.metadata()
    )
    world.assume(world.response())  # old key
    world.assume(world.response(signing_key=new_key))  # new key
    old_key = world.idp.keys[0]
    world.idp.keys = [new_key]
    world.admin.update_saml_provider(
        SAMLProviderArn=world.provider_arn, SAMLMetadataDocument=world.idp.metadata()
    )
    world.assume(world.response())
    world.refused(world.response(signing_key=old_key), "InvalidIdentityToken")


def test_trust_policy_conditions_on_saml_keys(world: SamlWorld) -> None:
    arn = world.role(
        "Engineers",
        condition={
            "StringEquals": {"SAML:aud": world.acs, "SAML:sub_type": "persistent"},
            "StringLike": {"SAML:sub": "*@example.com"},
            "ForAnyValue:StringEquals": {"SAML:edupersonaffiliation": "staff"},
        },
    )
    affiliation = "urn:oid:1.3.6.1.4.1.5923.1.1.1.1"
    ok = world.response(roles=[world.pair(arn)], attributes={affiliation: ["member", "staff"]})
    world.assume(ok, role_arn=arn)
    student = world.response(roles=[world.pair(arn)], attributes={affiliation: ["student"]})
    world.refused(student, "AccessDenied", role_arn=arn)
    outsider = world.response(
        roles=[world.pair(arn)], name_id="eve@evil.test", attributes={affiliation: ["staff"]}
    )
    world.refused(outsider, "AccessDenied", role_arn=arn)


def test_session_tags_source_identity_and_duration(world: SamlWorld) -> None:
    arn = world.role("Tagged", None, "sts:TagSession", "sts:SetSourceIdentity")
    assertion = world.response(
        roles=[world.pair(arn)],
        attributes={
            AWS_ATTR + "PrincipalTag:team": ["blue"],
            AWS_ATTR + "TransitiveTagKeys": ["team"],
            AWS_ATTR + "SourceIdentity": ["alice"],
        },
    )
    resp = world.assume(assertion, role_arn=arn, DurationSeconds=900)
    assert resp["SourceIdentity"] == "alice"
    lifetime = resp["Credentials"]["Expiration"] - datetime.now(UTC)
    assert timedelta(minutes=13) < lifetime <= timedelta(minutes=15, seconds=5)
    # Tags need sts:TagSession in the trust policy.
    untagged_role = world.role("NoTags")
    world.refused(
        world.response(
            roles=[world.pair(untagged_role)], attributes={AWS_ATTR + "PrincipalTag:team": ["blue"]}
        ),
        "AccessDenied",
        role_arn=untagged_role,
    )
    # A source identity needs sts:SetSourceIdentity there.
    no_source = world.role("NoSource", None, "sts:TagSession")
    world.refused(
        world.response(
            roles=[world.pair(no_source)], attributes={AWS_ATTR + "SourceIdentity": ["alice"]}
        ),
        "AccessDenied",
        role_arn=no_source,
    )


def _assertion_span(xml: str) -> tuple[int, int]:
    start = xml.index("<saml:Assertion")
    return start, xml.index("</saml:Assertion>") + len("</saml:Assertion>")


def _forged(genuine: str) -> str:
    unsigned = (
        genuine[: genuine.index("<ds:Signature")]
        + genuine[genuine.index("</ds:Signature>") + len("</ds:Signature>") :]
    )
    return unsigned.replace("alice@example.com", "mallory@example.com").replace(
        'ID="_a', 'ID="_forged'
    )


def _xsw_extensions(xml: str) -> str:
    """XSW: the genuine signed assertion hidden in Extensions, a forged one in its place."""
    start, end = _assertion_span(xml)
    genuine = xml[start:end]
    status = xml.index("<samlp:Status")
    return (
        xml[:status]
        + f"<samlp:Extensions>{genuine}</samlp:Extensions>"
        + xml[status:start]
        + _forged(genuine)
        + xml[end:]
    )


def _xsw_in_signature_object(xml: str) -> str:
    """XSW: a forged assertion carrying the genuine one inside its own ds:Object."""
    start, end = _assertion_span(xml)
    genuine = xml[start:end]
    forged = _forged(genuine)
    forged = forged.replace(
        "</saml:Issuer>",
        '</saml:Issuer><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">'
        f"<ds:Object>{genuine}</ds:Object></ds:Signature>",
        1,
    )
    return xml[:start] + forged + xml[end:]


class _Later:
    """A time this many seconds from when the assertion is made (not from import)."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds

    def at(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.seconds)


HOSTILE = {
    "unsigned": ({"sign_assertion": False}, "InvalidIdentityToken", "saml.unsigned"),
    "signed-by-stranger": (
        {"signing_key": make_key_pair("stranger")},
        "InvalidIdentityToken",
        "saml.bad_signature",
    ),
    "wrong-audience": (
        {"_audience": "urn:somebody-else"},
        "InvalidIdentityToken",
        "saml.wrong_audience",
    ),
    "wrong-recipient": (
        {"recipient": "https://evil.test/acs"},
        "InvalidIdentityToken",
        "saml.wrong_recipient",
    ),
    "recipient-with-our-url-inside": (
        {"recipient": "https://evil.test/?{acs}"},
        "InvalidIdentityToken",
        "saml.wrong_recipient",
    ),
    "no-recipient": ({"recipient": None}, "InvalidIdentityToken", "saml.wrong_recipient"),
    "wrong-destination": (
        {"destination": "https://evil.test/acs"},
        "InvalidIdentityToken",
        "saml.wrong_destination",
    ),
    "destination-prefix": (
        {"destination": "{acs}/../evil"},
        "InvalidIdentityToken",
        "saml.wrong_destination",
    ),
    "expired": (
        {"issued_at": _Later(-2 * 3600)},
        "ExpiredTokenException",
        "saml.expired",
    ),
    "issued-too-long-ago": (
        # Still valid by NotOnOrAfter, but AWS redeems only within 5 minutes of issue.
        {"issued_at": _Later(-20 * 60), "not_on_or_after": _Later(40 * 60)},
        "ExpiredTokenException",
        "saml.stale",
    ),
    "issued-in-the-future": (
        # Else a clock running ahead would lift the 5-minute redemption window.
        {
            "issued_at": _Later(3 * 3600),
            "not_before": _Later(-60),
            "not_on_or_after": _Later(4 * 3600),
        },
        "InvalidIdentityToken",
        "saml.not_yet_valid",
    ),
    "expired-within-library-drift": (
        # python3-saml tolerates 300 s; the configured skew here is 60 s.
        {"not_on_or_after": _Later(-120)},
        "ExpiredTokenException",
        "saml.expired",
    ),
    "not-yet-valid": (
        {"not_before": _Later(150)},
        "InvalidIdentityToken",
        "saml.not_yet_valid",
    ),
    "idp-said-no": (
        {"status": "urn:oasis:names:tc:SAML:2.0:status:Responder"},
        "IDPRejectedClaim",
        "saml.status",
    ),
    "wrong-issuer": (
        {"issuer": "https://other-idp.test/"},
        "InvalidIdentityToken",
        "saml.unknown_issuer",
    ),
    "no-session-name": ({"session_name": None}, "InvalidIdentityToken", "saml.no_session_name"),
    "empty-name-id": ({"name_id": ""}, "InvalidIdentityToken", "saml.no_name_id"),
    "bad-session-name": (
        {"session_name": "John Doe"},  # a display name, as misconfigured IdPs send
        "InvalidIdentityToken",
        "saml.bad_session_name",
    ),
    "aws-source-identity": (
        {"attributes": {"https://aws.amazon.com/SAML/Attributes/SourceIdentity": ["aws:me"]}},
        "InvalidIdentityToken",
        "saml.bad_source_identity",
    ),
    "long-session-name": (
        {"session_name": "x" * 65},
        "InvalidIdentityToken",
        "saml.bad_session_name",
    ),
    "tampered-after-signing": (
        {"raw_xml_hook": lambda x: x.replace("alice@example.com", "mallory@example.com")},
        "InvalidIdentityToken",
        "saml.bad_signature",
    ),
    "xsw-sibling-assertion": (
        {"raw_xml_hook": sibling_forgery},
        "InvalidIdentityToken",
        "saml.signature_wrapping",
    ),
    "xsw-genuine-in-extensions": (
        {"raw_xml_hook": _xsw_extensions},
        "InvalidIdentityToken",
        "saml.signature_wrapping",
    ),
    "xsw-genuine-in-signature-object": (
        {"raw_xml_hook": _xsw_in_signature_object},
        "InvalidIdentityToken",
        "saml.signature_wrapping",
    ),
    "dtd": (
        {"raw_xml_hook": lambda x: '<!DOCTYPE r [<!ENTITY e "x">]>' + x},
        "InvalidIdentityToken",
        "saml.dtd",
    ),
    "dtd-utf-16": (
        {"raw_xml_hook": lambda x: ('<!DOCTYPE r [<!ENTITY e "x">]>' + x).encode("utf-16")},
        "InvalidIdentityToken",
        "saml.dtd",
    ),
}


def _last_reason(server: Server) -> str | None:
    from sqlalchemy import select

    from app.db.models import AuditEvent

    with server.runtime.sessions() as session:
        return session.scalar(
            select(AuditEvent.reason)
            .where(AuditEvent.action == "sts:AssumeRoleWithSAML")
            .order_by(AuditEvent.id.desc())
            .limit(1)
        )


def _in(seconds: int) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _confirmation_ends(seconds: int):  # type: ignore[no-untyped-def]
    """An assertion_hook: SubjectConfirmationData's NotOnOrAfter `seconds` from when the
    assertion is made, the Conditions' left alone."""
    return lambda xml: re.sub(
        r'(<saml:SubjectConfirmationData NotOnOrAfter=")[^"]*', rf"\g<1>{_in(seconds)}", xml
    )


def _second_confirmation(xml: str) -> str:
    start = xml.index("<saml:SubjectConfirmation ")
    end = xml.index("</saml:SubjectConfirmation>") + len("</saml:SubjectConfirmation>")
    return xml[:end] + xml[start:end] + xml[end:]


#: SubjectConfirmationData as the IdP signed it (AWS: exactly one, with NotOnOrAfter and
#: Recipient), with the configured 60 s skew on its times.
CONFIRMATIONS = {
    "ended-within-skew": (_confirmation_ends(-30), None),
    "ended": (_confirmation_ends(-120), "saml.expired"),
    "no-not-on-or-after": (
        lambda x: re.sub(
            r'<saml:SubjectConfirmationData NotOnOrAfter="[^"]*"',
            "<saml:SubjectConfirmationData",
            x,
        ),
        "saml.no_expiry",
    ),
    "two-confirmations": (_second_confirmation, "saml.wrong_recipient"),
    # Exactly one, even when the other is not a bearer confirmation.
    "another-holder-of-key": (
        lambda x: x.replace(
            "</saml:Subject>",
            '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:holder-of-key">'
            "<saml:SubjectConfirmationData/></saml:SubjectConfirmation></saml:Subject>",
            1,
        ),
        "saml.wrong_recipient",
    ),
    # SAML Core 2.5.1.4: several AudienceRestrictions must each be met, so an assertion
    # also restricted to another SP alone is not for this one.
    "also-restricted-to-another-sp": (
        lambda x: x.replace(
            "</saml:AudienceRestriction>",
            "</saml:AudienceRestriction><saml:AudienceRestriction>"
            "<saml:Audience>urn:some-other-sp</saml:Audience></saml:AudienceRestriction>",
            1,
        ),
        "saml.wrong_audience",
    ),
    "restricted-twice-to-this-sp-among-others": (
        lambda x: re.sub(
            r"(<saml:AudienceRestriction>.*?</saml:AudienceRestriction>)",
            lambda m: (
                m.group(1)
                + m.group(1).replace("</saml:AudienceRestriction>", "")
                + "<saml:Audience>urn:some-other-sp</saml:Audience></saml:AudienceRestriction>"
            ),
            x,
            count=1,
            flags=re.DOTALL,
        ),
        None,
    ),
    "not-before-ahead": (
        lambda x: x.replace(
            "<saml:SubjectConfirmationData ",
            f'<saml:SubjectConfirmationData NotBefore="{_in(90)}" ',
        ),
        "saml.not_yet_valid",
    ),
}


@pytest.mark.parametrize("case", CONFIRMATIONS)
def test_subject_confirmation_as_aws_requires_it(
    world: SamlWorld, server: Server, case: str
) -> None:
    hook, reason = CONFIRMATIONS[case]
    assertion = world.response(assertion_hook=hook)
    if reason is None:
        world.assume(assertion)
        return
    world.refused(
        assertion, "ExpiredTokenException" if reason == "saml.expired" else "InvalidIdentityToken"
    )
    assert _last_reason(server) == reason


@pytest.mark.parametrize("case", list(HOSTILE), ids=list(HOSTILE))
def test_hostile_assertions_are_refused(world: SamlWorld, server: Server, case: str) -> None:
    kwargs, code, reason = HOSTILE[case]
    kwargs = {
        k: v.replace("{acs}", world.acs) if isinstance(v, str) else v for k, v in kwargs.items()
    }
    kwargs = {k: v.at() if isinstance(v, _Later) else v for k, v in kwargs.items()}
    audience = kwargs.pop("_audience", world.audience)
    assertion = world.idp.response(acs=world.acs, audience=audience, roles=[world.pair()], **kwargs)
    world.refused(assertion, code)
    if reason:
        assert _last_reason(server) == reason


def test_a_misdirected_response_names_what_this_service_expects(world: SamlWorld) -> None:
    """Whoever sets up the IdP learns the values from the error: they are public (the SP
    metadata), unlike what the response carried, which is not echoed."""
    for sent, expected in (
        ({"audience": "urn:amazon:webservices"}, world.audience),  # what AWS's templates send
        ({"destination": "https://elsewhere.test/acs"}, world.acs),
    ):
        kwargs = {"acs": world.acs, "audience": world.audience, **sent}
        with pytest.raises(ClientError) as err:
            world.assume(world.idp.response(roles=[world.pair()], **kwargs))
        message = err.value.response["Error"]["Message"]
        assert message.endswith(f", {expected}.") and next(iter(sent.values())) not in message


def test_comment_in_name_id_does_not_truncate_the_subject(world: SamlWorld) -> None:
    """The IdP signed `alice@example.com.evil.test`; a comment inserted after signing (comments
    are outside the signature) must not make us read `alice@example.com`."""
    assertion = world.response(
        name_id="alice@example.com.evil.test",
        raw_xml_hook=lambda x: x.replace(
            ">alice@example.com.evil.test<", ">alice@example.com<!---->.evil.test<", 1
        ),
    )
    try:
        resp = world.assume(assertion)
    except ClientError as err:
        assert err.response["Error"]["Code"] == "InvalidIdentityToken"
    else:
        assert resp["Subject"] == "alice@example.com.evil.test"


_DIGEST = (
    '<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
    "<ds:DigestValue>AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=</ds:DigestValue>"
)
_XSLT = "http://www.w3.org/TR/1999/REC-xslt-19991116"


def _after(xml: str, marker: str, extra: str) -> str:
    at = xml.index(marker) + len(marker)
    return xml[:at] + extra + xml[at:]


def _cipher_reference(attribute: str = "URI"):  # type: ignore[no-untyped-def]
    def hook(xml: str, uri: str) -> str:
        body = xml[xml.rindex("<xenc:CipherValue>") : xml.rindex("</xenc:CipherValue>") + 19]
        return xml.replace(body, f'<xenc:CipherReference xmlns:x="urn:x" {attribute}="{uri}"/>')

    return hook


def _in_encrypted_key_info(element: str):  # type: ignore[no-untyped-def]
    def hook(xml: str, uri: str) -> str:
        at = xml.index("<dsig:KeyInfo") if "<dsig:KeyInfo" in xml else xml.index("<ds:KeyInfo")
        at = xml.index(">", at) + 1
        return xml[:at] + element.format(uri=uri) + xml[at:]

    return hook


#: id -> (what to do to an encrypted assertion's XML, given a path). No signature needed:
#: decryption comes first. xmlsec reads attributes by local name (x:URI is a URI) and
#: follows dsig11 elements too.
ENCRYPTED_REFERENCES = {
    "cipher-reference": _cipher_reference(),
    "cipher-reference-namespaced-uri": _cipher_reference("x:URI"),
    "key-info-reference": _in_encrypted_key_info(
        '<dsig11:KeyInfoReference xmlns:dsig11="http://www.w3.org/2009/xmldsig11#" URI="{uri}"/>'
    ),
    # Key agreement and PBKDF2 (xmlsec 1.3): the iteration count would be the sender's.
    "key-agreement": _in_encrypted_key_info(
        '<xenc:AgreementMethod Algorithm="http://www.w3.org/2009/xmlenc11#ECDH-ES"/>'
    ),
    "derived-key": _in_encrypted_key_info(
        '<xenc11:DerivedKey xmlns:xenc11="http://www.w3.org/2009/xmlenc11#">'
        '<xenc11:KeyDerivationMethod Algorithm="http://www.w3.org/2009/xmlenc11#pbkdf2"/>'
        "</xenc11:DerivedKey>"
    ),
    "retrieval-method-xpointer": _in_encrypted_key_info(
        '<ds:RetrievalMethod xmlns:ds="http://www.w3.org/2000/09/xmldsig#" '
        'URI="#xpointer(//*[count(//*) = 0])"/>'
    ),
}


#: id -> (what to do to a signed response, given a path; audit reason). None of these may
#: make the server open the path: xmlsec would, before finding the signature bad.
OUTSIDE_REFERENCES = {
    "second-reference": (
        lambda x, uri: _after(
            x, "</ds:Reference>", f'<ds:Reference URI="{uri}">{_DIGEST}</ds:Reference>'
        ),
        "saml.signature_wrapping",
    ),
    "reference-elsewhere": (
        lambda x, uri: re.sub(r'<ds:Reference URI="[^"]*"', f'<ds:Reference URI="{uri}"', x),
        "saml.signature_wrapping",
    ),
    "manifest": (
        lambda x, uri: _after(
            x,
            "</ds:KeyInfo>",
            f'<ds:Object><ds:Manifest><ds:Reference URI="{uri}">{_DIGEST}</ds:Reference>'
            "</ds:Manifest></ds:Object>",
        ),
        "saml.signature_wrapping",
    ),
    "retrieval-method": (
        lambda x, uri: _after(x, "<ds:KeyInfo>", f'<ds:RetrievalMethod URI="{uri}"/>'),
        "saml.unsafe_reference",
    ),
    "xslt-transform-namespaced": (
        lambda x, uri: _after(
            x,
            "<ds:Transforms>",
            f'<ds:Transform xmlns:x="urn:x" x:Algorithm="{_XSLT}" '
            'Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>',
        ),
        "saml.unsafe_reference",
    ),
    "xslt-transform": (
        lambda x, uri: _after(
            x,
            "<ds:Transforms>",
            f'<ds:Transform Algorithm="{_XSLT}"><xsl:stylesheet version="1.0" '
            'xmlns:xsl="http://www.w3.org/1999/XSL/Transform"><xsl:template match="/">'
            f"<xsl:copy-of select=\"document('{uri}')\"/></xsl:template></xsl:stylesheet>"
            "</ds:Transform>",
        ),
        "saml.unsafe_reference",
    ),
}


@pytest.mark.parametrize(
    "case",
    [
        *OUTSIDE_REFERENCES,
        *ENCRYPTED_REFERENCES,
        "second-reference-encrypted",
        "encrypted-id-in-encrypted-assertion",
    ],
)
def test_nothing_outside_the_message_is_opened(
    world: SamlWorld,
    server: Server,
    tmp_path,
    case: str,  # type: ignore[no-untyped-def]
) -> None:
    fifo = tmp_path / "probe"
    os.mkfifo(fifo)
    opened = threading.Event()
    done = threading.Event()

    def watch() -> None:  # opening a FIFO to write succeeds only once someone reads it
        while not done.is_set():
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # EOF for the reader
            except OSError:
                time.sleep(0.01)
            else:
                opened.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with server.runtime.sessions() as session:
            sp_cert = server.runtime.sp_keys.all(session)[0].certificate_pem
        if case in ENCRYPTED_REFERENCES:
            encrypted = base64.b64decode(encrypt_assertion(world.response(), sp_cert)).decode()
            hostile = ENCRYPTED_REFERENCES[case](encrypted, f"file://{fifo}")
            assertion, reason = base64.b64encode(hostile.encode()).decode(), "saml.unsafe_reference"
        elif case == "encrypted-id-in-encrypted-assertion":  # ciphertext when first read
            hostile_id = _cipher_reference()(
                encrypted_id("alice@example.com", sp_cert), f"file://{fifo}"
            )
            signed = world.response(
                assertion_hook=lambda x: re.sub(
                    r"<saml:NameID[^>]*>.*?</saml:NameID>", lambda _: hostile_id, x, count=1
                )
            )
            assertion, reason = encrypt_assertion(signed, sp_cert), "saml.unsafe_reference"
        elif case == "second-reference-encrypted":  # seen only once decrypted
            hook, _ = OUTSIDE_REFERENCES["second-reference"]
            signed = world.response(raw_xml_hook=lambda x: hook(x, f"file://{fifo}"))
            assertion, reason = encrypt_assertion(signed, sp_cert), "saml.signature_wrapping"
        else:
            hook, reason = OUTSIDE_REFERENCES[case]
            assertion = world.response(raw_xml_hook=lambda x: hook(x, f"file://{fifo}"))
        world.refused(assertion, "InvalidIdentityToken")
        assert _last_reason(server) == reason
    finally:
        done.set()
        watcher.join()
    assert not opened.is_set()


@pytest.mark.parametrize(
    "assertion",
    [
        "",
        "not base64!!",
        base64.b64encode(b"<not-saml/>").decode(),
        base64.b64encode(b"<unclosed").decode(),
        "A" * 200_000,
    ],
    ids=["empty", "not-base64", "not-a-response", "not-xml", "oversized"],
)
def test_garbage_assertions(world: SamlWorld, assertion: str) -> None:
    with pytest.raises(ClientError) as err:
        world.assume(assertion)
    assert _code(err) in ("InvalidIdentityToken", "ValidationError")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_refusals_are_audited_with_reasons(world: SamlWorld, server: Server) -> None:
    from sqlalchemy import select

    from app.db.models import AuditEvent

    world.refused(world.response(recipient="https://evil.test/acs"), "InvalidIdentityToken")
    world.assume(world.response())
    with server.runtime.sessions() as session:
        events = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "sts:AssumeRoleWithSAML")
            .order_by(AuditEvent.id.desc())
            .limit(2)
        ).all()
    assert [e.outcome for e in events] == ["allowed", "refused"]
    assert events[1].reason == "saml.wrong_recipient"
    assert "SAMLAssertion" not in json.dumps(events[0].detail)


def test_role_requiring_mfa_needs_it_asserted(world: SamlWorld) -> None:
    arn = world.role("Guarded")
    world.admin.tag_role(
        RoleName="Guarded", Tags=[{"Key": "fedbridge:require-mfa", "Value": "true"}]
    )
    world.refused(world.response(roles=[world.pair(arn)]), "AccessDenied", role_arn=arn)
    mfa = world.response(roles=[world.pair(arn)], authn_context="https://refeds.org/profile/mfa")
    world.assume(mfa, role_arn=arn)


METADATA_CASES = {
    "not-xml": "x" * 2000,
    "dtd": '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + "<x>&e;</x>" + " " * 1000,
    "no-signing-key": "CERTS-NONE",
    "expired": "EXPIRED",
    "too-short": "<x/>",
}


@pytest.mark.parametrize("case", list(METADATA_CASES), ids=list(METADATA_CASES))
def test_hostile_metadata_is_refused_and_nothing_stored(world: SamlWorld, case: str) -> None:
    document = METADATA_CASES[case]
    if document == "CERTS-NONE":
        document = world.idp.metadata(certs=[])
    elif document == "EXPIRED":
        document = world.idp.metadata(valid_until=datetime.now(UTC) - timedelta(days=1))
    with pytest.raises(ClientError) as err:
        world.admin.create_saml_provider(Name="Hostile", SAMLMetadataDocument=document)
    assert _code(err) in ("InvalidInput", "ValidationError")
    assert [p["Arn"] for p in world.admin.list_saml_providers()["SAMLProviderList"]] == [
        world.provider_arn
    ]


def test_encrypted_assertions_are_accepted_and_survive_sp_key_rotation(
    world: SamlWorld, server: Server
) -> None:
    runtime = server.runtime
    with runtime.sessions() as session:
        old_cert = runtime.sp_keys.all(session)[0].certificate_pem
    encrypted = encrypt_assertion(world.response(), old_cert)
    assert b"EncryptedAssertion" in base64.b64decode(encrypted)
    world.assume(encrypted)
    # After a rotation the IdP may still encrypt to the previous certificate.
    runtime.sp_keys.rotate()
    world.assume(encrypt_assertion(world.response(), old_cert))
    stranger_cert = make_key_pair("not-the-sp")[1]
    world.refused(encrypt_assertion(world.response(), stranger_cert), "InvalidIdentityToken")


OKTA = {
    # Okta's AWS app: emailAddress NameID, typed values, the assertion signed.
    "name_id_format": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    "typed_values": True,
}
ENTRA_ID = {
    # Entra ID: persistent NameID, extra Microsoft claims, the assertion signed.
    "name_id_format": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    "name_id": "8f1c1e0a-7f7e-4d8f-9d2b-3b4c5d6e7f80",
    "attributes": {
        "http://schemas.microsoft.com/identity/claims/tenantid": [
            "5f6e7d8c-0000-4000-8000-abcdefabcdef"
        ],
        "http://schemas.microsoft.com/claims/authnmethodsreferences": [
            "http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password"
        ],
    },
    "authn_context": "urn:oasis:names:tc:SAML:2.0:ac:classes:Password",
}
ADFS = {
    # ADFS: provider ARN first in the pair, SessionDuration, typed values, transient NameID.
    "name_id_format": "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
    "name_id": "_f2ab1c0de",
    "typed_values": True,
    "provider_first": True,
    "attributes": {AWS_ATTR + "SessionDuration": ["3600"]},
}
KEYCLOAK = {
    # Keycloak: the Response signed (not the assertion), Role repeated once per value.
    "sign_assertion": False,
    "sign_response": True,
    "repeat_attributes": True,
    "name_id_format": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    "name_id": "f:3b5c:alice",
}


@pytest.mark.parametrize(
    "shape", [OKTA, ENTRA_ID, ADFS, KEYCLOAK], ids=["okta", "entra-id", "adfs", "keycloak"]
)
def test_vendor_shaped_assertions_are_accepted(world: SamlWorld, shape: dict) -> None:  # type: ignore[type-arg]
    shape = dict(shape)
    readers = world.role("Readers")
    if shape.pop("provider_first", False):
        roles = [f"{world.provider_arn},{world.role_arn}", f"{world.provider_arn},{readers}"]
    else:
        roles = [world.pair(), world.pair(readers)]
    resp = world.assume(world.response(roles=roles, **shape), role_arn=readers)
    assert resp["AssumedRoleUser"]["Arn"].endswith("assumed-role/Readers/alice@example.com")


def test_role_not_trusting_the_provider_and_role_of_another_provider(world: SamlWorld) -> None:
    stranger = TestIdp(entity_id="https://other-idp.test/metadata")
    other_arn = world.admin.create_saml_provider(
        Name="Other", SAMLMetadataDocument=stranger.metadata()
    )["SAMLProviderArn"]
    # A role that trusts only the other provider.
    trust = {
        "Effect": "Allow",
        "Principal": {"Federated": other_arn},
        "Action": "sts:AssumeRoleWithSAML",
    }
    untrusting = world.admin.create_role(
        RoleName="OtherOnly", AssumeRolePolicyDocument=_doc(trust)
    )["Role"]["Arn"]
    world.refused(
        world.response(roles=[world.pair(untrusting)]), "AccessDenied", role_arn=untrusting
    )
    # Our IdP's assertion naming the other provider's pair: refused, whoever is asked.
    pair = f"{world.role_arn},{other_arn}"
    assertion = world.response(roles=[pair])
    with pytest.raises(ClientError) as err:
        world.sts.assume_role_with_saml(
            RoleArn=world.role_arn, PrincipalArn=other_arn, SAMLAssertion=assertion
        )
    assert _code(err) == "InvalidIdentityToken"
    world.refused(assertion, "AccessDenied")


def test_a_five_megabyte_body_is_refused(world: SamlWorld, server: Server) -> None:
    import requests

    body = {
        "Action": "AssumeRoleWithSAML",
        "Version": "2011-06-15",
        "RoleArn": world.role_arn,
        "PrincipalArn": world.provider_arn,
        "SAMLAssertion": "A" * (5 * 1024 * 1024),
    }
    resp = requests.post(server.url + "/", data=body, timeout=30)
    assert resp.status_code == 413 and "<Code>RequestEntityTooLarge</Code>" in resp.text
    acs = requests.post(
        server.url + "/saml/acs", data={"SAMLResponse": "A" * (5 * 1024 * 1024)}, timeout=30
    )
    assert acs.status_code == 413 and "Traceback" not in acs.text


def test_metadata_that_lapses_after_registration_stops_working(world: SamlWorld) -> None:
    """The parsed metadata is kept per document, but its validUntil counts on every call."""
    world.admin.update_saml_provider(
        SAMLProviderArn=world.provider_arn,
        SAMLMetadataDocument=world.idp.metadata(
            valid_until=datetime.now(UTC) + timedelta(minutes=2)
        ),
    )
    world.assume(world.response())
    world.assume(world.response())  # the second call is served the parsed document
    world.server.clock.advance(180)  # the assertion itself lasts 5 minutes
    with pytest.raises(ClientError) as err:
        world.assume(world.response())
    assert "expired" in err.value.response["Error"]["Message"]


SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"


def _mutated(xml: bytes, rnd: random.Random) -> bytes:
    """One random damage: bytes flipped, a span cut or copied, markup slipped in before a
    tag, or an identity attribute renamed or doubled."""
    b = bytearray(xml)
    kind = rnd.randrange(5)
    if kind == 0:
        for _ in range(rnd.randrange(1, 5)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
    elif kind == 1:
        start = rnd.randrange(len(b))
        del b[start : start + rnd.randrange(1, 200)]
    elif kind == 2:
        start, source = rnd.randrange(len(b)), rnd.randrange(len(b))
        b[start:start] = b[source : source + rnd.randrange(1, 300)]
    elif kind == 3:
        start = rnd.choice([m.start() for m in re.finditer(rb"<", xml)])
        b[start:start] = rnd.choice(
            [b"<?pi x?>", b"<!-- c -->", b"<x:y xmlns:x='urn:x'/>", b"&e;", b"<![CDATA[z]]>"]
        )
    else:
        name = rnd.choice([b"ID=", b"URI=", b"Version=", b"Method=", b"Recipient="])
        return xml.replace(name, rnd.choice([b"Id=", b'ID="_x" ID=', b"xID="]), 1)
    return bytes(b)


def _signed_part(xml: bytes) -> bytes | None:
    """The assertion as its signature covers it: exclusive C14N, without comments and
    processing instructions (python3-saml's parser drops both before anything is read)
    and without KeyInfo (never used: the provider's metadata holds the keys)."""
    parser = etree.XMLParser(remove_comments=True, remove_pis=True, resolve_entities=False)
    try:
        assertion = etree.fromstring(xml, parser).find(f"{{{SAML_NS}}}Assertion")
    except etree.XMLSyntaxError:
        return None
    if assertion is None:
        return None
    for key_info in list(assertion.iter("{http://www.w3.org/2000/09/xmldsig#}KeyInfo")):
        key_info.getparent().remove(key_info)
    return etree.tostring(assertion, method="c14n", exclusive=True)


def test_damaged_responses_are_refused_or_carry_exactly_what_was_signed(
    world: SamlWorld,
) -> None:
    """200 seeded random damages to one signed response: never a server error, and any
    that is still accepted (about one in ten: damage to the unsigned envelope, or markup
    the parser drops) carries the assertion the IdP signed, byte for byte, and signs the
    same person in. With signature checks switched off this fails within the first few."""
    genuine = base64.b64decode(world.response())
    expected = world.assume(base64.b64encode(genuine).decode())
    signed = _signed_part(genuine)
    rnd = random.Random(7)
    for _ in range(200):
        damaged = _mutated(genuine, rnd)
        try:
            resp = world.assume(base64.b64encode(damaged).decode())
        except ClientError as err:
            assert err.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403)
            continue
        assert _signed_part(damaged) == signed, damaged
        for key in ("AssumedRoleUser", "Subject", "SubjectType", "Issuer", "NameQualifier"):
            assert resp[key] == expected[key]
