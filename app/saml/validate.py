"""Validation of a SAML Response, shared by AssumeRoleWithSAML and the browser ACS.

python3-saml does the protocol and the XML signature (xmlsec), with the keys
of the registered provider only, never a key carried in the message, and its
checks against signature wrapping (one assertion, signed elements by ID).
On top of it this module is stricter where python3-saml is lenient:
Destination and Recipient must equal the ACS URL exactly, an Audience must be
present and name the SP, and every time window is checked against the
service clock with the configured skew.
"""

from __future__ import annotations

import base64
import binascii
import logging
from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import xmlsec
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.errors import OneLogin_Saml2_ValidationError as V
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

from app.clock import Clock
from app.db.models import SamlProvider
from app.errors import ExpiredFederationTokenError
from app.errors import IdpRejectedClaimError
from app.errors import InvalidIdentityTokenError
from app.errors import ServiceError
from app.saml import patches
from app.saml import references
from app.saml.metadata import IdpMetadata
from app.saml.metadata import parse_idp_metadata
from app.saml.sp import SpKeyPair

log = logging.getLogger("fedbridge.saml")
patches.install()

#: AWS's limit on AssumeRoleWithSAML's SAMLAssertion (base64 characters).
MAX_RESPONSE_CHARS = 100_000
_NS = {"samlp": C.NS_SAMLP, "saml": C.NS_SAML}
#: A DTD in UTF-8 or UTF-16 (the parser refuses any; these name the refusal).
_DTD_MARKERS = tuple(
    text.encode(codec)
    for text in ("<!DOCTYPE", "<!ENTITY")
    for codec in ("ascii", "utf-16-le", "utf-16-be")
)

_SIGNATURE_CODES = {
    V.WRONG_SIGNED_ELEMENT,
    V.ID_NOT_FOUND_IN_SIGNED_ELEMENT,
    V.DUPLICATED_ID_IN_SIGNED_ELEMENTS,
    V.INVALID_SIGNED_ELEMENT,
    V.DUPLICATED_REFERENCE_IN_SIGNED_ELEMENTS,
    V.UNEXPECTED_SIGNED_ELEMENTS,
    V.WRONG_NUMBER_OF_SIGNATURES_IN_RESPONSE,
    V.WRONG_NUMBER_OF_SIGNATURES_IN_ASSERTION,
    V.WRONG_NUMBER_OF_SIGNATURES,
    V.WRONG_NUMBER_OF_ASSERTIONS,
}
_REASONS = {
    V.INVALID_SIGNATURE: "saml.bad_signature",
    V.NO_SIGNATURE_FOUND: "saml.unsigned",
    V.DEPRECATED_SIGNATURE_METHOD: "saml.weak_algorithm",
    V.DEPRECATED_DIGEST_METHOD: "saml.weak_algorithm",
    V.WRONG_DESTINATION: "saml.wrong_destination",
    V.EMPTY_DESTINATION: "saml.wrong_destination",
    V.WRONG_SUBJECTCONFIRMATION: "saml.wrong_recipient",
    V.WRONG_AUDIENCE: "saml.wrong_audience",
    V.WRONG_ISSUER: "saml.wrong_issuer",
    V.ISSUER_MULTIPLE_IN_RESPONSE: "saml.wrong_issuer",
    V.ISSUER_NOT_FOUND_IN_ASSERTION: "saml.wrong_issuer",
    V.WRONG_INRESPONSETO: "saml.in_response_to",
    V.ASSERTION_TOO_EARLY: "saml.not_yet_valid",
    V.INVALID_XML_FORMAT: "saml.malformed",
}
_EXPIRED_CODES = {V.ASSERTION_EXPIRED, V.SESSION_EXPIRED, V.RESPONSE_EXPIRED}


@dataclass(frozen=True)
class ServiceProvider:
    """What this SP checks responses against."""

    entity_id: str
    acs_url: str
    keys: list[SpKeyPair]  # newest first
    clock: Clock
    skew: timedelta


@dataclass(frozen=True)
class ValidatedResponse:
    provider: SamlProvider
    metadata: IdpMetadata
    issuer: str
    name_id: str
    name_id_format: str | None
    name_qualifier: str | None
    attributes: dict[str, list[str]]
    assertion_id: str
    in_response_to: str | None
    not_on_or_after: datetime
    session_not_on_or_after: datetime | None
    authn_contexts: tuple[str, ...]
    recipient: str


