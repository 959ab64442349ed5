"""The audit trail: every API call, sign-in, credential issue and refusal.

Records say who, what, when, from where, the outcome and a stable machine
reason. They never carry a secret, a token or an assertion: callers put
only identifiers and reasons in `detail`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

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


class AuditLog:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add(self, session: Session, record: AuditRecord) -> None:
        """Record inside the caller's transaction: the event lands if and only if its write does."""
        # A Core insert: one row, none of the ORM's unit-of-work (a third of a call's cost).
        session.execute(insert(AuditEvent), [asdict(record)])
        self._log(record)

    def write(self, record: AuditRecord) -> None:
        """Record in a transaction of its own (read-only calls, and refusals whose own
        transaction rolled back)."""
        with self._sessions.begin() as session:
            session.execute(insert(AuditEvent), [asdict(record)])
        self._log(record)

    @staticmethod
    def _log(record: AuditRecord) -> None:
        observe_audit(record.action, record.outcome, record.reason, record.detail)
        fields = {k: v for k, v in asdict(record).items() if v is not None and k != "detail"}
        fields["at"] = record.at.isoformat()
        log.info(json.dumps(fields, sort_keys=True))
