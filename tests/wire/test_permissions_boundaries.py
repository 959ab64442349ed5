"""Permissions boundaries over HTTP with boto3: the most a user or role may do, whatever
its own policies say, and the delegated administration they make safe."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server


def _doc(*statements: dict) -> str:  # type: ignore[type-arg]
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _allow(actions: str | list[str], resource: str = "*", **condition: dict) -> dict:  # type: ignore[type-arg]
    statement = {"Effect": "Allow", "Action": actions, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return statement


def _refused(call, **params) -> ClientError:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as err:
        call(**params)
    return err.value


class Admin:
    def __init__(self, server: Server, account) -> None:  # type: ignore[no-untyped-def]
        self.server = server
        self.account_id = account.account_id
        self.iam = server.client("iam", account.access_key_id, account.secret_access_key)
        self.read_only = self.policy("read-only", _allow(["iam:List*", "iam:Get*"]))

    def policy(self, name: str, *statements: dict) -> str:  # type: ignore[type-arg]
        created = self.iam.create_policy(PolicyName=name, PolicyDocument=_doc(*statements))
        return created["Policy"]["Arn"]

    def user(self, name: str, boundary: str | None = None, policy: str | None = None):  # type: ignore[no-untyped-def]
        extra = {"PermissionsBoundary": boundary} if boundary else {}
        self.iam.create_user(UserName=name, **extra)
        self.iam.put_user_policy(
            UserName=name, PolicyName="p", PolicyDocument=policy or _doc(_allow("*"))
        )
        return self.client(name, "iam")

    def client(self, user: str, service: str):  # type: ignore[no-untyped-def]
        """A client signing with a new key of `user`."""
        key = self.iam.create_access_key(UserName=user)["AccessKey"]
        return self.server.client(service, key["AccessKeyId"], key["SecretAccessKey"])

    def role(self, name: str, principal: str, boundary: str | None = None) -> str:
        """A role that `principal` may assume, whose own policy allows everything."""
        trust = _doc(
            {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}
        )
        extra = {"PermissionsBoundary": boundary} if boundary else {}
        arn = self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust, **extra)["Role"][
            "Arn"
        ]
        self.iam.put_role_policy(RoleName=name, PolicyName="all", PolicyDocument=_doc(_allow("*")))
        return arn


@pytest.fixture
def admin(server: Server, account) -> Admin:  # type: ignore[no-untyped-def]
    return Admin(server, account)


def test_a_boundary_caps_a_user_whatever_its_own_policies_allow(admin: Admin) -> None:
    dev = admin.user("dev", boundary=admin.read_only)  # its own policy allows everything
    dev.list_users()
    err = _refused(dev.create_user, UserName="x")
    assert err.response["Error"]["Code"] == "AccessDenied"
    assert "no permissions boundary allows the iam:CreateUser action" in str(err)

    shown = admin.iam.get_user(UserName="dev")["User"]["PermissionsBoundary"]
    assert shown == {
        "PermissionsBoundaryType": "PermissionsBoundaryPolicy",
        "PermissionsBoundaryArn": admin.read_only,
    }
    assert "PermissionsBoundary" not in admin.iam.list_users()["Users"][0]  # as AWS lists
    policy = admin.iam.get_policy(PolicyArn=admin.read_only)["Policy"]
    assert policy["PermissionsBoundaryUsageCount"] == 1
    err = _refused(admin.iam.delete_policy, PolicyArn=admin.read_only)
    assert err.response["Error"]["Code"] == "DeleteConflict"

    # A boundary's own Deny denies, whatever else allows.
    no_listing = admin.policy(
        "no-listing", _allow("*"), {"Effect": "Deny", "Action": "iam:ListUsers", "Resource": "*"}
    )
    admin.iam.put_user_permissions_boundary(UserName="dev", PermissionsBoundary=no_listing)
    assert "explicit deny in a permissions boundary" in str(_refused(dev.list_users))
    dev.create_user(UserName="made-by-dev")

    gone = f"arn:aws:iam::{admin.account_id}:policy/gone"
    err = _refused(
        admin.iam.put_user_permissions_boundary, UserName="dev", PermissionsBoundary=gone
    )
    assert err.response["Error"]["Code"] == "NoSuchEntity"
    err = _refused(admin.iam.create_user, UserName="bounded-by-nothing", PermissionsBoundary=gone)
    assert err.response["Error"]["Code"] == "NoSuchEntity"
    assert all(u["UserName"] != "bounded-by-nothing" for u in admin.iam.list_users()["Users"])

    admin.iam.delete_user_permissions_boundary(UserName="dev")
    dev.list_users()  # its own policy alone now
    assert "PermissionsBoundary" not in admin.iam.get_user(UserName="dev")["User"]
    assert (
        admin.iam.get_policy(PolicyArn=no_listing)["Policy"]["PermissionsBoundaryUsageCount"] == 0
    )


def test_a_delegate_may_make_roles_only_within_the_boundary(admin: Admin) -> None:
    """AWS's delegated administration: a team may create roles and give them policies,
    but only roles that carry the platform's boundary, so it cannot grant itself more."""
    bounded = {"StringEquals": {"iam:PermissionsBoundary": admin.read_only}}
    delegate = admin.user(
        "team-admin",
        policy=_doc(
            _allow(["iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy"], **bounded),
            _allow("iam:GetRole"),
        ),
    )
    trust = _doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": admin.account_id},
            "Action": "sts:AssumeRole",
        }
    )
    err = _refused(delegate.create_role, RoleName="free", AssumeRolePolicyDocument=trust)
    assert err.response["Error"]["Code"] == "AccessDenied"
    delegate.create_role(
        RoleName="app", AssumeRolePolicyDocument=trust, PermissionsBoundary=admin.read_only
    )
    delegate.put_role_policy(RoleName="app", PolicyName="all", PolicyDocument=_doc(_allow("*")))
    # A role made without the boundary is beyond the delegate.
    admin.iam.create_role(RoleName="platform", AssumeRolePolicyDocument=trust)
    err = _refused(
        delegate.put_role_policy,
        RoleName="platform",
        PolicyName="all",
        PolicyDocument=_doc(_allow("*")),
    )
    assert err.response["Error"]["Code"] == "AccessDenied"
    err = _refused(delegate.delete_role_permissions_boundary, RoleName="app")
    assert err.response["Error"]["Code"] == "AccessDenied"


