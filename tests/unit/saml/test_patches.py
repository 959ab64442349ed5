"""fedbridge's four changes to python3-saml (app/saml/patches.py). The schemas are parsed
once, at import, and never by a request thread: libxml2's first schema parse is not
safe to race, and a lost race broke SAML for the life of the process. XPath queries
are compiled once and must find exactly what python3-saml's own would. Signature keys
are loaded once and must accept and refuse exactly what python3-saml's own would. SAML
times are read without strptime and must read as python3-saml's own reader reads them."""

from __future__ import annotations

import threading

import pytest
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

from app.saml import patches
from app.saml import validate  # noqa: F401  (installs the patches, as the app does)

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

    monkeypatch.setattr(patches, "_parse", no_parsing)
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


def test_compiled_queries_find_what_python3_saml_s_own_would() -> None:
    """The XPath patch: each query compiled once, same nodes as element.xpath(query)."""
    import base64

    from lxml import etree
    from onelogin.saml2.constants import OneLogin_Saml2_Constants
    from onelogin.saml2.utils import OneLogin_Saml2_Utils

    from tests.saml_idp import TestIdp

    response = TestIdp().response(
        acs="https://sp.example/acs", audience="https://sp.example", roles=["r,p"]
    )
    root = etree.fromstring(base64.b64decode(response))
    assertion_id = root.find("{urn:oasis:names:tc:SAML:2.0:assertion}Assertion").get("ID")
    queries: list[tuple[str, str | None]] = [
        ("/samlp:Response/saml:Issuer", None),
        ("//saml:Assertion", None),
        (OneLogin_Saml2_Utils.ASSERTION_SIGNATURE_XPATH, None),
        ("/samlp:Response/saml:Assertion[@ID=$tagid]/saml:Subject/saml:NameID", assertion_id),
        ("/samlp:Response/saml:Assertion[@ID=$tagid]", "not-" + assertion_id),
    ]
    found = []
    for query, tagid in queries:
        expected = (
            root.xpath(query, namespaces=OneLogin_Saml2_Constants.NSMAP)
            if tagid is None
            else root.xpath(query, tagid=tagid, namespaces=OneLogin_Saml2_Constants.NSMAP)
        )
        for _ in range(2):  # compiled on the first call, reused on the second
            assert OneLogin_Saml2_XML.query(root, query, None, tagid) == expected
        found.append(len(expected))
    assert found == [1, 1, 1, 1, 0]
    assertion = OneLogin_Saml2_XML.query(root, "//saml:Assertion")[0]
    # A context node scopes the query, as in python3-saml.
    assert OneLogin_Saml2_XML.query(root, "./saml:Issuer", assertion) == [assertion[0]]


def test_signature_keys_are_loaded_once_and_judge_as_python3_saml_s_own() -> None:
    import base64

    import xmlsec
    from onelogin.saml2.utils import OneLogin_Saml2_Utils

    from tests.saml_idp import TestIdp
    from tests.saml_idp import make_key_pair

    idp = TestIdp()
    genuine = base64.b64decode(
        idp.response(acs="https://sp.example/acs", audience="https://sp.example", roles=["r,p"])
    )
    tampered = genuine.replace(b"r,p", b"r,q")
    stranger = make_key_pair("stranger")[1]
    patched = OneLogin_Saml2_Utils.validate_node_sign

    def judged(xml: bytes, cert: str, check: object) -> bool:
        root = OneLogin_Saml2_XML.to_etree(xml)
        xmlsec.tree.add_ids(root, ["ID"])  # as python3-saml's validate_sign does first
        signature = OneLogin_Saml2_XML.query(root, OneLogin_Saml2_Utils.ASSERTION_SIGNATURE_XPATH)
        return bool(check(signature[0], root, cert))  # type: ignore[operator]

    patches._public_key.cache_clear()
    cases = [(genuine, idp.cert), (tampered, idp.cert), (genuine, stranger)]
    for _ in range(3):
        ours = [judged(xml, cert, patched) for xml, cert in cases]
        theirs = [
            judged(xml, cert, patches._python3_saml_validate_node_sign) for xml, cert in cases
        ]
        assert ours == theirs == [True, False, False]
    assert patches._public_key.cache_info().misses == 2  # two certificates, each loaded once
    with pytest.raises(Exception, match="Signature validation failed"):
        judged(tampered, idp.cert, lambda *a: patched(*a, raise_exceptions=True))


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-27T10:00:00Z",
        "2026-11-27T10:00:00.123Z",
        "2026-11-27T10:00:00.1234567890Z",
        "2026-11-27T10:00:00.Z",
        "2026-11-27T10:00:00",  # no Z: python3-saml's fallback takes it
        "2024-02-29T23:59:59Z",
        "2026-1-5T1:2:3Z",  # strptime's leniency, kept
        "2026-02-30T00:00:00Z",
        "2026-11-27T24:00:00Z",
        "2026-11-27T10:00:60Z",
        "2026-11-27T10:00:00+01:00",
        "\u0662\u0660\u0662\u0666-11-27T10:00:00Z",  # Arabic-Indic digits
        "2026-11-27T10:00:00Zjunk",
        "",
    ],
)
def test_saml_times_read_as_python3_saml_s_own_reader_reads_them(text: str) -> None:
    def outcome(parse: object) -> object:
        try:
            return parse(text)  # type: ignore[operator]
        except Exception as err:
            return type(err)

    assert outcome(patches._parse_time) == outcome(patches._python3_saml_parse_time)
