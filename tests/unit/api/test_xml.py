"""The Query-protocol XML writer, read back with the parser SDKs use (ElementTree)."""

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from xml.etree import ElementTree

from app.api import xml

NS = "{https://iam.amazonaws.com/doc/2010-05-08/}"


def _result(result: dict) -> ElementTree.Element:
    root = ElementTree.fromstring(xml.success("iam", "GetRole", result, "rid"))
    assert root.tag == f"{NS}GetRoleResponse"
    assert root.findtext(f"{NS}ResponseMetadata/{NS}RequestId") == "rid"
    found = root.find(f"{NS}GetRoleResult")
    assert found is not None
    return found


def test_text_comes_back_exactly_as_given_markup_included():
    hostile = "a<b>&c</Description><Injected>x</Injected>\"'"
    result = _result({"Description": hostile, "Empty": ""})
    assert result.findtext(f"{NS}Description") == hostile
    assert result.find(f"{NS}Injected") is None
    assert result.findtext(f"{NS}Empty") in ("", None)


def test_values_take_aws_shapes():
    at = datetime(2026, 11, 27, 7, 30, tzinfo=timezone(timedelta(hours=2)))
    result = _result(
        {
            "Role": {"Arn": "arn:aws:iam::111122223333:role/R", "Path": None},
            "Tags": [{"Key": "k", "Value": "v"}, {"Key": "k2", "Value": "v2"}],
            "NoTags": [],
            "IsTruncated": False,
            "MaxSessionDuration": 3600,
            "CreateDate": at,
        }
    )
    assert result.findtext(f"{NS}Role/{NS}Arn") == "arn:aws:iam::111122223333:role/R"
    assert result.find(f"{NS}Role/{NS}Path") is None  # None is left out, as AWS does
    assert [m.findtext(f"{NS}Key") for m in result.findall(f"{NS}Tags/{NS}member")] == ["k", "k2"]
    assert list(result.find(f"{NS}NoTags")) == []
    assert result.findtext(f"{NS}IsTruncated") == "false"
    assert result.findtext(f"{NS}MaxSessionDuration") == "3600"
    assert result.findtext(f"{NS}CreateDate") == at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert result.findtext(f"{NS}CreateDate") == "2026-11-27T05:30:00Z"


def test_what_xml_cannot_carry_becomes_a_replacement_character():
    # A signed token's sub, or an echoed parameter, may hold controls or a lone surrogate:
    # the answer must still be XML that parses.
    for value, shown in (("a\x01b\x1b", "a\ufffdb\ufffd"), ("x\ud800", "x\ufffd"), ("é\t", "é\t")):
        root = ElementTree.fromstring(xml.success("sts", "X", {"V": value}, "rid"))
        assert root.findtext("{*}XResult/{*}V") == shown
