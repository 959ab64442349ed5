"""Rate limits for the doors anyone may knock on: unsigned STS actions and sign-in pages.

Fixed one-second windows per key ("ip:203.0.113.7", "provider:arn:…"). The
counters are shared by every worker and host: in Redis with FEDBRIDGE_REDIS_URL,
otherwise in the database. Only the single-worker default on SQLite, one process
alone with its file, counts in-process. The source IP is the socket's peer, or with
FEDBRIDGE_TRUSTED_PROXIES the address the proxies in front forwarded (app/proxies.py).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy import text

from app.config import Settings
from app.db.engine import Autocommit
from app.db.engine import DriverStatement
from app.errors import ThrottlingError

log = logging.getLogger("fedbridge.ratelimit")


class Counter(Protocol):
    def incr(self, key: str, window: int) -> int: ...


class InProcessCounter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window = -1
        self._counts: dict[str, int] = {}

    def incr(self, key: str, window: int) -> int:
        with self._lock:
            if window != self._window:  # a new second: forget the last one
                self._window, self._counts = window, {}
            self._counts[key] = self._counts.get(key, 0) + 1
            return self._counts[key]


class RedisCounter:
    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)

    def incr(self, key: str, window: int) -> int:
        name = f"fedbridge:rl:{window}:{key}"
        pipe = self._redis.pipeline()
        pipe.incr(name)
        pipe.expire(name, 2)
        count, _ = pipe.execute()
        return int(count)

    def ping(self) -> bool:
        return bool(self._redis.ping())


class DatabaseCounter:
    """Counts in the rate_limit_hits table: one upsert per check, a statement of its
    own. Costs a write per check where Redis costs a round trip. Each process deletes
    old rows when it first counts in a new second; a second's rows outlive it by
    KEEP_SECONDS, as hosts' clocks may disagree by a few."""

    KEEP_SECONDS = 10

    _UPSERT = text(
        "INSERT INTO rate_limit_hits (second, key_digest, hits) VALUES (:second, :key, 1) "
        "ON CONFLICT (second, key_digest) DO UPDATE SET hits = rate_limit_hits.hits + 1 "
        "RETURNING hits"
    )
    _PURGE = text("DELETE FROM rate_limit_hits WHERE second < :second")

    def __init__(self, engine: Engine) -> None:
        self._autocommit = Autocommit(engine)
        self._upsert = DriverStatement(self._UPSERT.compile(dialect=engine.dialect))
        self._purge = DriverStatement(self._PURGE.compile(dialect=engine.dialect))
        self._purged_before = -1

    def incr(self, key: str, window: int) -> int:
        if window > self._purged_before:
            self._purged_before = window
            oldest = window - self.KEEP_SECONDS
            self._autocommit.execute(self._purge.sql, self._purge.params({"second": oldest}))
        digest = hashlib.sha256(key.encode()).hexdigest()
        params = self._upsert.params({"second": window, "key": digest})
        return int(self._autocommit.scalar(self._upsert.sql, params))


def counter_for(settings: Settings, engine: Engine) -> Counter:
    """Where the counts live: one shared place whenever several processes may serve."""
    if settings.redis_url:
        return RedisCounter(settings.redis_url)
    if settings.workers == 1 and engine.dialect.name == "sqlite":
        return InProcessCounter()
    return DatabaseCounter(engine)


class RateLimiter:
    def __init__(self, counter: Counter, per_ip: int, per_provider: int) -> None:
        self.counter = counter
        self.per_ip = per_ip
        self.per_provider = per_provider

    def check(self, kind: str, value: str | None) -> None:
        """Throttling once `kind` ("ip" or "provider") `value` passes its limit this second."""
        limit = self.per_ip if kind == "ip" else self.per_provider
        if not limit or not value:
            return
        try:
            count = self.counter.incr(f"{kind}:{value}", int(time.time()))
        except Exception:  # a limiter that is down must not take sign-in down with it
            log.exception("rate limiter unavailable; not limiting")
            return
        if count > limit:
            raise ThrottlingError("Rate exceeded", reason=f"throttled.{kind}")
