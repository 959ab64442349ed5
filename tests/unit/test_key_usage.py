"""Access key use is written at most once an hour per key per process (app.iam.key_usage)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.config import Settings
from app.db.models import AccessKeyUse
from app.db.models import ConfigGeneration
from app.runtime import Runtime


def test_a_keys_use_is_written_once_an_hour(tmp_path: Path) -> None:
    runtime = Runtime.start(Settings(data_dir=tmp_path))
    assert runtime.created is not None
    key_id, usage = runtime.created.access_key_id, runtime.key_usage
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)

    def stored() -> tuple[datetime | None, str | None]:
        with runtime.sessions() as session:
            use = session.get(AccessKeyUse, key_id)
            return (use.last_used_at, use.service) if use else (None, None)

    def generation() -> int:
        with runtime.sessions() as session:
            return session.scalars(select(ConfigGeneration.value)).one()

    before = generation()
    usage.note(key_id, "iam", "us-east-1", start)
    usage.flush()
    assert stored() == (start, "iam")
    assert generation() == before  # no worker's configuration cache is reset by it
    usage.note(key_id, "sts", "us-east-1", start + timedelta(minutes=59))
    usage.flush()
    assert stored() == (start, "iam")  # within the hour: not written again
    later = start + timedelta(hours=1)
    usage.note(key_id, "sts", "eu-west-1", later)
    usage.flush()
    assert stored() == (later, "sts")


def test_a_use_that_could_not_be_written_is_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = Runtime.start(Settings(data_dir=tmp_path))
    assert runtime.created is not None
    key_id, usage = runtime.created.access_key_id, runtime.key_usage
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    usage.note(key_id, "iam", "us-east-1", start)
    monkeypatch.setattr(usage, "_sessions", None)  # the database is away
    with pytest.raises(AttributeError):
        usage.flush()
    monkeypatch.undo()
    usage.note(key_id, "sts", "us-east-1", start + timedelta(minutes=1))  # within the hour
    usage.flush()
    with runtime.sessions() as session:
        use = session.get(AccessKeyUse, key_id)
        assert use is not None and use.service == "sts"
