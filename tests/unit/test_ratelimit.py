"""Rate-limit counts in the database: what workers and hosts without Redis share."""

from __future__ import annotations

import os
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
from app.ratelimit import DatabaseCounter
from app.ratelimit import InProcessCounter
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
