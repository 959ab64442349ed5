"""The audit trail: every API call, sign-in, credential issue and refusal.

Records say who, what, when, from where, the outcome and a stable machine
reason. They never carry a secret, a token or an assertion: callers put
only identifiers and reasons in `detail`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from typing import cast

from sqlalchemy import Connection
from sqlalchemy import CursorResult
from sqlalchemy import Dialect
from sqlalchemy import Engine
from sqlalchemy import delete
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from app.db.engine import Autocommit
from app.db.engine import DriverStatement
from app.db.models import AuditEvent
from app.db.models import Base
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


class _Insert:
    """The audit insert, compiled once for the engine's dialect and run on the driver's
    cursor. Every call writes one row; SQLAlchemy's execution path cost more than
    SQLite's insert itself. The column types still convert the values (aware UTC
    datetimes, JSON), through their public bind processors."""

    def __init__(self, dialect: Dialect) -> None:
        table = Base.metadata.tables[AuditEvent.__tablename__]
        columns = [c for c in table.columns if c.name != "id"]
        self.statement = DriverStatement(
            insert(table).compile(dialect=dialect, column_keys=[c.key for c in columns])
        )
        self.convert = {
            c.key: c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns
        }
        #: What a caller sent (a RoleArn, an address) may be longer than its column: cut to
        #: fit, or PostgreSQL would refuse the row, and the record of a hostile call be lost.
        self.lengths: dict[str, int] = {
            c.key: length for c in columns if (length := getattr(c.type, "length", None))
        }

    def params(self, row: dict[str, Any]) -> Any:
        for key, length in self.lengths.items():
            value = row[key]
            if isinstance(value, str) and len(value) > length:
                row[key] = value[:length]
        values = {k: f(row[k]) if f else row[k] for k, f in self.convert.items()}
        return self.statement.params(values)

    def run(self, conn: Connection, row: dict[str, Any]) -> None:
        cursor = conn.connection.cursor()
        try:
            cursor.execute(self.statement.sql, self.params(row))
        finally:
            cursor.close()


class AuditLog:
    def __init__(self, engine: Engine) -> None:
        self._autocommit = Autocommit(engine)
        self._insert = _Insert(engine.dialect)

    def add(self, session: Session, record: AuditRecord) -> None:
        """Record inside the caller's transaction: the event lands if and only if its write does."""
        row = record.row()
        self._insert.run(session.connection(), row)
        self._log(record, row)

    def write(self, record: AuditRecord) -> None:
        """Record in a transaction of its own (read-only calls, and refusals whose own
        transaction rolled back)."""
        row = record.row()
        self._autocommit.execute(self._insert.statement.sql, self._insert.params(row))
        self._log(record, row)

    @staticmethod
    def _log(record: AuditRecord, row: dict[str, Any]) -> None:
        """`row`: record.row(), which the caller has built for the insert already."""
        observe_audit(record.action, record.outcome, record.reason, record.detail)
        fields = {k: v for k, v in row.items() if v is not None and k != "detail"}
        fields["at"] = record.at.isoformat()
        # The formatters in app.logs write the fields: as an object in JSON lines, as
        # quoted pairs in text lines. The message names nothing a caller sent.
        log.info("audit", extra={"audit": fields})


#: Rows deleted per transaction when pruning: workers writing their own records wait
#: for one batch at most, never for the whole prune.
PRUNE_BATCH = 5000


def prune(sessions: sessionmaker[Session], before: datetime) -> int:
    """Delete the records older than `before`, oldest first; how many went."""
    older = select(AuditEvent.id).where(AuditEvent.at < before).order_by(AuditEvent.id)
    deleted = 0
    while True:
        with sessions.begin() as session:
            batch = session.execute(
                delete(AuditEvent).where(AuditEvent.id.in_(older.limit(PRUNE_BATCH)))
            )
        count = cast(CursorResult[Any], batch).rowcount  # a DELETE's result is a cursor's
        deleted += count
        if count < PRUNE_BATCH:
            return deleted
