"""IAM users, groups, access keys and policies over HTTP with boto3 and the root key."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server

READ_ONLY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"}],
    }
)


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return err.value.response["Error"]["Code"]


def _root_clients(server: Server, account) -> tuple:  # type: ignore[no-untyped-def]
    return (
        server.client("iam", account.access_key_id, account.secret_access_key),
        server.client("sts", account.access_key_id, account.secret_access_key),
    )


def test_user_lifecycle(server: Server, account) -> None:  # type: ignore[no-untyped-def]
    iam, _ = _root_clients(server, account)
    created = iam.create_user(
        UserName="alice", Path="/eng/", Tags=[{"Key": "team", "Value": "core"}]
    )["User"]
    assert created["Arn"] == f"arn:aws:iam::{account.account_id}:user/eng/alice"
    assert created["UserId"].startswith("AIDA")

    got = iam.get_user(UserName="ALICE")["User"]  # names are case-insensitive
    assert got["UserName"] == "alice" and got["Tags"] == [{"Key": "team", "Value": "core"}]

    with pytest.raises(ClientError) as err:
        iam.create_user(UserName="Alice")
    assert _code(err) == "EntityAlreadyExists"

    iam.tag_user(
        UserName="alice", Tags=[{"Key": "Team", "Value": "sre"}, {"Key": "on", "Value": ""}]
    )
    iam.untag_user(UserName="alice", TagKeys=["on", "not-there"])
    # Keys are case-insensitive: "Team" replaced "team", with the case it was last given.
    assert iam.list_user_tags(UserName="alice")["Tags"] == [{"Key": "Team", "Value": "sre"}]
    with pytest.raises(ClientError) as err:
        iam.tag_user(UserName="nobody", Tags=[{"Key": "a", "Value": "b"}])
    assert _code(err) == "NoSuchEntity"

    iam.update_user(UserName="alice", NewUserName="alice2", NewPath="/ops/")
    assert iam.get_user(UserName="alice2")["User"]["Arn"].endswith(":user/ops/alice2")
    iam.delete_user(UserName="alice2")
    with pytest.raises(ClientError) as err:
        iam.get_user(UserName="alice2")
    assert _code(err) == "NoSuchEntity"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_list_users_paginates(server: Server, account) -> None:  # type: ignore[no-untyped-def]
    iam, _ = _root_clients(server, account)
    for i in range(7):
        iam.create_user(UserName=f"user{i}")
    first = iam.list_users(MaxItems=3)
    assert first["IsTruncated"] is True and len(first["Users"]) == 3
    second = iam.list_users(MaxItems=3, Marker=first["Marker"])
    names = [u["UserName"] for u in first["Users"] + second["Users"]]
    assert names == [f"user{i}" for i in range(6)]
    everyone = [
        u["UserName"]
        for page in iam.get_paginator("list_users").paginate(PaginationConfig={"PageSize": 2})
        for u in page["Users"]
    ]
    assert everyone == [f"user{i}" for i in range(7)]


def test_user_key_signs_its_own_calls(server: Server, account) -> None:  # type: ignore[no-untyped-def]
    iam, _ = _root_clients(server, account)
    iam.create_user(UserName="bob")
    iam.put_user_policy(UserName="bob", PolicyName="ro", PolicyDocument=READ_ONLY)
    key = iam.create_access_key(UserName="bob")["AccessKey"]
    assert key["AccessKeyId"].startswith("AKIA") and len(key["AccessKeyId"]) == 20
    assert len(key["SecretAccessKey"]) == 40

    bob_sts = server.client("sts", key["AccessKeyId"], key["SecretAccessKey"])
    assert bob_sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{account.account_id}:user/bob"
    bob_iam = server.client("iam", key["AccessKeyId"], key["SecretAccessKey"])
    assert bob_iam.get_user()["User"]["UserName"] == "bob"
    listed = iam.list_access_keys(UserName="bob")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [key["AccessKeyId"]]
    assert "SecretAccessKey" not in listed[0]  # shown once, at creation

    iam.update_access_key(UserName="bob", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    with pytest.raises(ClientError) as err:
        bob_sts.get_caller_identity()
    assert _code(err) == "InvalidClientTokenId"

    with pytest.raises(ClientError) as err:
        iam.delete_user(UserName="bob")
    assert _code(err) == "DeleteConflict"
    iam.delete_access_key(UserName="bob", AccessKeyId=key["AccessKeyId"])
    iam.delete_user_policy(UserName="bob", PolicyName="ro")
    iam.delete_user(UserName="bob")


def test_groups(server: Server, account) -> None:  # type: ignore[no-untyped-def]
    iam, _ = _root_clients(server, account)
    iam.create_group(GroupName="devs")
    iam.create_user(UserName="carol")
    iam.add_user_to_group(GroupName="devs", UserName="carol")
    group = iam.get_group(GroupName="devs")
    assert [u["UserName"] for u in group["Users"]] == ["carol"]
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName="carol")["Groups"]] == [
        "devs"
    ]
    assert [g["GroupName"] for g in iam.list_groups()["Groups"]] == ["devs"]

    with pytest.raises(ClientError) as err:
        iam.delete_group(GroupName="devs")
    assert _code(err) == "DeleteConflict"
    with pytest.raises(ClientError) as err:
        iam.delete_user(UserName="carol")
    assert _code(err) == "DeleteConflict"

    iam.remove_user_from_group(GroupName="devs", UserName="carol")
    iam.delete_group(GroupName="devs")
    iam.delete_user(UserName="carol")


def test_managed_policy_versions_and_attachments(server: Server, account) -> None:  # type: ignore[no-untyped-def]
    iam, _ = _root_clients(server, account)
    arn = iam.create_policy(PolicyName="ro", Path="/team/", PolicyDocument=READ_ONLY)["Policy"][
        "Arn"
    ]
    assert arn == f"arn:aws:iam::{account.account_id}:policy/team/ro"
    v1 = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]
    assert v1["Document"] == json.loads(READ_ONLY) and v1["IsDefaultVersion"] is True

    narrower = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "iam:Get*", "Resource": "*"}],
        }
    )
    v2 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=narrower, SetAsDefault=True)[
        "PolicyVersion"
    ]
    assert v2["VersionId"] == "v2"
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v2"

    iam.create_user(UserName="dave")
    iam.attach_user_policy(UserName="dave", PolicyArn=arn)
    attached = iam.list_attached_user_policies(UserName="dave")["AttachedPolicies"]
    assert attached == [{"PolicyName": "ro", "PolicyArn": arn}]
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    assert [p["Arn"] for p in iam.list_policies(Scope="Local", OnlyAttached=True)["Policies"]] == [
        arn
    ]

    with pytest.raises(ClientError) as err:
        iam.delete_policy(PolicyArn=arn)
    assert _code(err) == "DeleteConflict"
    iam.detach_user_policy(UserName="dave", PolicyArn=arn)
    iam.delete_policy_version(PolicyArn=arn, VersionId="v1")
    iam.delete_policy(PolicyArn=arn)
    with pytest.raises(ClientError) as err:
        iam.get_policy(PolicyArn=arn)
    assert _code(err) == "NoSuchEntity"


def test_inline_policies_of_groups_and_roles(server: Server, account) -> None:  # type: ignore[no-untyped-def]
    iam, _ = _root_clients(server, account)
    iam.create_group(GroupName="g")
    iam.put_group_policy(GroupName="g", PolicyName="p", PolicyDocument=READ_ONLY)
    assert iam.list_group_policies(GroupName="g")["PolicyNames"] == ["p"]
    assert iam.get_group_policy(GroupName="g", PolicyName="p")["PolicyDocument"] == json.loads(
        READ_ONLY
    )
    iam.delete_group_policy(GroupName="g", PolicyName="p")
    assert iam.list_group_policies(GroupName="g")["PolicyNames"] == []


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ("not json", "MalformedPolicyDocument"),
        ('{"Version": "2012-10-17", "Statement": []}', "MalformedPolicyDocument"),
        (
            '{"Version": "2012-10-17", "Statement": {"Effect": "Maybe", "Action": "*", "Resource": "*"}}',
            "MalformedPolicyDocument",
        ),
        (
            '{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Principal": "*"}}',
            "MalformedPolicyDocument",
        ),
        (
            json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": f"iam:Get{i:04}", "Resource": "*"}
                        for i in range(400)
                    ],
                }
            ),
            "LimitExceeded",
        ),
    ],
    ids=["not-json", "empty-statement", "bad-effect", "principal-in-identity-policy", "over-6144"],
)
def test_bad_policy_documents_are_refused_and_nothing_stored(
    server: Server, account, document: str, code: str
) -> None:  # type: ignore[no-untyped-def]
    iam, _ = _root_clients(server, account)
    with pytest.raises(ClientError) as err:
        iam.create_policy(PolicyName="bad", PolicyDocument=document)
    assert _code(err) == code
    assert iam.list_policies(Scope="Local")["Policies"] == []


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"UserName": "has space"}, "ValidationError"),
        ({"UserName": "caf\u00e9"}, "ValidationError"),  # AWS's \\w is ASCII
        ({"UserName": "ok", "Tags": [{"Key": "k", "Value": "a\nb"}]}, "ValidationError"),
        ({"UserName": "x" * 65}, "ValidationError"),
        ({"UserName": "ok", "Path": "no-slashes"}, "ValidationError"),
        ({"UserName": "ok", "Tags": [{"Key": "aws:reserved", "Value": "v"}]}, "InvalidInput"),
    ],
    ids=["bad-pattern", "non-ascii-letter", "tag-newline", "too-long", "bad-path", "reserved-tag"],
)
def test_invalid_user_input(server: Server, account, kwargs: dict, code: str) -> None:  # type: ignore[no-untyped-def]
    iam, _ = _root_clients(server, account)
    with pytest.raises(ClientError) as err:
        iam.create_user(**kwargs)
    assert _code(err) == code
    assert iam.list_users()["Users"] == []


def test_managed_policy_tags_and_aws_rules(server: Server, account) -> None:  # type: ignore[no-untyped-def]
    iam, _ = _root_clients(server, account)
    policy = iam.create_policy(
        PolicyName="tagged",
        PolicyDocument=READ_ONLY,
        Description="Zugriff für Team \u2013 S3",  # a policy's description has no pattern
        Tags=[{"Key": "team", "Value": "payments"}],
    )["Policy"]
    arn = policy["Arn"]
    assert policy["Tags"] == [{"Key": "team", "Value": "payments"}]
    assert iam.get_policy(PolicyArn=arn)["Policy"]["Tags"] == [{"Key": "team", "Value": "payments"}]
    iam.tag_policy(PolicyArn=arn, Tags=[{"Key": "env", "Value": "prod"}])
    first = iam.list_policy_tags(PolicyArn=arn, MaxItems=1)
    assert first["Tags"] == [{"Key": "env", "Value": "prod"}] and first["IsTruncated"]
    rest = iam.list_policy_tags(PolicyArn=arn, Marker=first["Marker"])
    assert rest["Tags"] == [{"Key": "team", "Value": "payments"}] and not rest["IsTruncated"]
    iam.untag_policy(PolicyArn=arn, TagKeys=["TEAM"])
    assert iam.list_policy_tags(PolicyArn=arn)["Tags"] == [{"Key": "env", "Value": "prod"}]

    def refused(**params: object) -> str:
        with pytest.raises(ClientError) as err:
            iam.create_policy(**{"PolicyName": "refused", "PolicyDocument": READ_ONLY, **params})
        return _code(err)

    # A policy's path may not hold `*` or other punctuation a user's or role's may.
    for path in ("/a*b/", "/a!b/", "///"):
        assert refused(Path=path) == "ValidationError", path
    assert refused(PolicyDocument=READ_ONLY.replace('"*"', '"arn:aws:s3:::b/データ/*"')) == (
        "ValidationError"
    )
    with pytest.raises(ClientError) as err:  # a role's description keeps its pattern
        iam.create_role(
            RoleName="r", AssumeRolePolicyDocument=READ_ONLY, Description="Zugriff \u2013 S3"
        )
    assert _code(err) == "ValidationError"
    assert [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]] == ["tagged"]

    iam.delete_policy(PolicyArn=arn)
    again = iam.create_policy(PolicyName="tagged", PolicyDocument=READ_ONLY)["Policy"]
    assert iam.list_policy_tags(PolicyArn=again["Arn"])["Tags"] == []  # went with the policy


def test_tagging_needs_tags_and_at_most_fifty_keys(server: Server, account) -> None:  # type: ignore[no-untyped-def]
    iam, _ = _root_clients(server, account)
    iam.create_user(UserName="tagless", Tags=[{"Key": "keep", "Value": "1"}])
    for call in (
        lambda: iam.tag_user(UserName="tagless", Tags=[]),
        lambda: iam.untag_user(UserName="tagless", TagKeys=[]),
    ):
        with pytest.raises(ClientError) as err:
            call()
        assert _code(err) == "ValidationError"
    with pytest.raises(ClientError) as err:
        iam.untag_user(UserName="tagless", TagKeys=[f"k{n}" for n in range(51)] + ["keep"])
    assert _code(err) == "ValidationError"
    assert iam.list_user_tags(UserName="tagless")["Tags"] == [{"Key": "keep", "Value": "1"}]


def test_lookups_as_aws_bounds_them(server: Server, account) -> None:  # type: ignore[no-untyped-def]
    iam, _ = _root_clients(server, account)
    # Users are looked up by names up to 128 long: a longer miss is a miss, not malformed
    # (boto3's user_exists waiter waits on NoSuchEntity).
    with pytest.raises(ClientError) as err:
        iam.get_user(UserName="u" * 100)
    assert _code(err) == "NoSuchEntity"
    root = iam.get_user()["User"]
    assert root["Arn"] == f"arn:aws:iam::{account.account_id}:root" and root["CreateDate"]


def test_when_an_access_key_was_last_used(server: Server, account) -> None:  # type: ignore[no-untyped-def]
    iam, _ = _root_clients(server, account)
    iam.create_user(UserName="kim")
    key = iam.create_access_key(UserName="kim")["AccessKey"]
    never = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
    assert never["UserName"] == "kim"
    assert never["AccessKeyLastUsed"] == {"ServiceName": "N/A", "Region": "N/A"}

    kim_sts = server.client("sts", key["AccessKeyId"], key["SecretAccessKey"])
    kim_sts.get_caller_identity()
    used = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]
    assert (used["ServiceName"], used["Region"]) == ("sts", "us-east-1")
    assert abs((used["LastUsedDate"] - server.clock.now()).total_seconds()) < 5

    root = iam.get_access_key_last_used(AccessKeyId=account.access_key_id)["AccessKeyLastUsed"]
    assert root["ServiceName"] == "iam"  # this very call's key
    with pytest.raises(ClientError) as err:
        iam.get_access_key_last_used(AccessKeyId="AKIANOTAKEYOFOURS000")
    assert _code(err) == "NoSuchEntity"

    # A caller who may not ask learns nothing of whose a key is, or whether it exists.
    iam.create_user(UserName="nosy", Path="/secret/")
    nosy_key = iam.create_access_key(UserName="nosy")["AccessKey"]
    nosy = server.client("iam", nosy_key["AccessKeyId"], nosy_key["SecretAccessKey"])
    for probed in (key["AccessKeyId"], account.access_key_id, "AKIANOTAKEYOFOURS000"):
        with pytest.raises(ClientError) as err:
            nosy.get_access_key_last_used(AccessKeyId=probed)
        assert _code(err) == "AccessDenied"
        message = err.value.response["Error"]["Message"]
        assert message.endswith(f"on access key {probed}")
        assert "kim" not in message and ":root" not in message
