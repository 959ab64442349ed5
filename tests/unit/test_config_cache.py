"""Read-only calls cache configuration while its generation stands: every write to a
configuration table moves the generation (database triggers), a hot-path write does not."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import update
from sqlalchemy.orm import sessionmaker

from app.audit import AuditLog
from app.audit import AuditRecord
from app.db.config_cache import ConfigCache
from app.db.config_cache import cached
from app.db.engine import make_engine
from app.db.engine import make_reader_engine
from app.db.engine import make_reader_sessions
from app.db.engine import make_session_factory
from app.db.engine import migrate
from app.db.models import Account
from app.db.models import Role

NOW = datetime(2026, 11, 26, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[Engine, sessionmaker, sessionmaker]]:  # type: ignore[type-arg]
    # SQLite here; on PostgreSQL the multi-worker tests show a revocation reaching
    # every worker, which only the triggers can tell them.
    url = f"sqlite:///{tmp_path / 'c.db'}"
    engine = make_engine(url)
    migrate(engine)
    writers = make_session_factory(engine)
    with writers.begin() as session:
        session.add(Account(id="111122223333", name="a", created_at=NOW))
        session.add(_role("Web"))
    yield engine, writers, make_session_factory(make_reader_engine(url, engine))
    engine.dispose()


def _role(name: str) -> Role:
    return Role(
        account_id="111122223333",
        name=name,
        name_key=name.lower(),
        path="/",
        role_id="AROA" + name.upper().ljust(17, "X"),
        trust_policy="{}",
        created_at=NOW,
    )


def _generation(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT value FROM config_generation")).scalar_one())


def _load(session, name: str) -> Role | None:  # type: ignore[no-untyped-def]
    return cached(
        session,
        (Role, name),
        lambda: session.scalar(select(Role).where(Role.name_key == name.lower())),
    )


def test_configuration_writes_move_the_generation_and_audit_writes_do_not(db) -> None:  # type: ignore[no-untyped-def]
    engine, writers, _ = db
    before = _generation(engine)
    AuditLog(engine).write(AuditRecord(at=NOW, request_id="r", action="sts:X", outcome="allowed"))
    assert _generation(engine) == before
    with writers.begin() as session:
        session.execute(update(Role).values(max_session_duration=7200))
    assert _generation(engine) > before


def test_a_cached_role_is_served_until_a_write_then_reloaded(db) -> None:  # type: ignore[no-untyped-def]
    _, writers, readers = db
    cache = ConfigCache()
    with readers.begin() as session:
        cache.attach(session)
        first = _load(session, "Web")
        assert _load(session, "Nobody") is None
    with readers.begin() as session:
        cache.attach(session)
        assert _load(session, "Web") is first  # no query: the very same object
    with writers.begin() as session:
        session.add(_role("Nobody"))
    with readers.begin() as session:
        cache.attach(session)
        assert _load(session, "Web") is not first
        assert _load(session, "Nobody") is not None  # the cached miss is gone too


def test_a_transaction_older_than_the_cache_shares_nothing_with_it(db) -> None:  # type: ignore[no-untyped-def]
    _, writers, readers = db
    cache = ConfigCache()
    old = readers()
    old.begin()
    cache.attach(old)  # reads the generation now, before the write below
    with writers.begin() as session:
        session.execute(update(Role).values(max_session_duration=7200))
    with readers.begin() as session:
        cache.attach(session)
        assert _load(session, "Web").max_session_duration == 7200  # type: ignore[union-attr]
    _load(old, "Web")  # what the older transaction loads stays its own
    old.rollback()
    with readers.begin() as session:
        cache.attach(session)
        assert _load(session, "Web").max_session_duration == 7200  # type: ignore[union-attr]


def test_a_read_only_call_reads_one_snapshot_from_its_generation_on(db) -> None:  # type: ignore[no-untyped-def]
    """The readers' transaction is the connection's; the Session joins it on its first
    query. That query must still see the snapshot the generation was read in: a write
    in between is for the next call to see, whole."""
    engine, writers, _ = db
    readers = make_reader_sessions(engine.url.render_as_string(), engine)
    cache = ConfigCache()
    with readers.begin() as session:
        cache.attach(session)
        with writers.begin() as other:
            other.execute(update(Role).values(max_session_duration=7200))
        assert _load(session, "Web").max_session_duration == 3600  # type: ignore[union-attr]
    with readers.begin() as session:
        cache.attach(session)
        assert _load(session, "Web").max_session_duration == 7200  # type: ignore[union-attr]
