"""When each long-term access key was last used, for GetAccessKeyLastUsed.

AWS's own record is coarse (its console says "within the last 4 hours"), and a write
per signed call would cost every call a write: each process records a key's use at
most once an hour, after the request's own transaction, never inside it (on SQLite a
second writer there would wait on the first).
"""

from __future__ import annotations

import threading
from datetime import datetime
from datetime import timedelta
from typing import Any

from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from app.db.models import AccessKeyUse

RECORD_EVERY = timedelta(hours=1)


def _recent(since: datetime, now: datetime) -> bool:
    return 0 <= (now - since).total_seconds() < RECORD_EVERY.total_seconds()


class KeyUsage:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._lock = threading.Lock()
        #: Keys written (or about to be) within the hour: the others are forgotten.
        self._recorded: dict[str, datetime] = {}
        self._pending: dict[str, tuple[datetime, str, str]] = {}

    def note(self, access_key_id: str, service: str, region: str, now: datetime) -> None:
        """A request signed with this key was verified now."""
        last = self._recorded.get(access_key_id)
        if last is not None and _recent(last, now):
            return
        with self._lock:
            self._recorded[access_key_id] = now
            self._pending[access_key_id] = (now, service, region)

    def flush(self) -> None:
        """Write what note() gathered; called once the request's transaction is over.
        A write that fails is forgotten as written, so the key's next use tries again."""
        if not self._pending:
            return
        with self._lock:
            pending, self._pending = self._pending, {}
            newest = max(at for at, _, _ in pending.values())
            self._recorded = {k: at for k, at in self._recorded.items() if _recent(at, newest)}
        try:
            with self._sessions.begin() as session:
                for key_id, (at, service, region) in pending.items():
                    session.execute(_upsert(session, key_id, at, service, region))
        except Exception:
            with self._lock:
                for key_id in pending:
                    self._recorded.pop(key_id, None)
            raise


def _upsert(session: Session, key_id: str, at: datetime, service: str, region: str) -> Any:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    values = {"last_used_at": at, "service": service, "region": region}
    return (
        dialect.insert(AccessKeyUse)
        .values(access_key_id=key_id, **values)
        .on_conflict_do_update(index_elements=["access_key_id"], set_=values)
    )
