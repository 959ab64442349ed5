"""Shared fixtures: a real fedbridge server on 127.0.0.1:0, and boto3 clients against it.

Set FEDBRIDGE_TEST_DATABASE_URL (e.g. postgresql+psycopg://…) to run the whole
suite against that database instead of SQLite, and FEDBRIDGE_TEST_REDIS_URL to
share rate limits through Redis; .ci/run does both once.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
import requests
from botocore.config import Config
from sqlalchemy import create_engine
from sqlalchemy import text
from werkzeug.serving import make_server

from app import create_app
from app.clock import OffsetClock
from app.config import Settings
from app.runtime import NewAccount
from app.runtime import Runtime

ROOT_ACCOUNT = "111122223333"
ROOT_KEY = "AKIAFEDBRIDGETEST000"
ROOT_SECRET = "fedbridge/test/root/secret/0000000000000"  # 40 characters, test-only
#: Test-only: given to every server the tests start, so they can share one database.
MASTER_KEY = "GWoR0BbYJwGhdbqpMZQ6t5o3XwJRRChhfJs6-32gK7Q="


def _fresh_database_url() -> str | None:
    url = os.environ.get("FEDBRIDGE_TEST_DATABASE_URL")
    if url and url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    return url


@dataclass
class Server:
    url: str
    runtime: Runtime
    clock: OffsetClock
    database_url: str

    def client(self, service: str, key: str, secret: str, token: str | None = None) -> object:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            aws_session_token=token,
            # Bad values must reach the server: its refusals are what we test.
            config=Config(
                retries={"total_max_attempts": 1, "mode": "standard"},
                parameter_validation=False,
            ),
        )

    def new_account(self) -> NewAccount:
        return self.runtime.create_account(None, None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    clock = OffsetClock()
    # The public URL must be the real one: a browser follows the SAML and OIDC URLs.
    port = free_port()
    settings = Settings(
        base_url=f"http://127.0.0.1:{port}",
        data_dir=Path(tmp_path_factory.mktemp("fedbridge-data")),
        database_url=_fresh_database_url(),
        redis_url=os.environ.get("FEDBRIDGE_TEST_REDIS_URL") or None,
        account_id=ROOT_ACCOUNT,
        root_access_key_id=ROOT_KEY,
        root_secret_access_key=ROOT_SECRET,
        master_key=MASTER_KEY,
        # The suite knocks fast from one address; limits get their own server (test_limits).
        rate_limit_per_ip=0,
        rate_limit_per_provider=0,
        clock=clock,
    )
    with running(settings) as (url, runtime):
        yield Server(url, runtime, clock, settings.sqlalchemy_url)


@contextmanager
def running(settings: Settings) -> Iterator[tuple[str, Runtime]]:
    """A fedbridge for `settings`, served over HTTP on its base URL's port by a thread."""
    runtime = Runtime.start(settings)
    port = urlsplit(settings.base_url).port or 80
    http = make_server("127.0.0.1", port, create_app(settings, runtime), threaded=True)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        yield settings.base_url, runtime
    finally:
        http.shutdown()
        http.server_close()
        runtime.engine.dispose()


def error_code(resp: requests.Response) -> str:
    """The <Code> of an AWS-shaped XML error reply."""
    assert resp.headers["Content-Type"].startswith("text/xml")
    return resp.text.split("<Code>")[1].split("</Code>")[0]


@pytest.fixture(autouse=True)
def _clock_back_to_now(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "server" in request.fixturenames:
        request.getfixturevalue("server").clock.reset()


@pytest.fixture
def iam(server: Server) -> object:
    return server.client("iam", ROOT_KEY, ROOT_SECRET)


@pytest.fixture
def sts(server: Server) -> object:
    return server.client("sts", ROOT_KEY, ROOT_SECRET)


@pytest.fixture
def account(server: Server) -> NewAccount:
    """A fresh account of its own, for tests that count or list everything in one."""
    return server.new_account()
