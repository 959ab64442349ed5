"""STS over HTTP with boto3: temporary credentials that work, narrow, expire and can be taken back."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server


def _doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _trust(
    principal: str,
    *also: str,
    actions: tuple = ("sts:AssumeRole", "sts:TagSession"),
    **condition: dict,
) -> str:
    stmt: dict = {
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": [*actions, *also],
    }
    if condition:
        stmt["Condition"] = condition
    return _doc(stmt)


ALLOW_ALL = _doc({"Effect": "Allow", "Action": "*", "Resource": "*"})


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return err.value.response["Error"]["Code"]


class World:
    """An account with a user `alice` (may assume any role) and helpers."""

    def __init__(self, server: Server, account) -> None:  # type: ignore[no-untyped-def]
        self.server = server
        self.account_id = account.account_id
        self.admin = server.client("iam", account.access_key_id, account.secret_access_key)
        self.admin.create_user(UserName="alice", Tags=[{"Key": "team", "Value": "blue"}])
        self.admin.put_user_policy(
            UserName="alice",
            PolicyName="assume",
            PolicyDocument=_doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}),
        )
        key = self.admin.create_access_key(UserName="alice")["AccessKey"]
        self.alice_key = (key["AccessKeyId"], key["SecretAccessKey"])
        self.alice_sts = server.client("sts", *self.alice_key)

    def role(self, name: str, trust: str | None = None, policy: str = ALLOW_ALL, **kwargs) -> str:  # type: ignore[no-untyped-def]
        arn = self.admin.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=trust or _trust(f"arn:aws:iam::{self.account_id}:user/alice"),
            **kwargs,
        )["Role"]["Arn"]
        self.admin.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=policy)
        return arn

    def clients(self, creds: dict) -> tuple:
        args = (creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
        return self.server.client("iam", *args), self.server.client("sts", *args)


@pytest.fixture
def world(server: Server, account) -> World:  # type: ignore[no-untyped-def]
    return World(server, account)


def test_assume_role_credentials_sign_further_calls(world: World) -> None:
    arn = world.role("Admins")
    resp = world.alice_sts.assume_role(RoleArn=arn, RoleSessionName="alice@example.com")
    creds = resp["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["AccessKeyId"]) == 20
    assert len(creds["SecretAccessKey"]) == 40
    assert (
        resp["AssumedRoleUser"]["Arn"]
        == f"arn:aws:sts::{world.account_id}:assumed-role/Admins/alice@example.com"
    )
    iam, sts = world.clients(creds)
    me = sts.get_caller_identity()
    assert me["Arn"] == resp["AssumedRoleUser"]["Arn"]
    assert me["UserId"].startswith("AROA") and me["UserId"].endswith(":alice@example.com")
    assert "Admins" in [r["RoleName"] for r in iam.list_roles()["Roles"]]


def test_what_the_role_denies_is_denied(world: World) -> None:
    arn = world.role(
        "Readers",
        policy=_doc(
            {"Effect": "Allow", "Action": "iam:List*", "Resource": "*"},
            {"Effect": "Deny", "Action": "iam:ListUsers", "Resource": "*"},
        ),
    )
    iam, _ = world.clients(
        world.alice_sts.assume_role(RoleArn=arn, RoleSessionName="s1")["Credentials"]
    )
    iam.list_roles()
    with pytest.raises(ClientError) as err:
        iam.list_users()
    assert _code(err) == "AccessDenied"
    with pytest.raises(ClientError) as err:
        iam.create_user(UserName="x")
    assert _code(err) == "AccessDenied"


def test_session_policy_gives_the_intersection(world: World) -> None:
    arn = world.role("Wide")
    session_policy = _doc(
        {"Effect": "Allow", "Action": ["iam:ListRoles", "iam:CreateUser"], "Resource": "*"}
    )
    resp = world.alice_sts.assume_role(RoleArn=arn, RoleSessionName="narrow", Policy=session_policy)
    assert 0 < resp["PackedPolicySize"] <= 100
    iam, _ = world.clients(resp["Credentials"])
    iam.list_roles()
    with pytest.raises(ClientError) as err:
        iam.list_users()  # the role allows it, the session policy does not
    assert _code(err) == "AccessDenied"
    assert "session policy" in err.value.response["Error"]["Message"]


def test_managed_session_policies_are_those_the_session_was_issued_with(
    world: World, server: Server
) -> None:
    arn = world.role("Wide")
    read_only = _doc({"Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"})
    ro_arn = world.admin.create_policy(PolicyName="RO", PolicyDocument=read_only)["Policy"]["Arn"]
    resp = world.alice_sts.assume_role(
        RoleArn=arn, RoleSessionName="narrow", PolicyArns=[{"arn": ro_arn}]
    )
    iam, _ = world.clients(resp["Credentials"])
    iam.list_roles()
    with pytest.raises(ClientError) as err:
        iam.create_user(UserName="mallory")
    assert _code(err) == "AccessDenied"
    # AWS: "The policies must exist in the same account as the role."
    other = server.new_account()
    other_iam = server.client("iam", other.access_key_id, other.secret_access_key)
    foreign = other_iam.create_policy(PolicyName="RO", PolicyDocument=read_only)["Policy"]["Arn"]
    for missing in (ro_arn.replace("/RO", "/NotYet"), foreign):
        with pytest.raises(ClientError) as err:
            world.alice_sts.assume_role(
                RoleArn=arn, RoleSessionName="narrow", PolicyArns=[{"arn": missing}]
            )
        assert _code(err) == "MalformedPolicyDocument"
        assert "does not exist in the role's account" in err.value.response["Error"]["Message"]
    # The session's policy deleted and made again under its name, allowing everything:
    # another policy, which gives the old session nothing.
    world.admin.delete_policy(PolicyArn=ro_arn)
    world.admin.create_policy(PolicyName="RO", PolicyDocument=ALLOW_ALL)
    for attempt in (lambda: iam.create_user(UserName="mallory"), iam.list_roles):
        with pytest.raises(ClientError) as err:
            attempt()
        assert _code(err) == "AccessDenied"
    assert "mallory" not in [u["UserName"] for u in world.admin.list_users()["Users"]]


def test_cross_account_needs_both_sides(world: World, server: Server) -> None:
    other = server.new_account()
    other_iam = server.client("iam", other.access_key_id, other.secret_access_key)
    arn = other_iam.create_role(
        RoleName="Partner", AssumeRolePolicyDocument=_trust(world.account_id)
    )["Role"]["Arn"]
    other_iam.put_role_policy(RoleName="Partner", PolicyName="p", PolicyDocument=ALLOW_ALL)

    resp = world.alice_sts.assume_role(RoleArn=arn, RoleSessionName="visitor")
    _, sts = world.clients(resp["Credentials"])
    assert sts.get_caller_identity()["Account"] == other.account_id

    # Without sts:AssumeRole in alice's own policy, the other account's trust is not enough.
    world.admin.delete_user_policy(UserName="alice", PolicyName="assume")
    with pytest.raises(ClientError) as err:
        world.alice_sts.assume_role(RoleArn=arn, RoleSessionName="visitor")
    assert _code(err) == "AccessDenied"


def test_external_id(world: World) -> None:
    arn = world.role(
        "Vendor",
        trust=_trust(
            f"arn:aws:iam::{world.account_id}:user/alice",
            StringEquals={"sts:ExternalId": "contract-42"},
        ),
    )
    for kwargs in ({}, {"ExternalId": "contract-41"}):
        with pytest.raises(ClientError) as err:
            world.alice_sts.assume_role(RoleArn=arn, RoleSessionName="s1", **kwargs)
        assert _code(err) == "AccessDenied"
    world.alice_sts.assume_role(RoleArn=arn, RoleSessionName="s1", ExternalId="contract-42")


def test_untrusted_caller_and_missing_role(world: World) -> None:
    world.admin.create_user(UserName="somebody-else")
    arn = world.role(
        "NotForAlice", trust=_trust(f"arn:aws:iam::{world.account_id}:user/somebody-else")
    )
    with pytest.raises(ClientError) as err:
        world.alice_sts.assume_role(RoleArn=arn, RoleSessionName="s1")
    assert _code(err) == "AccessDenied"
    with pytest.raises(ClientError) as err:
        world.alice_sts.assume_role(
            RoleArn=f"arn:aws:iam::{world.account_id}:role/Nope", RoleSessionName="s1"
        )
    assert _code(err) == "AccessDenied"


def test_trust_names_users_and_roles_not_their_names(world: World) -> None:
    """As AWS: a trusted user or role must exist when the trust is saved, and stays
    trusted by identity, not by name: renamed it still may, deleted and made again not."""
    admin, account = world.admin, world.account_id
    ghost = f"arn:aws:iam::{account}:user/ghost"
    with pytest.raises(ClientError) as err:
        world.role("TrustsGhost", trust=_trust(ghost))
    assert _code(err) == "MalformedPolicyDocument"
    assert err.value.response["Error"]["Message"] == f'Invalid principal in policy: "AWS":"{ghost}"'

    def bob_sts():  # type: ignore[no-untyped-def]
        key = admin.create_access_key(UserName="bob")["AccessKey"]
        return world.server.client("sts", key["AccessKeyId"], key["SecretAccessKey"])

    admin.create_user(UserName="bob")
    admin.put_user_policy(
        UserName="bob",
        PolicyName="assume",
        PolicyDocument=_doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}),
    )
    arn = world.role("ForBob", trust=_trust(f"arn:aws:iam::{account}:user/bob"))
    with pytest.raises(ClientError) as err:  # a refused update leaves the trust as it was
        admin.update_assume_role_policy(RoleName="ForBob", PolicyDocument=_trust(ghost))
    assert _code(err) == "MalformedPolicyDocument"
    bob = bob_sts()
    bob.assume_role(RoleArn=arn, RoleSessionName="s1")

    admin.update_user(UserName="bob", NewUserName="robert")
    bob.assume_role(RoleArn=arn, RoleSessionName="s1")  # renamed, still the one trusted
    shown = admin.get_role(RoleName="ForBob")["Role"]["AssumeRolePolicyDocument"]
    assert shown["Statement"][0]["Principal"]["AWS"] == f"arn:aws:iam::{account}:user/robert"

    old_id = admin.get_user(UserName="robert")["User"]["UserId"]
    admin.delete_user_policy(UserName="robert", PolicyName="assume")
    for key in admin.list_access_keys(UserName="robert")["AccessKeyMetadata"]:
        admin.delete_access_key(UserName="robert", AccessKeyId=key["AccessKeyId"])
    admin.delete_user(UserName="robert")
    admin.create_user(UserName="bob")
    admin.put_user_policy(
        UserName="bob",
        PolicyName="assume",
        PolicyDocument=_doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}),
    )
    with pytest.raises(ClientError) as err:  # another bob is not the one trusted
        bob_sts().assume_role(RoleArn=arn, RoleSessionName="s1")
    assert _code(err) == "AccessDenied"
    shown = admin.get_role(RoleName="ForBob")["Role"]["AssumeRolePolicyDocument"]
    assert shown["Statement"][0]["Principal"]["AWS"] == old_id


def test_a_missing_parameter_is_named_as_aws_names_it(world: World) -> None:
    arn = world.role("Named")
    with pytest.raises(ClientError) as err:
        world.alice_sts.assume_role(RoleArn=arn)  # no RoleSessionName
    assert _code(err) == "ValidationError"
    assert err.value.response["Error"]["Message"] == (
        "1 validation error detected: Value null at 'roleSessionName' failed to satisfy "
        "constraint: Member must not be null"
    )
    # Every one left out is named, before anything else is looked at.
    with pytest.raises(ClientError) as err:
        world.admin.enable_mfa_device(UserName="nobody", SerialNumber="arn:aws:iam::1:mfa/x")
    assert err.value.response["Error"]["Message"] == (
        "2 validation errors detected: Value null at 'authenticationCode1' failed to satisfy "
        "constraint: Member must not be null; Value null at 'authenticationCode2' failed to "
        "satisfy constraint: Member must not be null"
    )


def test_session_tags_are_packed_as_aws_packs_them(world: World) -> None:
    """AWS does not compress session tags: nine tags of 250 "a"s, which compress to
    nothing, are refused as AWS refused them in aws-actions/configure-aws-credentials#1898
    (tools rely on the error to drop tags and retry)."""
    alice = f"arn:aws:iam::{world.account_id}:user/alice"
    arn = world.role("Tagged", trust=_trust(alice))
    tags = [{"Key": f"T{n}", "Value": "a" * 250} for n in range(1, 10)]
    with pytest.raises(ClientError) as err:
        world.alice_sts.assume_role(RoleArn=arn, RoleSessionName="s1", Tags=tags)
    assert _code(err) == "PackedPolicyTooLarge"
    assert err.value.response["Error"]["Message"] == (
        "Packed size of session tags consumes 498% of allotted space."
    )
    few = world.alice_sts.assume_role(RoleArn=arn, RoleSessionName="s1", Tags=tags[:1])
    assert few["PackedPolicySize"] == 56  # 252 of 456 bytes


def test_duration_limits(world: World) -> None:
    arn = world.role("Short", MaxSessionDuration=3600)
    with pytest.raises(ClientError) as err:
        world.alice_sts.assume_role(RoleArn=arn, RoleSessionName="s1", DurationSeconds=7200)
    assert _code(err) == "ValidationError"
    resp = world.alice_sts.assume_role(RoleArn=arn, RoleSessionName="s1", DurationSeconds=900)
    remaining = resp["Credentials"]["Expiration"].timestamp() - time.time()
    assert 850 < remaining <= 900


def test_role_chaining_is_capped_at_one_hour(world: World) -> None:
    first = world.role("First", MaxSessionDuration=43200)
    second = world.role("Second", trust=_trust(first), MaxSessionDuration=43200)
    _, sts = world.clients(
        world.alice_sts.assume_role(RoleArn=first, RoleSessionName="hop1")["Credentials"]
    )
    with pytest.raises(ClientError) as err:
        sts.assume_role(RoleArn=second, RoleSessionName="hop2", DurationSeconds=7200)
    assert _code(err) == "ValidationError"
    hop = sts.assume_role(RoleArn=second, RoleSessionName="hop2")
    assert hop["AssumedRoleUser"]["Arn"].endswith(":assumed-role/Second/hop2")


def test_session_tags_and_source_identity_carry_along(world: World) -> None:
    alice = f"arn:aws:iam::{world.account_id}:user/alice"
    first = world.role("TagFirst", trust=_trust(alice, "sts:SetSourceIdentity"))
    second = world.role(
        "TagSecond",
        trust=_trust(first, "sts:SetSourceIdentity"),
        policy=_doc(
            {
                "Effect": "Allow",
                "Action": "iam:ListRoles",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalTag/project": "apollo"}},
            }
        ),
    )
    resp = world.alice_sts.assume_role(
        RoleArn=first,
        RoleSessionName="s1",
        SourceIdentity="alice",
        Tags=[{"Key": "project", "Value": "apollo"}],
        TransitiveTagKeys=["project"],
    )
    assert resp["SourceIdentity"] == "alice"
    _, sts = world.clients(resp["Credentials"])
    chained = sts.assume_role(RoleArn=second, RoleSessionName="s2")
    assert chained["SourceIdentity"] == "alice"
    iam2, _ = world.clients(chained["Credentials"])
    iam2.list_roles()  # allowed only through the transitive tag
    # A source identity, set or carried along, needs sts:SetSourceIdentity in the trust.
    third = world.role("TagThird", trust=_trust(first))
    with pytest.raises(ClientError) as err:
        sts.assume_role(RoleArn=third, RoleSessionName="s3")
    assert _code(err) == "AccessDenied" and "sts:SetSourceIdentity" in str(err.value)
    with pytest.raises(ClientError) as err:
        world.alice_sts.assume_role(
            RoleArn=world.role("NoSourceIdentity"), RoleSessionName="s4", SourceIdentity="alice"
        )
    assert _code(err) == "AccessDenied"


def test_no_policy_on_either_side_may_deny(world: World) -> None:
    alice, account = f"arn:aws:iam::{world.account_id}:user/alice", world.account_id
    named = world.role("Named")  # the trust names alice: her own policy need not allow
    world.alice_sts.assume_role(RoleArn=named, RoleSessionName="ok")
    # A Deny in the trust that names her account binds her too.
    deny_account = {"Effect": "Deny", "Principal": {"AWS": account}, "Action": "sts:AssumeRole"}
    fenced = world.role(
        "Fenced", trust=_doc(json.loads(_trust(alice))["Statement"][0], deny_account)
    )
    # Trust given to the account, with sts:TagSession: her own policy decides on tags.
    tagged = world.role("Tagged", trust=_trust(account))
    world.alice_sts.assume_role(RoleArn=tagged, RoleSessionName="ok")
    world.admin.put_user_policy(
        UserName="alice",
        PolicyName="fence",
        PolicyDocument=_doc(
            {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": named},
            {"Effect": "Deny", "Action": "sts:TagSession", "Resource": "*"},
        ),
    )
    for arn, tags in ((named, []), (fenced, []), (tagged, [{"Key": "k", "Value": "v"}])):
        with pytest.raises(ClientError) as err:
            world.alice_sts.assume_role(RoleArn=arn, RoleSessionName="no", Tags=tags)
        assert _code(err) == "AccessDenied", arn
    world.alice_sts.assume_role(RoleArn=tagged, RoleSessionName="ok")  # no tags: allowed


SERIAL = "arn:aws:iam::111122223333:mfa/none"
MALFORMED = {
    # AWS's \\w and \\d are ASCII: other scripts' letters and digits are refused.
    "session-name-accent": {"RoleSessionName": "caf\u00e9"},
    "session-name-arabic-digits": {"RoleSessionName": "\u0661\u0662\u0663"},
    "source-identity-accent": {"SourceIdentity": "jos\u00e9"},
    "external-id-accent": {"ExternalId": "\u00e9\u00e9x"},
    "policy-beyond-latin-1": {
        "Policy": _doc({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::B"}).replace(
            ":::B", ":::\u4e2d"
        )
    },
    "tag-newline": {"Tags": [{"Key": "k", "Value": "a\nb"}]},
    "tag-tab": {"Tags": [{"Key": "k\tk", "Value": "v"}]},
    "51-transitive-keys": {  # of 50 session tags, one named twice
        "Tags": [{"Key": f"k{n}", "Value": "v"} for n in range(50)],
        "TransitiveTagKeys": [f"k{n}" for n in range(50)] + ["k0"],
    },
    "token-code-letters": {"SerialNumber": SERIAL, "TokenCode": "12ab56"},
    "token-code-long": {"SerialNumber": SERIAL, "TokenCode": "1234567"},
    "serial-with-space": {"SerialNumber": "arn:aws:iam::1:mfa/a b", "TokenCode": "123456"},
}


@pytest.mark.parametrize("wrong", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_parameters_are_validation_errors(world: World, wrong: dict) -> None:  # type: ignore[type-arg]
    kwargs = {"RoleArn": world.role("Plain"), "RoleSessionName": "ok", **wrong}
    with pytest.raises(ClientError) as err:
        world.alice_sts.assume_role(**kwargs)
    assert _code(err) == "ValidationError"


def test_tags_take_letters_and_spaces_of_any_script(world: World) -> None:
    tags = [{"Key": "cl\u00e9 \u4e2d", "Value": "a\u00f1o\u00a02026 \u0661"}]
    world.alice_sts.assume_role(RoleArn=world.role("Plain"), RoleSessionName="ok", Tags=tags)


def test_an_unknown_mfa_device_is_refused_like_another_users(world: World) -> None:
    # One answer for both, so a caller cannot learn which devices exist.
    arn = world.role("Plain")
    for serial in (f"arn:aws:iam::{world.account_id}:mfa/nosuch", "GAHT12345678"):
        with pytest.raises(ClientError) as err:
            world.alice_sts.assume_role(
                RoleArn=arn, RoleSessionName="ok", SerialNumber=serial, TokenCode="123456"
            )
        assert _code(err) == "AccessDenied"
        assert "unable to validate MFA code" in str(err.value)


def test_a_trust_policy_may_not_use_not_principal(world: World) -> None:
    everyone_but_bob = _doc(
        {
            "Effect": "Allow",
            "NotPrincipal": {"AWS": f"arn:aws:iam::{world.account_id}:user/bob"},
            "Action": "sts:AssumeRole",
        }
    )
    with pytest.raises(ClientError) as err:
        world.admin.create_role(RoleName="Open", AssumeRolePolicyDocument=everyone_but_bob)
    assert _code(err) == "MalformedPolicyDocument"


def test_revoked_sessions_fail_and_fresh_ones_work(world: World, server: Server) -> None:
    arn = world.role("Revocable")
    old_iam, _ = world.clients(
        world.alice_sts.assume_role(RoleArn=arn, RoleSessionName="old")["Credentials"]
    )
    old_iam.list_roles()
    # Revoke through the API, exactly as the AWS console does it.
    revoke = _doc(
        {
            "Effect": "Deny",
            "Action": ["*"],
            "Resource": ["*"],
            "Condition": {
                "DateLessThan": {
                    "aws:TokenIssueTime": server.clock.now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
                    + "Z"
                }
            },
        }
    )
    world.admin.put_role_policy(
        RoleName="Revocable", PolicyName="AWSRevokeOlderSessions", PolicyDocument=revoke
    )
    with pytest.raises(ClientError) as err:
        old_iam.list_roles()
    assert _code(err) == "AccessDenied"
    new_iam, _ = world.clients(
        world.alice_sts.assume_role(RoleArn=arn, RoleSessionName="new")["Credentials"]
    )
    new_iam.list_roles()


def test_deleted_role_ends_its_sessions(world: World) -> None:
    arn = world.role("Doomed")
    _, sts = world.clients(
        world.alice_sts.assume_role(RoleArn=arn, RoleSessionName="s1")["Credentials"]
    )
    sts.get_caller_identity()
    world.admin.delete_role_policy(RoleName="Doomed", PolicyName="p")
    world.admin.delete_role(RoleName="Doomed")
    world.role("Doomed")  # a new role of the same name does not revive old sessions
    with pytest.raises(ClientError) as err:
        sts.get_caller_identity()
    assert _code(err) == "InvalidClientTokenId"


def test_expired_credentials(world: World, server: Server) -> None:
    arn = world.role("Ticking")
    _iam, sts = world.clients(
        world.alice_sts.assume_role(RoleArn=arn, RoleSessionName="s1", DurationSeconds=900)[
            "Credentials"
        ]
    )
    sts.get_caller_identity()
    server.clock.advance(901)
    with pytest.raises(ClientError) as err:
        sts.get_caller_identity()
    assert _code(err) == "ExpiredToken"


def test_get_session_token(world: World, server: Server, account) -> None:  # type: ignore[no-untyped-def]
    creds = world.alice_sts.get_session_token(DurationSeconds=900)["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    iam, sts = world.clients(creds)
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{world.account_id}:user/alice"
    # A session cannot renew itself past its key's revocation, and reaches IAM only with
    # MFA: AWS's codes for both.
    with pytest.raises(ClientError) as err:
        sts.get_session_token()
    assert _code(err) == "AccessDenied"
    with pytest.raises(ClientError) as err:
        iam.list_roles()
    assert _code(err) == "InvalidClientTokenId"
    # Bounds are 900 s to 36 h; the root's sessions are an hour at most, whatever it asks.
    for wrong in (899, 129601):
        with pytest.raises(ClientError) as err:
            world.alice_sts.get_session_token(DurationSeconds=wrong)
        assert _code(err) == "ValidationError" and "role" not in str(err.value)
    root_sts = server.client("sts", account.access_key_id, account.secret_access_key)
    root = root_sts.get_session_token(DurationSeconds=129600)["Credentials"]["Expiration"]
    assert root - server.clock.now() <= timedelta(hours=1, seconds=5)


def test_removed_user_loses_its_sessions(world: World) -> None:
    world.admin.create_user(UserName="leaver")
    key = world.admin.create_access_key(UserName="leaver")["AccessKey"]
    own_sts = world.server.client("sts", key["AccessKeyId"], key["SecretAccessKey"])
    _, sts = world.clients(own_sts.get_session_token(DurationSeconds=900)["Credentials"])
    sts.get_caller_identity()
    world.admin.delete_access_key(UserName="leaver", AccessKeyId=key["AccessKeyId"])
    world.admin.delete_user(UserName="leaver")
    world.admin.create_user(UserName="leaver")  # the same name again is someone else
    with pytest.raises(ClientError) as err:
        sts.get_caller_identity()
    assert _code(err) == "InvalidClientTokenId"


def test_root_cannot_assume_roles(world: World, server: Server, account) -> None:  # type: ignore[no-untyped-def]
    arn = world.role("ForRoot", trust=_trust(world.account_id))
    root_sts = server.client("sts", account.access_key_id, account.secret_access_key)
    with pytest.raises(ClientError) as err:
        root_sts.assume_role(RoleArn=arn, RoleSessionName="s1")
    assert _code(err) == "AccessDenied"


@pytest.mark.parametrize("tamper", ["flip-byte", "other-key-id", "garbage", "truncated", "huge"])
def test_tampered_tokens_are_refused(world: World, tamper: str) -> None:
    arn = world.role("Tamper")
    creds = dict(world.alice_sts.assume_role(RoleArn=arn, RoleSessionName="s1")["Credentials"])
    token = creds["SessionToken"]
    if tamper == "flip-byte":
        i = len(token) - 10
        creds["SessionToken"] = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
    elif tamper == "other-key-id":
        creds["AccessKeyId"] = "ASIA" + "Z" * 16
    elif tamper == "garbage":
        creds["SessionToken"] = "not-a-token"
    elif tamper == "truncated":
        creds["SessionToken"] = token[:40]
    else:
        creds["SessionToken"] = token + "A" * 20000
    _, sts = world.clients(creds)
    with pytest.raises(ClientError) as err:
        sts.get_caller_identity()
    assert _code(err) in ("InvalidClientTokenId", "IncompleteSignature", "SignatureDoesNotMatch")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] < 500


def test_token_with_the_wrong_secret(world: World) -> None:
    arn = world.role("WrongSecret")
    creds = dict(world.alice_sts.assume_role(RoleArn=arn, RoleSessionName="s1")["Credentials"])
    creds["SecretAccessKey"] = "x" * 40
    _, sts = world.clients(creds)
    with pytest.raises(ClientError) as err:
        sts.get_caller_identity()
    assert _code(err) == "SignatureDoesNotMatch"


def test_a_key_rotated_by_another_process_seals_the_next_sessions(
    world: World, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`fedbridge sts rotate-key` runs in a process of its own and writes only the
    database: a running server must start sealing with the new key, soon."""
    from app.sts import tokens

    monkeypatch.setattr(tokens, "CURRENT_KEY_RECHECK", 0.5)  # 10 s in service
    arn = world.role("Rotating")

    def kid() -> str:
        creds = world.alice_sts.assume_role(RoleArn=arn, RoleSessionName="s1")["Credentials"]
        return str(creds["SessionToken"].split(".")[1])

    runtime = server.runtime
    before = kid()
    cli = tokens.TokenKeyRing(runtime.sessions, runtime.secrets, runtime.clock)
    rotated = cli.rotate()
    time.sleep(0.6)
    assert before != rotated and kid() == rotated


