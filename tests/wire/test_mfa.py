"""Virtual MFA over the API: enrolment with two codes, MFA in STS and policies, replay,
wrong codes and the lockout, with the server's clock moved instead of sleeping."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pyotp
import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server


def _doc(*statements: dict) -> str:  # type: ignore[type-arg]
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return err.value.response["Error"]["Code"]


class MfaWorld:
    def __init__(self, server: Server, account) -> None:  # type: ignore[no-untyped-def]
        self.server = server
        self.account_id = account.account_id
        self.admin = server.client("iam", account.access_key_id, account.secret_access_key)
        self.admin.create_user(UserName="bob")
        # Bob may list roles only when he signed in with MFA.
        self.admin.put_user_policy(
            UserName="bob",
            PolicyName="mfa-only",
            PolicyDocument=_doc(
                {
                    "Effect": "Allow",
                    "Action": ["iam:ListRoles", "sts:AssumeRole"],
                    "Resource": "*",
                    "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
                }
            ),
        )
        key = self.admin.create_access_key(UserName="bob")["AccessKey"]
        self.bob_sts = server.client("sts", key["AccessKeyId"], key["SecretAccessKey"])
        device = self.admin.create_virtual_mfa_device(VirtualMFADeviceName="bob-phone")[
            "VirtualMFADevice"
        ]
        self.serial = device["SerialNumber"]
        self.seed = device["Base32StringSeed"].decode()
        self.qr = device["QRCodePNG"]
        self.totp = pyotp.TOTP(self.seed)

    def step(self) -> int:
        return int(self.server.clock.now().timestamp()) // 30

    def code(self, offset: int = 0) -> str:
        return self.totp.generate_otp(self.step() + offset)

    def next_step(self) -> None:
        self.server.clock.advance(30)

    def enable(self) -> None:
        self.admin.enable_mfa_device(
            UserName="bob",
            SerialNumber=self.serial,
            AuthenticationCode1=self.code(-1),
            AuthenticationCode2=self.code(0),
        )
        self.next_step()

    def session_token(self, code: str) -> dict:  # type: ignore[type-arg]
        return self.bob_sts.get_session_token(SerialNumber=self.serial, TokenCode=code)[
            "Credentials"
        ]

    def iam_with(self, creds: dict, service: str = "iam"):  # type: ignore[no-untyped-def,type-arg]
        return self.server.client(
            service, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]
        )


@pytest.fixture
def world(server: Server, account) -> MfaWorld:  # type: ignore[no-untyped-def]
    return MfaWorld(server, account)


def test_create_and_enable_with_two_consecutive_codes(world: MfaWorld) -> None:
    assert world.serial == f"arn:aws:iam::{world.account_id}:mfa/bob-phone"
    assert len(world.seed) == 32 and world.qr.startswith(b"\x89PNG")
    with pytest.raises(ClientError) as err:
        world.admin.enable_mfa_device(
            UserName="bob",
            SerialNumber=world.serial,
            AuthenticationCode1=world.code(0),
            AuthenticationCode2=world.code(-1),
        )
    assert _code(err) == "InvalidAuthenticationCode"
    for first, second in (
        ("١٢٣٤٥٦", world.code(0)),
        ("abc", "12345678"),
        ("\uff11\uff12\uff13\uff14\uff15\uff16", "é"),
    ):
        for call in (world.admin.enable_mfa_device, world.admin.resync_mfa_device):
            with pytest.raises(ClientError) as err:
                call(
                    UserName="bob",
                    SerialNumber=world.serial,
                    AuthenticationCode1=first,
                    AuthenticationCode2=second,
                )
            assert _code(err) == "ValidationError"  # AWS's six [\d], checked first
    # A live code written as an app shows it ("393 636") is refused for its shape, but
    # is not repeated: it would still be good for the rest of its 30 seconds.
    spaced = f"{world.code()[:3]} {world.code()[3:]}"
    with pytest.raises(ClientError) as err:
        world.bob_sts.get_session_token(SerialNumber=world.serial, TokenCode=spaced)
    message = err.value.response["Error"]["Message"]
    assert _code(err) == "ValidationError" and "'***' at 'tokenCode'" in message
    assert spaced not in message and world.code()[:3] not in message
    world.enable()
    devices = world.admin.list_mfa_devices(UserName="bob")["MFADevices"]
    assert [d["SerialNumber"] for d in devices] == [world.serial]
    assigned = world.admin.list_virtual_mfa_devices(AssignmentStatus="Assigned")
    assert assigned["VirtualMFADevices"][0]["User"]["UserName"] == "bob"
    assert (
        world.admin.list_virtual_mfa_devices(AssignmentStatus="Unassigned")["VirtualMFADevices"]
        == []
    )


def test_mfa_session_allows_what_the_policy_denies_without(world: MfaWorld) -> None:
    world.enable()
    role = world.admin.create_role(
        RoleName="Ops",
        AssumeRolePolicyDocument=_doc(
            {"Effect": "Allow", "Principal": {"AWS": world.account_id}, "Action": "sts:AssumeRole"}
        ),
    )["Role"]["Arn"]
    without = world.bob_sts.get_session_token()["Credentials"]
    with pytest.raises(ClientError) as err:
        world.iam_with(without, "sts").assume_role(RoleArn=role, RoleSessionName="no-mfa")
    assert _code(err) == "AccessDenied"  # his policy's MFA condition
    with pytest.raises(ClientError) as err:
        world.iam_with(without).list_roles()
    assert _code(err) == "InvalidClientTokenId"  # IAM takes such credentials only with MFA (AWS)
    with_mfa = world.session_token(world.code())
    world.iam_with(with_mfa).list_roles()
    world.iam_with(with_mfa, "sts").assume_role(RoleArn=role, RoleSessionName="mfa")


def test_a_code_is_accepted_once_and_a_wrong_code_never(world: MfaWorld) -> None:
    world.enable()
    code = world.code()
    world.session_token(code)
    with pytest.raises(ClientError) as err:
        world.session_token(code)
    assert _code(err) == "AccessDenied" and "already been used" in str(err.value)
    wrong = f"{(int(world.code()) + 1) % 1_000_000:06d}"
    with pytest.raises(ClientError) as err:
        world.session_token(wrong)
    assert _code(err) == "AccessDenied"
    with pytest.raises(ClientError) as err:
        world.session_token("12ab56")
    assert _code(err) == "ValidationError"  # AWS's pattern, checked before the device


def test_lockout_after_repeated_failures_and_recovery(world: MfaWorld) -> None:
    world.enable()
    wrong = f"{(int(world.code()) + 7) % 1_000_000:06d}"
    for _ in range(5):
        with pytest.raises(ClientError) as err:
            world.session_token(wrong)
    # The failure that locks the device says so, and until when.
    assert "try again after" in str(err.value)
    with pytest.raises(ClientError) as err:
        world.session_token(world.code())  # even the right code, while locked
    assert _code(err) == "AccessDenied" and "too many wrong codes" in str(err.value)
    world.server.clock.advance(6 * 60)
    world.session_token(world.code())


def test_parallel_guesses_queue_behind_the_lockout(world: MfaWorld, server: Server) -> None:
    from sqlalchemy import select

    from app.db.models import AuditEvent

    world.enable()
    right = world.code()
    guesses = [f"{(int(right) + 1 + i) % 1_000_000:06d}" for i in range(20)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(lambda code: _refused_code(world, code), guesses))
    assert outcomes == ["AccessDenied"] * 20
    with server.runtime.sessions() as session:
        reasons = session.scalars(
            select(AuditEvent.reason).where(
                AuditEvent.action == "sts:GetSessionToken",
                AuditEvent.account_id == world.account_id,
            )
        ).all()
    # Five codes checked, the fifth locking the device; every later guess refused unchecked.
    assert sorted(reasons) == ["totp.invalid"] * 4 + ["totp.locked"] * 15 + ["totp.lockout"]


def _refused_code(world: MfaWorld, code: str) -> str:
    with pytest.raises(ClientError) as err:
        world.session_token(code)
    return _code(err)


def test_assume_role_with_mfa_and_a_role_that_requires_it(world: MfaWorld) -> None:
    world.enable()
    trust = _doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{world.account_id}:user/bob"},
            "Action": "sts:AssumeRole",
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
        }
    )
    arn = world.admin.create_role(
        RoleName="Guarded",
        AssumeRolePolicyDocument=trust,
        Tags=[{"Key": "fedbridge:require-mfa", "Value": "true"}],
    )["Role"]["Arn"]
    with pytest.raises(ClientError) as err:
        world.bob_sts.assume_role(RoleArn=arn, RoleSessionName="bob")
    assert _code(err) == "AccessDenied"
    resp = world.bob_sts.assume_role(
        RoleArn=arn, RoleSessionName="bob", SerialNumber=world.serial, TokenCode=world.code()
    )
    assert resp["AssumedRoleUser"]["Arn"].endswith("assumed-role/Guarded/bob")


def test_mfa_age_counts_from_the_code_through_role_sessions(world: MfaWorld) -> None:
    world.enable()
    trust = _doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{world.account_id}:user/bob"},
            "Action": "sts:AssumeRole",
        }
    )
    arn = world.admin.create_role(RoleName="Fresh", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    world.admin.put_role_policy(
        RoleName="Fresh",
        PolicyName="recent-mfa",
        PolicyDocument=_doc(
            {
                "Effect": "Allow",
                "Action": "iam:ListRoles",
                "Resource": "*",
                "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": "600"}},
            }
        ),
    )
    mfa_session = world.session_token(world.code())
    world.server.clock.advance(660)  # the code is 11 minutes old
    role_sts = world.iam_with(mfa_session, "sts")
    carried = role_sts.assume_role(RoleArn=arn, RoleSessionName="later")["Credentials"]
    with pytest.raises(ClientError) as err:
        world.iam_with(carried).list_roles()
    assert _code(err) == "AccessDenied"
    fresh = world.bob_sts.assume_role(
        RoleArn=arn, RoleSessionName="now", SerialNumber=world.serial, TokenCode=world.code()
    )["Credentials"]
    world.iam_with(fresh).list_roles()


def test_resync_deactivate_and_delete(world: MfaWorld) -> None:
    world.enable()
    with pytest.raises(ClientError) as err:
        world.admin.delete_virtual_mfa_device(SerialNumber=world.serial)
    assert _code(err) == "DeleteConflict"
    world.server.clock.advance(4 * 30)  # the phone drifted a little
    world.admin.resync_mfa_device(
        UserName="bob",
        SerialNumber=world.serial,
        AuthenticationCode1=world.code(-1),
        AuthenticationCode2=world.code(0),
    )
    world.admin.deactivate_mfa_device(UserName="bob", SerialNumber=world.serial)
    assert world.admin.list_mfa_devices(UserName="bob")["MFADevices"] == []
    world.admin.delete_virtual_mfa_device(SerialNumber=world.serial)
    assert world.admin.list_virtual_mfa_devices()["VirtualMFADevices"] == []


def test_another_users_device_does_not_count(world: MfaWorld) -> None:
    world.enable()
    world.admin.create_user(UserName="carol")
    key = world.admin.create_access_key(UserName="carol")["AccessKey"]
    carol = world.server.client("sts", key["AccessKeyId"], key["SecretAccessKey"])
    with pytest.raises(ClientError) as err:
        carol.get_session_token(SerialNumber=world.serial, TokenCode=world.code())
    assert _code(err) == "AccessDenied"


def test_mfa_refusals_are_audited(world: MfaWorld, server: Server) -> None:
    from sqlalchemy import select

    from app.db.models import AuditEvent

    world.enable()
    with pytest.raises(ClientError):
        world.session_token("000000" if world.code() != "000000" else "111111")
    with server.runtime.sessions() as session:
        reasons = session.scalars(
            select(AuditEvent.reason)
            .where(AuditEvent.action == "sts:GetSessionToken")
            .order_by(AuditEvent.id.desc())
            .limit(1)
        ).all()
    assert reasons == ["totp.invalid"]


def test_keys_and_devices_are_listed_in_pages(world: MfaWorld) -> None:
    admin = world.admin
    admin.create_access_key(UserName="bob")  # his second
    for n in range(3):
        admin.create_virtual_mfa_device(VirtualMFADeviceName=f"spare-{n}")
    for call, field, kwargs in (
        (admin.list_access_keys, "AccessKeyMetadata", {"UserName": "bob"}),
        (admin.list_virtual_mfa_devices, "VirtualMFADevices", {}),
    ):
        first = call(MaxItems=1, **kwargs)
        seen, marker = list(first[field]), first.get("Marker")
        assert first["IsTruncated"] and len(seen) == 1
        while marker:
            page = call(MaxItems=1, Marker=marker, **kwargs)
            seen += page[field]
            marker = page.get("Marker") if page["IsTruncated"] else None
        assert seen == call(**kwargs)[field] and len(seen) >= 2
        for bad in (0, 1001):
            with pytest.raises(ClientError) as err:
                call(MaxItems=bad, **kwargs)
            assert _code(err) == "ValidationError"
    world.enable()
    assert admin.list_mfa_devices(UserName="bob", MaxItems=1)["IsTruncated"] is False


def test_a_user_deactivates_its_own_device_without_naming_itself(world: MfaWorld) -> None:
    world.enable()
    world.admin.put_user_policy(
        UserName="bob",
        PolicyName="own-device",
        PolicyDocument=_doc(
            {"Effect": "Allow", "Action": "iam:DeactivateMFADevice", "Resource": "*"}
        ),
    )
    key = world.admin.create_access_key(UserName="bob")["AccessKey"]
    bob = world.server.client("iam", key["AccessKeyId"], key["SecretAccessKey"])
    bob.deactivate_mfa_device(SerialNumber=world.serial)  # UserName defaults to the caller
    assert world.admin.list_mfa_devices(UserName="bob")["MFADevices"] == []
    with pytest.raises(ClientError) as err:  # root has no device here
        world.admin.deactivate_mfa_device(SerialNumber=world.serial)
    assert _code(err) == "NoSuchEntity"


def test_a_session_acts_as_its_user_renamed_never_as_a_new_owner_of_the_name(
    world: MfaWorld,
) -> None:
    """A session's user is the one whose id it carries: renamed, the session follows it
    (aws:username and calls about "myself" included), and another user later given the
    old name is out of its reach."""
    world.enable()
    world.admin.put_user_policy(
        UserName="bob",
        PolicyName="own-credentials",
        PolicyDocument=_doc(
            {
                "Effect": "Allow",
                "Action": ["iam:CreateAccessKey", "iam:DeactivateMFADevice"],
                "Resource": f"arn:aws:iam::{world.account_id}:user/${{aws:username}}",
            }
        ),
    )
    session = world.iam_with(world.session_token(world.code()))
    world.admin.update_user(UserName="bob", NewUserName="robert")
    world.admin.create_user(UserName="bob")  # someone else, under the old name
    device = world.admin.create_virtual_mfa_device(VirtualMFADeviceName="new-bob")
    serial = device["VirtualMFADevice"]["SerialNumber"]
    totp = pyotp.TOTP(device["VirtualMFADevice"]["Base32StringSeed"].decode())
    world.admin.enable_mfa_device(
        UserName="bob",
        SerialNumber=serial,
        AuthenticationCode1=totp.generate_otp(world.step() - 1),
        AuthenticationCode2=totp.generate_otp(world.step()),
    )

    made = session.create_access_key()["AccessKey"]  # "myself" is robert now
    assert made["UserName"] == "robert"
    assert world.admin.list_access_keys(UserName="bob")["AccessKeyMetadata"] == []
    with pytest.raises(ClientError):
        session.deactivate_mfa_device(SerialNumber=serial)
    assert len(world.admin.list_mfa_devices(UserName="bob")["MFADevices"]) == 1


def test_a_token_code_counts_for_the_trust_not_for_the_callers_own_conditions(
    world: MfaWorld,
) -> None:
    """AWS asks for SerialNumber and TokenCode "if the trust policy of the role being
    assumed requires MFA". Bob's own policy allows AssumeRole only with MFA: his
    long-term key with a code does not meet it; credentials he got with MFA do."""
    world.enable()
    trust = _doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": world.account_id},
            "Action": "sts:AssumeRole",
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
        }
    )
    arn = world.admin.create_role(RoleName="ViaAccount", AssumeRolePolicyDocument=trust)["Role"][
        "Arn"
    ]
    with pytest.raises(ClientError) as err:
        world.bob_sts.assume_role(
            RoleArn=arn, RoleSessionName="bob", SerialNumber=world.serial, TokenCode=world.code()
        )
    assert _code(err) == "AccessDenied"
    world.next_step()
    sts = world.iam_with(world.session_token(world.code()), "sts")
    assert sts.assume_role(RoleArn=arn, RoleSessionName="bob")["AssumedRoleUser"]
