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

from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from app.db.models import AccessKey

RECORD_EVERY = timedelta(hours=1)


class KeyUsage:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._lock = threading.Lock()
        self._recorded: dict[str, datetime] = {}
        self._pending: dict[str, tuple[datetime, str, str]] = {}

    def note(self, access_key_id: str, service: str, region: str, now: datetime) -> None:
        """A request signed with this key was verified now."""
        last = self._recorded.get(access_key_id)
        if last is not None and 0 <= (now - last).total_seconds() < RECORD_EVERY.total_seconds():
            return
        with self._lock:
            self._recorded[access_key_id] = now
            self._pending[access_key_id] = (now, service, region)

    def flush(self) -> None:
        """Write what note() gathered; called once the request's transaction is over."""
        if not self._pending:
            return
        with self._lock:
            pending, self._pending = self._pending, {}
        with self._sessions.begin() as session:
            for key_id, (at, service, region) in pending.items():
                session.execute(
                    update(AccessKey)
                    .where(AccessKey.access_key_id == key_id)
                    .values(last_used_at=at, last_used_service=service, last_used_region=region)
                )
