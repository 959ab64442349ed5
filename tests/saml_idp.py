"""A SAML IdP for tests: real keys made at test time, real signed responses.

Responses are built as AWS's ready-made IdP templates send them (Okta, Entra
ID, ADFS, Keycloak): the Role attribute with `role-arn,provider-arn` pairs,
RoleSessionName, optional SessionDuration, PrincipalTag:*, SourceIdentity.
Every knob a hostile or broken IdP could turn is a keyword argument.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any
from xml.sax.saxutils import escape
from xml.sax.saxutils import quoteattr

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from onelogin.saml2.utils import OneLogin_Saml2_Utils

AWS_ATTR = "https://aws.amazon.com/SAML/Attributes/"
PASSWORD_CONTEXT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"


def make_key_pair(common_name: str = "test-idp") -> tuple[str, str]:
    """(private key PEM, certificate PEM), self-signed, valid for a day either side of now."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def cert_body(cert_pem: str) -> str:
    return "".join(line for line in cert_pem.splitlines() if "-----" not in line)


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class TestIdp:
    entity_id: str = "https://idp.example.test/metadata"
    sso_url: str = "https://idp.example.test/sso"
    keys: list[tuple[str, str]] = field(default_factory=lambda: [make_key_pair()])

    __test__ = False  # not a pytest class

    @property
    def key(self) -> str:
        return self.keys[0][0]

    @property
    def cert(self) -> str:
        return self.keys[0][1]

    def metadata(
        self,
        *,
        valid_until: datetime | None = None,
        certs: list[str] | None = None,
        want_signed_requests: bool = False,
    ) -> str:
        certs = certs if certs is not None else [c for _, c in self.keys]
        key_descriptors = "".join(
            '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
            f"{cert_body(c)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
            for c in certs
        )
        valid = f' validUntil="{_ts(valid_until)}"' if valid_until else ""
        signed = ' WantAuthnRequestsSigned="true"' if want_signed_requests else ""
        return (
            '<?xml version="1.0"?>'
            '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
            f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID={quoteattr(self.entity_id)}{valid}>'
            f'<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"{signed}>'
            f"{key_descriptors}"
            "<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>"
            '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
            f"Location={quoteattr(self.sso_url)}/>"
            '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
            f"Location={quoteattr(self.sso_url)}/>"
            "</md:IDPSSODescriptor></md:EntityDescriptor>"
        )

    def response(
        self,
        *,
        acs: str,
        audience: str,
        roles: list[str] | None = None,
        session_name: str | None = "alice@example.com",
        name_id: str = "alice@example.com",
        name_id_format: str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
        attributes: dict[str, list[str]] | None = None,
        issuer: str | None = None,
        destination: str | None = "",
        recipient: str | None = "",
        in_response_to: str | None = None,
        issued_at: datetime | None = None,
        not_before: datetime | None = None,
        not_on_or_after: datetime | None = None,
        session_not_on_or_after: datetime | None = None,
        status: str = "urn:oasis:names:tc:SAML:2.0:status:Success",
        authn_context: str = PASSWORD_CONTEXT,
        sign_assertion: bool = True,
        sign_response: bool = False,
        signing_key: tuple[str, str] | None = None,
        assertion_id: str | None = None,
        raw_xml_hook: object = None,
        assertion_hook: object = None,
        typed_values: bool = False,
        repeat_attributes: bool = False,
    ) -> str:
        """A base64 SAML Response, as an IdP posts it. `assertion_hook` changes the assertion
        before it is signed, `raw_xml_hook` the response after."""
        now = issued_at or datetime.now(UTC)
        issuer = issuer or self.entity_id
        destination = acs if destination == "" else destination
        recipient = acs if recipient == "" else recipient
        not_before = not_before or now - timedelta(minutes=1)
        not_on_or_after = not_on_or_after or now + timedelta(minutes=5)
        key, cert = signing_key or self.keys[0]
        assertion_id = assertion_id or f"_a{uuid.uuid4().hex}"
        attrs: dict[str, list[str]] = {}
        if roles is not None:
            attrs[AWS_ATTR + "Role"] = roles
        if session_name is not None:
            attrs[AWS_ATTR + "RoleSessionName"] = [session_name]
        attrs.update(attributes or {})
        irt = f" InResponseTo={quoteattr(in_response_to)}" if in_response_to else ""
        scd_recipient = f" Recipient={quoteattr(recipient)}" if recipient is not None else ""
        session_end = (
            f' SessionNotOnOrAfter="{_ts(session_not_on_or_after)}"'
            if session_not_on_or_after
            else ""
        )
        # ADFS and Okta type their values (xsi:type="xs:string"); Keycloak may repeat
        # an attribute once per value instead of listing the values in one.
        value_type = ' xsi:type="xs:string"' if typed_values else ""
        groups = (
            [(n, [v]) for n, vs in attrs.items() for v in vs]
            if repeat_attributes
            else attrs.items()
        )
        attribute_xml = "".join(
            f"<saml:Attribute Name={quoteattr(name)} "
            'NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri">'
            + "".join(
                f"<saml:AttributeValue{value_type}>{escape(v)}</saml:AttributeValue>"
                for v in values
            )
            + "</saml:Attribute>"
            for name, values in groups
        )
        assertion = (
            '<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
            'xmlns:xs="http://www.w3.org/2001/XMLSchema" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'ID="{assertion_id}" Version="2.0" IssueInstant="{_ts(now)}">'
            f"<saml:Issuer>{escape(issuer)}</saml:Issuer>"
            f"<saml:Subject><saml:NameID Format={quoteattr(name_id_format)}>{escape(name_id)}</saml:NameID>"
            '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">'
            f'<saml:SubjectConfirmationData NotOnOrAfter="{_ts(not_on_or_after)}"{scd_recipient}{irt}/>'
            "</saml:SubjectConfirmation></saml:Subject>"
            f'<saml:Conditions NotBefore="{_ts(not_before)}" NotOnOrAfter="{_ts(not_on_or_after)}">'
            f"<saml:AudienceRestriction><saml:Audience>{escape(audience)}</saml:Audience>"
            "</saml:AudienceRestriction></saml:Conditions>"
            f'<saml:AuthnStatement AuthnInstant="{_ts(now)}"{session_end} SessionIndex="_s1">'
            f"<saml:AuthnContext><saml:AuthnContextClassRef>{escape(authn_context)}"
            "</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>"
            f"<saml:AttributeStatement>{attribute_xml}</saml:AttributeStatement>"
            "</saml:Assertion>"
        )
        if callable(assertion_hook):  # the IdP's own odd choices, signed
            assertion = assertion_hook(assertion)
        if sign_assertion:
            assertion = _strip_declaration(OneLogin_Saml2_Utils.add_sign(assertion, key, cert))
        dest = f" Destination={quoteattr(destination)}" if destination is not None else ""
        response = (
            '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
            'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
            f'ID="_r{uuid.uuid4().hex}" Version="2.0" IssueInstant="{_ts(now)}"{dest}{irt}>'
            f"<saml:Issuer>{escape(issuer)}</saml:Issuer>"
            f'<samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status>'
            f"{assertion}</samlp:Response>"
        )
        if sign_response:
            response = _strip_declaration(OneLogin_Saml2_Utils.add_sign(response, key, cert))
        if callable(raw_xml_hook):
            response = raw_xml_hook(response)
        raw = response if isinstance(response, bytes) else response.encode()
        return base64.b64encode(raw).decode()


