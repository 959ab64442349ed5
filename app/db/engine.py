"""The SQLAlchemy engine for FEDBRIDGE_DATABASE_URL, and migrations applied on start."""

from __future__ import annotations

import os
import select
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager
from contextlib import contextmanager
from contextlib import nullcontext
from pathlib import Path
from typing import Any
from typing import Protocol

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler

MIGRATIONS = Path(__file__).parent / "migrations"
#: Arbitrary constant naming fedbridge's migration lock on PostgreSQL.
_MIGRATION_LOCK_ID = 0x66656462
_FIRST_START_LOCK_ID = 0x66656463
#: Each SQLite engine's queue for the write lock (see _sqlite_engine).
_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def make_reader_engine(url: str, writer: Engine) -> Engine:
    """For calls that only read (every STS call's lookups and checks). On SQLite a reader
    takes no write lock, so it runs beside the one writer; it is also query_only, so a
    write slipping into a read-only call fails loudly instead of racing. Elsewhere the
    writer's pool serves both, and readers autocommit: at READ COMMITTED each statement
    takes its own snapshot inside a transaction too, so BEGIN and COMMIT would only add
    two round trips to a cached call's one query."""
    if not url.startswith("sqlite"):
        return _autocommit(writer)
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


class ThreadConnections:
    """One connection per thread, kept and detached from the pool, for what every call
    runs: a pool checkout and checkin (with PostgreSQL's liveness ping), and a new
    Connection around them, cost more than a cached call's one query or its audit
    insert. Never used across fork: a gunicorn worker opens its own.

    A server's connection can die (a restart, a proxy's idle timeout): one found closed
    or invalidated is replaced, and one the server spoke to while it sat idle, or idle
    for PING_AFTER_IDLE seconds, is pinged first, as the pool's pre-ping would. Only a
    connection that dies during a call fails that call (InternalFailure, which SDKs
    retry), as it would with the pool."""

    PING_AFTER_IDLE = 1.0

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._pings = engine.dialect.name != "sqlite"  # a file does not hang up
        self._local = threading.local()

    def get(self) -> Connection:
        kept: _Kept | None = getattr(self._local, "kept", None)
        now = time.monotonic()
        if kept is None or kept.pid != os.getpid() or not self._usable(kept.conn, now - kept.used):
            kept = self._local.kept = _Kept(self._engine.connect())
        kept.used = now
        return kept.conn

    def _usable(self, conn: Connection, idle: float) -> bool:
        if not self._pings:
            return True
        if conn.invalidated or conn.closed:
            return False
        dbapi_connection: Any = conn.connection.dbapi_connection
        if getattr(dbapi_connection, "closed", False):  # psycopg: the server hung up
            conn.invalidate()
            return False
        if idle < self.PING_AFTER_IDLE and not _has_unread_input(dbapi_connection):
            return True
        try:
            conn.dialect.do_ping(dbapi_connection)
        except Exception:
            conn.invalidate()
            return False
        return True


def _has_unread_input(dbapi_connection: Any) -> bool:
    """Whether the server sent something to a connection with no query outstanding. It
    speaks unasked only to say goodbye: a restart or pg_terminate_backend sends a FATAL
    notice and hangs up. One poll(2), about 2 µs, where a ping is a round trip."""
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN)
    return bool(poller.poll(0))


class _Kept:
    """A thread's connection. Closed once dropped: when its thread ends (servers that
    start a thread per request) or it is replaced, but never by a forked child, whose
    closing would end the parent's session on the server."""

    __slots__ = ("__weakref__", "conn", "pid", "used")

    def __init__(self, conn: Connection) -> None:
        conn.detach()  # out of the pool: this thread owns it
        self.conn, self.pid, self.used = conn, os.getpid(), 0.0
        weakref.finalize(self, _close_kept, conn, self.pid)


def _close_kept(conn: Connection, pid: int) -> None:
    if os.getpid() == pid:
        conn.close()


