"""Audit log lines: structured in JSON mode, one line each in text mode whatever the
caller put in the request."""

from __future__ import annotations

import io
import json
import logging
import time
from datetime import UTC
from datetime import datetime

import pytest

from app.audit import AuditLog
from app.audit import AuditRecord
from app.logs import JsonFormatter
from app.logs import TextFormatter

FORGED = "arn:aws:iam::111122223333:role/x\n2026-01-01 INFO fedbridge.audit outcome=allowed"


def _lines(formatter: logging.Formatter) -> list[str]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    logger = logging.getLogger("fedbridge.audit")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        record = AuditRecord(
            at=datetime.now(UTC),
            request_id="r-1",
            action="sts:AssumeRoleWithWebIdentity",
            outcome="refused",
            resource=FORGED,
            reason="jwt.expired",
        )
        AuditLog._log(record, record.row())
    finally:
        logger.setLevel(level)
        logger.removeHandler(handler)
    return out.getvalue().splitlines()


def test_text_lines_quote_what_callers_sent() -> None:
    (line,) = _lines(TextFormatter())
    assert 'outcome="refused"' in line and 'reason="jwt.expired"' in line
    assert f"resource={json.dumps(FORGED)}" in line


def test_json_lines_carry_the_record_as_an_object() -> None:
    (line,) = _lines(JsonFormatter())
    parsed = json.loads(line)
    assert (parsed["audit"]["resource"], parsed["audit"]["outcome"]) == (FORGED, "refused")
    assert FORGED not in parsed["message"]  # once per line, in the object


def test_a_text_message_quoting_a_caller_stays_one_line() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(TextFormatter())
    logger = logging.getLogger("fedbridge.test")
    logger.addHandler(handler)
    try:
        logger.warning("refused: %s", "https://sp/acs\r\n" + FORGED + "\u2028x")
    finally:
        logger.removeHandler(handler)
    (line,) = out.getvalue().splitlines()
    assert "acs\\x0d\\x0aarn:aws:iam" in line and line.endswith("\\x2028x")


def test_log_times_are_utc_whatever_the_hosts_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        record = logging.LogRecord("x", logging.INFO, "f", 1, "hello", (), None)
        record.created = 1798362034.25  # 2026-12-27T09:00:34.250Z
        record.msecs = 250.0
        assert json.loads(JsonFormatter().format(record))["time"] == "2026-12-27T09:00:34.250Z"
        assert TextFormatter().format(record).startswith("2026-12-27T09:00:34.250Z INFO")
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
