"""The `fedbridge` command as a user runs it: init, account create, audit, sts."""

from __future__ import annotations

import json
from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from app.audit import AuditRecord
from app.cli import main
from app.config import Settings
from app.db.models import AuditEvent
from app.runtime import Runtime


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {"FEDBRIDGE_DATA_DIR": str(tmp_path / "var"), "FEDBRIDGE_DATABASE_URL": ""}

    def invoke(*args: str, ok: bool = True, **extra_env: str):  # type: ignore[no-untyped-def]
        result = CliRunner().invoke(
            main, list(args), env={**env, **extra_env}, catch_exceptions=False
        )
        assert (result.exit_code == 0) is ok, result.output
        return result

    return invoke


def test_init_prints_root_keys_once(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = json.loads(run("init", "--json", FEDBRIDGE_ACCOUNT_ID="123456789012").stdout)
    assert first["account_id"] == "123456789012"
    assert first["access_key_id"].startswith("AKIA") and len(first["secret_access_key"]) == 40
    second = json.loads(run("init", "--json").stdout)
    assert second == {"account_id": "123456789012", "created": False}
    assert first["secret_access_key"] not in (
        tmp_path / "var" / "fedbridge.db"
    ).read_bytes().decode("latin-1")


def test_root_key_from_environment(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = json.loads(
        run(
            "init",
            "--json",
            FEDBRIDGE_ROOT_ACCESS_KEY_ID="AKIAABCDEFGHIJKLMNOP",
            FEDBRIDGE_ROOT_SECRET_ACCESS_KEY="s" * 40,
        ).stdout
    )
    assert out["access_key_id"] == "AKIAABCDEFGHIJKLMNOP"
    # A secret the operator gave is not repeated, in JSON (provisioning logs) or in text
    # (what serve writes to its log).
    assert out["secret_access_key"] is None
    text = run(
        "init",
        FEDBRIDGE_DATA_DIR=str(tmp_path / "other"),
        FEDBRIDGE_ROOT_ACCESS_KEY_ID="AKIAABCDEFGHIJKLMNOP",
        FEDBRIDGE_ROOT_SECRET_ACCESS_KEY="s" * 40,
    ).stdout
    assert "AKIAABCDEFGHIJKLMNOP" in text and "s" * 40 not in text


def test_the_store_is_the_services_alone(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("init")
    store = tmp_path / "var"
    assert store.stat().st_mode & 0o777 == 0o700
    assert (store / "fedbridge.db").stat().st_mode & 0o777 == 0o600
    assert (store / "master.key").stat().st_mode & 0o777 == 0o600


def test_only_init_and_serve_make_the_root_account(run) -> None:  # type: ignore[no-untyped-def]
    """Its key is shown once, so only a command that shows it may make it: any other
    first command on a new store points to init, and init then shows the key."""
    for first in (("audit",), ("saml", "export"), ("sts", "rotate-key"), ("account", "create")):
        refused = run(*first, ok=False)
        assert "run `fedbridge init` first" in refused.output, first
    created = json.loads(run("init", "--json").stdout)
    assert created["created"] is True and created["secret_access_key"]


def test_changes_made_at_the_command_line_are_on_record(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.saml_idp import TestIdp

    run("init")
    other = json.loads(run("account", "create", "--id", "111122223333", "--json").stdout)
    metadata = tmp_path / "corp.xml"
    metadata.write_text(TestIdp().metadata())
    run("saml", "import", str(metadata), "--account", "111122223333")
    run("saml", "rotate-sp-key")
    run("sts", "rotate-key")
    events = [json.loads(line) for line in run("audit").stdout.splitlines()]
    assert [e["action"] for e in events] == [
        "fedbridge:CreateAccount",
        "fedbridge:CreateAccount",
        "cli:ImportSAMLProvider",
        "cli:RotateSPKey",
        "cli:RotateTokenKey",
    ]
    assert events[1]["detail"]["access_key_id"] == other["access_key_id"]
    assert events[2]["resource"] == "arn:aws:iam::111122223333:saml-provider/corp"
    assert all(e["user_agent"].startswith("fedbridge-cli") for e in events[2:])


def test_a_missing_package_is_named_with_its_install_command() -> None:
    from app.cli import _why_not_started

    assert "pip install -e '.[redis]'" in (
        _why_not_started(ModuleNotFoundError(name="redis")) or ""
    )
    psycopg = _why_not_started(ModuleNotFoundError(name="psycopg"))
    assert psycopg is not None and "FEDBRIDGE_DATABASE_URL" in psycopg and "[postgres]" in psycopg


def test_bad_environment_fails_clearly(run) -> None:  # type: ignore[no-untyped-def]
    result = run("init", ok=False, FEDBRIDGE_ACCOUNT_ID="12ab")
    assert "12 digits" in result.output


@pytest.mark.parametrize(
    ("setting", "value", "said"),
    [
        ("FEDBRIDGE_MASTER_KEY", "notakey", "Fernet keys"),
        ("FEDBRIDGE_REDIS_URL", "http://cache:6379", "redis://"),
        ("FEDBRIDGE_DATABASE_URL", "no url at all", "not a database URL"),
        ("FEDBRIDGE_DATABASE_URL", "mysql://u:hunter22@db/x", "driver that is not installed"),
        (
            "FEDBRIDGE_DATABASE_URL",
            "postgresql+psycopg://u:hunter22@127.0.0.1:1/x",
            "database is not reachable",
        ),
    ],
)
def test_settings_that_cannot_work_are_named_not_traced(  # type: ignore[no-untyped-def]
    run, setting: str, value: str, said: str
) -> None:
    result = run("init", ok=False, **{setting: value})
    assert said in result.output and "Traceback" not in result.output
    assert "hunter22" not in result.output


def test_a_store_opened_with_another_master_key_or_no_data_dir(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from cryptography.fernet import Fernet

    run("init", FEDBRIDGE_MASTER_KEY=Fernet.generate_key().decode())
    other = run("init", ok=False, FEDBRIDGE_MASTER_KEY=Fernet.generate_key().decode())
    assert "does not open this store's secrets" in other.output
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert "cannot use" in run("init", ok=False, FEDBRIDGE_DATA_DIR=str(a_file)).output


def test_serve_refuses_an_address_it_cannot_have(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys

    def serve(*args: str) -> subprocess.CompletedProcess[str]:
        # A process of its own with a deadline: a server that did start would not return.
        env = {**os.environ, "FEDBRIDGE_DATA_DIR": str(tmp_path / "var")}
        env.pop("FEDBRIDGE_DATABASE_URL", None)
        command = [sys.executable, "-m", "app", "serve", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = serve("--port", str(taken.getsockname()[1]))
    assert busy.returncode != 0 and "cannot listen on" in busy.stderr
    nowhere = serve("--host", "256.1.1.1")
    assert nowhere.returncode != 0 and "cannot listen on" in nowhere.stderr
    assert "99999" in serve("--port", "99999").stderr


def test_serve_says_where_it_stands_and_leaves_nothing_behind(tmp_path: Path) -> None:
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    import requests

    from tests.conftest import free_port

    port, scratch = free_port(), tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "FEDBRIDGE_DATA_DIR": str(tmp_path / "var"), "TMPDIR": str(scratch)}
    for name in ("FEDBRIDGE_DATABASE_URL", "FEDBRIDGE_BASE_URL", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    command = [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", "2"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/metrics", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        assert list(scratch.glob("fedbridge-metrics-*")), "the workers share their counters"
        # A request line gunicorn refuses (a mangled presigned URL) is logged without its
        # query, which holds a session token and a signature.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            raw.sendall(
                b"GET /?X-Amz-Security-Token=FB1.SEKRET\x7f&X-Amz-Signature=f HTTP/1.1\r\n"
                b"Host: x\r\n\r\n"
            )
            assert raw.recv(100).startswith(b"HTTP/1.1 400")
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0
    assert f"store: {(tmp_path / 'var').resolve()}" in out.decode()
    # The default public URL names port 8000, where IdPs would not find this server.
    warning = next(json.loads(line) for line in err.decode().splitlines() if "BASE_URL" in line)
    assert "FEDBRIDGE_BASE_URL (http://127.0.0.1:8000) is not on port" in warning["message"]
    # gunicorn's own start line names the address (each worker binds it, SO_REUSEPORT).
    lines = [json.loads(line)["message"] for line in err.decode().splitlines()]
    assert f"Listening at: http://127.0.0.1:{port} " in next(
        m for m in lines if m.startswith("Listening at:")
    )
    assert list(scratch.iterdir()) == []  # the run's metrics files went with it
    assert "Invalid request" in err.decode() and "SEKRET" not in err.decode()


def test_account_create(run) -> None:  # type: ignore[no-untyped-def]
    run("init")
    created = json.loads(
        run("account", "create", "--id", "222233334444", "--name", "partner", "--json").stdout
    )
    assert created["account_id"] == "222233334444" and created["name"] == "partner"
    assert "already exists" in run("account", "create", "--id", "222233334444", ok=False).output


def test_sts_revoke_sessions_and_rotate(run) -> None:  # type: ignore[no-untyped-def]
    run("init")
    assert "cannot be found" in run("sts", "revoke-sessions", "--role", "Nope", ok=False).output
    wrong = run("sts", "revoke-sessions", "--role", "Nope", "--account", "12", ok=False)
    assert "12 digits" in wrong.output
    assert run("sts", "rotate-key").stdout.startswith("new token key ")


def test_audit_filters(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    created = json.loads(run("init", "--json").stdout)
    (event,) = (json.loads(line) for line in run("audit").stdout.splitlines())
    # The root key's issue is on record (its id, never its secret).
    assert event["action"] == "fedbridge:CreateAccount"
    assert event["account_id"] == created["account_id"]
    assert event["detail"] == {"name": "root", "access_key_id": created["access_key_id"]}
    assert created["secret_access_key"] not in json.dumps(event)
    assert "ISO 8601" in run("audit", "--since", "yesterday", ok=False).output
    runtime = Runtime.start(Settings(data_dir=tmp_path / "var"))
    for action in ("iam:First", "iam:Second", "iam:Third"):
        runtime.audit.write(AuditRecord(datetime.now(UTC), "r", action, "allowed"))
    runtime.engine.dispose()
    newest = [
        json.loads(line)["action"] for line in run("audit", "--limit", "2").stdout.splitlines()
    ]
    assert newest == ["iam:Second", "iam:Third"]  # the newest two, oldest first
    assert "more events match" in run("audit", "--limit", "2").stderr
    assert "more events match" not in run("audit", "--limit", "4").stderr
    assert len(run("audit", "--since", "2020-01-01").stdout.splitlines()) == 4  # UTC when unsaid
    assert run("audit", "--since", "2999-01-01").stdout == ""
    run("audit", "--limit", "0", ok=False)


def test_audit_prune_keeps_the_newer_events_and_says_it_ran(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("init")
    runtime = Runtime.start(Settings(data_dir=tmp_path / "var"))
    for day in (1, 2, 3, 4):
        at = datetime(2026, 1, day, 12, tzinfo=UTC)
        runtime.audit.write(AuditRecord(at, "r", f"iam:Day{day}", "allowed"))
    runtime.engine.dispose()

    def actions(*args: str) -> list[str]:
        """The test's events (not the root account's creation, nor the prune's record)."""
        events = (json.loads(line) for line in run("audit", *args).stdout.splitlines())
        return [e["action"] for e in events if e["action"].startswith("iam:")]

    # What a prune would take, read first (--until is exclusive, as --before is).
    assert actions("--until", "2026-01-03T12:00:00") == ["iam:Day1", "iam:Day2"]
    assert "ISO 8601" in run("audit-prune", "--before", "last week", ok=False).output
    edge = run("audit-prune", "--before", "9999-12-31T23:59:59-01:00", ok=False).output
    assert "ISO 8601" in edge and "Traceback" not in edge
    assert "--before" in run("audit-prune", ok=False).output
    assert actions() == ["iam:Day1", "iam:Day2", "iam:Day3", "iam:Day4"]  # refusals delete nothing

    out = run("audit-prune", "--before", "2026-01-03T12:00:00").stdout
    assert out == "deleted 2 audit events before 2026-01-03T12:00:00+00:00\n"
    assert actions()[:2] == ["iam:Day3", "iam:Day4"]
    (prune,) = (
        json.loads(line) for line in run("audit", "--action", "cli:AuditPrune").stdout.splitlines()
    )
    assert prune["detail"] == {"before": "2026-01-03T12:00:00+00:00", "deleted": 2}


def test_audit_prune_deletes_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app import audit

    runtime = Runtime.start(Settings(data_dir=tmp_path / "var"))
    monkeypatch.setattr(audit, "PRUNE_BATCH", 3)
    old = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(7):
        runtime.audit.write(AuditRecord(old, "r", f"iam:Old{n}", "allowed"))
    runtime.audit.write(AuditRecord(datetime(2026, 2, 1, tzinfo=UTC), "r", "iam:New", "allowed"))
    assert audit.prune(runtime.sessions, datetime(2026, 1, 2, tzinfo=UTC)) == 7
    with runtime.sessions() as session:
        kept = list(session.scalars(select(AuditEvent.action)))
    assert kept == ["fedbridge:CreateAccount", "iam:New"]  # the account was made today


def test_saml_import_export_and_sp_key_rotation(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from lxml import etree

    from tests.saml_idp import TestIdp

    run("init", FEDBRIDGE_ACCOUNT_ID="123456789012")
    metadata = tmp_path / "okta.xml"
    metadata.write_text(TestIdp().metadata())
    out = run("saml", "import", str(metadata), "--account", "123456789012").stdout
    assert out.strip() == "arn:aws:iam::123456789012:saml-provider/okta"
    again = run("saml", "import", str(metadata), ok=False)
    assert "EntityAlreadyExists" in again.output and "--update" in again.output
    missing = run("saml", "import", str(metadata), "--account", "111122223333", ok=False)
    assert "Traceback" not in missing.output
    assert "fedbridge account create --id 111122223333" in missing.output
    run("saml", "import", str(metadata), "--update")
    hostile = tmp_path / "evil.xml"
    hostile.write_text(
        '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>' + " " * 1000
    )
    assert "InvalidInput" in run("saml", "import", str(hostile), ok=False).output
    latin1 = tmp_path / "latin1.xml"
    latin1.write_bytes("<x>caf\u00e9</x>".encode("latin-1"))
    assert "UTF-8" in run("saml", "import", str(latin1), ok=False).output
    unwritable = run("saml", "export", "--output", str(tmp_path / "no" / "dir.xml"), ok=False)
    assert "cannot write" in unwritable.output

    ns = {"ds": "http://www.w3.org/2000/09/xmldsig#"}
    before = etree.fromstring(run("saml", "export").stdout.encode())
    run("saml", "rotate-sp-key")
    sp = tmp_path / "sp.xml"
    run("saml", "export", "--output", str(sp))
    after = etree.fromstring(sp.read_bytes())
    # Both keys are published (for signing and encryption) after a rotation.
    assert len(after.findall(".//ds:X509Certificate", ns)) == 2 * len(
        before.findall(".//ds:X509Certificate", ns)
    )


def test_hosts_starting_together_make_one_of_everything(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from sqlalchemy import create_engine
    from sqlalchemy import func
    from sqlalchemy import select

    from app.db.models import Account
    from app.db.models import SpKey
    from app.db.models import TokenKey

    env = {**os.environ, "FEDBRIDGE_DATA_DIR": str(tmp_path / "var")}
    env.pop("FEDBRIDGE_DATABASE_URL", None)
    starts = [
        subprocess.Popen(
            [sys.executable, "-m", "app", "init", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    printed = [json.loads(p.communicate(timeout=120)[0]) for p in starts]
    assert sorted("secret_access_key" in out for out in printed) == [False, False, False, True]
    engine = create_engine(f"sqlite:///{tmp_path / 'var' / 'fedbridge.db'}")
    with engine.connect() as conn:
        for table in (Account, SpKey, TokenKey):
            assert conn.scalar(select(func.count()).select_from(table)) == 1, table
    engine.dispose()
