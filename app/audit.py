"""The audit trail: every API call, sign-in, credential issue and refusal.

Records say who, what, when, from where, the outcome and a stable machine
reason. They never carry a secret, a token or an assertion: callers put
only identifiers and reasons in `detail`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import insert
from sqlalchemy.orm import Session

from app.db.models import AuditEvent
from app.metrics import observe_audit

log = logging.getLogger("fedbridge.audit")


@dataclass(frozen=True)
class AuditRecord:
    at: datetime
    request_id: str
    action: str
    #: "allowed" or "refused" (or "error" for our own failures).
    outcome: str
    account_id: str | None = None
    principal: str | None = None
    resource: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    error_code: str | None = None
    reason: str | None = None
    detail: dict[str, Any] | None = None

    def row(self) -> dict[str, Any]:
        # Shallow: dataclasses.asdict deep-copies `detail`, 170 µs a call.
        return dict(vars(self))


#: A Core insert, built once: one row, none of the ORM's unit of work.
_INSERT = insert(AuditEvent.__table__)


class AuditLog:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, session: Session, record: AuditRecord) -> None:
        """Record inside the caller's transaction: the event lands if and only if its write does."""
        session.connection().execute(_INSERT, record.row())
        self._log(record)

    def write(self, record: AuditRecord) -> None:
        """Record in a transaction of its own (read-only calls, and refusals whose own
        transaction rolled back). A Core transaction: an ORM session would triple its
        cost, and every STS call pays it."""
        with self._engine.begin() as conn:
            conn.execute(_INSERT, record.row())
        self._log(record)

    @staticmethod
    def _log(record: AuditRecord) -> None:
        observe_audit(record.action, record.outcome, record.reason, record.detail)
        fields = {k: v for k, v in record.row().items() if v is not None and k != "detail"}
        fields["at"] = record.at.isoformat()
        log.info(json.dumps(fields, sort_keys=True))
