"""The only writer of Query-protocol XML: results, lists as <member>, and <ErrorResponse>."""

from __future__ import annotations

import re
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from app.errors import ServiceError

NAMESPACES = {
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
}


# What XML 1.0 cannot carry at all, escaped or not (controls, lone surrogates): an
# answer that echoes one would not parse, and one with a surrogate would not encode.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_safe(value: str) -> str:
    if value.isascii() and value.isprintable():  # nearly every value: nothing to do
        return value
    return _NOT_XML.sub("\ufffd", value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def _fill(out: list[str], tag: str, value: Any) -> None:
    """Append <tag>value</tag>. Tags are ours (result keys and "member"); only text
    is escaped, exactly as ElementTree would, which this replaced at a tenth the cost.
    Strings, most leaves, skip the ABC checks, which cost more than the rest."""
    if not isinstance(value, str):
        if isinstance(value, Mapping):
            _fill_children(out, tag, [(k, v) for k, v in value.items() if v is not None])
            return
        if isinstance(value, Sequence):
            _fill_children(out, tag, [("member", item) for item in value])
            return
        value = _text(value)
    out.append(f"<{tag}>{escape(_xml_safe(value))}</{tag}>" if value else f"<{tag} />")


def _fill_children(out: list[str], tag: str, children: list[tuple[str, Any]]) -> None:
    if not children:
        out.append(f"<{tag} />")
        return
    out.append(f"<{tag}>")
    for child_tag, child in children:
        _fill(out, child_tag, child)
    out.append(f"</{tag}>")


def _document(root: str, service: str, body: list[str]) -> bytes:
    head = f"<?xml version='1.0' encoding='utf-8'?>\n<{root} xmlns=\"{NAMESPACES[service]}\">"
    return "".join([head, *body, f"</{root}>"]).encode("utf-8")


def success(service: str, action: str, result: Mapping[str, Any] | None, request_id: str) -> bytes:
    body: list[str] = []
    if result is not None:
        _fill(body, f"{action}Result", result)
    _fill(body, "ResponseMetadata", {"RequestId": request_id})
    return _document(f"{action}Response", service, body)


def error(service: str, err: ServiceError, request_id: str) -> bytes:
    body: list[str] = []
    _fill(body, "Error", {"Type": err.fault, "Code": err.code, "Message": err.message})
    _fill(body, "RequestId", request_id)
    return _document("ErrorResponse", service, body)