def _refuse(message: str, reason: str) -> InvalidIdentityTokenError:
    return InvalidIdentityTokenError(message, reason=reason)


@dataclass(frozen=True)
class _Document:
    """A Response decoded and parsed once, with python3-saml's own hardened parser."""

    xml: bytes
    root: Any
    issuer: str


def read_issuer(saml_response: str) -> str:
    """The Response's Issuer, read before validation to choose the provider's keys."""
    return _read(saml_response).issuer


def _read(saml_response: str) -> _Document:
    if not isinstance(saml_response, str) or not 4 <= len(saml_response) <= MAX_RESPONSE_CHARS:
        raise _refuse(
            f"The SAML response must be 4 to {MAX_RESPONSE_CHARS} base64 characters.",
            "saml.size",
        )
    try:
        xml = base64.b64decode("".join(saml_response.split()), validate=True)
    except (binascii.Error, ValueError):
        raise _refuse("The SAML response is not valid base64.", "saml.malformed") from None
    if any(marker in xml for marker in _DTD_MARKERS):
        raise _refuse("The SAML response must not contain a DTD.", "saml.dtd")
    try:
        root = OneLogin_Saml2_XML.to_etree(xml)
    except Exception:  # lxml/defusedxml errors of every kind
        raise _refuse("The SAML response is not well-formed XML.", "saml.malformed") from None
    if root.tag != f"{{{C.NS_SAMLP}}}Response":
        raise _refuse("The document is not a SAML 2.0 Response.", "saml.malformed")
    _check_references(root)
    issuers = root.findall("saml:Issuer", _NS) or root.findall("saml:Assertion/saml:Issuer", _NS)
    if len(issuers) != 1 or not (issuers[0].text or "").strip():
        raise _refuse("The SAML response names no single Issuer.", "saml.wrong_issuer")
    return _Document(xml, root, (issuers[0].text or "").strip())


def _check_references(root: Any) -> None:
    """Every signature and encrypted element python3-saml will hand xmlsec, checked first
    (app.saml.references): the message as read, then an assertion once decrypted."""
    if problem := references.document_problem(root):
        raise _refuse(f"The SAML response is refused: {problem.text}.", problem.reason)


class _Response(OneLogin_Saml2_Response):
    """python3-saml's Response over a _Document, with two repetitions taken out.

    - The constructor is python3-saml 1.16.0's (pinned) without decoding and parsing
      the bytes a second time.
    - Answers to its XPath queries are kept for the life of the object: validation asks
      20 times which Reference signs the assertion. The documents never change once
      constructed (decryption works on its own copy), so an answer cannot go stale, and
      each caller gets its own list.
    """

    def __init__(self, settings: OneLogin_Saml2_Settings, document: _Document) -> None:
        self._settings = settings
        self._error = None
        self.response = document.xml
        self.document = document.root
        self.decrypted_document = None
        self.encrypted = None
        self.valid_scd_not_on_or_after = None
        self._answers: dict[tuple[bool, str, str | None], list[Any]] = {}
        if self._query("/samlp:Response/saml:EncryptedAssertion"):
            self.encrypted = True
            self.decrypted_document = self._decrypt_assertion(deepcopy(self.document))
            # What was ciphertext when _read looked: an EncryptedID inside, say, would be
            # decrypted by xmlsec later (get_nameid_data).
            _check_references(self.decrypted_document)

    def _query(self, query: str, tagid: str | None = None) -> list[Any]:
        key = (bool(self.encrypted), query, tagid)  # which document, as the parent chooses
        if key not in self._answers:
            self._answers[key] = super()._query(query, tagid)
        return list(self._answers[key])


def validate_response(
    saml_response: str,
    candidates: list[SamlProvider],
    sp: ServiceProvider,
    *,
    request_id: str | None = None,
) -> ValidatedResponse:
    """Validate against each candidate provider registered for the Issuer; the first whose
    keys verify wins. Raises the AWS error of the most telling failure otherwise."""
    document = _read(saml_response)
    candidates = [p for p in candidates if p.entity_id == document.issuer]
    if not candidates:
        raise _refuse(
            "No SAML provider is registered for the response's Issuer.", "saml.unknown_issuer"
        )
    failure: ServiceError | None = None
    for provider in candidates:
        try:
            return _validate_with(document, provider, sp, request_id)
        except ServiceError as err:
            failure = failure or err
    assert failure is not None
    raise failure


