"""`fedbridge oidc …`: the browser sign-in's client registration, which no API returns."""

from __future__ import annotations

import sys

import click

from app.errors import ServiceError
from app.iam.oidc_providers import OidcProviders


@click.group()
def oidc() -> None:
    """OpenID Connect providers: the browser sign-in's client."""


@oidc.command("set-client")
@click.option("--account", "account_id", help="Account id (default: the root account).")
@click.option("--provider", "provider_arn", required=True, help="The OIDC provider's ARN.")
@click.option("--client-id", required=True, help="The client id registered at the IdP.")
def set_client(account_id: str | None, provider_arn: str, client_id: str) -> None:
    """Set the client the browser sign-in uses with this provider.

    The client secret is read from standard input (one line) or, on a terminal,
    prompted for; never from the command line, where other users and shell
    history would see it. It is stored encrypted.
    """
    if sys.stdin.isatty():
        secret = click.prompt("Client secret", hide_input=True, confirmation_prompt=True)
    else:
        secret = sys.stdin.readline().rstrip("\r\n")
    if not secret:
        raise click.ClickException("the client secret is empty")
    if not (secret.isascii() and secret.isprintable()):
        # It travels in HTTP Basic authentication, which IdPs read as ASCII.
        raise click.ClickException("the client secret must be printable ASCII")
    from app.cli import account_or_root
    from app.cli import record
    from app.cli import start_runtime

    runtime = start_runtime()
    account_id = account_or_root(runtime, account_id)
    try:
        with runtime.sessions.begin() as session:
            listed = OidcProviders(runtime.iam(session, account_id)).set_browser_client(
                provider_arn, client_id, runtime.secrets.seal(secret)
            )
        record(
            runtime,
            "cli:SetOIDCBrowserClient",
            account_id=account_id,
            resource=provider_arn,
            detail={"client_id": client_id},
        )
    except ServiceError as e:
        raise click.ClickException(e.message) from None
    finally:
        runtime.engine.dispose()
    click.echo(f"browser client {client_id} set for {provider_arn}")
    if not listed:
        click.echo(
            f"note: {client_id} is not in the provider's ClientIDList, so its ID tokens are "
            "refused until AddClientIDToOpenIDConnectProvider adds it.",
            err=True,
        )
