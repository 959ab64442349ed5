"""Benchmark fedbridge over HTTP: throughput, latency and server memory. Not a test.

    python bench/run.py [--seconds 10] [--concurrency 4] [--workers 1]

Starts `fedbridge serve` on a free loopback port with a throw-away data dir,
sets up a user and a role with boto3, then drives each scenario from
`--concurrency` client threads for `--seconds`, every request really signed
(SigV4 with botocore). Prints requests/s, p50/p99 latency and the server's
peak resident memory. Client and server share the machine: on 2 cores the
client's signing costs the server CPU, so figures are a floor.
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
import threading
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ROOT_KEY, ROOT_SECRET = "AKIABENCHMARK0000000", "bench/root/secret/0000000000000000000000"
TRUST_ALICE = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"},
            "Action": "sts:AssumeRole",
        }
    ],
}
ALLOW_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _peak_rss_mb(pid: int) -> float:
    """Peak resident memory of the server and its children (gunicorn workers)."""
    total = 0
    pids = [pid] + [
        int(p)
        for p in subprocess.run(
            ["pgrep", "-P", str(pid)], capture_output=True, text=True
        ).stdout.split()
    ]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def start_fedbridge(workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    data = tempfile.mkdtemp(prefix="fedbridge-bench-")
    env = {
        **os.environ,
        "FEDBRIDGE_DATA_DIR": data,
        "FEDBRIDGE_ACCOUNT_ID": "111122223333",
        "FEDBRIDGE_ROOT_ACCESS_KEY_ID": ROOT_KEY,
        "FEDBRIDGE_ROOT_SECRET_ACCESS_KEY": ROOT_SECRET,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(url + "/healthz", timeout=1)
            return proc, url
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("fedbridge did not start")


def signed_post(
    url: str, service: str, body: str, key: str, secret: str, token: str | None = None
) -> Callable[[requests.Session], int]:
    def send(http: requests.Session) -> int:
        req = AWSRequest(
            method="POST",
            url=url + "/",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        SigV4Auth(Credentials(key, secret, token), service, "us-east-1").add_auth(req)
        return http.post(
            req.url, data=req.body, headers=dict(req.headers.items()), timeout=10
        ).status_code

    return send


def drive(
    send: Callable[[requests.Session], int], seconds: float, concurrency: int
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        nonlocal errors
        http = requests.Session()
        mine, bad = [], 0
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            status = send(http)
            mine.append(time.perf_counter() - t0)
            bad += status != 200
        with lock:
            latencies.extend(mine)
            errors += bad

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": errors,
        "requests": len(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    proc, url = start_fedbridge(args.workers)
    try:
        iam = boto3.client(
            "iam",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=ROOT_KEY,
            aws_secret_access_key=ROOT_SECRET,
        )
        iam.create_user(UserName="alice")
        iam.put_user_policy(UserName="alice", PolicyName="p", PolicyDocument=json.dumps(ALLOW_ALL))
        key = iam.create_access_key(UserName="alice")["AccessKey"]
        role_arn = iam.create_role(
            RoleName="Bench", AssumeRolePolicyDocument=json.dumps(TRUST_ALICE)
        )["Role"]["Arn"]
        iam.put_role_policy(RoleName="Bench", PolicyName="p", PolicyDocument=json.dumps(ALLOW_ALL))
        sts = boto3.client(
            "sts",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )
        temp = sts.assume_role(RoleArn=role_arn, RoleSessionName="bench")["Credentials"]

        scenarios = {
            "AssumeRole (IAM user key)": signed_post(
                url,
                "sts",
                f"Action=AssumeRole&Version=2011-06-15&RoleArn={role_arn}&RoleSessionName=bench",
                key["AccessKeyId"],
                key["SecretAccessKey"],
            ),
            "GetCallerIdentity (temporary credentials)": signed_post(
                url,
                "sts",
                "Action=GetCallerIdentity&Version=2011-06-15",
                temp["AccessKeyId"],
                temp["SecretAccessKey"],
                temp["SessionToken"],
            ),
        }
        print(
            f"fedbridge {url}, workers={args.workers}, concurrency={args.concurrency}, "
            f"{args.seconds:.0f}s per scenario, {os.cpu_count()} cores"
        )
        print(f"{'scenario':45} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
        for name, send in scenarios.items():
            drive(send, 1.0, args.concurrency)  # warm-up
            r = drive(send, args.seconds, args.concurrency)
            print(
                f"{name:45} {r['rps']:8.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['errors']:7d}"
            )
        print(f"server peak RSS: {_peak_rss_mb(proc.pid):.0f} MB")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


if __name__ == "__main__":
    main()
