"""The SQLAlchemy engine for FEDBRIDGE_DATABASE_URL, and migrations applied on start."""

from __future__ import annotations

import os
import threading
import weakref
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy.orm import sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
#: Arbitrary constant naming fedbridge's migration lock on PostgreSQL.
_MIGRATION_LOCK_ID = 0x66656462
#: Each SQLite engine's queue for the write lock (see _sqlite_engine).
_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
#: Per thread: (process id, {engine: its connection for execute_alone}).
_OWN_CONNECTIONS = threading.local()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def make_reader_engine(url: str, writer: Engine) -> Engine:
    """For calls that only read (every STS call's lookups and checks). On SQLite a reader
    takes no write lock, so it runs beside the one writer; it is also query_only, so a
    write slipping into a read-only call fails loudly instead of racing. Elsewhere the
    writer engine serves both."""
    if not url.startswith("sqlite"):
        return writer
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        _begin(conn, "BEGIN")

    return engine


def _sqlite_engine(url: str) -> Engine:
    if url.startswith("sqlite:///") and ":memory:" not in url:
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own
        # transaction handling would defer it past our first read).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        # WAL with synchronous=NORMAL: a commit survives a crash of the process (kill -9),
        # and skips the fsync that cost ~2 ms per request; only a power cut can lose the
        # last commits. PostgreSQL is the choice where that matters.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    # Threads of one process queue here for SQLite's single write lock: a handoff
    # instead of SQLite's busy handler, which sleeps up to 100 ms between retries
    # (p99 of 185 ms at 4 concurrent requests before this queue existed).
    writer = _SQLITE_WRITERS[engine] = threading.Lock()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front, so count rules (100 roles per
        # account) cannot race between workers, and nobody fails mid-transaction
        # with SQLITE_BUSY on a stale snapshot.
        writer.acquire()
        conn.info["fedbridge_writer"] = True
        try:
            _begin(conn, "BEGIN IMMEDIATE")
        except BaseException:
            _release(conn)
            raise

    def _release(conn: Any) -> None:
        if conn.info.pop("fedbridge_writer", False):
            writer.release()

    event.listen(engine, "commit", _release)
    event.listen(engine, "rollback", _release)

    return engine


def execute_alone(engine: Engine, sql: str, params: Any) -> None:
    """Run one statement, in the driver's paramstyle, as a transaction of its own: the
    audit row of every read-only call.

    On SQLite each thread keeps a connection of its own for this, in autocommit, so
    the statement is its own transaction and queues for the write lock like any
    other; a pool checkout and SQLAlchemy's transaction around the insert cost more
    than the insert (4-8% of a web-identity call, measured). Elsewhere, as usual."""
    writer = _SQLITE_WRITERS.get(engine)
    if writer is None:
        with engine.begin() as conn:
            conn.exec_driver_sql(sql, params)
        return
    with writer:
        _own_connection(engine).execute(sql, params)


def _own_connection(engine: Engine) -> Any:
    state: tuple[int, weakref.WeakKeyDictionary[Engine, Any]] | None
    state = getattr(_OWN_CONNECTIONS, "state", None)
    if state is None or state[0] != os.getpid():
        # Never use a connection across fork: a gunicorn worker opens its own.
        state = _OWN_CONNECTIONS.state = (os.getpid(), weakref.WeakKeyDictionary())
    connections: weakref.WeakKeyDictionary[Engine, Any] = state[1]
    connection = connections.get(engine)
    if connection is None:
        fairy = engine.raw_connection()  # opened like every other (pragmas, autocommit)
        connection = connections[engine] = fairy.driver_connection
        fairy.detach()  # out of the pool: this thread owns it
    return connection


def _begin(conn: Any, statement: str) -> None:
    # Straight to sqlite3: through exec_driver_sql, BEGIN cost as much as a query.
    conn.connection.driver_connection.execute(statement)


def make_session_factory(engine: Engine) -> sessionmaker[Any]:
    return sessionmaker(engine, expire_on_commit=False)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; safe when several workers start at once."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_ID})")
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
