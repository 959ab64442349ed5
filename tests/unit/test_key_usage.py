"""Access key use is written at most once an hour per key per process (app.iam.key_usage)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

from app.config import Settings
from app.db.models import AccessKey
from app.runtime import Runtime


def test_a_keys_use_is_written_once_an_hour(tmp_path: Path) -> None:
    runtime = Runtime.start(Settings(data_dir=tmp_path))
    assert runtime.created is not None
    key_id, usage = runtime.created.access_key_id, runtime.key_usage
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)

    def stored() -> tuple[datetime | None, str | None]:
        with runtime.sessions() as session:
            key = session.get(AccessKey, key_id)
            assert key is not None
            return key.last_used_at, key.last_used_service

    usage.note(key_id, "iam", "us-east-1", start)
    usage.flush()
    assert stored() == (start, "iam")
    usage.note(key_id, "sts", "us-east-1", start + timedelta(minutes=59))
    usage.flush()
    assert stored() == (start, "iam")  # within the hour: not written again
    later = start + timedelta(hours=1)
    usage.note(key_id, "sts", "eu-west-1", later)
    usage.flush()
    assert stored() == (later, "sts")
