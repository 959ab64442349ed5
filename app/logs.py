"""Structured logs: one JSON object per line, with the id of the request that caused it."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
from typing import Any

#: The id of the request being served, for every log line it causes.
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "fedbridge_request_id", default=None
)


class _UtcTimes(logging.Formatter):
    """Times in UTC, as the audit log's: 2026-11-27T09:20:34.123Z, on any host's zone."""

    @staticmethod
    def converter(seconds: float | None) -> time.struct_time:
        return time.gmtime(seconds)

    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"


class JsonFormatter(_UtcTimes):
    """One JSON object per line; the request id ties a request's lines together."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            line["request_id"] = request_id
        audit = getattr(record, "audit", None)
        if audit:
            line["audit"] = audit
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class TextFormatter(_UtcTimes):
    """Plain lines; an audit record's fields follow as key="value", JSON-quoted: a RoleArn
    with a newline in it must not forge a second line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        # A message may quote what a caller sent (a SAML Destination python3-saml names):
        # its line breaks and other controls are escaped, never written.
        record.message = _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        audit = getattr(record, "audit", None)
        if audit:
            pairs = (f"{k}={json.dumps(v, default=str)}" for k, v in sorted(audit.items()))
            line = " ".join((line, *pairs))
        return line


def configure_logging(json_lines: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    # Nothing we write names the caller's source line, thread or process: skip finding
    # them for every record (the logging HOWTO's "Optimization"; 13 µs per line).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # Migrations announce themselves on every start; only their problems matter.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # One line per request is the audit log's job (with who and why); the single-worker
    # server's access line would say it again, without either.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
