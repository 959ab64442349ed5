"""The `fedbridge` command: serve, init, account create, audit, audit-prune."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import tempfile
from dataclasses import asdict
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import click
from sqlalchemy import select
from sqlalchemy.exc import ArgumentError
from sqlalchemy.exc import InterfaceError
from sqlalchemy.exc import NoSuchModuleError
from sqlalchemy.exc import OperationalError

from app import audit as audit_log
from app import ids
from app.arn import is_account_id
from app.audit import AuditRecord
from app.config import ConfigError
from app.config import Settings
from app.crypto import SecretUnreadableError
from app.db.models import AuditEvent
from app.errors import ServiceError
from app.logs import configure_logging
from app.runtime import NewAccount
from app.runtime import Runtime

# Warnings go through logging: on stderr, in the --log-format a log shipper reads.
log = logging.getLogger("fedbridge.cli")


def start_runtime(*, first_start: bool = False) -> Runtime:
    """The runtime for a command. Only `init` and `serve` (first_start) make the root
    account, because only they show its key, once: every other command on a store
    without one says to run `fedbridge init` first."""
    try:
        runtime = Runtime.start(Settings.from_env(), bootstrap=first_start)
    except ConfigError as e:
        raise click.ClickException(str(e)) from None
    except Exception as e:
        why = _why_not_started(e)
        if why is None:
            raise  # a fault of ours: its traceback is the report
        raise click.ClickException(f"cannot start: {why}") from None
    if not first_start and runtime.root_account_id() is None:
        runtime.engine.dispose()
        raise click.ClickException(
            "this store has no account yet: run `fedbridge init` first "
            "(it prints the root account's key, once)"
        )
    return runtime


def _why_not_started(e: Exception) -> str | None:
    """A person's account of a start-up failure caused by the settings or the machine
    (never quoting a database URL, which may hold a password)."""
    if isinstance(e, SecretUnreadableError):
        return (
            "the master key (FEDBRIDGE_MASTER_KEY, or master.key in the data directory) "
            "does not open this store's secrets: it is not the key the store was made with"
        )
    if isinstance(e, ArgumentError | NoSuchModuleError):
        return (
            "FEDBRIDGE_DATABASE_URL is not a database URL (postgresql+psycopg://… or sqlite:///…)"
        )
    if isinstance(e, ModuleNotFoundError):
        if e.name == "redis":
            return "FEDBRIDGE_REDIS_URL needs the redis package: pip install -e '.[redis]'"
        if e.name and e.name.startswith("psycopg"):
            return "FEDBRIDGE_DATABASE_URL needs psycopg: pip install -e '.[postgres]'"
        return f"FEDBRIDGE_DATABASE_URL needs a driver that is not installed ({e.name})"
    if isinstance(e, OperationalError | InterfaceError):
        first_line = str(e.orig).strip().splitlines()[0] if str(e.orig).strip() else ""
        return f"the database is not reachable: {type(e.orig).__name__}: {first_line}"
    if isinstance(e, OSError):
        where = f" {e.filename}" if e.filename else ""
        return f"cannot use{where}: {e.strerror or e}"
    return None


def record(
    runtime: Runtime,
    action: str,
    *,
    account_id: str | None = None,
    resource: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """A change made at the command line, on record like one made through the API."""
    runtime.audit.write(
        AuditRecord(
            runtime.clock.now(),
            ids.request_id(),
            action,
            "allowed",
            account_id=account_id,
            resource=resource,
            user_agent=f"fedbridge-cli (uid {os.getuid()})",
            detail=detail,
        )
    )


def account_or_root(runtime: Runtime, account_id: str | None) -> str:
    """--account's value, checked, or the root account's id."""
    if account_id is None:
        root = runtime.root_account_id()
        assert root is not None, "start_runtime() refuses a store without an account"
        return root
    if not is_account_id(account_id):
        raise click.BadParameter("an account id is 12 digits", param_hint="--account")
    if not runtime.account_exists(account_id):
        raise click.ClickException(
            f"there is no account {account_id}: create it with "
            f"`fedbridge account create --id {account_id}`"
        )
    return account_id


def _print_account(account: NewAccount, as_json: bool, *, secret_given: bool = False) -> None:
    """The new account and its key. A secret the operator gave (FEDBRIDGE_ROOT_*) is not
    printed, in text or JSON: the output often lands in a log (a container's, CI's)."""
    if as_json:
        shown = {**asdict(account), "created": True}
        if secret_given:
            shown["secret_access_key"] = None
        click.echo(json.dumps(shown))
        return
    click.echo(f"account id:            {account.account_id}")
    click.echo(f"root access key id:    {account.access_key_id}")
    if secret_given:
        click.echo("root secret access key: the one in FEDBRIDGE_ROOT_SECRET_ACCESS_KEY")
        return
    click.echo(f"root secret access key: {account.secret_access_key}")
    click.echo("The secret is shown once; store it now.")


@click.group()
@click.option(
    "--log-format",
    type=click.Choice(["json", "text"]),
    default="json",
    show_default=True,
    envvar="FEDBRIDGE_LOG_FORMAT",
    help="JSON lines (with request ids) for log collectors, or plain text.",
)
def main(log_format: str) -> None:
    """fedbridge: enterprise sign-ins to short-lived credentials, over the AWS IAM/STS API."""
    configure_logging(json_lines=log_format == "json")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the new account as JSON.")
def init(as_json: bool) -> None:
    """Create the store and the root account if missing."""
    runtime = start_runtime(first_start=True)
    if runtime.created is not None:
        given = runtime.settings.root_secret_access_key is not None
        _print_account(runtime.created, as_json, secret_given=given)
        return
    account_id = runtime.root_account_id()
    _warn_if_ignored(runtime)
    if as_json:
        click.echo(json.dumps({"account_id": account_id, "created": False}))
    else:
        click.echo(
            f"already initialised: account {account_id} (its root key was shown at creation)"
        )


@main.group()
def account() -> None:
    """Manage accounts."""


@account.command("create")
@click.option("--id", "account_id", help="12 digits; generated when omitted.")
@click.option("--name", help="A name for people to read.")
@click.option("--json", "as_json", is_flag=True)
def account_create(account_id: str | None, name: str | None, as_json: bool) -> None:
    """Create another account with its own root key, printed once."""
    runtime = start_runtime()
    try:
        _print_account(runtime.create_account(account_id, name), as_json)
    except ServiceError as e:
        raise click.ClickException(e.message) from None


@main.group()
def sts() -> None:
    """Temporary credentials: revoke sessions, rotate the token key."""


@sts.command("revoke-sessions")
@click.option("--account", "account_id", help="Account id (default: the root account).")
@click.option("--role", "role_name", required=True, help="Role whose live sessions end now.")
def sts_revoke_sessions(account_id: str | None, role_name: str) -> None:
    """End every session of a role issued before now, on every worker, at its next request.

    As in AWS, this writes the role's inline policy AWSRevokeOlderSessions (a Deny on
    aws:TokenIssueTime); PutRolePolicy with the same document does it through the API.
    """
    runtime = start_runtime()
    account_id = account_or_root(runtime, account_id)
    try:
        with runtime.sessions.begin() as session:
            runtime.iam(session, account_id).revoke_role_sessions(role_name)
    except ServiceError as e:
        raise click.ClickException(e.message) from None
    record(runtime, "cli:RevokeRoleSessions", account_id=account_id, resource=role_name)
    click.echo(
        f"sessions of role {role_name} in account {account_id} issued before now are revoked"
    )


@sts.command("rotate-key")
def sts_rotate_key() -> None:
    """Seal new session tokens with a new key; older tokens work until they expire."""
    runtime = start_runtime()
    kid = runtime.tokens.keys.rotate()
    record(runtime, "cli:RotateTokenKey", detail={"kid": kid})
    click.echo(f"new token key {kid}")


def _register_federation_commands() -> None:
    from app.oidc.cli import oidc
    from app.saml.cli import saml

    main.add_command(saml)
    main.add_command(oidc)


_register_federation_commands()


def _utc_time(value: str, option: str) -> datetime:
    """An ISO 8601 time from the command line; one without a zone is UTC."""
    try:
        at = datetime.fromisoformat(value)
        # In UTC now, where the store compares: a time at the calendar's edge may not be.
        return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise click.BadParameter(
            "use ISO 8601, e.g. 2026-01-31T12:00:00+00:00", param_hint=option
        ) from None


@main.command()
@click.option("--since", help="ISO 8601 time (UTC unless it says); only events at or after it.")
@click.option("--until", help="ISO 8601 time (UTC unless it says); only events before it.")
@click.option("--action", "action_name", help='e.g. "iam:CreateRole".')
@click.option("--principal", help="Caller ARN.")
@click.option("--account", "account_id", help="Account id.")
@click.option("--outcome", type=click.Choice(["allowed", "refused", "error"]))
@click.option("--reason", help='Stable reason, e.g. "sigv4.bad_signature".')
@click.option(
    "--limit",
    type=click.IntRange(1),
    default=1000,
    show_default=True,
    help="Print the newest this many of the events that match.",
)
def audit(**filters: Any) -> None:
    """Print the audit log as JSON lines, oldest first."""
    runtime = start_runtime()
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc())
    if filters["since"]:
        stmt = stmt.where(AuditEvent.at >= _utc_time(filters["since"], "--since"))
    if filters["until"]:
        stmt = stmt.where(AuditEvent.at < _utc_time(filters["until"], "--until"))
    for column, key in (
        (AuditEvent.action, "action_name"),
        (AuditEvent.principal, "principal"),
        (AuditEvent.account_id, "account_id"),
        (AuditEvent.outcome, "outcome"),
        (AuditEvent.reason, "reason"),
    ):
        if filters[key]:
            stmt = stmt.where(column == filters[key])
    with runtime.sessions() as session:
        newest = list(session.scalars(stmt.limit(filters["limit"] + 1)))
        if len(newest) > filters["limit"]:
            newest.pop()
            click.echo(
                f"note: more events match; these are the newest {filters['limit']} "
                "(--limit, --since and --until choose others)",
                err=True,
            )
        for event in reversed(newest):
            row = {c.name: getattr(event, c.name) for c in AuditEvent.__table__.columns}
            row["at"] = event.at.isoformat()
            click.echo(json.dumps(row, sort_keys=True))


@main.command("audit-prune")
@click.option(
    "--before",
    required=True,
    help="ISO 8601 time (UTC unless it says); events before it are deleted.",
)
def audit_prune(before: str) -> None:
    """Delete old audit events (keep what you need first: `fedbridge audit --until`).

    Nothing else deletes them: every call writes one."""
    cutoff = _utc_time(before, "--before")
    runtime = start_runtime()
    deleted = audit_log.prune(runtime.sessions, cutoff)
    # The prune is itself on record: who reads the trail later sees where it starts.
    record(runtime, "cli:AuditPrune", detail={"before": cutoff.isoformat(), "deleted": deleted})
    click.echo(f"deleted {deleted} audit events before {cutoff.isoformat()}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--threads",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Threads per worker. Validation is CPU work under one GIL, and a second thread "
    "costs each call about 1.5 ms of CPU in GIL handoffs: add workers, not threads. "
    "More threads keep a worker answering while one call waits on an identity provider.",
)
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the API and the sign-in pages."""
    _check_address(host, port)
    runtime = start_runtime(first_start=True)
    if runtime.created is not None:
        given = runtime.settings.root_secret_access_key is not None
        _print_account(runtime.created, as_json=False, secret_given=given)
    else:
        _warn_if_ignored(runtime)
    settings = runtime.settings
    click.echo(f"fedbridge: root account {runtime.root_account_id()}")
    if settings.database_url is None:  # a URL may hold a password: only the default is named
        click.echo(f"store: {settings.data_dir.resolve()}")
    click.echo(f"public URL (SAML and OIDC name it): {settings.public_base_url}")
    runtime.engine.dispose()  # the workers open their own connections after the fork
    click.echo(f"listening on http://{host}:{port} ({workers} worker(s) x {threads} thread(s))")
    public = urlsplit(settings.public_base_url)
    if public.hostname in ("127.0.0.1", "localhost", "::1") and public.port != port:
        log.warning(
            "FEDBRIDGE_BASE_URL (%s) is not on port %d: identity providers must reach this "
            "server at that URL (a proxy in front), or set FEDBRIDGE_BASE_URL to the "
            "address they use",
            settings.public_base_url,
            port,
        )
    metrics_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # gunicorn workers (even one, which gunicorn may replace) share their counters
        # through these files; /metrics adds them up. They are this run's: gone after.
        metrics_dir = tempfile.mkdtemp(prefix="fedbridge-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    master = os.getpid()
    try:
        _serve_gunicorn(settings, host, port, workers, threads)
    finally:
        # Workers are forked from here and leave through this too: only the master,
        # last to go, removes the files.
        if metrics_dir is not None and os.getpid() == master:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _warn_if_ignored(runtime: Runtime) -> None:
    """The first-start settings do nothing on a store that has its root account."""
    settings, root = runtime.settings, runtime.root_account_id()
    if settings.account_id and settings.account_id != root:
        log.warning(
            "FEDBRIDGE_ACCOUNT_ID is ignored: this store's root account is %s, made at its "
            "first start",
            root,
        )


def _check_address(host: str, port: int) -> None:
    """Bind once, without SO_REUSEPORT. Each gunicorn worker binds with it, which lets a
    second server of the same user share the port unnoticed (clients then reach two
    stores), and leaves a busy or impossible address to workers that fail and are
    restarted for ever."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as e:
        raise click.ClickException(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


def _metrics_post_fork(_server: Any, _worker: Any) -> None:
    # prometheus_client picks its value store when first imported, which happened in
    # the master before PROMETHEUS_MULTIPROC_DIR was set: switch each worker to the
    # shared files before it creates any metric (all ours are labelled, so lazy).
    from prometheus_client import values

    values.ValueClass = values.MultiProcessValue()


def _metrics_child_exit(_server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


_QUERY = re.compile(r"\?[^\s'\"]*")


def _without_queries(text: Any) -> Any:
    """`text` with every URL query replaced by `?…`; anything else as it is."""
    return _QUERY.sub("?…", text) if isinstance(text, str) else text


def _serve_gunicorn(settings: Settings, host: str, port: int, workers: int, threads: int) -> None:
    from gunicorn.app.base import BaseApplication
    from gunicorn.glogging import Logger

    from app import create_app

    class _Logs(Logger):
        """gunicorn's own lines (start, worker boot, timeouts, exits) through the root
        logger, so they come out in --log-format like every other line."""

        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            for log in (self.error_log, self.access_log):
                log.handlers.clear()
                log.propagate = True

        def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
            # "Invalid request from ip=…: Invalid HTTP request line: 'GET /?X-Amz-…'":
            # a presigned URL's or an OIDC callback's query holds secrets.
            super().warning(_without_queries(msg), *args, **kwargs)

        def exception(self, msg: str, *args: Any, **kwargs: Any) -> None:
            # "Error handling request GET /?…": the same query, as an argument.
            super().exception(msg, *map(_without_queries, args), **kwargs)

        def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
            # With reuse_port each worker binds its own socket and the master none, so
            # gunicorn's start line would name no address at all.
            if msg.startswith("Listening at:") and args and not args[0]:
                args = (f"http://{host}:{port} (a socket per worker)", *args[1:])
            super().info(msg, *args, **kwargs)

    class _Gunicorn(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            # gthread, or for one thread its variant without a thread pool: idle
            # keep-alive connections wait in a poller, not in a thread (gunicorn's
            # sync worker would close every connection after one reply).
            one_thread = "app.gunicorn_worker.OneThreadWorker"
            self.cfg.set("worker_class", one_thread if threads == 1 else "gthread")
            # The heartbeat file is touched on every request: in memory, not on a disk
            # filesystem where that may block (gunicorn's own advice; +4% measured). It
            # is made with mkstemp and unlinked at once, as it would be in /tmp.
            shm = "/dev/shm"  # noqa: S108
            if os.path.isdir(shm):
                self.cfg.set("worker_tmp_dir", shm)
            # Each worker gets its own listening socket and the kernel spreads new
            # connections over them; otherwise long-lived keep-alive connections pile
            # onto whichever worker accepted first.
            self.cfg.set("reuse_port", True)
            self.cfg.set("graceful_timeout", 10)
            # No control socket under $HOME (gunicorn 24+): nothing here uses it, and a
            # container's home may be read-only.
            if "control_socket_disable" in self.cfg.settings:
                self.cfg.set("control_socket_disable", True)
            self.cfg.set("logger_class", _Logs)
            self.cfg.set("post_fork", _metrics_post_fork)
            self.cfg.set("child_exit", _metrics_child_exit)

        def load(self) -> Any:
            # Each worker opens its own database connections after the fork.
            return create_app(replace(settings, workers=workers))

    # gunicorn stops cleanly on Ctrl-C and SIGTERM (workers finish their requests), and
    # exits the process itself.
    _Gunicorn().run()
