"""Rate limits for the doors anyone may knock on: unsigned STS actions and sign-in pages.

Fixed one-second windows per key ("ip:203.0.113.7", "provider:arn:…"). With
FEDBRIDGE_REDIS_URL the counters live in Redis, shared by every worker and
host; without it they are in-process, exact for the single-worker default
and per worker otherwise. The source IP is the socket's peer, or with
FEDBRIDGE_TRUSTED_PROXIES the address the proxies in front forwarded (app/proxies.py).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

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
