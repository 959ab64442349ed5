"""Benchmark fedbridge against moto's server over HTTP. Not a test.

    pip install -e '.[test,bench]'
    python bench/run.py [--seconds 10] [--concurrency 4] [--workers 1] [--threads 1]
                        [--no-moto] [--only SAML] [--rounds 5] [--log FILE]

Needs wrk (Debian: apt-get install wrk) as the load generator. Starts `fedbridge
serve` (throw-away data dir) and, in the same run, moto's server as the peer, sets
up the same providers, roles and user on both with boto3, then drives each
scenario with wrk over `--concurrency` connections for `--seconds`, split into
`--rounds` turns that alternate between the servers (medians reported), so a
shared machine's drift in speed falls on both alike:
AssumeRoleWithWebIdentity (an RS256 token from a loopback issuer), AssumeRoleWithSAML
(a Response signed with a key made now), AssumeRole, and a SigV4-signed
GetCallerIdentity with temporary credentials. Prints requests/s, p50/p99 latency,
errors, the servers' memory (peak RSS, and PSS) and fedbridge/moto ratios.

fedbridge validates everything (signatures, audience, expiry, trust policy); moto
validates neither the token nor the assertion. Client and servers share the
machine; wrk's one thread costs little, and both servers pay it alike.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import boto3
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test IdP and issuer

from tests.oidc_issuer import CLIENT_ID
from tests.oidc_issuer import Issuer
from tests.saml_idp import TestIdp

ACCOUNT = "111122223333"
ROOT_KEY, ROOT_SECRET = "AKIABENCHMARK0000000", "bench/root/secret/0000000000000000000000"
ALLOW_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
FORM = "application/x-www-form-urlencoded; charset=utf-8"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _memory_mb(pid: int, file: str, field: str) -> float:
    """A /proc memory figure (kB) summed over a server and its children (gunicorn workers)."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    total = 0
    for p in [pid, *map(int, children.stdout.split())]:
        try:
            for line in Path(f"/proc/{p}/{file}").read_text().splitlines():
                if line.startswith(field):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def _wait(url: str, proc: subprocess.Popen[bytes], name: str) -> None:
    for _ in range(300):
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{name} did not start")


def start_fedbridge(
    workers: int, threads: int, log: Path | None
) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "FEDBRIDGE_DATA_DIR": tempfile.mkdtemp(prefix="fedbridge-bench-"),
        "FEDBRIDGE_BASE_URL": url,
        "FEDBRIDGE_ACCOUNT_ID": ACCOUNT,
        "FEDBRIDGE_ROOT_ACCESS_KEY_ID": ROOT_KEY,
        "FEDBRIDGE_ROOT_SECRET_ACCESS_KEY": ROOT_SECRET,
        # The client is one address driving thousands of calls a second: measure the
        # validation, not the limiter's refusals (its check still runs).
        "FEDBRIDGE_RATE_LIMIT_PER_IP": "1000000",
        "FEDBRIDGE_RATE_LIMIT_PER_PROVIDER": "1000000",
    }
    serve = ["serve", "--port", str(port), "--workers", str(workers), "--threads", str(threads)]
    with open(log or os.devnull, "wb") as stderr:  # the server keeps its own descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", *serve], env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
    _wait(url + "/healthz", proc, "fedbridge")
    return proc, url


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    _wait(url + "/moto-api/", proc, "moto")
    return proc, url


@dataclass(frozen=True)
class Request:
    """One fixed POST, sent again and again by the load generator."""

    body: str
    headers: dict[str, str]


def signed(url: str, body: str, key: str, secret: str, token: str | None = None) -> Request:
    """SigV4-signed once: a signature stays valid for 15 minutes, longer than a run."""
    req = AWSRequest(method="POST", url=url + "/", data=body, headers={"Content-Type": FORM})
    SigV4Auth(Credentials(key, secret, token), "sts", "us-east-1").add_auth(req)
    return Request(body, dict(req.headers.items()))


