"""A second host with two gunicorn workers beside the test server, on the same database
(and Redis, when CI gives one): what one worker learns, every worker knows.

`fedbridge serve --workers 2` runs as a user would run it, with the same public URL and
master key as the in-process server, as hosts behind one load balancer have.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError
from sqlalchemy import select

from app.db.models import AuditEvent
from tests.conftest import MASTER_KEY
from tests.conftest import Server
from tests.conftest import error_code
from tests.conftest import free_port
from tests.wire.test_saml_api import SamlWorld


class Host:
    def __init__(
        self, url: str, process: subprocess.Popen[bytes], server: Server, log: Path
    ) -> None:
        self.url, self.process, self.server, self.log = url, process, server, log

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def workers(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True)
        return [int(pid) for pid in out.stdout.split()]


def _at(url: str, server: Server, service: str, key: str, secret: str, token: str | None):  # type: ignore[no-untyped-def]
    """A boto3 client for `service` at the host `url`."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(
            retries={"total_max_attempts": 1, "mode": "standard"}, parameter_validation=False
        ),
    )


@contextmanager
def _second_host(
    server: Server, tmp_path_factory: pytest.TempPathFactory, **settings: str
) -> Iterator[Host]:
    """`fedbridge serve --workers 2` on the test server's database; `settings` are more
    FEDBRIDGE_* variables (the rate limits are off unless given)."""
    port = free_port()
    env = {
        **os.environ,
        "FEDBRIDGE_DATA_DIR": str(tmp_path_factory.mktemp("second-host")),
        "FEDBRIDGE_DATABASE_URL": server.database_url,
        "FEDBRIDGE_BASE_URL": server.runtime.settings.base_url,  # one public URL for all hosts
        "FEDBRIDGE_MASTER_KEY": MASTER_KEY,
        "FEDBRIDGE_RATE_LIMIT_PER_IP": "0",
        "FEDBRIDGE_RATE_LIMIT_PER_PROVIDER": "0",
        **settings,
    }
    if os.environ.get("FEDBRIDGE_TEST_REDIS_URL"):
        env["FEDBRIDGE_REDIS_URL"] = os.environ["FEDBRIDGE_TEST_REDIS_URL"]
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path_factory.mktemp("second-host-log") / "stderr.log"
    with log.open("wb") as stderr:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if (
                requests.get(url + "/readyz", timeout=1).status_code == 200
                and len(Host(url, process, server, log).workers()) == 2
            ):
                break
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("the second host did not start")
    try:
        yield Host(url, process, server, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def host(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    with _second_host(server, tmp_path_factory) as second:
        yield second


def test_a_browser_assertion_signs_in_once_across_hosts_and_workers(
    server: Server, account, host: Host
) -> None:  # type: ignore[no-untyped-def]
    world = SamlWorld(server, account)
    assertion = world.response()
    first = requests.post(
        server.url + "/saml/acs",
        data={"SAMLResponse": assertion},
        allow_redirects=False,
        timeout=10,
    )
    assert first.status_code == 303
    for _ in range(4):  # fresh connections: both workers of the other host get a turn
        again = requests.post(
            host.url + "/saml/acs",
            data={"SAMLResponse": assertion},
            allow_redirects=False,
            timeout=10,
        )
        assert again.status_code == 400 and "already been used" in again.text


def test_a_console_totp_code_signs_in_one_browser_only(server: Server, account, host: Host) -> None:  # type: ignore[no-untyped-def]
    import pyotp

    from tests.wire.test_saml_browser import _csrf
    from tests.wire.test_saml_browser import _secret

    world = SamlWorld(server, account)
    world.admin.tag_role(
        RoleName="Admins", Tags=[{"Key": "fedbridge:require-mfa", "Value": "true"}]
    )

    def signed_in(browser: requests.Session) -> str:
        """A sign-in waiting for its TOTP step; the step's page."""
        acs = browser.post(
            host.url + "/saml/acs",
            data={"SAMLResponse": world.response()},
            allow_redirects=False,
            timeout=10,
        )
        assert acs.headers["Location"] == "/console/mfa"
        return browser.get(host.url + "/console/mfa", timeout=10).text

    def post_code(browser: requests.Session, page: str, code: str) -> int:
        return browser.post(
            host.url + "/console/mfa",
            data={"code": code, "csrf": _csrf(page)},
            allow_redirects=False,
            timeout=10,
        ).status_code

    enrolling = requests.Session()
    page = signed_in(enrolling)
    totp = pyotp.TOTP(_secret(page))
    step = int(time.time()) // 30
    assert post_code(enrolling, page, totp.generate_otp(step)) == 303
    browsers = [requests.Session() for _ in range(4)]
    pages = [signed_in(b) for b in browsers]
    code = totp.generate_otp(step + 1)  # not used yet, and still within the drift
    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(
            pool.map(lambda bp: post_code(*bp, code), zip(browsers, pages, strict=True))
        )
    assert sorted(statuses) == [303, 403, 403, 403]


def test_a_revocation_is_seen_by_every_worker(server: Server, account, host: Host) -> None:  # type: ignore[no-untyped-def]
    admin = server.client("iam", account.access_key_id, account.secret_access_key)
    admin.create_user(UserName="ops")
    admin.put_user_policy(
        UserName="ops",
        PolicyName="p",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    key = admin.create_access_key(UserName="ops")["AccessKey"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account.account_id}:user/ops"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    arn = admin.create_role(RoleName="Contract", AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"
    ]["Arn"]
    admin.put_role_policy(
        RoleName="Contract",
        PolicyName="p",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    creds = server.client("sts", key["AccessKeyId"], key["SecretAccessKey"]).assume_role(
        RoleArn=arn, RoleSessionName="agent"
    )["Credentials"]
    session = (creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    for _ in range(4):
        _at(host.url, server, "iam", *session).list_roles()
    time.sleep(0.01)  # the revocation must be strictly after the session's issue time
    admin.put_role_policy(
        RoleName="Contract",
        PolicyName="AWSRevokeOlderSessions",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Action": "*",
                        "Resource": "*",
                        "Condition": {
                            "DateLessThan": {
                                "aws:TokenIssueTime": server.clock.now().strftime(
                                    "%Y-%m-%dT%H:%M:%S.%f"
                                )[:-3]
                                + "Z"
                            }
                        },
                    }
                ],
            }
        ),
    )
    for _ in range(4):
        with pytest.raises(ClientError) as err:
            _at(host.url, server, "iam", *session).list_roles()
        assert err.value.response["Error"]["Code"] == "AccessDenied"