def sibling_forgery(xml: str) -> str:
    """Signature wrapping (a `raw_xml_hook`): a forged assertion, Mallory's, beside the
    genuine signed one."""
    start = xml.index("<saml:Assertion")
    end = xml.index("</saml:Assertion>") + len("</saml:Assertion>")
    genuine = xml[start:end]
    forged = genuine.replace("alice@example.com", "mallory@example.com").replace(
        'ID="_a', 'ID="_forged'
    )
    return xml[:start] + forged + genuine + xml[end:]


def _strip_declaration(xml: str | bytes) -> str:
    text = xml.decode() if isinstance(xml, bytes) else xml
    if text.startswith("<?xml"):
        text = text[text.index("?>") + 2 :]
    return text


def _encrypt(element: Any, sp_cert_pem: str) -> Any:
    """Replace `element` with its EncryptedData, to the SP's certificate, as IdPs that
    encrypt do: AES-128-CBC content key wrapped with RSA-OAEP."""
    import xmlsec

    manager = xmlsec.KeysManager()
    manager.add_key(
        xmlsec.Key.from_memory(sp_cert_pem, xmlsec.constants.KeyDataFormatCertPem, None)
    )
    template = xmlsec.template.encrypted_data_create(
        element.getroottree().getroot(),
        xmlsec.constants.TransformAes128Cbc,
        type=xmlsec.constants.TypeEncElement,
        ns="xenc",
    )
    xmlsec.template.encrypted_data_ensure_cipher_value(template)
    key_info = xmlsec.template.encrypted_data_ensure_key_info(template, ns="dsig")
    encrypted_key = xmlsec.template.add_encrypted_key(key_info, xmlsec.constants.TransformRsaOaep)
    xmlsec.template.encrypted_data_ensure_cipher_value(encrypted_key)
    context = xmlsec.EncryptionContext(manager)
    context.key = xmlsec.Key.generate(
        xmlsec.constants.KeyDataAes, 128, xmlsec.constants.KeyDataTypeSession
    )
    return context.encrypt_xml(template, element)


def encrypt_assertion(saml_response: str, sp_cert_pem: str) -> str:
    """Encrypt the (already signed) assertion to the SP's certificate."""
    from lxml import etree

    root = etree.fromstring(base64.b64decode(saml_response))
    saml = "urn:oasis:names:tc:SAML:2.0:assertion"
    encrypted = _encrypt(root.find(f"{{{saml}}}Assertion"), sp_cert_pem)
    wrapper = etree.Element(f"{{{saml}}}EncryptedAssertion")
    encrypted.addprevious(wrapper)
    wrapper.append(encrypted)
    return base64.b64encode(etree.tostring(root)).decode()


def encrypted_id(name_id: str, sp_cert_pem: str) -> str:
    """A <saml:EncryptedID> for `name_id`, encrypted to the SP as encrypt_assertion does."""
    from lxml import etree

    saml = "urn:oasis:names:tc:SAML:2.0:assertion"
    root = etree.fromstring(
        f'<x xmlns:saml="{saml}"><saml:NameID>{escape(name_id)}</saml:NameID></x>'
    )
    encrypted = _encrypt(root[0], sp_cert_pem)
    return f"<saml:EncryptedID>{etree.tostring(encrypted).decode()}</saml:EncryptedID>"
