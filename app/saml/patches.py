"""The places fedbridge changes python3-saml: work it repeats on every call is done once,
and its time checks use the service clock (times_checked_at). What of a message reaches
xmlsec at all is app.saml.references' to say, before python3-saml sees it.

Schemas. python3-saml validates every Response against the SAML XML schema and
parses that schema from disk each time: a millisecond per call, most of a call's
cost. Here each schema is parsed once, when fedbridge is imported, and kept.
Parsing happens then, in the importing thread, and never in a request: libxml2 sets
up its schema types on the first parse, and two request threads racing there broke
every later parse in the process ("the given type is not a built-in type", seen under
the benchmark; SAML then failed until a restart). Validations share one XMLSchema
object, whose error log is shared too, so they take turns.

XPath. python3-saml runs about 56 XPath queries per Response, each compiled afresh by
`element.xpath(query)`. Here each query text is compiled once (lxml's XPath objects
lock themselves per evaluation, so threads may share them). The texts are
python3-saml's own constants; IDs travel as XPath variables, never in the text, and
the cache is bounded all the same.

Signature keys. python3-saml loads the IdP's certificate from PEM for every signature
it checks, and xmlsec then copies the certificate's X.509 data into the signature
context: 0.12 ms a call, against 0.18 ms for the verification itself. Here each
certificate's public key is loaded once and handed to xmlsec bare, which copies for
nothing. xmlsec verified with the certificate's key alone before too (python3-saml's
`validatecert` is off; keys in the message are never used), so the check is the same;
with `validatecert` on, or no certificate given, python3-saml's own function runs.

Times. python3-saml reads each SAML time with `datetime.strptime`, up to three formats
in turn, 20 µs each and five or more a Response. The common shape (digits, optional
fraction, Z) is read here directly; anything else goes to python3-saml's own function,
so what it accepts and refuses is unchanged.
"""

from __future__ import annotations

import calendar
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from functools import lru_cache
from os.path import dirname
from os.path import join
from typing import Any

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.hazmat.primitives.serialization import PublicFormat
from lxml import etree
from onelogin.saml2 import xml_utils
from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.errors import OneLogin_Saml2_ValidationError
from onelogin.saml2.utils import OneLogin_Saml2_Utils
from onelogin.saml2.utils import return_false_on_exception
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

#: Every schema python3-saml validates with (responses, logout messages, metadata).
SCHEMAS = ("saml-schema-protocol-2.0.xsd", "saml-schema-metadata-2.0.xsd")

_schemas: dict[str, Any] = {}
_turns = threading.Lock()


def _parse(name: str) -> Any:
    with open(join(dirname(xml_utils.__file__), "schemas", name)) as f:
        return OneLogin_Saml2_XML._schema_class(etree.parse(f))


def _validate_xml(xml: Any, schema: str, debug: bool = False) -> Any:
    try:
        xml = OneLogin_Saml2_XML.to_etree(xml)
    except Exception:
        return "unloaded_xml"
    with _turns:
        valid = _schemas[schema].validate(xml)
    return xml if valid else "invalid_xml"


@lru_cache(maxsize=256)
def _compiled(query: str) -> etree.XPath:
    return etree.XPath(query, namespaces=OneLogin_Saml2_Constants.NSMAP)


def _query(dom: Any, query: str, context: Any = None, tagid: str | None = None) -> Any:
    """OneLogin_Saml2_XML.query, with the query compiled once."""
    source = dom if context is None else context
    if tagid is None:
        return _compiled(query)(source)
    return _compiled(query)(source, tagid=tagid)


@lru_cache(maxsize=256)
def _public_key(cert: str) -> xmlsec.Key:
    certificate = x509.load_pem_x509_certificate(OneLogin_Saml2_Utils.format_cert(cert).encode())
    public = certificate.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    return xmlsec.Key.from_memory(public, xmlsec.constants.KeyDataFormatPem, None)


_python3_saml_validate_node_sign = OneLogin_Saml2_Utils.validate_node_sign


def _validate_node_sign(
    signature_node: Any,
    elem: Any,
    cert: str | None = None,
    fingerprint: str | None = None,
    fingerprintalg: str = "sha1",
    validatecert: bool = False,
    debug: bool = False,
) -> bool:
    """OneLogin_Saml2_Utils.validate_node_sign, with the certificate's key loaded once."""
    if validatecert or not cert:
        return bool(
            _python3_saml_validate_node_sign(
                signature_node,
                elem,
                cert,
                fingerprint,
                fingerprintalg,
                validatecert,
                debug,
                raise_exceptions=True,
            )
        )
    context = xmlsec.SignatureContext()
    context.key = _public_key(cert)
    context.set_enabled_key_data([xmlsec.constants.KeyDataX509])
    try:
        context.verify(signature_node)
    except Exception as err:  # python3-saml's own wording and code
        raise OneLogin_Saml2_ValidationError(
            "Signature validation failed. SAML Response rejected. %s",
            OneLogin_Saml2_ValidationError.INVALID_SIGNATURE,
            str(err),
        ) from None
    return True


_python3_saml_parse_time = OneLogin_Saml2_Utils.parse_SAML_to_time
_SAML_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]*)?Z"
)


def _parse_time(text: str) -> int:
    """OneLogin_Saml2_Utils.parse_SAML_to_time: whole seconds since the epoch."""
    match = _SAML_TIME.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return int(_python3_saml_parse_time(text))
    try:
        year, month, day, hour, minute, second = map(int, match.groups())
        moment = datetime(year, month, day, hour, minute, second)  # refuses 2026-02-30
    except ValueError:
        return int(_python3_saml_parse_time(text))  # its error, in its words
    return calendar.timegm(moment.timetuple())


#: What python3-saml's time checks take as now while fedbridge validates (see below).
_checked_at: ContextVar[int | None] = ContextVar("fedbridge_saml_checked_at", default=None)
_python3_saml_now = OneLogin_Saml2_Utils.now


def _now() -> int:
    moment = _checked_at.get()
    return _python3_saml_now() if moment is None else moment


@contextmanager
def times_checked_at(moment: datetime) -> Iterator[None]:
    """python3-saml compares SubjectConfirmationData's NotOnOrAfter with the wall clock and
    no tolerance (Conditions get 300 s). Inside this block it compares with `moment`:
    the service clock less the configured skew, so it refuses nothing the skew allows,
    and app.saml.validate then applies the service clock and skew to every time."""
    token = _checked_at.set(int(moment.timestamp()))
    try:
        yield
    finally:
        _checked_at.reset(token)


def install() -> None:
    if not _schemas:
        _schemas.update({name: _parse(name) for name in SCHEMAS})
    OneLogin_Saml2_XML.validate_xml = staticmethod(_validate_xml)
    OneLogin_Saml2_XML.query = staticmethod(_query)
    OneLogin_Saml2_Utils.now = staticmethod(_now)
    OneLogin_Saml2_Utils.parse_SAML_to_time = staticmethod(_parse_time)
    OneLogin_Saml2_Utils.validate_node_sign = staticmethod(
        return_false_on_exception(_validate_node_sign)
    )
