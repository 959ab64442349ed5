"""python3-saml validates every Response against the SAML XML schema, and parses that
schema from disk each time: a millisecond per call, most of a call's cost. Here the
parsed schema is kept (one per thread: an lxml XMLSchema keeps an error log, which
threads must not share). Same files, same validation; only the re-parsing goes.
"""

from __future__ import annotations

import threading
from os.path import dirname
from os.path import join
from typing import Any

from lxml import etree
from onelogin.saml2 import xml_utils
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

_local = threading.local()


def _schema(name: str) -> Any:
    cache = _local.__dict__.setdefault("schemas", {})
    if name not in cache:
        path = join(dirname(xml_utils.__file__), "schemas", name)
        with open(path) as f:
            cache[name] = OneLogin_Saml2_XML._schema_class(etree.parse(f))
    return cache[name]


def _validate_xml(xml: Any, schema: str, debug: bool = False) -> Any:
    try:
        xml = OneLogin_Saml2_XML.to_etree(xml)
    except Exception:
        return "unloaded_xml"
    if not _schema(schema).validate(xml):
        return "invalid_xml"
    return xml


def install() -> None:
    OneLogin_Saml2_XML.validate_xml = staticmethod(_validate_xml)