def _validate_with(
    document: _Document, provider: SamlProvider, sp: ServiceProvider, request_id: str | None
) -> ValidatedResponse:
    now = sp.clock.now()
    metadata = parse_idp_metadata(provider.metadata_document, now)
    request_data = _request_data(sp.acs_url)
    response = None
    error: Exception | None = None
    # Only an encrypted assertion needs more than the newest key: try older ones too.
    keys = sp.keys if b"EncryptedAssertion" in document.xml else sp.keys[:1]
    for key in keys:
        try:
            settings = saml_settings(
                sp.entity_id,
                sp.acs_url,
                key.certificate_pem,
                key.private_key_pem,
                metadata.entity_id,
                next(iter(metadata.sso_urls.values())),
                metadata.signing_certs,
            )
            response = _Response(settings, document)
            with patches.times_checked_at(now - sp.skew):
                response.is_valid(request_data, request_id, raise_exceptions=True)
            error = None
            break
        except ServiceError:
            raise
        except Exception as err:  # mapped to AWS errors below
            log.debug("SAML validation with SP key %s failed: %r", key.kid, err)
            error = err
    if error is not None or response is None:
        if isinstance(error, V) and error.code == V.WRONG_SUBJECTCONFIRMATION and response:
            error = _diagnose_confirmation(response, sp.acs_url, now - sp.skew) or error
        raise _mapped(error, sp)
    return _strict_checks(response, provider, metadata, sp, now)


def _diagnose_confirmation(
    response: OneLogin_Saml2_Response, acs_url: str, now: datetime
) -> V | None:
    """python3-saml says only "no valid SubjectConfirmation": tell expiry and a NotBefore
    ahead (which a bearer confirmation must not have) from a wrong Recipient, so the
    person and the audit log learn the real cause. `now`: the moment python3-saml
    checked against. The response is refused either way; nothing here is trusted."""
    try:
        confirmations = response._query_assertion(
            "/saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData"
        )
    except Exception:  # an unreadable response keeps python3-saml's own verdict
        return None
    for data in confirmations:
        if data.get("Recipient") != acs_url:
            continue
        end, start = _time(data.get("NotOnOrAfter")), _time(data.get("NotBefore"))
        if end is not None and end <= now:
            return V("SubjectConfirmationData has expired", V.ASSERTION_EXPIRED)
        if start is not None and start > now:
            return V("SubjectConfirmationData is not valid yet", V.ASSERTION_TOO_EARLY)
    return None


def _mapped(error: Exception | None, sp: ServiceProvider) -> ServiceError:
    if isinstance(error, V):
        log.info("SAML response refused by python3-saml: %r (code %s)", str(error), error.code)
        if error.code in _EXPIRED_CODES:
            return ExpiredFederationTokenError(
                "The SAML assertion has expired.", reason="saml.expired"
            )
        if error.code == V.STATUS_CODE_IS_NOT_SUCCESS:
            return IdpRejectedClaimError(
                "The identity provider reported that authentication failed.",
                reason="saml.status",
            )
        if error.code in _SIGNATURE_CODES:
            return _refuse(
                "The SAML response's signed elements are not as expected.",
                "saml.signature_wrapping",
            )
        reason = _REASONS.get(error.code, "saml.invalid")
        return _refuse(f"The SAML response is not valid: {_describe(reason, sp)}.", reason)
    log.info("SAML response unusable: %r", error)
    return _refuse("The SAML response could not be read.", "saml.malformed")


