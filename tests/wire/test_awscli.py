"""The real AWS CLI, pointed at fedbridge with --endpoint-url, works unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import Server

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
)


def test_aws_cli_lists_roles(server: Server, account, tmp_path) -> None:  # type: ignore[no-untyped-def]
    iam = server.client("iam", account.access_key_id, account.secret_access_key)
    iam.create_role(RoleName="CliVisible", AssumeRolePolicyDocument=TRUST)
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": account.access_key_id,
        "AWS_SECRET_ACCESS_KEY": account.secret_access_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
    }
    env.pop("AWS_SESSION_TOKEN", None)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "awscli",
            "iam",
            "list-roles",
            "--endpoint-url",
            server.url,
            "--output",
            "json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    roles = json.loads(out.stdout)["Roles"]
    assert [r["RoleName"] for r in roles] == ["CliVisible"]
    assert roles[0]["Arn"] == f"arn:aws:iam::{account.account_id}:role/CliVisible"