def test_concurrent_creates_never_pass_the_role_limit(server: Server, account, host: Host) -> None:  # type: ignore[no-untyped-def]
    admin = server.client("iam", account.access_key_id, account.secret_access_key)
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": account.account_id},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )
    for i in range(90):
        admin.create_role(RoleName=f"r{i}", AssumeRolePolicyDocument=trust)

    def create(i: int) -> str:
        url = host.url if i % 2 else server.url
        iam = _at(url, server, "iam", account.access_key_id, account.secret_access_key, None)
        try:
            iam.create_role(RoleName=f"c{i}", AssumeRolePolicyDocument=trust)
            return "created"
        except ClientError as err:
            return err.response["Error"]["Code"]

    with ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = list(pool.map(create, range(24)))
    assert outcomes.count("created") == 10 and outcomes.count("LimitExceeded") == 14
    roles = admin.get_paginator("list_roles").paginate().build_full_result()["Roles"]
    assert len(roles) == 100


def test_concurrent_writes_keep_every_count_rule_and_never_fail(
    server: Server, account, host: Host
) -> None:  # type: ignore[no-untyped-def]
    admin = server.client("iam", account.access_key_id, account.secret_access_key)
    admin.create_user(UserName="kim")
    admin.create_group(GroupName="ops")
    policy = admin.create_policy(
        PolicyName="p",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "iam:Get*", "Resource": "*"}],
            }
        ),
    )["Policy"]["Arn"]
    version = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "iam:List*", "Resource": "*"}],
        }
    )
    calls = {
        "key": lambda iam: iam.create_access_key(UserName="kim"),  # 2 per user
        "version": lambda iam: iam.create_policy_version(PolicyArn=policy, PolicyDocument=version),
        "member": lambda iam: iam.add_user_to_group(GroupName="ops", UserName="kim"),
    }

    def run(job: tuple[int, str]) -> str:
        i, name = job
        url = host.url if i % 2 else server.url
        iam = _at(url, server, "iam", account.access_key_id, account.secret_access_key, None)
        try:
            calls[name](iam)
            return "ok"
        except ClientError as err:
            return err.response["Error"]["Code"]

    with ThreadPoolExecutor(max_workers=12) as pool:
        jobs = [(i, name) for name in calls for i in range(4)]
        outcomes = dict(zip(jobs, pool.map(run, jobs), strict=True))
    by_call = {name: sorted(v for (_, n), v in outcomes.items() if n == name) for name in calls}
    assert by_call == {
        "key": ["LimitExceeded", "LimitExceeded", "ok", "ok"],
        "version": ["ok"] * 4,  # the fifth and last a policy may have
        "member": ["ok"] * 4,  # adding a member twice is not an error, as in AWS
    }
    assert len(admin.list_access_keys(UserName="kim")["AccessKeyMetadata"]) == 2
    assert len(admin.list_policy_versions(PolicyArn=policy)["Versions"]) == 5


