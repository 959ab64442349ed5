"""The SAML schemas are parsed once, at import, and never by a request thread:
libxml2's first schema parse is not safe to race, and a lost race broke SAML for
the life of the process."""

from __future__ import annotations

import threading

import pytest
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

from app.saml import schemas
from app.saml import validate  # noqa: F401  (installs the schemas, as the app does)

PROTOCOL = "saml-schema-protocol-2.0.xsd"
VALID = (
    b'<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1" '
    b'Version="2.0" IssueInstant="2026-11-26T00:00:00Z"><samlp:Status><samlp:StatusCode '
    b'Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:Response>'
)
INVALID = VALID.replace(b' Version="2.0"', b"")  # Version is required


def test_threads_validate_without_ever_parsing_a_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_parsing(name: str) -> None:
        raise AssertionError(f"{name} parsed in a request thread")

    monkeypatch.setattr(schemas, "_parse", no_parsing)
    results: list[object] = []
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        for _ in range(20):
            ok = OneLogin_Saml2_XML.validate_xml(VALID, PROTOCOL)
            bad = OneLogin_Saml2_XML.validate_xml(INVALID, PROTOCOL)
            results.append((ok != "invalid_xml" and not isinstance(ok, str), bad))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [(True, "invalid_xml")] * 160
