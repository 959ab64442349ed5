"""Use-once records shared by every worker: the database's primary key is the referee."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.models import OneTimeUse


def use_once(session: Session, scope: str, key: str, expires_at: datetime, now: datetime) -> bool:
    """Record `key` as used; False if it was used before (a replay). Runs in a savepoint so
    the caller's transaction survives a refusal and can still be audited."""
    session.execute(
        delete(OneTimeUse).where(OneTimeUse.scope == scope, OneTimeUse.expires_at < now)
    )
    try:
        with session.begin_nested():
            session.add(OneTimeUse(scope=scope, key=key[:255], expires_at=expires_at))
    except IntegrityError:
        return False
    return True