def test_kill_9_of_a_worker_loses_no_committed_write(server: Server, account, host: Host) -> None:  # type: ignore[no-untyped-def]
    created: list[str] = []
    answered: list[str] = []  # request ids of read-only calls, each audited on its own
    lock = threading.Lock()
    stop = threading.Event()

    def load(n: int) -> None:
        iam = _at(host.url, server, "iam", account.access_key_id, account.secret_access_key, None)
        i = 0
        while not stop.is_set():
            name = f"u{n}-{i}"
            i += 1
            try:
                iam.create_user(UserName=name)
            except Exception:  # the killed worker's requests fail; they were never committed
                continue
            with lock:
                created.append(name)

    def read() -> None:
        sts = _at(host.url, server, "sts", account.access_key_id, account.secret_access_key, None)
        while not stop.is_set():
            try:
                reply = sts.get_caller_identity()
            except Exception:
                continue
            with lock:
                answered.append(reply["ResponseMetadata"]["RequestId"])

    threads = [threading.Thread(target=load, args=(n,)) for n in range(4)]
    threads += [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    victim = host.workers()[0]
    os.kill(victim, signal.SIGKILL)
    time.sleep(2.0)  # gunicorn starts a new worker; the other one keeps answering
    stop.set()
    for t in threads:
        t.join()
    admin = server.client("iam", account.access_key_id, account.secret_access_key)
    stored = {
        u["UserName"]
        for u in admin.get_paginator("list_users").paginate().build_full_result()["Users"]
    }
    assert created and set(created) <= stored
    with server.runtime.sessions() as session:
        audited = set(session.scalars(select(AuditEvent.request_id)))
    assert answered and set(answered) <= audited
    assert victim not in host.workers() and len(host.workers()) == 2
    _at(
        host.url, server, "sts", account.access_key_id, account.secret_access_key, None
    ).get_caller_identity()


def test_metrics_add_up_across_workers(host: Host, server: Server, account) -> None:  # type: ignore[no-untyped-def]
    sts = _at(host.url, server, "sts", account.access_key_id, account.secret_access_key, None)
    for _ in range(6):
        sts.get_caller_identity()
    text = requests.get(host.url + "/metrics", timeout=5).text
    line = next(
        row
        for row in text.splitlines()
        if row.startswith(
            'fedbridge_requests_total{action="sts:GetCallerIdentity",outcome="allowed"}'
        )
    )
    assert float(line.split()[-1]) >= 6


def test_every_log_line_is_json_with_request_ids_and_no_secrets(host: Host, account) -> None:  # type: ignore[no-untyped-def]
    refused = requests.post(host.url + "/", data={"Action": "Nope", "Version": "2011-06-15"})
    request_id = refused.headers["x-amzn-RequestId"]
    _at(
        host.url, host.server, "sts", account.access_key_id, account.secret_access_key, None
    ).get_caller_identity()
    time.sleep(0.5)  # let the workers' lines reach the file
    text = host.log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert {"gunicorn.error", "fedbridge.api", "fedbridge.audit"} <= {x["logger"] for x in lines}
    assert any(x.get("request_id") == request_id for x in lines)
    (audited,) = [x["audit"] for x in lines if x.get("request_id") == request_id and "audit" in x]
    assert (audited["outcome"], audited["error_code"]) == ("refused", "InvalidAction")
    assert account.secret_access_key not in text and MASTER_KEY not in text


def test_silent_and_idle_connections_hold_up_no_worker(host: Host) -> None:
    """Each worker has one thread: connections that send nothing, or nothing more,
    wait in its poller, not in that thread."""
    kept = requests.Session()
    assert kept.get(host.url + "/healthz", timeout=5).ok  # now idle, kept alive
    silent = [socket.create_connection(("127.0.0.1", host.port)) for _ in range(6)]
    try:
        time.sleep(0.2)  # every worker has accepted some of them
        for _ in range(6):  # fresh connections, spread over both workers
            started = time.monotonic()
            assert requests.get(host.url + "/healthz", timeout=5).ok
            assert time.monotonic() - started < 1
        assert kept.get(host.url + "/healthz", timeout=5).ok
    finally:
        for conn in silent:
            conn.close()
        kept.close()


def test_a_pipelining_client_gets_every_answer(host: Host) -> None:
    """Requests sent back to back on one connection are answered in order, however many
    (the worker reads ahead, then answers what it read)."""
    with socket.create_connection(("127.0.0.1", host.port), timeout=10) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: fedbridge\r\n\r\n" * 1000)
        received = b""
        while received.count(b"HTTP/1.1 200 OK") < 1000:
            chunk = conn.recv(65536)
            assert chunk, f"closed after {received.count(b'HTTP/1.1 200 OK')} answers"
            received += chunk


#: An unsigned call, refused after the rate limit's check.
_UNSIGNED = {
    "Action": "AssumeRoleWithWebIdentity",
    "Version": "2011-06-15",
    "RoleArn": "arn:aws:iam::111122223333:role/Nobody",
    "RoleSessionName": "s",
    "WebIdentityToken": "not-a-token",
}


def test_the_rate_limit_is_one_for_all_workers(
    server: Server, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Counted in Redis when there is one, in the database otherwise: never per worker."""
    with _second_host(server, tmp_path_factory, FEDBRIDGE_RATE_LIMIT_PER_IP="4") as limited:
        # A new connection per call: the kernel hands each to either worker.
        time.sleep(1.05 - time.time() % 1)  # a fresh second, to send all in one
        codes = [
            error_code(requests.post(limited.url + "/", data=_UNSIGNED, timeout=5))
            for _ in range(12)
        ]
    assert codes.count("Throttling") == 8, codes