def test_a_roles_boundary_caps_its_sessions(admin: Admin, server: Server) -> None:
    admin.user("alice")
    alice_sts = admin.client("alice", "sts")
    trust = _doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{admin.account_id}:user/alice"},
            "Action": "sts:AssumeRole",
        }
    )
    arn = admin.iam.create_role(
        RoleName="capped", AssumeRolePolicyDocument=trust, PermissionsBoundary=admin.read_only
    )["Role"]["Arn"]
    assert (
        admin.iam.get_role(RoleName="capped")["Role"]["PermissionsBoundary"][
            "PermissionsBoundaryArn"
        ]
        == admin.read_only
    )
    admin.iam.put_role_policy(RoleName="capped", PolicyName="all", PolicyDocument=_doc(_allow("*")))
    creds = alice_sts.assume_role(RoleArn=arn, RoleSessionName="s1")["Credentials"]
    session = server.client(
        "iam", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]
    )
    session.list_roles()
    err = _refused(session.create_user, UserName="x")
    assert "no permissions boundary allows" in str(err)


def test_a_trust_that_names_the_caller_reaches_past_its_boundary_as_aws_says(
    admin: Admin, server: Server
) -> None:
    """AWS: an implicit deny in a boundary does not limit what a resource-based policy
    (here a trust) grants a user, or a role session, by its own ARN; a trust naming
    the role, not the session, is still limited by the role's boundary."""
    admin.user("bounded-user", boundary=admin.read_only)
    user_sts = admin.client("bounded-user", "sts")
    account = admin.account_id

    def role(name: str, principal: str) -> str:
        return admin.role(name, principal, boundary=admin.read_only)

    first = role("first", f"arn:aws:iam::{account}:user/bounded-user")
    creds = user_sts.assume_role(RoleArn=first, RoleSessionName="hop1")["Credentials"]
    hop = server.client(
        "sts", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]
    )
    by_role = role("by-role", first)
    err = _refused(hop.assume_role, RoleArn=by_role, RoleSessionName="hop2")
    assert err.response["Error"]["Code"] == "AccessDenied"
    by_session = role("by-session", f"arn:aws:sts::{account}:assumed-role/first/hop1")
    hop.assume_role(RoleArn=by_session, RoleSessionName="hop2")