def test_keys_are_reread_inside_a_writing_transaction_without_waiting_for_it(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Browser sign-ins seal credentials inside a transaction that holds SQLite's one
    write lock: rereading the keys there must not wait for that lock (it did, forever)."""
    import signal

    from sqlalchemy import text

    from app.sts import tokens

    def stuck(*_: object) -> None:
        raise TimeoutError("rereading the keys waited for this thread's own write lock")

    monkeypatch.setattr(tokens, "CURRENT_KEY_RECHECK", 0.0)
    previous = signal.signal(signal.SIGALRM, stuck)
    signal.alarm(5)
    try:
        with server.runtime.sessions.begin() as db:
            db.execute(text("SELECT 1"))  # the transaction, and on SQLite its lock, begin
            kid, _ = server.runtime.tokens.keys.current()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert kid


def test_token_from_another_server_key(world: World, server: Server) -> None:
    """A token sealed under a key this server never had is refused; rotation keeps old tokens."""
    arn = world.role("Rotating")
    creds = world.alice_sts.assume_role(RoleArn=arn, RoleSessionName="s1")["Credentials"]
    server.runtime.tokens.keys.rotate()
    _, sts = world.clients(creds)
    sts.get_caller_identity()  # sealed by the previous key: still valid
    forged = dict(creds)
    kid = creds["SessionToken"].split(".")[1]
    forged["SessionToken"] = creds["SessionToken"].replace(f".{kid}.", ".deadbeef.", 1)
    _, forged_sts = world.clients(forged)
    with pytest.raises(ClientError) as err:
        forged_sts.get_caller_identity()
    assert _code(err) == "InvalidClientTokenId"
