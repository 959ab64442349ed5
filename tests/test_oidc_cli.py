"""`fedbridge oidc set-client`: the browser client's secret comes from stdin, is stored sealed."""

from __future__ import annotations

from pathlib import Path

import click
from click.testing import CliRunner
from sqlalchemy import select

from app.config import Settings
from app.db.models import OidcProvider
from app.iam.oidc_providers import OidcProviders
from app.oidc.cli import oidc
from app.runtime import Runtime

SECRET = "s3cr3t-client-value"  # test-only


def test_set_client_reads_the_secret_from_stdin_and_seals_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    runtime = Runtime.start(Settings(data_dir=data_dir, account_id="123456789012"))
    with runtime.sessions.begin() as session:
        providers = OidcProviders(runtime.iam(session, "123456789012"))
        arn = providers.arn(providers.create("https://idp.example.com", ["web-app"]))
    # The group is registered in app/cli.py; here it runs on its own.
    cli = click.Group(commands={"oidc": oidc})
    env = {"FEDBRIDGE_DATA_DIR": str(data_dir), "FEDBRIDGE_DATABASE_URL": ""}

    def run(*args: str, stdin: str) -> object:
        return CliRunner().invoke(cli, ["oidc", "set-client", *args], input=stdin, env=env)

    result = run("--provider", arn, "--client-id", "web-app", stdin=SECRET + "\n")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert SECRET not in result.output  # type: ignore[attr-defined]
    with runtime.sessions() as session:
        provider = session.scalars(select(OidcProvider)).one()
        assert provider.browser_client_id == "web-app"
        assert provider.browser_client_secret_sealed
        assert SECRET not in provider.browser_client_secret_sealed
        assert runtime.secrets.open(provider.browser_client_secret_sealed) == SECRET
    assert SECRET.encode() not in (data_dir / "fedbridge.db").read_bytes()

    # A client the provider's ClientIDList does not name: set, with a warning.
    result = run("--provider", arn, "--client-id", "other", stdin=SECRET + "\n")
    assert result.exit_code == 0 and "not in the provider's ClientIDList" in result.output  # type: ignore[attr-defined]
    for args, stdin in (
        (("--provider", arn, "--client-id", "web-app"), "\n"),  # empty secret
        (("--provider", arn, "--client-id", "web-app"), "price-in-\u20ac\n"),  # not ASCII
        (("--provider", arn.replace("idp", "nope"), "--client-id", "x"), SECRET),
    ):
        assert run(*args, stdin=stdin).exit_code != 0  # type: ignore[attr-defined]
    runtime.engine.dispose()
