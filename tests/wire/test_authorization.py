"""Policy evaluation end to end: what a user's policies allow is all it can do."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
)


def _doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture
def admin(server: Server, account):  # type: ignore[no-untyped-def]
    return server.client("iam", account.access_key_id, account.secret_access_key)


def _user_client(server: Server, admin, name: str):  # type: ignore[no-untyped-def]
    admin.create_user(UserName=name)
    key = admin.create_access_key(UserName=name)["AccessKey"]
    return server.client("iam", key["AccessKeyId"], key["SecretAccessKey"])


def test_read_only_user_lists_roles_but_cannot_create_one(server: Server, admin) -> None:  # type: ignore[no-untyped-def]
    admin.create_role(RoleName="Existing", AssumeRolePolicyDocument=TRUST)
    reader = _user_client(server, admin, "reader")
    admin.put_user_policy(
        UserName="reader",
        PolicyName="ro",
        PolicyDocument=_doc(
            {"Effect": "Allow", "Action": ["iam:List*", "iam:Get*"], "Resource": "*"}
        ),
    )

    assert [r["RoleName"] for r in reader.list_roles()["Roles"]] == ["Existing"]
    with pytest.raises(ClientError) as err:
        reader.create_role(RoleName="Sneaky", AssumeRolePolicyDocument=TRUST)
    error = err.value.response["Error"]
    assert error["Code"] == "AccessDenied"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "iam:CreateRole" in error["Message"] and "user/reader" in error["Message"]
    assert [r["RoleName"] for r in admin.list_roles()["Roles"]] == ["Existing"]


def test_explicit_deny_beats_an_allow_from_a_group(server: Server, admin) -> None:  # type: ignore[no-untyped-def]
    user = _user_client(server, admin, "erin")
    admin.create_group(GroupName="admins")
    admin.put_group_policy(
        GroupName="admins",
        PolicyName="all",
        PolicyDocument=_doc({"Effect": "Allow", "Action": "iam:*", "Resource": "*"}),
    )
    admin.add_user_to_group(GroupName="admins", UserName="erin")
    user.create_role(RoleName="Allowed", AssumeRolePolicyDocument=TRUST)

    admin.put_user_policy(
        UserName="erin",
        PolicyName="no-roles",
        PolicyDocument=_doc({"Effect": "Deny", "Action": "iam:CreateRole", "Resource": "*"}),
    )
    with pytest.raises(ClientError) as err:
        user.create_role(RoleName="Denied", AssumeRolePolicyDocument=TRUST)
    assert err.value.response["Error"]["Code"] == "AccessDenied"
    assert "explicit deny" in err.value.response["Error"]["Message"]
    assert user.list_roles()["Roles"][0]["RoleName"] == "Allowed"


def test_resource_and_variable_scoped_policy(server: Server, admin) -> None:  # type: ignore[no-untyped-def]
    acct = admin.get_user()["User"]["Arn"].split(":")[4]
    user = _user_client(server, admin, "frank")
    # Each user may manage access keys for themself only (AWS's documented example).
    admin.put_user_policy(
        UserName="frank",
        PolicyName="own-keys",
        PolicyDocument=_doc(
            {
                "Effect": "Allow",
                "Action": ["iam:*AccessKey*"],
                "Resource": f"arn:aws:iam::{acct}:user/${{aws:username}}",
            }
        ),
    )
    assert len(user.list_access_keys()["AccessKeyMetadata"]) == 1
    admin.create_user(UserName="grace")
    with pytest.raises(ClientError) as err:
        user.list_access_keys(UserName="grace")
    assert err.value.response["Error"]["Code"] == "AccessDenied"


def test_source_ip_condition(server: Server, admin) -> None:  # type: ignore[no-untyped-def]
    user = _user_client(server, admin, "heidi")
    admin.put_user_policy(
        UserName="heidi",
        PolicyName="office-only",
        PolicyDocument=_doc(
            {
                "Effect": "Allow",
                "Action": "iam:ListUsers",
                "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
            }
        ),
    )
    with pytest.raises(ClientError) as err:
        user.list_users()
    assert err.value.response["Error"]["Code"] == "AccessDenied"
    admin.put_user_policy(
        UserName="heidi",
        PolicyName="office-only",
        PolicyDocument=_doc(
            {
                "Effect": "Allow",
                "Action": "iam:ListUsers",
                "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}},
            }
        ),
    )
    assert [u["UserName"] for u in user.list_users()["Users"]] == ["heidi"]


def test_root_of_one_account_cannot_touch_another(server: Server, admin, iam) -> None:  # type: ignore[no-untyped-def]
    admin.create_role(RoleName="Mine", AssumeRolePolicyDocument=TRUST)
    assert "Mine" not in [r["RoleName"] for r in iam.list_roles()["Roles"]]
    with pytest.raises(ClientError) as err:
        iam.get_role(RoleName="Mine")
    assert err.value.response["Error"]["Code"] == "NoSuchEntity"


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return err.value.response["Error"]["Code"]


def test_another_spelling_of_an_arn_cannot_dodge_a_deny(server: Server, admin, account) -> None:  # type: ignore[no-untyped-def]
    acct = account.account_id
    policy = admin.create_policy(
        PolicyName="AdminPolicy",
        PolicyDocument=_doc({"Effect": "Allow", "Action": "iam:List*", "Resource": "*"}),
    )["Policy"]["Arn"]
    provider = admin.create_open_id_connect_provider(
        Url="https://token.example.com", ClientIDList=["a"], ThumbprintList=["a" * 40]
    )["OpenIDConnectProviderArn"]
    user = _user_client(server, admin, "mallory")
    admin.put_user_policy(
        UserName="mallory",
        PolicyName="fenced",
        PolicyDocument=_doc(
            {"Effect": "Allow", "Action": "iam:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "iam:*", "Resource": [policy, provider]},
        ),
    )
    for spelling in (
        f"arn:aws:iam::{acct}:policy/ADMINPOLICY",
        f"arn:aws:iam:us-east-1:{acct}:policy/AdminPolicy",
    ):
        with pytest.raises(ClientError) as err:
            user.create_policy_version(
                PolicyArn=spelling,
                PolicyDocument=_doc({"Effect": "Allow", "Action": "*", "Resource": "*"}),
                SetAsDefault=True,
            )
        assert _code(err) == "NoSuchEntity"
        with pytest.raises(ClientError) as err:
            user.attach_user_policy(UserName="mallory", PolicyArn=spelling)
        assert _code(err) == "NoSuchEntity"
    with pytest.raises(ClientError) as err:
        user.add_client_id_to_open_id_connect_provider(
            OpenIDConnectProviderArn=provider.replace(":iam::", ":iam:us-east-1:"), ClientID="evil"
        )
    assert _code(err) == "NoSuchEntity"
    assert admin.get_open_id_connect_provider(OpenIDConnectProviderArn=provider)[
        "ClientIDList"
    ] == ["a"]
    assert len(admin.list_policy_versions(PolicyArn=policy)["Versions"]) == 1
    assert admin.list_attached_user_policies(UserName="mallory")["AttachedPolicies"] == []
    with pytest.raises(ClientError) as err:
        admin.get_policy_version(PolicyArn=policy, VersionId="v" + "9" * 24)
    assert _code(err) == "NoSuchEntity"  # not a 500


def test_moving_a_user_needs_permission_where_it_lands(server: Server, admin) -> None:  # type: ignore[no-untyped-def]
    team_admin = _user_client(server, admin, "teamadmin")
    admin.put_user_policy(
        UserName="teamadmin",
        PolicyName="team-only",
        PolicyDocument=_doc(
            {"Effect": "Allow", "Action": "iam:*", "Resource": "arn:aws:iam::*:user/team/*"}
        ),
    )
    team_admin.create_user(UserName="y", Path="/team/")
    for change in ({"NewPath": "/ops/"}, {"NewUserName": "z", "NewPath": "/ops/"}):
        with pytest.raises(ClientError) as err:
            team_admin.update_user(UserName="y", **change)
        assert _code(err) == "AccessDenied"
    team_admin.update_user(UserName="y", NewUserName="y2")  # still under /team/
    assert admin.get_user(UserName="y2")["User"]["Path"] == "/team/"


def test_tags_a_new_user_or_device_carries_meet_the_policy(server: Server, admin) -> None:  # type: ignore[no-untyped-def]
    creator = _user_client(server, admin, "creator")
    admin.put_user_policy(
        UserName="creator",
        PolicyName="tagged-only",
        PolicyDocument=_doc(
            {
                "Effect": "Allow",
                "Action": ["iam:CreateUser", "iam:CreateVirtualMFADevice"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:RequestTag/Department": "Dev"}},
            },
            {
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"ForAnyValue:StringLike": {"aws:TagKeys": "fedbridge:*"}},
            },
        ),
    )
    creator.create_user(UserName="dev1", Tags=[{"Key": "Department", "Value": "Dev"}])
    creator.create_virtual_mfa_device(
        VirtualMFADeviceName="dev1", Tags=[{"Key": "Department", "Value": "Dev"}]
    )
    for tags in (
        [],
        [{"Key": "Department", "Value": "Dev"}, {"Key": "fedbridge:require-mfa", "Value": "false"}],
    ):
        with pytest.raises(ClientError) as err:
            creator.create_user(UserName="dev2", Tags=tags)
        assert _code(err) == "AccessDenied"


def test_policies_can_fence_users_and_roles_by_their_tags(server: Server, admin, account) -> None:  # type: ignore[no-untyped-def]
    trust = _doc(
        {"Effect": "Allow", "Principal": {"AWS": account.account_id}, "Action": "sts:AssumeRole"}
    )
    admin.create_role(
        RoleName="Protected",
        AssumeRolePolicyDocument=trust,
        Tags=[{"Key": "protected", "Value": "true"}],
    )
    admin.create_role(
        RoleName="Open", AssumeRolePolicyDocument=trust, Tags=[{"Key": "env", "Value": "dev"}]
    )
    admin.create_user(UserName="red", Tags=[{"Key": "team", "Value": "red"}])
    user = _user_client(server, admin, "ops")
    admin.put_user_policy(
        UserName="ops",
        PolicyName="fenced",
        PolicyDocument=_doc(
            {"Effect": "Allow", "Action": "iam:*", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/env": "dev"}},
            },
            {
                "Effect": "Deny",
                "Action": "iam:*",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/protected": "true"}},
            },
            {
                "Effect": "Deny",
                "Action": ["iam:DeleteUser", "iam:UntagUser"],
                "Resource": "*",
                "Condition": {"StringEquals": {"iam:ResourceTag/team": "red"}},
            },
        ),
    )
    for attempt in (
        lambda: user.update_assume_role_policy(RoleName="Protected", PolicyDocument=trust),
        lambda: user.untag_role(RoleName="Protected", TagKeys=["protected"]),
        lambda: user.delete_user(UserName="red"),
        lambda: user.untag_user(UserName="red", TagKeys=["team"]),
    ):
        with pytest.raises(ClientError) as err:
            attempt()
        assert _code(err) == "AccessDenied"
    user.update_assume_role_policy(RoleName="Open", PolicyDocument=trust)
    assert admin.list_role_tags(RoleName="Protected")["Tags"] == [
        {"Key": "protected", "Value": "true"}
    ]
    assert admin.list_user_tags(UserName="red")["Tags"] == [{"Key": "team", "Value": "red"}]
    key = admin.create_access_key(UserName="ops")["AccessKey"]
    sts = server.client("sts", key["AccessKeyId"], key["SecretAccessKey"])
    arn = f"arn:aws:iam::{account.account_id}:role/"
    sts.assume_role(RoleArn=arn + "Open", RoleSessionName="dev")
    with pytest.raises(ClientError) as err:
        sts.assume_role(RoleArn=arn + "Protected", RoleSessionName="prod")
    assert _code(err) == "AccessDenied"


def test_resource_tags_fence_every_taggable_kind(server: Server, admin) -> None:  # type: ignore[no-untyped-def]
    """aws:ResourceTag reads the tags of managed policies, SAML and OIDC providers and
    virtual MFA devices too: a Deny fenced by a tag must hold on each of them."""
    from tests.saml_idp import TestIdp

    protected = [{"Key": "protected", "Value": "true"}]
    allow_gets = _doc({"Effect": "Allow", "Action": "iam:Get*", "Resource": "*"})
    policy = admin.create_policy(PolicyName="p", PolicyDocument=allow_gets, Tags=protected)
    policy_arn = policy["Policy"]["Arn"]
    saml_arn = admin.create_saml_provider(
        Name="Corp", SAMLMetadataDocument=TestIdp().metadata(), Tags=protected
    )["SAMLProviderArn"]
    oidc_arn = admin.create_open_id_connect_provider(
        Url="https://idp.example.com", ClientIDList=["app"], Tags=protected
    )["OpenIDConnectProviderArn"]
    serial = admin.create_virtual_mfa_device(VirtualMFADeviceName="phone", Tags=protected)[
        "VirtualMFADevice"
    ]["SerialNumber"]
    user = _user_client(server, admin, "delegate")
    admin.put_user_policy(
        UserName="delegate",
        PolicyName="fenced",
        PolicyDocument=_doc(
            {"Effect": "Allow", "Action": "iam:*", "Resource": "*"},
            {
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/protected": "true"}},
            },
        ),
    )
    for attempt in (
        lambda: user.create_policy_version(
            PolicyArn=policy_arn,
            PolicyDocument=_doc({"Effect": "Allow", "Action": "*", "Resource": "*"}),
            SetAsDefault=True,
        ),
        lambda: user.untag_policy(PolicyArn=policy_arn, TagKeys=["protected"]),
        lambda: user.update_saml_provider(
            SAMLProviderArn=saml_arn, SAMLMetadataDocument=TestIdp().metadata()
        ),
        lambda: user.add_client_id_to_open_id_connect_provider(
            OpenIDConnectProviderArn=oidc_arn, ClientID="attacker-app"
        ),
        lambda: user.untag_mfa_device(SerialNumber=serial, TagKeys=["protected"]),
        lambda: user.delete_virtual_mfa_device(SerialNumber=serial),
    ):
        with pytest.raises(ClientError) as err:
            attempt()
        assert _code(err) == "AccessDenied"
        assert "explicit deny" in err.value.response["Error"]["Message"]
    assert admin.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"] == "v1"
    oidc = admin.get_open_id_connect_provider(OpenIDConnectProviderArn=oidc_arn)
    assert oidc["ClientIDList"] == ["app"]
    assert admin.list_mfa_device_tags(SerialNumber=serial)["Tags"] == protected
    # Untagged, the same calls go through: the tag, not the kind, fenced them.
    admin.untag_mfa_device(SerialNumber=serial, TagKeys=["protected"])
    user.tag_mfa_device(SerialNumber=serial, Tags=[{"Key": "owner", "Value": "ops"}])
    assert user.list_mfa_device_tags(SerialNumber=serial)["Tags"] == [
        {"Key": "owner", "Value": "ops"}
    ]
    user.delete_virtual_mfa_device(SerialNumber=serial)


def test_a_refused_caller_learns_nothing_about_mfa_devices(server: Server, admin, account) -> None:  # type: ignore[no-untyped-def]
    admin.create_user(UserName="victim")
    serial = admin.create_virtual_mfa_device(VirtualMFADeviceName="victim-phone")[
        "VirtualMFADevice"
    ]["SerialNumber"]
    nobody = _user_client(server, admin, "nobody")  # no policies at all
    missing = serial.replace("victim-phone", "nosuch")
    for name, device in (("victim", serial), ("doesnotexist", missing)):
        codes = {"AuthenticationCode1": "123456", "AuthenticationCode2": "654321"}
        for method, kwargs in (
            (nobody.list_mfa_devices, {"UserName": name}),
            (nobody.enable_mfa_device, {"UserName": name, "SerialNumber": device, **codes}),
            (nobody.deactivate_mfa_device, {"UserName": name, "SerialNumber": device}),
            (nobody.delete_virtual_mfa_device, {"SerialNumber": device}),
        ):
            with pytest.raises(ClientError) as err:
                method(**kwargs)
            assert _code(err) == "AccessDenied", (name, method)
