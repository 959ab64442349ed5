"""The `fedbridge` command as a user runs it: init, account create, audit, sts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main


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


def test_root_key_from_environment(run) -> None:  # type: ignore[no-untyped-def]
    out = json.loads(
        run(
            "init",
            "--json",
            FEDBRIDGE_ROOT_ACCESS_KEY_ID="AKIAABCDEFGHIJKLMNOP",
            FEDBRIDGE_ROOT_SECRET_ACCESS_KEY="s" * 40,
        ).stdout
    )
    assert out["access_key_id"] == "AKIAABCDEFGHIJKLMNOP"


def test_bad_environment_fails_clearly(run) -> None:  # type: ignore[no-untyped-def]
    result = run("init", ok=False, FEDBRIDGE_ACCOUNT_ID="12ab")
    assert "12 digits" in result.output


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
    assert run("sts", "rotate-key").stdout.startswith("new token key ")


def test_audit_filters(run) -> None:  # type: ignore[no-untyped-def]
    run("init")
    assert run("audit").stdout == ""
    assert "ISO 8601" in run("audit", "--since", "yesterday", ok=False).output


def test_saml_import_export_and_sp_key_rotation(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from lxml import etree

    from tests.saml_idp import TestIdp

    run("init", FEDBRIDGE_ACCOUNT_ID="123456789012")
    metadata = tmp_path / "okta.xml"
    metadata.write_text(TestIdp().metadata())
    out = run("saml", "import", str(metadata), "--account", "123456789012").stdout
    assert out.strip() == "arn:aws:iam::123456789012:saml-provider/okta"
    again = run("saml", "import", str(metadata), ok=False)
    assert "EntityAlreadyExists" in again.output
    run("saml", "import", str(metadata), "--update")
    hostile = tmp_path / "evil.xml"
    hostile.write_text(
        '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>' + " " * 1000
    )
    assert "InvalidInput" in run("saml", "import", str(hostile), ok=False).output

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
