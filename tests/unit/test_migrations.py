"""The migrations build exactly the schema the models describe, so an upgrade never drifts."""

from __future__ import annotations

import json
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.db.engine import make_engine
from app.db.engine import migrate
from app.db.models import Base


def test_migrations_match_models(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    migrate(engine)  # applying again is a no-op
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_roles_made_before_trust_bindings_are_bound_on_upgrade(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from app.db.engine import MIGRATIONS

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0007")
        now = "2026-01-01 00:00:00.000000"
        conn.execute(
            text("INSERT INTO accounts (id, name, created_at) VALUES ('111122223333', 'a', :t)"),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO users (account_id, name, name_key, path, user_id, created_at) "
                "VALUES ('111122223333', 'Bob', 'bob', '/eng/', 'AIDABOB', :t)"
            ),
            {"t": now},
        )
        trust = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Principal": {
                            "AWS": [
                                "arn:aws:iam::111122223333:user/eng/Bob",
                                "arn:aws:iam::111122223333:user/ghost",
                                "arn:aws:iam::111122223333:user/eng/bob",  # matched nobody
                                "arn:aws-cn:iam::111122223333:user/eng/Bob",  # nor this
                                "arn:aws:iam::111122223333:root",
                            ]
                        },
                    },
                    {
                        "Effect": "Deny",
                        "Action": "sts:AssumeRole",
                        "Principal": {"AWS": "arn:aws:iam::111122223333:user/contractor"},
                    },
                ],
            }
        )
        conn.execute(
            text(
                "INSERT INTO roles (account_id, name, name_key, path, role_id, trust_policy, "
                "max_session_duration, created_at) "
                "VALUES ('111122223333', 'R', 'r', '/', 'AROAR', :trust, 3600, :t)"
            ),
            {"trust": trust, "t": now},
        )
    migrate(engine)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT trust_bindings FROM roles")).scalar()
    assert json.loads(stored) == {
        "arn:aws:iam::111122223333:user/eng/Bob": "AIDABOB",
        # Allowing a name nobody has: AWS would not have saved it; it allows nobody now.
        "arn:aws:iam::111122223333:user/ghost": "(deleted)",
        "arn:aws:iam::111122223333:user/eng/bob": "(deleted)",
        # The other partition's ARN, and the Deny of a name nobody has yet, stay matched
        # by their text as before: the Deny still refuses a contractor made later.
    }
    engine.dispose()
