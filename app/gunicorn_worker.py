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

from collections import deque
from concurrent.futures import Future
from typing import Any

from gunicorn.workers.gthread import _DEFER
from gunicorn.workers.gthread import ThreadWorker


class OneThreadWorker(ThreadWorker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ready: deque[Any] = deque()

    def enqueue_req(self, conn: Any) -> None:
        # finish_request() calls back here for a request already read ahead (a
        # pipelining client): queue it and let the loop below answer it, rather than
        # recurse once per request (which broke off after about 480 of 2,000).
        self._ready.append(conn)
        if len(self._ready) > 1:
            return
        try:
            while self._ready:
                conn = self._ready[0]
                self.finish_request(conn, self._handled(conn))
                self._ready.popleft()
        finally:
            self._ready.clear()  # only non-empty here if something escaped

    def _handled(self, conn: Any) -> Future[Any]:
        """handle()'s outcome as the future finish_request() expects from the pool."""
        done: Future[Any] = Future()
        if not (conn.initialized or conn.data_ready):
            done.set_result(_DEFER)  # gthread's "no data yet": wait for it in the poller
            return done
        try:
            done.set_result(self.handle(conn))
        except Exception as e:  # as in the pool: finish_request() closes the connection
            done.set_exception(e)
        return done