class Autocommit:
    """Single statements, each a transaction of its own: the audit row of every read-only
    call, on the thread's kept connection in autocommit (no BEGIN, no COMMIT). On SQLite
    each waits in the process's queue for the write lock like any transaction."""

    def __init__(self, engine: Engine) -> None:
        #: SQLite only: the process's write-lock queue.
        self._writer = _SQLITE_WRITERS.get(engine)
        # SQLite's connections autocommit already (see _sqlite_engine).
        autocommitting = engine if self._writer else _autocommit(engine)
        self._connections = ThreadConnections(autocommitting)

    def execute(self, sql: str, params: Any) -> None:
        """`sql` in the driver's paramstyle (DriverStatement)."""
        with self._writer or nullcontext():
            self._driver_connection().execute(sql, params)

    def scalar(self, sql: str, params: Any) -> Any:
        """The first value of the one row `sql` returns (an INSERT … RETURNING)."""
        with self._writer or nullcontext():
            cursor = self._driver_connection().execute(sql, params)
            try:
                # To the end: SQLite's statement, and its write, finish only there.
                ((value,),) = cursor.fetchall()
            finally:
                cursor.close()
        return value

    def _driver_connection(self) -> Any:
        return self._connections.get().connection.dbapi_connection


class DriverStatement:
    """A statement compiled once for a dialect, for Autocommit and raw cursors: the
    statements every call runs, where SQLAlchemy's execution path costs more than the
    database's own work."""

    def __init__(self, compiled: SQLCompiler) -> None:
        self.sql = compiled.string
        # Positional paramstyles (SQLite's qmark) list the parameters in the SQL's order.
        self._order = compiled.positiontup

    def params(self, values: dict[str, Any]) -> Any:
        return [values[k] for k in self._order] if self._order else values


def _autocommit(engine: Engine) -> Engine:
    return engine.execution_options(isolation_level="AUTOCOMMIT")


class SessionFactory(Protocol):
    """What sessionmaker offers, and _ThreadSessions too."""

    def __call__(self) -> Session: ...
    def begin(self) -> AbstractContextManager[Session]: ...


class _ThreadSessions:
    """Read-only sessions: those of begin() run on the connection their thread
    keeps, unless it is in use (a nested begin() gets a pooled one); plain sessions, which
    begin whenever they first query, are pooled as usual."""

    def __init__(self, engine: Engine) -> None:
        self._connections = ThreadConnections(engine)
        self._pooled = make_session_factory(engine)

    def __call__(self) -> Session:
        return self._pooled()

    @contextmanager
    def begin(self) -> Iterator[Session]:
        conn = self._connections.get()
        if conn.in_transaction():
            with self._pooled.begin() as session:
                yield session
            return
        # The transaction is the connection's (BEGIN now, so a nested begin() sees the
        # connection taken; COMMIT at the end), and the Session joins it only when the
        # call queries through it. A call served from the configuration cache never
        # does, and skips the Session's own begin and commit (measured alone, with the
        # generation read: 104 to 48 µs per call; SQLite's own part is 6 µs).
        with conn.begin(), Session(bind=conn, expire_on_commit=False) as session:
            yield session


def make_reader_sessions(url: str, writer: Engine) -> SessionFactory:
    """Sessions for calls that only read (make_reader_engine). Each thread keeps a
    connection for them (measured in alternating rounds against a pool checkout per
    call: on SQLite +3 to +7% web-identity calls, +15% GetCallerIdentity; on PostgreSQL,
    with Autocommit's kept connections too, +17% web identity and SAML, +39%
    GetCallerIdentity)."""
    return _ThreadSessions(make_reader_engine(url, writer))


def _begin(conn: Any, statement: str) -> None:
    # Straight to sqlite3: through exec_driver_sql, BEGIN cost as much as a query.
    # (dbapi_connection: the driver's own object on SQLite, and still set on a
    # connection detached from the pool, unlike driver_connection)
    conn.connection.dbapi_connection.execute(statement)


def make_session_factory(engine: Engine) -> sessionmaker[Any]:
    return sessionmaker(engine, expire_on_commit=False)


def one_first_start_at_a_time(session: Session) -> None:
    """In a transaction that checks for something start-up creates once (the root account,
    the first keys) and creates it if missing: wait for any other process doing the same,
    so hosts starting together make one. SQLite's writers take turns already (BEGIN
    IMMEDIATE); PostgreSQL's READ COMMITTED would let both see nothing and both create."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_FIRST_START_LOCK_ID})")


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; safe when several workers start at once."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_ID})")
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