def _describe(reason: str, sp: ServiceProvider) -> str:
    """Why, for the person setting up the IdP: the values it must send are this
    service's public metadata, so they are named (what was sent is not echoed)."""
    return {
        "saml.bad_signature": "its signature does not verify with the provider's keys",
        "saml.unsigned": "it is not signed",
        "saml.weak_algorithm": "it is signed with a deprecated algorithm (SHA-1)",
        "saml.wrong_destination": f"its Destination is not this service's ACS URL, {sp.acs_url}",
        "saml.wrong_recipient": (
            "it must have exactly one bearer SubjectConfirmation, whose Recipient is this "
            f"service's ACS URL, {sp.acs_url}"
        ),
        "saml.wrong_audience": f"its Audience is not this service's entity id, {sp.entity_id}",
        "saml.wrong_issuer": "its Issuer is not the provider's entity id",
        "saml.in_response_to": "it answers a different request",
        "saml.not_yet_valid": "it is not valid yet",
        "saml.malformed": "it does not follow the SAML 2.0 schema",
    }.get(reason, "it failed validation")


REDEEM_WITHIN = timedelta(minutes=5)


def _strict_checks(
    response: OneLogin_Saml2_Response,
    provider: SamlProvider,
    metadata: IdpMetadata,
    sp: ServiceProvider,
    now: datetime,
) -> ValidatedResponse:
    acs = sp.acs_url
    destination = response.document.get("Destination")
    if destination is not None and destination != sp.acs_url:
        raise _refuse(
            f"The SAML response is not valid: {_describe('saml.wrong_destination', sp)}.",
            "saml.wrong_destination",
        )
    # SAML Core 2.5.1.4: each AudienceRestriction must be met on its own (several are a
    # conjunction), so this SP must be named in every one, not in any.
    restrictions = response._query_assertion("/saml:Conditions/saml:AudienceRestriction")
    if not restrictions or any(
        sp.entity_id not in _audiences(restriction) for restriction in restrictions
    ):
        raise _refuse(
            f"The SAML response is not valid: {_describe('saml.wrong_audience', sp)}.",
            "saml.wrong_audience",
        )
    # Queried through python3-saml so it reads the assertion it validated.
    # AWS: "exactly one SubjectConfirmation element with a SubjectConfirmationData element
    # that includes both the NotOnOrAfter attribute and a Recipient attribute"; a bearer
    # one, as the Web Browser SSO profile sends.
    every = response._query_assertion("/saml:Subject/saml:SubjectConfirmation")
    bearer = f"/saml:Subject/saml:SubjectConfirmation[@Method='{C.CM_BEARER}']"
    confirmations = response._query_assertion(bearer + "/saml:SubjectConfirmationData")
    if len(every) != 1 or len(confirmations) != 1 or confirmations[0].get("Recipient") != acs:
        raise _refuse(
            f"The SAML response is not valid: {_describe('saml.wrong_recipient', sp)}.",
            "saml.wrong_recipient",
        )
    confirmation_end = _time(confirmations[0].get("NotOnOrAfter"))
    if confirmation_end is None:
        raise _refuse(
            "The SAML assertion's SubjectConfirmationData has no NotOnOrAfter.",
            "saml.no_expiry",
        )
    conditions = response._query_assertion("/saml:Conditions")
    not_before = _time(conditions[0].get("NotBefore")) if conditions else None
    times = [_time(conditions[0].get("NotOnOrAfter"))] if conditions else []
    ends = [e for e in (*times, confirmation_end) if e is not None]
    if not_before is not None and not_before - sp.skew > now:
        raise _refuse("The SAML assertion is not valid yet.", "saml.not_yet_valid")
    not_on_or_after = min(ends)
    if not_on_or_after + sp.skew <= now:
        raise ExpiredFederationTokenError("The SAML assertion has expired.", reason="saml.expired")
    session_end = response.get_session_not_on_or_after()
    session_not_on_or_after = datetime.fromtimestamp(session_end, UTC) if session_end else None
    if session_not_on_or_after is not None and session_not_on_or_after <= now:
        raise ExpiredFederationTokenError(
            "The SAML session (SessionNotOnOrAfter) has ended.", reason="saml.expired"
        )
    # AWS redeems an assertion only within 5 minutes of its IssueInstant, whatever its
    # NotOnOrAfter allows: one captured or cached is not good for all of its validity.
    # (An IssueInstant ahead of the clock would switch that off: not valid yet.)
    issued = _time(response._query_assertion("")[0].get("IssueInstant"))
    if issued is not None and issued - sp.skew > now:
        raise _refuse("The SAML assertion is not valid yet.", "saml.not_yet_valid")
    if issued is not None and issued + REDEEM_WITHIN + sp.skew <= now:
        raise ExpiredFederationTokenError(
            "Token must be redeemed within 5 minutes of issuance", reason="saml.stale"
        )
    in_response_to = _in_response_to(response, confirmations)
    try:
        name_id_data = response.get_nameid_data()
    except (V, xmlsec.Error) as err:  # an EncryptedID may not decrypt
        log.info("SAML NameID refused by python3-saml: %r", str(err))
        raise _refuse(
            "The SAML assertion's NameID is missing, empty, or meant for another service provider.",
            "saml.no_name_id",
        ) from None
    name_id = name_id_data.get("Value")  # what get_nameid() reads, without a second pass
    if not name_id:
        raise _refuse("The SAML assertion has no NameID.", "saml.no_name_id")
    return ValidatedResponse(
        provider=provider,
        metadata=metadata,
        issuer=metadata.entity_id,
        name_id=name_id,
        name_id_format=name_id_data.get("Format"),
        name_qualifier=name_id_data.get("NameQualifier"),
        attributes={k: [str(v) for v in vs] for k, vs in response.get_attributes().items()},
        assertion_id=response.get_assertion_id(),
        in_response_to=in_response_to,
        not_on_or_after=not_on_or_after,
        session_not_on_or_after=session_not_on_or_after,
        authn_contexts=tuple(response.get_authn_contexts()),
        recipient=sp.acs_url,
    )


