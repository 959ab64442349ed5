"""execute_alone on SQLite: each thread and each process writes through a connection
of its own, and what it writes is committed at once."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from sqlalchemy import Engine

from app.db.engine import _own_connection
from app.db.engine import execute_alone
from app.db.engine import make_engine


def _rows(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return sorted(x for (x,) in conn.exec_driver_sql("SELECT x FROM t"))


def test_threads_and_forked_processes_never_share_a_connection(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/fedbridge.db")
    execute_alone(engine, "CREATE TABLE t (x INTEGER)", ())
    execute_alone(engine, "INSERT INTO t VALUES (?)", (1,))
    mine = _own_connection(engine)
    assert _own_connection(engine) is mine

    others: list[object] = []
    thread = threading.Thread(
        target=lambda: (
            others.append(_own_connection(engine)),
            execute_alone(engine, "INSERT INTO t VALUES (?)", (2,)),
        )
    )
    thread.start()
    thread.join()
    assert others and others[0] is not mine

    child = os.fork()
    if child == 0:  # a gunicorn worker, forked after the parent wrote
        code = 1
        try:
            if _own_connection(engine) is not mine:
                execute_alone(engine, "INSERT INTO t VALUES (?)", (3,))
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert _rows(engine) == [1, 2, 3]  # each committed, seen by a fresh connection
