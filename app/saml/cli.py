"""`fedbridge saml …`: register IdP metadata from files, export the SP's own, rotate its key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from app.errors import ServiceError
from app.iam.saml_providers import SamlProviders
from app.runtime import Runtime
from app.saml.metadata import sp_metadata


def _start() -> Runtime:
    from app.cli import start_runtime

    return start_runtime()


def _record(runtime: Runtime, action: str, **fields: Any) -> None:
    from app.cli import record

    record(runtime, action, **fields)


def _account(runtime: Runtime, account_id: str | None) -> str:
    from app.cli import account_or_root

    return account_or_root(runtime, account_id)


@click.group()
def saml() -> None:
    """SAML identity providers and this service provider's metadata."""


@saml.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--account", "account_id", help="Account id (default: the root account).")
@click.option("--name", help="Provider name (default: the file name without extension).")
@click.option("--update", is_flag=True, help="Replace the metadata of an existing provider.")
def saml_import(file: Path, account_id: str | None, name: str | None, update: bool) -> None:
    """Register an IdP's metadata document as a SAML provider."""
    runtime = _start()
    account_id = _account(runtime, account_id)
    named_after_file = name is None
    name = name or file.stem
    try:
        document = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise click.BadParameter("metadata must be UTF-8 XML", param_hint="FILE") from None
    try:
        with runtime.sessions.begin() as session:
            providers = SamlProviders(runtime.iam(session, account_id))
            if update:
                arn = f"arn:{runtime.settings.partition}:iam::{account_id}:saml-provider/{name}"
                provider = providers.update(arn, document)
            else:
                provider = providers.create(name, document)
            arn = providers.arn(provider)
    except ServiceError as e:
        hint = ""
        if e.code == "EntityAlreadyExists":
            hint = " (--update replaces its metadata)"
        elif named_after_file and "at 'name'" in e.message:
            hint = " (--name gives the provider a name other than the file's)"
        raise click.ClickException(f"{e.code}: {e.message}{hint}") from None
    action = "cli:UpdateSAMLProvider" if update else "cli:ImportSAMLProvider"
    _record(runtime, action, account_id=account_id, resource=arn)
    click.echo(arn)


@saml.command("export")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file (default: standard output).",
)
def saml_export(output: Path | None) -> None:
    """Write this service provider's metadata, for the IdP administrator."""
    runtime = _start()
    with runtime.sessions() as session:
        certs = [key.certificate_pem for key in runtime.sp_keys.all(session)]
    document = sp_metadata(runtime.settings.sp_entity_id, runtime.settings.saml_acs_url, certs)
    if output is None:
        click.echo(document)
    else:
        try:
            output.write_text(document, encoding="utf-8")
        except OSError as e:
            raise click.ClickException(f"cannot write {output}: {e.strerror}") from None
        click.echo(f"wrote {output}")


@saml.command("rotate-sp-key")
def saml_rotate_sp_key() -> None:
    """Sign with a new SP key; the old one stays in metadata and still decrypts."""
    runtime = _start()
    kid = runtime.sp_keys.rotate()
    _record(runtime, "cli:RotateSPKey", detail={"kid": kid})
    click.echo(f"new SP key {kid}")
