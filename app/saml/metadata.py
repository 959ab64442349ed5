"""IdP metadata in, SP metadata out.

IdP metadata is hostile input until checked: parsed by python3-saml's
hardened parser (no DTD, no entities), size-capped, and refused unless it
names an entity id, at least one SSO endpoint and at least one signing
certificate, is still valid, and (if signed) carries a signature that
verifies with its own signing key. Every signing certificate is kept, so an
IdP rolling its certificate over with two keys keeps working.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from lxml import etree
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.utils import OneLogin_Saml2_Utils
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

from app.errors import InvalidInputError

#: AWS accepts SAML metadata documents of 1,000 to 10,000,000 characters.
METADATA_MIN_CHARS = 1000
METADATA_MAX_CHARS = 10_000_000
_NS = {"md": C.NS_MD, "ds": C.NS_DS}
BINDINGS = {"redirect": C.BINDING_HTTP_REDIRECT, "post": C.BINDING_HTTP_POST}


@dataclass(frozen=True)
class IdpMetadata:
    entity_id: str
    #: binding URI -> SingleSignOnService location
    sso_urls: dict[str, str]
    #: Base64 DER bodies of every signing certificate (X509Certificate text).
    signing_certs: tuple[str, ...]
    valid_until: datetime | None
    want_authn_requests_signed: bool

    def sso_url(self, binding: str) -> str | None:
        return self.sso_urls.get(binding)


def _invalid(message: str, reason: str) -> InvalidInputError:
    return InvalidInputError(message, reason=reason)


def parse_idp_metadata(document: str, now: datetime) -> IdpMetadata:
    if not isinstance(document, str) or not (
        METADATA_MIN_CHARS <= len(document) <= METADATA_MAX_CHARS
    ):
        raise _invalid(
            f"SAMLMetadataDocument must be {METADATA_MIN_CHARS} to {METADATA_MAX_CHARS} "
            "characters.",
            "saml.metadata_size",
        )
    # Every AssumeRoleWithSAML reads its provider's stored metadata: parse (and verify
    # its own signature) once per document, check the time on every call.
    metadata = _parse_cached(document) if len(document) <= _CACHED_CHARS else _parse(document)
    if metadata.valid_until is not None and metadata.valid_until <= now:
        raise _invalid("The SAML metadata has expired (validUntil).", "saml.metadata_expired")
    return metadata


#: Real metadata is a few kilobytes; documents up to this size are kept parsed, so
#: the cache holds at most _CACHED_DOCUMENTS x 1 MB.
_CACHED_CHARS = 1_000_000
_CACHED_DOCUMENTS = 32


def _parse(document: str) -> IdpMetadata:
    if "<!DOCTYPE" in document or "<!ENTITY" in document:
        raise _invalid("SAML metadata must not contain a DTD or entities.", "saml.metadata_dtd")
    try:
        root = OneLogin_Saml2_XML.to_etree(document.encode("utf-8"))
    except Exception:  # lxml and defusedxml raise a dozen kinds; all mean "not usable"
        raise _invalid(
            "The SAML metadata document is not well-formed XML.", "saml.metadata_xml"
        ) from None
    if root.tag != f"{{{C.NS_MD}}}EntityDescriptor":
        raise _invalid(
            "The SAML metadata must be one md:EntityDescriptor.", "saml.metadata_structure"
        )
    entity_id = (root.get("entityID") or "").strip()
    if not entity_id or len(entity_id) > 1024:
        raise _invalid("The SAML metadata has no entityID.", "saml.metadata_structure")
    valid_until = _valid_until(root)
    idp = root.find("md:IDPSSODescriptor", _NS)
    if idp is None:
        raise _invalid("The SAML metadata has no IDPSSODescriptor.", "saml.metadata_structure")
    sso_urls: dict[str, str] = {}
    for service in idp.findall("md:SingleSignOnService", _NS):
        binding, location = service.get("Binding"), service.get("Location")
        if binding and location and binding not in sso_urls:
            sso_urls[binding] = location
    if not sso_urls:
        raise _invalid("The SAML metadata has no SingleSignOnService.", "saml.metadata_structure")
    certs = _signing_certs(idp)
    if not certs:
        raise _invalid("The SAML metadata has no signing certificate.", "saml.metadata_no_key")
    if root.find("ds:Signature", _NS) is not None:
        _check_own_signature(document, certs)
    return IdpMetadata(
        entity_id=entity_id,
        sso_urls=sso_urls,
        signing_certs=tuple(certs),
        valid_until=valid_until,
        want_authn_requests_signed=idp.get("WantAuthnRequestsSigned") == "true",
    )


_parse_cached = functools.lru_cache(maxsize=_CACHED_DOCUMENTS)(_parse)


def _valid_until(root: etree._Element) -> datetime | None:
    text = root.get("validUntil")
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _invalid("validUntil is not a valid date.", "saml.metadata_structure") from None
    if moment.tzinfo is None:
        raise _invalid("validUntil must name its time zone.", "saml.metadata_structure")
    return moment


def _signing_certs(idp: etree._Element) -> list[str]:
    certs = []
    for descriptor in idp.findall("md:KeyDescriptor", _NS):
        if descriptor.get("use") not in (None, "signing"):
            continue
        for node in descriptor.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", _NS):
            body = "".join((node.text or "").split())
            try:
                x509.load_pem_x509_certificate(_pem(body).encode())
            except ValueError:
                raise _invalid(
                    "A signing certificate in the SAML metadata does not parse.",
                    "saml.metadata_bad_key",
                ) from None
            if body not in certs:
                certs.append(body)
    return certs


def _check_own_signature(document: str, certs: list[str]) -> None:
    if not any(
        OneLogin_Saml2_Utils.validate_metadata_sign(document, _pem(cert), validatecert=False)
        for cert in certs
    ):
        raise _invalid(
            "The SAML metadata is signed, but the signature does not verify.",
            "saml.metadata_bad_signature",
        )


def _pem(body: str) -> str:
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def sp_metadata(entity_id: str, acs_url: str, certificates: list[str]) -> str:
    """The SP's own metadata: entity id, the ACS (HTTP-POST) and every current certificate."""
    key_descriptors = "".join(
        f'<md:KeyDescriptor use="{use}"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
        f"{''.join(line for line in pem.splitlines() if '-----' not in line)}"
        "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        for pem in certificates
        for use in ("signing", "encryption")
    )
    root = etree.fromstring(
        (
            f'<md:EntityDescriptor xmlns:md="{C.NS_MD}" xmlns:ds="{C.NS_DS}" entityID="">'
            '<md:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true" '
            f'protocolSupportEnumeration="{C.NS_SAMLP}">'
            f"{key_descriptors}"
            f"<md:NameIDFormat>{C.NAMEID_PERSISTENT}</md:NameIDFormat>"
            f"<md:NameIDFormat>{C.NAMEID_EMAIL_ADDRESS}</md:NameIDFormat>"
            f'<md:AssertionConsumerService Binding="{C.BINDING_HTTP_POST}" Location="" index="0" '
            'isDefault="true"/>'
            "</md:SPSSODescriptor></md:EntityDescriptor>"
        ).encode()
    )
    # Values set through the tree, so no URL can break out of its attribute.
    root.set("entityID", entity_id)
    root.find(".//md:AssertionConsumerService", _NS).set("Location", acs_url)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode()
