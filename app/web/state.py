"""Server-side browser sessions: a random id in the (signed) cookie, the state sealed in
the database, so credentials never sit in a cookie and every worker sees a sign-out."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from app.crypto import SecretBox
from app.db.models import WebSession


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


#: The key load() adds: when the session's row expires.
ENDS = "ends"


class WebSessions:
    def __init__(self, session: Session, secrets_: SecretBox, now: datetime) -> None:
        self.session = session
        self.secrets = secrets_
        self.now = now

    def create(self, data: dict[str, Any], expires_at: datetime) -> str:
        self.session.execute(delete(WebSession).where(WebSession.expires_at < self.now))
        session_id = secrets.token_urlsafe(32)
        self.session.add(
            WebSession(
                id_hash=_hash(session_id),
                data_sealed=self._seal(data),
                expires_at=expires_at,
            )
        )
        return session_id

    def load(self, session_id: str | None) -> dict[str, Any] | None:
        if not session_id:
            return None
        row = self.session.get(WebSession, _hash(session_id))
        if row is None or row.expires_at <= self.now:
            return None
        data: dict[str, Any] = json.loads(self.secrets.open(row.data_sealed))
        # When the console session established at sign-in ends: nothing issued later in
        # it may outlive it (app.web.signin).
        data[ENDS] = row.expires_at.isoformat()
        return data

    def _seal(self, data: dict[str, Any]) -> str:
        # ENDS is the row's own expiry, added on every load: not stored twice.
        return self.secrets.seal(json.dumps({k: v for k, v in data.items() if k != ENDS}))

    def save(self, session_id: str, data: dict[str, Any]) -> None:
        row = self.session.get(WebSession, _hash(session_id))
        if row is not None:
            row.data_sealed = self._seal(data)

    def rotate(self, session_id: str, data: dict[str, Any]) -> str:
        """The same session under a new id, as when the second factor completes: a copy
        of the cookie taken before must not inherit what comes after."""
        row = self.session.get(WebSession, _hash(session_id))
        expires_at = row.expires_at if row is not None else self.now
        self.delete(session_id)
        return self.create(data, expires_at)

    def delete(self, session_id: str | None) -> None:
        if session_id:
            self.session.execute(delete(WebSession).where(WebSession.id_hash == _hash(session_id)))
