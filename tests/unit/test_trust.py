"""Trust policies bound to their users and roles (app.iam.trust), seen from inside."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.config import Settings
from app.errors import MalformedPolicyDocumentError
from app.iam import trust
from app.runtime import Runtime


def _trust(principal: str, condition: str = "") -> str:
    # Written by hand: the numbers must reach the store as typed.
    return (
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": '
        f'"sts:AssumeRole", "Principal": {{"AWS": "{principal}"}}{condition}}}]}}'
    )


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    return Runtime.start(Settings(data_dir=tmp_path, account_id="111122223333"))


def test_a_principal_is_bound_by_exactly_its_arn(runtime: Runtime) -> None:
    with runtime.sessions.begin() as session:
        iam = runtime.iam(session, "111122223333")
        iam.create_user("Dana", "/eng/")
        iam.create_role(
            "ForDana", None, _trust("arn:aws:iam::111122223333:user/eng/Dana"), None, None
        )
        # Another letter case, a region or another path name nobody: AWS matches the
        # name case-sensitively, and the policy must not trust more than it says.
        for other in (
            "arn:aws:iam::111122223333:user/eng/DANA",
            "arn:aws:iam:us-east-1:111122223333:user/eng/Dana",
            "arn:aws:iam::111122223333:user/Dana",
            "arn:aws-cn:iam::111122223333:user/eng/Dana",
        ):
            with pytest.raises(MalformedPolicyDocumentError):
                iam.update_assume_role_policy("ForDana", _trust(other))


def test_a_renamed_principal_is_shown_with_the_numbers_as_written(runtime: Runtime) -> None:
    condition = ', "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": [1e400, 1.50]}}'
    with runtime.sessions.begin() as session:
        iam = runtime.iam(session, "111122223333")
        iam.create_user("dana", None)
        role = iam.create_role(
            "ForDana", None, _trust("arn:aws:iam::111122223333:user/dana", condition), None, None
        )
        iam.update_user("dana", "dana2", None)
        session.flush()
        shown = trust.shown(session, "aws", role)
    assert '"arn:aws:iam::111122223333:user/dana2"' in shown
    assert "[1e400, 1.50]" in shown and "Infinity" not in shown
    json.loads(shown)  # still JSON
