"""Rate limits for the doors anyone may knock on: unsigned STS actions and sign-in pages.

Fixed one-second windows per key ("ip:203.0.113.7", "provider:arn:…"). The
counters are shared by every worker and host: in Redis with FEDBRIDGE_REDIS_URL,
otherwise in the database. Only the single-worker default on SQLite, one process
alone with its file, counts in-process. The source IP is the socket's peer, or with
FEDBRIDGE_TRUSTED_PROXIES the address the proxies in front forwarded (app/proxies.py).

A process takes tokens from a shared count ahead of use and hands them out itself:
as many at a time as it took for that key so far in the second (at least one, at
most a tenth of the limit). A key seen a few times a second costs a write or round
trip per call, as without leases; a busy one about one per tenth of its limit. The
limit stays a ceiling: tokens a process took and did not hand out by the end of the
second are lost, at most as many as it handed out (and under a tenth of the limit),
so a key may get fewer calls than its limit, never more. Once the shared count is
spent, the process refuses that key for the rest of the second without asking
again: a flood costs the counter nothing more. While the shared counter is down,
each process counts alone and asks it again every RETRY_AFTER seconds.
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
    def incr(self, key: str, window: int, by: int = 1) -> int:
        """Add `by` to `key`'s count in second `window`; return the new count."""
        ...


class InProcessCounter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window = -1
        self._counts: dict[str, int] = {}

    def incr(self, key: str, window: int, by: int = 1) -> int:
        with self._lock:
            if window != self._window:  # a new second: forget the last one
                self._window, self._counts = window, {}
            self._counts[key] = self._counts.get(key, 0) + by
            return self._counts[key]


class RedisCounter:
    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)

    def incr(self, key: str, window: int, by: int = 1) -> int:
        name = f"fedbridge:rl:{window}:{key}"
        pipe = self._redis.pipeline()
        pipe.incrby(name, by)
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
        "INSERT INTO rate_limit_hits (second, key_digest, hits) VALUES (:second, :key, :by) "
        "ON CONFLICT (second, key_digest) DO UPDATE SET hits = rate_limit_hits.hits + :by "
        "RETURNING hits"
    )
    _PURGE = text("DELETE FROM rate_limit_hits WHERE second < :second")

    def __init__(self, engine: Engine) -> None:
        self._autocommit = Autocommit(engine)
        self._upsert = DriverStatement(self._UPSERT.compile(dialect=engine.dialect))
        self._purge = DriverStatement(self._PURGE.compile(dialect=engine.dialect))
        self._purged_before = -1

    def incr(self, key: str, window: int, by: int = 1) -> int:
        if window > self._purged_before:
            self._purged_before = window
            oldest = window - self.KEEP_SECONDS
            self._autocommit.execute(self._purge.sql, self._purge.params({"second": oldest}))
        digest = hashlib.sha256(key.encode()).hexdigest()
        params = self._upsert.params({"second": window, "key": digest, "by": by})
        return int(self._autocommit.scalar(self._upsert.sql, params))


def counter_for(settings: Settings, engine: Engine) -> Counter:
    """Where the counts live: one shared place whenever several processes may serve."""
    if settings.redis_url:
        return RedisCounter(settings.redis_url)
    if settings.workers == 1 and engine.dialect.name == "sqlite":
        return InProcessCounter()
    return DatabaseCounter(engine)


class _Key:
    """One key's tokens in one process for the current second."""

    __slots__ = ("held", "spent", "taken")

    def __init__(self) -> None:
        self.held = 0  # taken from the shared count, not handed out yet
        self.taken = 0  # taken from the shared count this second
        self.spent = False  # the shared count reached the limit


class _Held:
    """What this process took from the shared counts for the current second."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window = -1
        self._keys: dict[str, _Key] = {}

    def take(self, key: str, window: int) -> bool | None:
        """True: a held token, handed out. False: none held, and the shared count is
        spent. None: none held; ask the shared count."""
        with self._lock:
            if window != self._window:  # a new second: what was held is void
                self._window, self._keys = window, {}
            state = self._keys.get(key)
            if state is None:
                return None
            if state.held:
                state.held -= 1
                return True
            return False if state.spent else None

    def lease_size(self, key: str, most: int) -> int:
        """As many as were taken for the key this second (so leases double), 1 to `most`."""
        with self._lock:
            state = self._keys.get(key)
            return max(1, min(most, state.taken if state else 0))

    def keep(self, key: str, window: int, taken: int, unused: int, spent: bool) -> None:
        with self._lock:
            if window != self._window:  # the second is over: nothing to keep
                return
            state = self._keys.setdefault(key, _Key())
            state.taken += taken
            state.held += unused
            state.spent = state.spent or spent


class RateLimiter:
    #: A process takes at most limit // LEASE_PARTS tokens from the shared count at once.
    LEASE_PARTS = 10
    #: After the shared counter fails, seconds before it is asked again.
    RETRY_AFTER = 5.0

    def __init__(self, counter: Counter, per_ip: int, per_provider: int) -> None:
        self.counter = counter
        self.per_ip = per_ip
        self.per_provider = per_provider
        self._held = _Held()
        # While the shared counter is down, each process counts alone: the limit holds
        # per process, and no call waits on a counter that does not answer.
        self._alone = InProcessCounter()
        self._down_since: float | None = None
        self._retry_at = 0.0

    def check(self, kind: str, value: str | None) -> None:
        """Throttling once `kind` ("ip" or "provider") `value` passes its limit this second."""
        limit = self.per_ip if kind == "ip" else self.per_provider
        if not limit or not value:
            return
        key, window = f"{kind}:{value}", int(time.time())
        mine = self._held.take(key, window)
        if mine is None:
            mine = self._lease(key, window, limit)
        if not mine:
            raise ThrottlingError("Rate exceeded", reason=f"throttled.{kind}")

    def _lease(self, key: str, window: int, limit: int) -> bool:
        """Take tokens from the shared count; hand out one of them now."""
        size = self._held.lease_size(key, max(1, limit // self.LEASE_PARTS))
        count = self._count(key, window, size)
        granted = min(size, limit - (count - size))  # the part of the lease under the limit
        self._held.keep(key, window, size, max(granted - 1, 0), spent=count >= limit)
        return granted > 0

    def _count(self, key: str, window: int, by: int) -> int:
        """The shared count, or this process's own while the shared one is down (a hung
        Redis cost every unsigned call its 0.5 s timeout). One log line per outage."""
        now = time.monotonic()
        if now >= self._retry_at:
            try:
                count = self.counter.incr(key, window, by)
            except Exception as e:  # a limiter that is down must not take sign-in down
                self._retry_at = now + self.RETRY_AFTER
                if self._down_since is None:
                    self._down_since = now
                    log.warning(
                        "rate limiter's shared counter unavailable (%s); each process "
                        "counts alone, asking again every %.0f s",
                        type(e).__name__,
                        self.RETRY_AFTER,
                    )
            else:
                if self._down_since is not None:
                    log.warning(
                        "rate limiter's shared counter answers again after %.0f s",
                        now - self._down_since,
                    )
                    self._down_since = None
                return count
        return self._alone.incr(key, window, by)
