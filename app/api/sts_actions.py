"""STS actions: AssumeRole, GetSessionToken, GetCallerIdentity.

AssumeRoleWithSAML and AssumeRoleWithWebIdentity arrive with federation and
end in the same StsService.issue_role_session.
"""

from __future__ import annotations

from typing import Any

from app.api.query import QueryParams
from app.api.registry import Call
from app.api.registry import Result
from app.api.registry import action
from app.errors import AccessDeniedError
from app.errors import NoSuchEntityError
from app.iam import names
from app.mfa.service import MfaService
from app.sts.service import IssuedCredentials
from app.sts.service import RoleSession
from app.sts.service import SessionRequest


def credentials_shape(creds: IssuedCredentials) -> dict[str, Any]:
    return {
        "AccessKeyId": creds.access_key_id,
        "SecretAccessKey": creds.secret_access_key,
        "SessionToken": creds.session_token,
        "Expiration": creds.expiration,
    }


def role_session_shape(session: RoleSession) -> dict[str, Any]:
    return {
        "Credentials": credentials_shape(session.credentials),
        "AssumedRoleUser": {"AssumedRoleId": session.assumed_role_id, "Arn": session.arn},
        "PackedPolicySize": session.packed_policy_size,
        "SourceIdentity": session.source_identity,
    }


def _issued(call: Call, access_key_id: str, arn: str) -> None:
    """Audit what was issued: the new key id and session, never its secret or token."""
    call.audit_detail.update(issued_access_key_id=access_key_id, session_arn=arn)


def _mfa_checked(call: Call) -> bool:
    """Verify SerialNumber/TokenCode when given: the device must be the caller's own."""
    p = call.params
    serial, code = p.get("SerialNumber"), p.get("TokenCode")
    if serial is None and code is None:
        return False
    # AWS's shapes first, so a malformed code never counts towards a device's lockout.
    if serial is not None:
        names.check_serial_number(serial)
    if code is not None:
        names.check_mfa_code("tokenCode", code)
    failed = AccessDeniedError(
        "MultiFactorAuthentication failed, unable to validate MFA code.", reason="mfa.not_callers"
    )
    caller = call.caller
    if serial is None or code is None or caller is None or caller.kind != "user":
        raise failed
    mfa = MfaService(call.services.iam, call.services.runtime.secrets)
    try:
        device = mfa.device(serial, for_update=True)
    except NoSuchEntityError:
        raise failed from None  # as for another user's device: no telling which exist
    if device.user_pk != caller.owner_pk:
        raise failed
    mfa.verify(device, code)
    call.audit_detail.update(mfa_serial=serial)
    return True


def _with_mfa_code(params: QueryParams) -> bool:
    """Only a TokenCode makes these calls write (the device's newest accepted step)."""
    return "TokenCode" in params


@action("sts", "AssumeRole", writes=_with_mfa_code)
def assume_role(call: Call) -> Result:
    p = call.params
    mfa_authenticated = _mfa_checked(call)
    req = SessionRequest(
        role_arn=p.req("RoleArn"),
        session_name=p.req("RoleSessionName"),
        duration_seconds=p.integer("DurationSeconds"),
        policy=p.get("Policy"),
        policy_arns=tuple(s.get("arn", "") for s in p.structs("PolicyArns", ("arn",))),
        tags=tuple(p.tags("Tags")),
        transitive_tag_keys=tuple(p.members("TransitiveTagKeys")),
        source_identity=p.get("SourceIdentity"),
        external_id=p.get("ExternalId"),
        mfa_authenticated=mfa_authenticated,
    )
    # Trust policy and (where AWS needs it) the caller's own policy are both
    # checked inside assume_role; it raises AccessDenied otherwise.
    call.resource = req.role_arn
    session = call.services.sts.assume_role(call.signer, req, call.services.request_keys(call))
    call.authorized = True
    _issued(call, session.credentials.access_key_id, session.arn)
    return role_session_shape(session)


@action("sts", "GetSessionToken", writes=_with_mfa_code)
def get_session_token(call: Call) -> Result:
    p = call.params
    # AWS: any user may get a session token for itself; no policy is consulted.
    call.authorized, call.resource = True, call.signer.arn
    mfa_authenticated = _mfa_checked(call)
    creds = call.services.sts.get_session_token(
        call.signer, p.integer("DurationSeconds"), mfa_authenticated=mfa_authenticated
    )
    _issued(call, creds.access_key_id, call.signer.arn)
    return {"Credentials": credentials_shape(creds)}


@action("sts", "GetCallerIdentity")
def get_caller_identity(call: Call) -> Result:
    caller = call.signer
    # AWS: no permission is needed to ask who you are, even under an explicit Deny.
    call.authorized, call.resource = True, caller.arn
    return {"UserId": caller.user_id, "Account": caller.account_id, "Arn": caller.arn}
