"""Prometheus metrics: what the audit trail sees, counted, plus request latency.

Kept apart from the web layer so the audit log (domain side) can count without Flask.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter
from prometheus_client import Histogram

REQUESTS = Counter(
    "fedbridge_requests_total", "API calls and sign-in events by outcome.", ["action", "outcome"]
)
REFUSALS = Counter("fedbridge_refusals_total", "Refusals by stable reason.", ["reason"])
ISSUED = Counter("fedbridge_credentials_issued_total", "Temporary credentials issued.", ["action"])
LATENCY = Histogram(
    "fedbridge_request_seconds",
    "Request latency by endpoint.",
    ["endpoint"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)


def observe_audit(action: str, outcome: str, reason: str | None, detail: Any) -> None:
    REQUESTS.labels(action, outcome).inc()
    if outcome != "allowed":
        REFUSALS.labels(reason or "unknown").inc()
    elif isinstance(detail, dict) and detail.get("issued_access_key_id"):
        ISSUED.labels(action).inc()
