"""SQLite connections kept per thread (app.db.engine): each thread and each process uses
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