def test_the_callers_own_limits_see_the_assume_role_request(admin: Admin, server: Server) -> None:
    """Session name, external id and tags are in the request context of every policy
    evaluated for AssumeRole, the caller's own and its boundary too, not only the trust."""
    account = admin.account_id
    no_admin_sessions = admin.policy(
        "no-admin-sessions",
        _allow("*"),
        {
            "Effect": "Deny",
            "Action": "sts:AssumeRole",
            "Resource": "*",
            "Condition": {"StringLike": {"sts:RoleSessionName": "admin*"}},
        },
    )
    admin.user(
        "carol",
        boundary=no_admin_sessions,
        policy=_doc(
            _allow(["sts:AssumeRole", "sts:TagSession"]),
            {
                "Effect": "Deny",
                "Action": "sts:AssumeRole",
                "Resource": "*",
                "Condition": {"StringEquals": {"sts:ExternalId": "forbidden"}},
            },
        ),
    )
    carol = admin.client("carol", "sts")
    trust = _doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": account},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
        }
    )
    arn = admin.iam.create_role(RoleName="target", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    carol.assume_role(RoleArn=arn, RoleSessionName="carol-1", ExternalId="fine")
    assert "permissions boundary" in str(
        _refused(carol.assume_role, RoleArn=arn, RoleSessionName="admin-1")
    )
    assert "explicit deny" in str(
        _refused(carol.assume_role, RoleArn=arn, RoleSessionName="carol-2", ExternalId="forbidden")
    )


def test_a_session_policy_limits_what_a_trust_grants_to_the_role(
    admin: Admin, server: Server
) -> None:
    """As a boundary does: a trust naming the role does not reach past the session's
    policies; naming the session itself does."""
    admin.user("dave")
    dave = admin.client("dave", "sts")
    account = admin.account_id
    role = admin.role

    source = role("source", f"arn:aws:iam::{account}:user/dave")
    creds = dave.assume_role(
        RoleArn=source, RoleSessionName="narrow", Policy=_doc(_allow("iam:List*"))
    )["Credentials"]
    narrow = server.client(
        "sts", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]
    )
    by_role = role("by-role", source)
    assert (
        _refused(narrow.assume_role, RoleArn=by_role, RoleSessionName="hop").response["Error"][
            "Code"
        ]
        == "AccessDenied"
    )
    by_session = role("by-session", f"arn:aws:sts::{account}:assumed-role/source/narrow")
    narrow.assume_role(RoleArn=by_session, RoleSessionName="hop")


def test_delete_role_carries_the_roles_boundary(admin: Admin) -> None:
    bounded = {"StringEquals": {"iam:PermissionsBoundary": admin.read_only}}
    delegate = admin.user("cleaner", policy=_doc(_allow("iam:DeleteRole", **bounded)))
    trust = _doc(
        {"Effect": "Allow", "Principal": {"AWS": admin.account_id}, "Action": "sts:AssumeRole"}
    )
    admin.iam.create_role(
        RoleName="theirs", AssumeRolePolicyDocument=trust, PermissionsBoundary=admin.read_only
    )
    admin.iam.create_role(RoleName="platform", AssumeRolePolicyDocument=trust)
    delegate.delete_role(RoleName="theirs")
    assert (
        _refused(delegate.delete_role, RoleName="platform").response["Error"]["Code"]
        == "AccessDenied"
    )


