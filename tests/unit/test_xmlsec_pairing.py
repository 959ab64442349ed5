"""python3-saml's xmlsec and lxml must link the same libxml2, or signatures break at run time.

This signs a document with python3-saml (xmlsec) and verifies it back, and
checks that both bindings report the same libxml2 version.
"""

from __future__ import annotations

import datetime as dt

import lxml.etree
import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from onelogin.saml2.utils import OneLogin_Saml2_Utils


def _key_and_cert() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pairing-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return pem_key, cert.public_bytes(serialization.Encoding.PEM).decode()


def test_same_libxml2_in_lxml_and_xmlsec() -> None:
    assert xmlsec.get_libxml_version() == lxml.etree.LIBXML_VERSION


def test_sign_and_verify_roundtrip() -> None:
    key, cert = _key_and_cert()
    document = '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_abc" Version="2.0" IssueInstant="2026-01-01T00:00:00Z"><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">https://idp.example</saml:Issuer></samlp:Response>'
    signed = OneLogin_Saml2_Utils.add_sign(
        document,
        key,
        cert,
        sign_algorithm=xmlsec.constants.TransformRsaSha256,
        digest_algorithm=xmlsec.constants.TransformSha256,
    )
    assert OneLogin_Saml2_Utils.validate_sign(signed, cert, raise_exceptions=True)
    tampered = signed.replace(b"https://idp.example", b"https://evil.example")
    assert not OneLogin_Saml2_Utils.validate_sign(tampered, cert)