def unsigned(params: dict[str, str]) -> Request:
    return Request(urlencode(params), {"Content-Type": FORM})


_WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [==[{body}]==]
{headers}
response = function(status, headers, body)
  if status ~= 200 and not reported then
    reported = true
    local flat = string.gsub(body, "\\n", " ")
    io.write("FIRST-ERROR " .. status .. " " .. string.sub(flat, 1, 400) .. "\\n")
  end
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def drive(url: str, request: Request, seconds: float, concurrency: int) -> dict[str, float]:
    """wrk (one thread, `concurrency` connections): the client costs next to nothing."""
    headers = "\n".join(
        f'wrk.headers["{k}"] = [==[{v}]==]'
        for k, v in request.headers.items()
        if k.lower() not in ("content-length", "host")
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_WRK_SCRIPT.format(body=request.body, headers=headers))
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "-s", script.name, url + "/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script.name)
    for row in out.splitlines():
        if row.startswith("FIRST-ERROR"):
            print(row, file=sys.stderr)
    line = next(row for row in out.splitlines() if row.startswith("RESULT"))
    requests_, micros, p50, p99, bad, broken = map(int, line.split()[1:])
    return {
        "rps": requests_ / (micros / 1e6),
        "p50": p50 / 1000,
        "p99": p99 / 1000,
        "errors": bad + broken,
    }