def test_policies_listed_by_how_they_are_used(admin: Admin) -> None:
    attached = admin.policy("attached", _allow("iam:GetUser"))
    admin.policy("unused", _allow("iam:GetUser"))
    admin.iam.create_user(UserName="erin", PermissionsBoundary=admin.read_only)
    admin.iam.attach_user_policy(UserName="erin", PolicyArn=attached)

    def listed(usage: str) -> list[str]:
        policies = admin.iam.list_policies(Scope="Local", PolicyUsageFilter=usage)["Policies"]
        return [p["PolicyName"] for p in policies]

    assert listed("PermissionsBoundary") == ["read-only"]
    assert listed("PermissionsPolicy") == ["attached"]
    err = _refused(admin.iam.list_policies, PolicyUsageFilter="Bogus")
    assert err.response["Error"]["Code"] == "ValidationError"


def test_the_entities_a_policy_reaches_are_listed(admin: Admin) -> None:
    """ListEntitiesForPolicy (Terraform's aws_iam_policy_attachment reads it): attached
    users, groups and roles, and those the policy bounds, in pages."""
    policy = admin.read_only
    admin.iam.create_user(UserName="uma", Path="/eng/")
    admin.iam.attach_user_policy(UserName="uma", PolicyArn=policy)
    admin.iam.create_group(GroupName="readers")
    admin.iam.attach_group_policy(GroupName="readers", PolicyArn=policy)
    trust = _doc(
        {"Effect": "Allow", "Principal": {"AWS": admin.account_id}, "Action": "sts:AssumeRole"}
    )
    admin.iam.create_role(
        RoleName="bounded", AssumeRolePolicyDocument=trust, PermissionsBoundary=policy
    )
    ids = {
        "uma": admin.iam.get_user(UserName="uma")["User"]["UserId"],
        "readers": admin.iam.get_group(GroupName="readers")["Group"]["GroupId"],
        "bounded": admin.iam.get_role(RoleName="bounded")["Role"]["RoleId"],
    }

    def names(**params: str) -> tuple[list[str], list[str], list[str]]:
        got = admin.iam.list_entities_for_policy(PolicyArn=policy, **params)
        return (
            [g["GroupName"] for g in got["PolicyGroups"]],
            [u["UserName"] for u in got["PolicyUsers"]],
            [r["RoleName"] for r in got["PolicyRoles"]],
        )

    assert names() == (["readers"], ["uma"], ["bounded"])
    got = admin.iam.list_entities_for_policy(PolicyArn=policy)
    assert got["PolicyUsers"][0]["UserId"] == ids["uma"]
    assert got["PolicyGroups"][0]["GroupId"] == ids["readers"]
    assert got["PolicyRoles"][0]["RoleId"] == ids["bounded"]
    assert names(PolicyUsageFilter="PermissionsPolicy") == (["readers"], ["uma"], [])
    assert names(PolicyUsageFilter="PermissionsBoundary") == ([], [], ["bounded"])
    assert names(EntityFilter="User") == ([], ["uma"], [])
    assert names(PathPrefix="/eng/") == ([], ["uma"], [])
    pages = admin.iam.get_paginator("list_entities_for_policy").paginate(
        PolicyArn=policy, PaginationConfig={"PageSize": 1}
    )
    assert (
        sum(len(p["PolicyGroups"]) + len(p["PolicyUsers"]) + len(p["PolicyRoles"]) for p in pages)
        == 3
    )
    err = _refused(admin.iam.list_entities_for_policy, PolicyArn=policy, EntityFilter="Bogus")
    assert err.response["Error"]["Code"] == "ValidationError"
