"""Virtual MFA devices (IAM): create, enable with two codes, list, resync, deactivate, delete."""

from __future__ import annotations

from app.api.iam_actions import listing
from app.api.iam_actions import owner_arn
from app.api.iam_actions import paging
from app.api.iam_actions import user_or_self
from app.api.query import QueryParams
from app.api.registry import Call
from app.api.registry import Result
from app.api.registry import action
from app.api.tags import Target
from app.api.tags import register_tag_actions
from app.api.tags import tag_context
from app.db.models import User
from app.errors import NoSuchEntityError
from app.iam import names
from app.iam.service import page_of
from app.mfa.service import OWNER_KIND
from app.mfa.service import MfaService
from app.mfa.service import png_blob
from app.mfa.service import seed_blob
from app.mfa.service import shape


def _mfa(call: Call) -> MfaService:
    return MfaService(call.services.iam, call.services.runtime.secrets)


@action("iam", "CreateVirtualMFADevice")
def create_virtual_mfa_device(call: Call) -> Result:
    p, mfa = call.params, _mfa(call)
    name = p.req("VirtualMFADeviceName")
    path, tags = p.get("Path"), p.tags()
    call.authorize(
        "iam:CreateVirtualMFADevice", mfa.iam.arn("mfa", path or "/", name), **tag_context(tags)
    )
    device, seed = mfa.create_virtual(name, path, tags)
    return {
        "VirtualMFADevice": {
            "SerialNumber": mfa.serial(device),
            "Base32StringSeed": seed_blob(seed),
            "QRCodePNG": png_blob(mfa.qr_png(device, seed)),
        }
    }


def _two_codes(p: QueryParams) -> tuple[str, str]:
    return (
        names.check_mfa_code("authenticationCode1", p.req("AuthenticationCode1")),
        names.check_mfa_code("authenticationCode2", p.req("AuthenticationCode2")),
    )


@action("iam", "EnableMFADevice")
def enable_mfa_device(call: Call) -> Result:
    p, mfa = call.params, _mfa(call)
    name = p.req("UserName")
    call.authorize("iam:EnableMFADevice", owner_arn(call, "user", name))
    mfa.enable(mfa.iam.user(name), p.req("SerialNumber"), *_two_codes(p))
    call.audit_detail.update(serial=p.req("SerialNumber"))
    return None


@action("iam", "ResyncMFADevice")
def resync_mfa_device(call: Call) -> Result:
    p, mfa = call.params, _mfa(call)
    name = p.req("UserName")
    call.authorize("iam:ResyncMFADevice", owner_arn(call, "user", name))
    mfa.resync(mfa.iam.user(name), p.req("SerialNumber"), *_two_codes(p))
    return None


@action("iam", "DeactivateMFADevice")
def deactivate_mfa_device(call: Call) -> Result:
    serial = call.params.req("SerialNumber")
    user = user_or_self(call, "iam:DeactivateMFADevice")  # UserName defaults to the caller
    if user is None:
        raise NoSuchEntityError(
            f"MFA device {names._shown(serial)} is not assigned to the root user.",
            reason="mfa.not_assigned",
        )
    _mfa(call).deactivate(user, serial)
    return None


@action("iam", "DeleteVirtualMFADevice")
def delete_virtual_mfa_device(call: Call) -> Result:
    p, mfa = call.params, _mfa(call)
    serial = p.req("SerialNumber")
    # A malformed serial is refused before it reaches a message; whether it exists is
    # told only to a caller allowed to delete it.
    names.check_serial_number(serial)
    call.authorize("iam:DeleteVirtualMFADevice", serial)
    mfa.delete(serial)
    return None


def _tags_target(call: Call) -> Target:
    mfa, serial = _mfa(call), call.params.req("SerialNumber")
    names.check_serial_number(serial)
    return serial, OWNER_KIND, lambda: mfa.device(serial).pk


register_tag_actions("MFADevice", _tags_target)


@action("iam", "ListMFADevices")
def list_mfa_devices(call: Call) -> Result:
    p, mfa = call.params, _mfa(call)
    name = p.get("UserName")
    if name is None and call.caller is not None and call.caller.kind == "user":
        name = call.caller.name
    if name is None:
        call.authorize("iam:ListMFADevices", call.caller.arn if call.caller else "*")
        return listing("MFADevices", page_of([], str, *paging(call)), str)
    call.authorize("iam:ListMFADevices", owner_arn(call, "user", name))
    user = mfa.iam.user(name)
    page = page_of(mfa.for_user(user), mfa.serial, *paging(call))
    return listing(
        "MFADevices",
        page,
        lambda d: {
            "UserName": user.name,
            "SerialNumber": mfa.serial(d),
            "EnableDate": d.enabled_at,
        },
    )


@action("iam", "ListVirtualMFADevices")
def list_virtual_mfa_devices(call: Call) -> Result:
    mfa = _mfa(call)
    call.authorize("iam:ListVirtualMFADevices", "*")
    devices = mfa.virtual_devices(call.params.get("AssignmentStatus"))
    session = mfa.session
    page = page_of(devices, mfa.serial, *paging(call))
    return listing(
        "VirtualMFADevices",
        page,
        lambda d: shape(mfa, d, session.get(User, d.user_pk) if d.user_pk else None),
    )