def scenarios(
    url: str, key: str, secret: str, issuer: Issuer, idp: TestIdp, acs: str, audience: str
) -> dict[str, Request]:
    """Set up one server (fedbridge or moto) the same way; return its scenarios."""
    client = {
        "endpoint_url": url,
        "region_name": "us-east-1",
        "aws_access_key_id": key,
        "aws_secret_access_key": secret,
    }
    iam = boto3.client("iam", **client)
    oidc_arn = iam.create_open_id_connect_provider(
        Url=issuer.url, ClientIDList=[CLIENT_ID], ThumbprintList=["0" * 40]
    )["OpenIDConnectProviderArn"]
    saml_arn = iam.create_saml_provider(Name="Corp", SAMLMetadataDocument=idp.metadata())[
        "SAMLProviderArn"
    ]
    account = saml_arn.split(":")[4]

    def role(name: str, principal: dict[str, str], action: str) -> str:
        trust = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": principal, "Action": action}],
        }
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
            "Arn"
        ]
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(ALLOW_ALL))
        return arn

    web = role("Web", {"Federated": oidc_arn}, "sts:AssumeRoleWithWebIdentity")
    sso = role("Sso", {"Federated": saml_arn}, "sts:AssumeRoleWithSAML")
    iam.create_user(UserName="alice")
    iam.put_user_policy(UserName="alice", PolicyName="p", PolicyDocument=json.dumps(ALLOW_ALL))
    user_key = iam.create_access_key(UserName="alice")["AccessKey"]
    plain = role("Plain", {"AWS": f"arn:aws:iam::{account}:user/alice"}, "sts:AssumeRole")
    sts = boto3.client(
        "sts",
        **{
            **client,
            "aws_access_key_id": user_key["AccessKeyId"],
            "aws_secret_access_key": user_key["SecretAccessKey"],
        },
    )
    temp = sts.assume_role(RoleArn=plain, RoleSessionName="bench")["Credentials"]
    token = issuer.token()
    assertion = idp.response(acs=acs, audience=audience, roles=[f"{sso},{saml_arn}"])
    return {
        "AssumeRoleWithWebIdentity": unsigned(
            {
                "Action": "AssumeRoleWithWebIdentity",
                "Version": "2011-06-15",
                "RoleArn": web,
                "RoleSessionName": "bench",
                "WebIdentityToken": token,
            },
        ),
        "AssumeRoleWithSAML": unsigned(
            {
                "Action": "AssumeRoleWithSAML",
                "Version": "2011-06-15",
                "RoleArn": sso,
                "PrincipalArn": saml_arn,
                "SAMLAssertion": assertion,
            },
        ),
        "AssumeRole": signed(
            url,
            f"Action=AssumeRole&Version=2011-06-15&RoleArn={plain}&RoleSessionName=bench",
            user_key["AccessKeyId"],
            user_key["SecretAccessKey"],
        ),
        "GetCallerIdentity (temporary creds)": signed(
            url,
            "Action=GetCallerIdentity&Version=2011-06-15",
            temp["AccessKeyId"],
            temp["SecretAccessKey"],
            temp["SessionToken"],
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="per gunicorn worker")
    parser.add_argument("--no-moto", action="store_true")
    parser.add_argument("--only", help="run the scenarios whose name contains this")
    parser.add_argument("--log", type=Path, help="write fedbridge's log lines to this file")
    parser.add_argument(
        "--rounds", type=int, default=5, help="turns per scenario, sharing --seconds"
    )
    args = parser.parse_args()

    issuer, idp = Issuer(), TestIdp()
    servers: dict[str, tuple[subprocess.Popen[bytes], str, dict[str, Request]]] = {}
    try:
        proc, url = start_fedbridge(args.workers, args.threads, args.log)
        acs, entity = url + "/saml/acs", url + "/saml/metadata"
        servers["fedbridge"] = (
            proc,
            url,
            scenarios(url, ROOT_KEY, ROOT_SECRET, issuer, idp, acs, entity),
        )
        if not args.no_moto:
            proc, url = start_moto()
            # moto checks no Destination, Recipient or Audience; give it AWS's own values.
            acs, entity = "https://signin.aws.amazon.com/saml", "urn:amazon:webservices"
            moto_key = ("AKIAMOTO000000000000", "x" * 40)
            servers["moto"] = (proc, url, scenarios(url, *moto_key, issuer, idp, acs, entity))
        print(
            f"workers={args.workers} threads={args.threads} "
            f"concurrency={args.concurrency} {args.seconds}s per scenario in {args.rounds} "
            "alternating rounds (medians), "
            f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, load generator wrk"
        )
        header = f"{'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}"
        print(f"{'scenario':36} {'server':10} {header}")
        results: dict[tuple[str, str], dict[str, float]] = {}
        for scenario in servers["fedbridge"][2]:
            if args.only and args.only.lower() not in scenario.lower():
                continue
            for _, url, requests_ in servers.values():
                drive(url, requests_[scenario], 1, args.concurrency)  # warm-up
            # The servers take turns, so a shared machine's drift hits both alike;
            # each figure is the median of the rounds (errors: their sum).
            rounds: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
            seconds = max(1, args.seconds // args.rounds)
            for _ in range(args.rounds):
                for name, (_, url, requests_) in servers.items():
                    rounds[name].append(drive(url, requests_[scenario], seconds, args.concurrency))
            for name, runs in rounds.items():
                r = {k: statistics.median(run[k] for run in runs) for k in ("rps", "p50", "p99")}
                r["errors"] = sum(run["errors"] for run in runs)
                results[(scenario, name)] = r
                figures = f"{r['rps']:7.0f} {r['p50']:7.2f} {r['p99']:7.2f} {r['errors']:6.0f}"
                print(f"{scenario:36} {name:10} {figures}")
            if "moto" in servers:
                ratio = results[(scenario, "fedbridge")]["rps"] / results[(scenario, "moto")]["rps"]
                print(f"{'':36} {'ratio':10} {ratio:6.2f}x")
        for name, (proc, _, _) in servers.items():
            # Summed peak RSS counts pages a gunicorn master shares with its workers in
            # each of them; PSS, now, counts them once.
            peak = _memory_mb(proc.pid, "status", "VmHWM:")
            pss = _memory_mb(proc.pid, "smaps_rollup", "Pss:")
            print(f"peak RSS {name}: {peak:.0f} MB (PSS at the end: {pss:.0f} MB)")
    finally:
        for proc, _, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=20)
        issuer.stop()


if __name__ == "__main__":
    main()