def _in_response_to(response: OneLogin_Saml2_Response, confirmations: list[Any]) -> str | None:
    """The request this response answers. The Response's own attribute is often outside
    any signature (Okta and ADFS sign the assertion alone), so a copy of an SP-initiated
    response with it cut off would pass as IdP-initiated, free of the browser binding:
    the signed copy on the bearer confirmation counts too, and the two must agree."""
    outer = response.get_in_response_to()
    signed = {c.get("InResponseTo") for c in confirmations} - {None}
    if len(signed) > 1 or (signed and outer is not None and signed != {outer}):
        raise _refuse(
            "The SAML response's InResponseTo does not match its assertion's.",
            "saml.in_response_to",
        )
    return signed.pop() if signed else outer


def _audiences(restriction: Any) -> list[str | None]:
    """The Audience values of one AudienceRestriction, read as python3-saml reads them."""
    return [
        OneLogin_Saml2_XML.element_text(audience)
        for audience in restriction.iterchildren(f"{{{C.NS_SAML}}}Audience")
    ]


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _refuse("A time in the SAML assertion is malformed.", "saml.malformed") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _request_data(acs_url: str) -> dict[str, str]:
    """python3-saml compares Destination/Recipient with "the current URL": ours is the ACS,
    whichever door (API or browser) the response came through."""
    url = urlsplit(acs_url)
    return {
        "https": "on" if url.scheme == "https" else "off",
        "http_host": url.netloc,
        "script_name": url.path,
    }


@lru_cache(maxsize=256)
def saml_settings(
    sp_entity_id: str,
    acs_url: str,
    sp_cert: str,
    sp_key: str,
    idp_entity_id: str,
    idp_sso_url: str,
    idp_certs: tuple[str, ...],
) -> OneLogin_Saml2_Settings:
    return OneLogin_Saml2_Settings(
        {
            "strict": True,
            "debug": False,
            "sp": {
                "entityId": sp_entity_id,
                "assertionConsumerService": {"url": acs_url, "binding": C.BINDING_HTTP_POST},
                "NameIDFormat": C.NAMEID_UNSPECIFIED,
                "x509cert": sp_cert,
                "privateKey": sp_key,
            },
            "idp": {
                "entityId": idp_entity_id,
                "singleSignOnService": {"url": idp_sso_url, "binding": C.BINDING_HTTP_REDIRECT},
                "x509certMulti": {"signing": list(idp_certs)},
            },
            "security": {
                # Our metadata promises signed AuthnRequests; IdPs may ignore them.
                "authnRequestsSigned": True,
                "wantAttributeStatement": False,
                # Keycloak without "single role attribute" repeats the Role attribute.
                "allowRepeatAttributeName": True,
                "rejectDeprecatedAlgorithm": True,
                "signatureAlgorithm": C.RSA_SHA256,
                "digestAlgorithm": C.SHA256,
            },
        },
        sp_validation_only=False,
    )
