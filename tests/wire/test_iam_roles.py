"""Roles: lifecycle, tags, the product's rules (100 per account, DeleteConflict, never in groups)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "sts:AssumeRole"}
        ],
    }
)
ANYTHING = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


def _iam(server: Server, account):  # type: ignore[no-untyped-def]
    return server.client("iam", account.access_key_id, account.secret_access_key)


def test_role_lifecycle(server: Server, account) -> None:  # type: ignore[no-untyped-def]
    iam = _iam(server, account)
    role = iam.create_role(
        RoleName="Admins",
        Path="/sso/",
        AssumeRolePolicyDocument=TRUST,
        Description="admins",
        MaxSessionDuration=7200,
        Tags=[{"Key": "fedbridge:require-mfa", "Value": "true"}],
    )["Role"]
    assert role["Arn"] == f"arn:aws:iam::{account.account_id}:role/sso/Admins"
    assert role["RoleId"].startswith("AROA")
    assert role["AssumeRolePolicyDocument"] == json.loads(TRUST)

    iam.update_role(RoleName="Admins", Description="changed", MaxSessionDuration=43200)
    got = iam.get_role(RoleName="Admins")["Role"]
    assert (got["Description"], got["MaxSessionDuration"]) == ("changed", 43200)

    new_trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {
                        "Federated": f"arn:aws:iam::{account.account_id}:saml-provider/Corp"
                    },
                    "Action": "sts:AssumeRoleWithSAML",
                }
            ],
        }
    )
    iam.update_assume_role_policy(RoleName="Admins", PolicyDocument=new_trust)
    assert iam.get_role(RoleName="Admins")["Role"]["AssumeRolePolicyDocument"] == json.loads(
        new_trust
    )

    iam.tag_role(RoleName="Admins", Tags=[{"Key": "team", "Value": "sec"}])
    iam.untag_role(RoleName="Admins", TagKeys=["fedbridge:require-mfa"])
    assert iam.list_role_tags(RoleName="Admins")["Tags"] == [{"Key": "team", "Value": "sec"}]
    assert [r["RoleName"] for r in iam.list_roles(PathPrefix="/sso/")["Roles"]] == ["Admins"]
    assert iam.get_role(RoleName="Admins")["Role"]["Tags"] == [{"Key": "team", "Value": "sec"}]
    assert "Tags" not in iam.list_roles()["Roles"][0]  # AWS's ListRoles leaves them out
    iam.delete_role(RoleName="Admins")
    assert iam.list_roles()["Roles"] == []


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"MaxSessionDuration": 100}, "ValidationError"),
        ({"MaxSessionDuration": 50000}, "ValidationError"),
        ({"AssumeRolePolicyDocument": ANYTHING}, "MalformedPolicyDocument"),
        ({"AssumeRolePolicyDocument": "{"}, "MalformedPolicyDocument"),
    ],
    ids=["duration-too-short", "duration-too-long", "trust-without-principal", "trust-not-json"],
)
def test_invalid_roles_are_refused(server: Server, account, kwargs: dict, code: str) -> None:  # type: ignore[no-untyped-def]
    iam = _iam(server, account)
    with pytest.raises(ClientError) as err:
        iam.create_role(**{"RoleName": "R", "AssumeRolePolicyDocument": TRUST, **kwargs})
    assert err.value.response["Error"]["Code"] == code
    assert iam.list_roles()["Roles"] == []


def test_the_101st_role_is_refused(server: Server, account) -> None:  # type: ignore[no-untyped-def]
    iam = _iam(server, account)
    for i in range(100):
        iam.create_role(RoleName=f"r{i:03}", AssumeRolePolicyDocument=TRUST)
    with pytest.raises(ClientError) as err:
        iam.create_role(RoleName="r100", AssumeRolePolicyDocument=TRUST)
    assert err.value.response["Error"]["Code"] == "LimitExceeded"
    assert "100" in err.value.response["Error"]["Message"]
    total = sum(len(page["Roles"]) for page in iam.get_paginator("list_roles").paginate())
    assert total == 100
    iam.delete_role(RoleName="r000")
    iam.create_role(RoleName="r100", AssumeRolePolicyDocument=TRUST)


def test_role_with_policies_cannot_be_deleted_until_revoked(server: Server, account) -> None:  # type: ignore[no-untyped-def]
    iam = _iam(server, account)
    iam.create_role(RoleName="Ops", AssumeRolePolicyDocument=TRUST)
    arn = iam.create_policy(PolicyName="all", PolicyDocument=ANYTHING)["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="Ops", PolicyArn=arn)
    iam.put_role_policy(RoleName="Ops", PolicyName="inline", PolicyDocument=ANYTHING)

    with pytest.raises(ClientError) as err:
        iam.delete_role(RoleName="Ops")
    assert err.value.response["Error"]["Code"] == "DeleteConflict"
    iam.detach_role_policy(RoleName="Ops", PolicyArn=arn)
    with pytest.raises(ClientError) as err:
        iam.delete_role(RoleName="Ops")
    assert err.value.response["Error"]["Code"] == "DeleteConflict"
    assert iam.get_role(RoleName="Ops")["Role"]["RoleName"] == "Ops"

    iam.delete_role_policy(RoleName="Ops", PolicyName="inline")
    iam.delete_role(RoleName="Ops")


def test_a_role_is_never_a_group_member(server: Server, account) -> None:  # type: ignore[no-untyped-def]
    iam = _iam(server, account)
    iam.create_role(RoleName="Svc", AssumeRolePolicyDocument=TRUST)
    iam.create_group(GroupName="g")
    with pytest.raises(ClientError) as err:
        iam.add_user_to_group(GroupName="g", UserName="Svc")
    assert err.value.response["Error"]["Code"] == "NoSuchEntity"
    assert "roles cannot be members of groups" in err.value.response["Error"]["Message"]
    assert iam.get_group(GroupName="g")["Users"] == []


def test_role_lists_page_filter_and_what_terraform_reads(server: Server, account) -> None:  # type: ignore[no-untyped-def]
    iam = server.client("iam", account.access_key_id, account.secret_access_key)
    iam.create_role(RoleName="tf", AssumeRolePolicyDocument=TRUST)
    for n in range(3):
        iam.put_role_policy(RoleName="tf", PolicyName=f"inline{n}", PolicyDocument=ANYTHING)
        path = "/team/" if n == 0 else "/"
        arn = iam.create_policy(PolicyName=f"pd{n}", Path=path, PolicyDocument=ANYTHING)["Policy"][
            "Arn"
        ]
        iam.attach_role_policy(RoleName="tf", PolicyArn=arn)

    first = iam.list_role_policies(RoleName="tf", MaxItems=1)
    assert first["PolicyNames"] == ["inline0"] and first["IsTruncated"]
    pages = iam.get_paginator("list_role_policies").paginate(
        RoleName="tf", PaginationConfig={"PageSize": 2}
    )
    assert [name for page in pages for name in page["PolicyNames"]] == [
        "inline0",
        "inline1",
        "inline2",
    ]
    team = iam.list_attached_role_policies(RoleName="tf", PathPrefix="/team/")
    assert [p["PolicyName"] for p in team["AttachedPolicies"]] == ["pd0"]
    with pytest.raises(ClientError) as err:
        iam.list_attached_role_policies(RoleName="tf", MaxItems=0)
    assert err.value.response["Error"]["Code"] == "ValidationError"

    # What Terraform's aws_iam_role reads and writes besides the contract's actions.
    assert iam.list_instance_profiles_for_role(RoleName="tf")["InstanceProfiles"] == []
    with pytest.raises(ClientError) as err:
        iam.list_instance_profiles_for_role(RoleName="nope")
    assert err.value.response["Error"]["Code"] == "NoSuchEntity"
    role = iam.update_role_description(RoleName="tf", Description="made by terraform")["Role"]
    assert role["Description"] == "made by terraform"
    assert iam.get_role(RoleName="tf")["Role"]["Description"] == "made by terraform"
