"""Rate-limit counts in the database, what workers and hosts without Redis share, and the
tokens each process takes from them ahead of use."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy import func
from sqlalchemy import select

from app.config import Settings
from app.db.engine import make_engine
from app.db.engine import migrate
from app.db.models import RateLimitHit
from app.errors import ThrottlingError
from app.ratelimit import DatabaseCounter
from app.ratelimit import InProcessCounter
from app.ratelimit import RateLimiter
from app.ratelimit import RedisCounter
from app.ratelimit import counter_for


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    """Two engines on one database, as two workers (or hosts) have."""
    url = os.environ.get("FEDBRIDGE_TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'r.db'}"
    first, second = make_engine(url), make_engine(url)
    migrate(first)
    yield first, second
    first.dispose()
    second.dispose()


def test_workers_count_together_per_key_and_second(engines: tuple[Engine, Engine]) -> None:
    one, two = DatabaseCounter(engines[0]), DatabaseCounter(engines[1])
    ip, provider = f"ip:{uuid.uuid4()}", f"provider:arn:aws:iam::1:saml-provider/{'x' * 3000}"
    assert [one.incr(ip, 100), two.incr(ip, 100), one.incr(ip, 100)] == [1, 2, 3]
    assert two.incr(provider, 100) == 1  # a long key is digested into its column
    assert two.incr(ip, 101) == 1  # a new second starts from zero
    assert one.incr(ip, 100) == 4  # a host whose clock is behind still counts
    one.incr(ip, 102 + DatabaseCounter.KEEP_SECONDS)
    with engines[0].connect() as conn:  # and then the old rows are gone
        assert conn.scalar(select(func.count()).where(RateLimitHit.second <= 101)) == 0


def test_concurrent_counts_lose_no_hit(engines: tuple[Engine, Engine]) -> None:
    counters = [DatabaseCounter(engines[n % 2]) for n in range(4)]
    key = f"ip:{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=4) as pool:
        seen = list(pool.map(lambda n: counters[n % 4].incr(key, 200), range(80)))
    assert sorted(seen) == list(range(1, 81))


def test_only_one_process_alone_with_its_file_counts_in_process(tmp_path: Path) -> None:
    sqlite = make_engine(f"sqlite:///{tmp_path / 's.db'}")
    assert isinstance(counter_for(Settings(), sqlite), InProcessCounter)
    assert isinstance(counter_for(Settings(workers=2), sqlite), DatabaseCounter)
    redis = Settings(workers=2, redis_url="redis://127.0.0.1:1/0")
    assert isinstance(counter_for(redis, sqlite), RedisCounter)
    sqlite.dispose()


def _fresh_second() -> None:
    time.sleep(1.02 - time.time() % 1)


def _admitted(limiter: RateLimiter, kind: str, value: str) -> bool:
    try:
        limiter.check(kind, value)
    except ThrottlingError:
        return False
    return True


def test_workers_taking_tokens_ahead_never_pass_the_limit_together(
    engines: tuple[Engine, Engine],
) -> None:
    """Two workers taking tokens from the shared count, leases doubling up to a tenth of
    the limit."""
    workers = [RateLimiter(DatabaseCounter(engine), 100, 100) for engine in engines]
    ip = f"203.0.113.{uuid.uuid4().int % 250}-{uuid.uuid4()}"
    _fresh_second()
    second = int(time.time())
    admitted = [_admitted(workers[n % 2], "ip", ip) for n in range(300)]
    assert int(time.time()) == second, "the checks took more than a second"
    # A worker's last tokens may go unused (at most 9 each): never more than the limit.
    assert 100 - 2 * 9 <= admitted.count(True) <= 100
    assert admitted[-50:] == [False] * 50
    # A write per lease, not per call; none once the count is spent, however hard the flood.
    digest = hashlib.sha256(f"ip:{ip}".encode()).hexdigest()
    with engines[0].connect() as conn:
        hits = conn.scalar(select(RateLimitHit.hits).where(RateLimitHit.key_digest == digest))
    assert 100 <= hits <= 100 + 2 * 10
    _fresh_second()  # and the next second starts afresh
    assert _admitted(workers[0], "ip", ip) and _admitted(workers[1], "ip", ip)


def test_a_small_limit_is_counted_call_by_call() -> None:
    limiter = RateLimiter(InProcessCounter(), 3, 0)
    _fresh_second()
    assert [_admitted(limiter, "ip", "198.51.100.1") for _ in range(5)] == [True] * 3 + [False] * 2
    assert _admitted(limiter, "provider", "arn:aws:iam::1:saml-provider/any")  # 0: no limit


def test_many_workers_with_a_few_calls_each_are_not_throttled_early() -> None:
    """Leases grow with a worker's own traffic: sixteen workers taking a tenth of the
    limit each on their first call would refuse calls far below the limit."""
    shared = InProcessCounter()  # one count, as Redis or the database is for all workers
    workers = [RateLimiter(shared, 100, 100) for _ in range(16)]
    _fresh_second()
    assert all(_admitted(workers[n % 16], "ip", "198.51.100.7") for n in range(64))


class _Outage:
    """A shared counter that is down until told otherwise, counting the calls it gets."""

    def __init__(self) -> None:
        self.down, self.calls, self.counts = True, 0, InProcessCounter()

    def incr(self, key: str, window: int, by: int = 1) -> int:
        self.calls += 1
        if self.down:
            raise ConnectionError("redis is away")
        return self.counts.incr(key, window, by)


def test_a_counter_that_is_down_is_not_asked_every_call(caplog: pytest.LogCaptureFixture) -> None:
    shared = _Outage()
    limiter = RateLimiter(shared, 3, 0)
    _fresh_second()
    with caplog.at_level("WARNING", logger="fedbridge.ratelimit"):
        admitted = [_admitted(limiter, "ip", "198.51.100.9") for _ in range(5)]
    # Asked once, then the process counts alone: the limit still holds, one line is logged.
    assert admitted == [True] * 3 + [False] * 2 and shared.calls == 1
    assert len(caplog.records) == 1 and "Traceback" not in caplog.text
    shared.down = False
    limiter._retry_at = 0.0  # as RETRY_AFTER seconds later
    _fresh_second()
    with caplog.at_level("WARNING", logger="fedbridge.ratelimit"):
        assert _admitted(limiter, "ip", "198.51.100.10") and shared.calls == 2
    assert "answers again" in caplog.records[-1].getMessage()
