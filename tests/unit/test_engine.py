"""Connections kept per thread (app.db.engine): each thread and each process uses
its own, what Autocommit writes is committed at once, and read-only sessions never keep
an old snapshot."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.db.engine import Autocommit
from app.db.engine import ThreadConnections
from app.db.engine import make_engine
from app.db.engine import make_reader_sessions


def _rows(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return sorted(x for (x,) in conn.exec_driver_sql("SELECT x FROM t"))


def test_threads_and_forked_processes_never_share_a_connection(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/fedbridge.db")
    autocommit, connections = Autocommit(engine), ThreadConnections(engine)
    autocommit.execute("CREATE TABLE t (x INTEGER)", ())
    autocommit.execute("INSERT INTO t VALUES (?)", (1,))
    mine = connections.get()
    assert connections.get() is mine

    others: list[object] = []
    thread = threading.Thread(
        target=lambda: (
            others.append(connections.get()),
            autocommit.execute("INSERT INTO t VALUES (?)", (2,)),
        )
    )
    thread.start()
    thread.join()
    assert others and others[0] is not mine

    child = os.fork()
    if child == 0:  # a gunicorn worker, forked after the parent wrote
        code = 1
        try:
            if connections.get() is not mine:
                autocommit.execute("INSERT INTO t VALUES (?)", (3,))
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert _rows(engine) == [1, 2, 3]  # each committed, seen by a fresh connection


def test_reader_sessions_keep_one_connection_and_never_a_stale_snapshot(tmp_path: Path) -> None:
    """However a read-only session ends, the thread's connection leaves its transaction:
    a connection stuck in an old snapshot would hide every later write (a revocation)."""
    url = f"sqlite:///{tmp_path}/fedbridge.db"
    engine = make_engine(url)
    autocommit = Autocommit(engine)
    autocommit.execute("CREATE TABLE t (x INTEGER)", ())
    readers = make_reader_sessions(url, engine)

    def read(session: Session) -> list[int]:
        return sorted(x for (x,) in session.execute(text("SELECT x FROM t")))

    connections = set()
    for value, use in enumerate(("begin", "autobegin", "error", "nested")):
        autocommit.execute("INSERT INTO t VALUES (?)", (value,))
        seen = list(range(value + 1))
        if use == "begin":
            with readers.begin() as session:
                assert read(session) == seen
        elif use == "autobegin":  # as the console's pages use it
            with readers() as session:
                assert read(session) == seen
        elif use == "error":
            with pytest.raises(ZeroDivisionError), readers.begin() as session:
                assert read(session) == seen
                1 / 0  # noqa: B018
        else:  # a second session while the first is open: a connection of its own
            with readers.begin() as outer, readers.begin() as inner:
                assert read(outer) == read(inner) == seen
                assert outer.connection() is not inner.connection()
        with readers.begin() as session:
            connections.add(session.connection())
    assert len(connections) == 1  # the thread's own, every time


_SERVER_URL = os.environ.get("FEDBRIDGE_TEST_DATABASE_URL", "")


@pytest.mark.skipif(
    not _SERVER_URL.startswith("postgresql"), reason="needs a PostgreSQL server to hang up"
)
def test_a_kept_connection_the_server_dropped_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    """A PostgreSQL restart or a proxy's idle timeout kills kept connections: one idle
    long enough, or one the server said goodbye to, is pinged and replaced before use."""
    engine = make_engine(_SERVER_URL)
    readers, autocommit = make_reader_sessions(_SERVER_URL, engine), Autocommit(engine)

    def reader_pid() -> int:
        with readers.begin() as session:
            return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())

    def audit_pid() -> int:
        autocommit.execute("INSERT INTO kept_connection_pids (pid) SELECT pg_backend_pid()", ())
        with readers.begin() as session:
            query = text("SELECT pid FROM kept_connection_pids ORDER BY n DESC LIMIT 1")
            return int(session.execute(query).scalar_one())

    def hang_up(pid: int) -> None:
        with engine.begin() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})

    try:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS kept_connection_pids"))
            conn.execute(text("CREATE TABLE kept_connection_pids (n SERIAL, pid INTEGER)"))
        first_reader, first_audit = reader_pid(), audit_pid()
        assert reader_pid() == first_reader and audit_pid() == first_audit  # kept

        monkeypatch.setattr(ThreadConnections, "PING_AFTER_IDLE", 0.0)  # every use is "idle"
        hang_up(first_reader)
        hang_up(first_audit)
        second_reader, second_audit = reader_pid(), audit_pid()  # no call failed
        assert second_reader != first_reader and second_audit != first_audit

        # In steady use (no ping by the clock) the server's goodbye is noticed all the same.
        monkeypatch.setattr(ThreadConnections, "PING_AFTER_IDLE", 3600.0)
        hang_up(second_reader)
        hang_up(second_audit)
        third_reader, third_audit = reader_pid(), audit_pid()  # no call failed
        assert third_reader not in (first_reader, second_reader)
        assert third_audit not in (first_audit, second_audit)
        assert reader_pid() == third_reader  # and a live one is kept
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS kept_connection_pids"))
        engine.dispose()
