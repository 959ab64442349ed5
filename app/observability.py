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
from typing import Any

from flask import Flask
from flask import Response
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

#: WSGI environ keys: the request's id, and the endpoint its latency is filed under.
REQUEST_ID = "fedbridge.request_id"
ENDPOINT = "fedbridge.endpoint"


class Observed:
    """WSGI middleware around the whole service (the Query endpoint and Flask's pages):
    each request gets an id, which its log lines and audit records carry and the
    x-amzn-RequestId header returns, and its latency is observed under its endpoint."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        started = time.perf_counter()
        request_id = environ[REQUEST_ID] = ids.request_id()
        token = request_id_var.set(request_id)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers.append(("x-amzn-RequestId", request_id))
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, start)
        finally:
            LATENCY.labels(environ.get(ENDPOINT) or "unknown").observe(
                time.perf_counter() - started
            )
            # Lines logged after the request (a worker exiting) must not carry its id.
            request_id_var.reset(token)


def init_observability(app: Flask) -> None:
    runtime = app.extensions["fedbridge"]

    @app.before_request
    def _name_endpoint() -> None:
        request.environ[ENDPOINT] = request.endpoint

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
