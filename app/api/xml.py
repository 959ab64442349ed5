"""The only writer of Query-protocol XML: results, lists as <member>, and <ErrorResponse>."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET

from app.errors import ServiceError

NAMESPACES = {
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def _fill(parent: ET.Element, value: Any) -> None:
    if isinstance(value, Mapping):
        for key, child in value.items():
            if child is not None:
                _fill(ET.SubElement(parent, key), child)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        for item in value:
            _fill(ET.SubElement(parent, "member"), item)
    else:
        parent.text = _text(value)


def _serialize(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def success(service: str, action: str, result: Mapping[str, Any] | None, request_id: str) -> bytes:
    root = ET.Element(f"{action}Response", xmlns=NAMESPACES[service])
    if result is not None:
        _fill(ET.SubElement(root, f"{action}Result"), result)
    metadata = ET.SubElement(root, "ResponseMetadata")
    ET.SubElement(metadata, "RequestId").text = request_id
    return _serialize(root)


def error(service: str, err: ServiceError, request_id: str) -> bytes:
    root = ET.Element("ErrorResponse", xmlns=NAMESPACES[service])
    body = ET.SubElement(root, "Error")
    ET.SubElement(body, "Type").text = err.fault
    ET.SubElement(body, "Code").text = err.code
    ET.SubElement(body, "Message").text = err.message
    ET.SubElement(root, "RequestId").text = request_id
    return _serialize(root)
