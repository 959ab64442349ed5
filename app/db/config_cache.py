"""Configuration cached per process for read-only calls, checked once per call.

Every STS call reads the same few rows (the role, the provider, their tags, the
caller's key and policies) and writes none of them. A read-only call reads the
configuration generation first (one row, bumped by triggers on every write to
a configuration table: migration 0006), then takes those rows from this
process's cache while the generation is unchanged. Any write, by any worker,
host or CLI, shows up in the next call: no staleness window, unlike a TTL.

Cached ORM objects are detached and shared between threads: read them, never
change them. Writing calls do not use the cache at all.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Hashable
from typing import Any
from typing import TypeVar

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from app.db.models import Base

T = TypeVar("T")

_SESSION_KEY = "fedbridge_config_cache"
_GENERATION = "SELECT value FROM config_generation WHERE id = 1"
#: Misses are cached too (an unknown role stays unknown until a write), so names
#: nobody has, sent by a prober, must not grow the cache without bound.
MAX_ENTRIES = 10_000


class ConfigCache:
    def __init__(self) -> None:
        #: (generation, its entries): one attribute, so threads swap both at once.
        self._current: tuple[int, dict[Hashable, Any]] = (-1, {})

    def attach(self, session: Session) -> None:
        """Start a read-only transaction: read the generation (its first read, so on
        SQLite every later read comes from the same snapshot) and let `cached` serve
        entries of that generation to this session."""
        # Through the driver's own cursor: every read-only call runs this, and
        # SQLAlchemy's statement machinery cost ten times the query itself. A session
        # bound to a connection (app.db.engine's readers) reads on it without beginning
        # a transaction of its own: the connection's is already open.
        bind = session.get_bind()
        conn = bind if isinstance(bind, Connection) else session.connection()
        cursor = conn.connection.cursor()
        try:
            cursor.execute(_GENERATION)
            row = cursor.fetchone()
            if row is None:
                raise RuntimeError("config_generation has no row: the migrations did not run")
            (generation,) = row
        finally:
            cursor.close()
        seen, entries = self._current
        if generation != seen:
            # A newer generation replaces the cache; an older snapshot (a transaction
            # that began before a write) gets a dict of its own and shares nothing.
            entries = {}
            if generation > seen:
                self._current = (generation, entries)
        session.info[_SESSION_KEY] = entries


def cached(session: Session, key: Hashable, load: Callable[[], T]) -> T:
    """`load()`, or what it returned before in this configuration generation when
    `session` is a read-only transaction ConfigCache.attach prepared; elsewhere
    simply `load()`. `key` must name everything the result depends on."""
    entries: dict[Hashable, Any] | None = session.info.get(_SESSION_KEY)
    if entries is None:
        return load()
    try:
        return entries[key]
    except KeyError:
        pass
    value = load()
    for item in value if isinstance(value, list | tuple) else (value,):
        if isinstance(item, Base):
            session.expunge(item)  # shared across sessions from now on
    if len(entries) >= MAX_ENTRIES:
        entries.clear()
    entries[key] = value
    return value


def cached_get(session: Session, model: type[T], pk: Any) -> T | None:
    """`session.get(model, pk)` through `cached`."""
    return cached(session, (model, pk), lambda: session.get(model, pk))
