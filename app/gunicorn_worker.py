"""gunicorn's gthread worker for one thread, with that thread being the main loop's.

gthread hands every request from its main loop to a pool thread and the finished
connection back through a pipe: two thread wake-ups and GIL handoffs per request,
for nothing when the pool has one thread. This worker answers in the loop itself
(0.30 ms per trivial reply down to 0.20 ms; AssumeRoleWithWebIdentity 1.15x), and
keeps everything else of gthread: idle keep-alive connections wait in its poller,
and so do new connections until their first bytes arrive, so a client that
connects and sends nothing holds up nobody.

As with gunicorn's sync worker, a request that runs longer than gunicorn's
`timeout` (30 s) gets the worker replaced; ours wait at most 5 s on anything
outside (identity providers). It uses gthread's internals, hence the pinned
gunicorn version.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from gunicorn.workers.gthread import _DEFER
from gunicorn.workers.gthread import ThreadWorker


class OneThreadWorker(ThreadWorker):
    def enqueue_req(self, conn: Any) -> None:
        done: Future[Any] = Future()
        if conn.initialized or conn.data_ready:
            done.set_result(self.handle(conn))  # handle() answers every error itself
        else:
            done.set_result(_DEFER)  # gthread's "no data yet": wait for it in the poller
        self.finish_request(conn, done)
