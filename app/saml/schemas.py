"""python3-saml validates every Response against the SAML XML schema, and parses that
schema from disk each time: a millisecond per call, most of a call's cost. Here each
schema is parsed once, when fedbridge is imported, and kept. Same files, same
validation; only the re-parsing goes.

Parsing happens then, in the importing thread, and never in a request: libxml2 sets
up its schema types on the first parse, and two request threads racing there broke
every later parse in the process ("the given type is not a built-in type", seen under
the benchmark; SAML then failed until a restart). Validations share one XMLSchema
object, whose error log is shared too, so they take turns.
"""

from __future__ import annotations

import threading
from os.path import dirname
from os.path import join
from typing import Any

from lxml import etree
from onelogin.saml2 import xml_utils
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


def install() -> None:
    if not _schemas:
        _schemas.update({name: _parse(name) for name in SCHEMAS})
    OneLogin_Saml2_XML.validate_xml = staticmethod(_validate_xml)
