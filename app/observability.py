"""Health, readiness, Prometheus metrics and structured logs with request ids.

Metrics are derived from the audit trail (every call, sign-in, issue and
refusal already passes through it) plus request latency per endpoint. Under
gunicorn the workers share counters through PROMETHEUS_MULTIPROC_DIR, which
`fedbridge serve --workers N` sets before any worker starts.
"""

from __future__ import annotations

import json
import os
import time

from flask import Flask
from flask import Response
from flask import g
from flask import request
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client import REGISTRY
from prometheus_client import CollectorRegistry
from prometheus_client import generate_latest
from prometheus_client import multiprocess
from sqlalchemy import text

from app import ids
from app.logs import request_id_var
from app.metrics import LATENCY


def init_observability(app: Flask) -> None:
    runtime = app.extensions["fedbridge"]

    @app.before_request
    def _start() -> None:
        g.request_id = ids.request_id()
        g.started = time.perf_counter()
        g.request_id_token = request_id_var.set(g.request_id)

    @app.teardown_request
    def _forget_request_id(_error: BaseException | None) -> None:
        # Lines logged after the request (a worker exiting) must not carry its id.
        token = g.pop("request_id_token", None)
        if token is not None:
            request_id_var.reset(token)

    @app.after_request
    def _finish(response: Response) -> Response:
        started = g.get("started")
        if started is not None:
            LATENCY.labels(request.endpoint or "unknown").observe(time.perf_counter() - started)
        response.headers.setdefault("x-amzn-RequestId", g.get("request_id", ""))
        return response

    @app.get("/healthz")
    def _healthz() -> Response:
        return Response("ok\n", content_type="text/plain")

    @app.get("/readyz")
    def _readyz() -> Response:
        problems = {}
        try:
            with runtime.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as e:  # the point is to report it, not to fail
            problems["database"] = type(e).__name__
        redis_ping = getattr(runtime.rate_limiter.counter, "ping", None)
        if redis_ping is not None:
            try:
                redis_ping()
            except Exception as e:
                problems["redis"] = type(e).__name__
        body = json.dumps({"ready": not problems, "problems": problems})
        return Response(
            body + "\n", status=503 if problems else 200, content_type="application/json"
        )

    @app.get("/metrics")
    def _metrics() -> Response:
        registry = REGISTRY
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
