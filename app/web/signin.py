"""The signed-in browser: one place that turns a validated federated sign-in into a
console session (role-based or user-based SSO) and keeps it server-side."""

from __future__ import annotations

import hashlib
import re
from dataclasses import fields
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

from flask import session as cookie
from sqlalchemy.orm import Session

from app.db.models import MfaDevice
from app.db.models import SamlProvider
from app.errors import AccessDeniedError
from app.errors import ExpiredTokenError
from app.iam import names
from app.iam.oidc_providers import OidcProviders
from app.iam.saml_providers import SSO_MODE_TAG
from app.iam.saml_providers import USER_ATTRIBUTE_TAG
from app.iam.saml_providers import SamlProviders
from app.mfa.service import MfaService
from app.oidc import web_identity
from app.oidc.jwks import KEYS
from app.oidc.tokens import TokenValidator
from app.oidc.tokens import ValidatedToken
from app.saml.federation import RolePair
from app.saml.federation import console_duration
from app.saml.federation import mfa_asserted
from app.saml.federation import role_pairs
from app.saml.metadata import parse_idp_metadata
from app.saml.validate import ValidatedResponse
from app.sts.service import MIN_DURATION
from app.sts.service import REQUIRE_MFA_TAG
from app.sts.service import IssuedCredentials
from app.sts.service import SessionRequest
from app.web.common import now
from app.web.common import runtime
from app.web.common import web_sessions
from app.web.state import ENDS

#: A console session lasts at most this long, whatever the IdP says.
MAX_CONSOLE_SESSION = timedelta(hours=12)
USER_SESSION_SECONDS = 3600
#: A SAML console session without a SessionDuration attribute (AWS: one hour).
DEFAULT_CONSOLE_SECONDS = 3600
#: A NameID of this Format is new at every sign-in (SAML Core 8.3.8): nobody can be
#: recognised by it, so no TOTP device can be theirs.
TRANSIENT_NAME_ID = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"


def _credentials(creds: IssuedCredentials) -> dict[str, str]:
    return {
        "AccessKeyId": creds.access_key_id,
        "SecretAccessKey": creds.secret_access_key,
        "SessionToken": creds.session_token,
        "Expiration": creds.expiration.isoformat(),
    }


def _assertion(validated: ValidatedResponse) -> dict[str, Any]:
    """What the console keeps of a validated assertion (the provider is kept by key)."""
    data = {
        f.name: getattr(validated, f.name)
        for f in fields(validated)
        if f.name not in ("provider", "metadata")
    }
    for key in ("not_on_or_after", "session_not_on_or_after"):
        data[key] = data[key].isoformat() if data[key] else None
    data["authn_contexts"] = list(data["authn_contexts"])
    return data


def assertion_from(data: dict[str, Any], db: Session, provider_pk: int) -> ValidatedResponse:
    provider = db.get(SamlProvider, provider_pk)
    if provider is None:
        raise AccessDeniedError(
            "The identity provider you signed in with has been removed.",
            reason="saml.provider_deleted",
        )
    kept = dict(data)
    for key in ("not_on_or_after", "session_not_on_or_after"):
        kept[key] = datetime.fromisoformat(kept[key]) if kept[key] else None
    kept["authn_contexts"] = tuple(kept["authn_contexts"])
    return ValidatedResponse(
        provider=provider,
        metadata=parse_idp_metadata(provider.metadata_document, now()),
        **kept,
    )


def start_saml_session(db: Session, validated: ValidatedResponse) -> dict[str, Any]:
    """The console session for a validated SAML assertion."""
    rt = runtime()
    provider = validated.provider
    providers = SamlProviders(rt.iam(db, provider.account_id))
    provider_arn = providers.arn(provider)
    tags = providers.tags(provider)
    state = _new_state("saml", provider.account_id, provider_arn, validated.name_id, tags)
    state["provider_pk"] = provider.pk
    state["assertion"] = _assertion(validated)
    state["idp_mfa"] = mfa_asserted(validated, tags)
    if state["mode"] == "user":
        attribute = tags.get(USER_ATTRIBUTE_TAG)
        values = validated.attributes.get(attribute, []) if attribute else [validated.name_id]
        state["user_name"] = _user_name(db, provider.account_id, values[0] if values else "")
    else:
        pairs = [
            p
            for p in role_pairs(validated.attributes, rt.settings.partition)
            if p.provider_arn == provider_arn
        ]
        state["roles"] = [[p.role_arn, p.provider_arn] for p in pairs]
    # As AWS's console: the session lasts SessionDuration, one hour without it, and no
    # longer than the IdP's SessionNotOnOrAfter.
    duration = console_duration(validated.attributes, 43200) or DEFAULT_CONSOLE_SECONDS
    ends = [now() + min(MAX_CONSOLE_SESSION, timedelta(seconds=duration))]
    if validated.session_not_on_or_after:
        ends.append(validated.session_not_on_or_after)
    return _open(db, state, min(ends))


def start_oidc_session(db: Session, token: ValidatedToken, id_token: str) -> dict[str, Any]:
    """The console session for a validated ID token from the code flow."""
    rt = runtime()
    provider = token.provider
    iam = rt.iam(db, provider.account_id)
    providers = OidcProviders(iam)
    provider_arn = providers.arn(provider)
    tags = dict(providers.tags(provider))
    state = _new_state("oidc", provider.account_id, provider_arn, token.subject, tags)
    state["id_token"] = id_token
    state["session_name"] = _session_name(token.claims)
    state["idp_mfa"] = web_identity.mfa_asserted(token.claims, tags)
    if state["mode"] == "user":
        claim = token.claims.get(tags.get(USER_ATTRIBUTE_TAG, "sub"))
        state["user_name"] = _user_name(
            db, provider.account_id, claim if isinstance(claim, str) else ""
        )
    else:
        state["roles"] = [
            [arn, provider_arn]
            for arn in web_identity.roles_trusting(rt.sts(db), iam, token, provider_arn)
        ]
    exp = token.claims.get("exp")
    ends = [now() + MAX_CONSOLE_SESSION]
    if isinstance(exp, int | float):
        # Switching role re-presents the ID token, so the session ends with it.
        ends.append(datetime.fromtimestamp(exp, UTC))
    return _open(db, state, min(ends))


def _new_state(
    via: str, account_id: str, provider_arn: str, subject: str, tags: dict[str, str]
) -> dict[str, Any]:
    return {
        "via": via,
        "account_id": account_id,
        "provider_arn": provider_arn,
        # The federated person, for their own MFA device in role-based SSO.
        "subject": f"{provider_arn} {subject}",
        "mode": "user" if tags.get(SSO_MODE_TAG) == "user" else "role",
        "provider_requires_mfa": tags.get(REQUIRE_MFA_TAG) == "true",
        "roles": [],
        "current": None,
        "pending": None,
        "mfa_done": False,
    }


def _open(db: Session, state: dict[str, Any], expires_at: datetime) -> dict[str, Any]:
    """Issue at once when there is nothing to choose (one role, or user-based SSO), after a
    TOTP step if MFA is required; then keep the state server-side and name it in the cookie."""
    if state["mode"] == "user":
        state["pending"] = {"user": True}
    elif not state["roles"]:
        raise AccessDeniedError(
            "Your identity provider did not give you any role for this account.",
            reason=f"{state['via']}.no_roles",
        )
    elif len(state["roles"]) == 1:
        state["pending"] = {"role": 0}
    advance(db, state)
    sessions = web_sessions(db)
    sessions.delete(cookie.get("sid"))  # a sign-in replaces, and ends, this browser's last
    session_id = sessions.create(state, expires_at)
    cookie.clear()
    cookie["sid"] = session_id
    return state


def landing(state: dict[str, Any], console_path: str = "/console") -> str:
    """Where a person goes after signing in: the TOTP step, the console, or the chooser."""
    if state["pending"]:
        return "/console/mfa"
    return console_path if state["current"] else "/console/roles"


def advance(db: Session, state: dict[str, Any]) -> None:
    """Issue what the session is waiting for, unless a TOTP step must come first
    (then `pending` stays set and the person is sent to /console/mfa)."""
    pending = state.get("pending")
    if not pending:
        return
    try:
        if "role" in pending:
            state["current"] = _assume_role(db, state, pending["role"])
        else:
            state["current"] = _user_session(db, state)
    except AccessDeniedError as err:
        if err.reason == "mfa.required" and not state["mfa_done"]:
            _check_can_have_a_device(db, state)  # refused now, not at the TOTP page
            return
        raise
    state["pending"] = None


def _check_can_have_a_device(db: Session, state: dict[str, Any]) -> None:
    """Role-based SSO keys the federated person's TOTP device on provider + NameID. A
    transient NameID names someone new at every sign-in, who could enrol a new device
    each time: the second factor would prove nothing. Such a person (without a device
    already) is refused; the IdP must send a stable NameID for two-factor sign-in."""
    if state["mode"] != "role" or state["via"] != "saml":
        return
    if state["assertion"].get("name_id_format") != TRANSIENT_NAME_ID:
        return
    device = MfaService(runtime().iam(db, state["account_id"]), runtime().secrets).for_subject(
        state["subject"]
    )
    if device is not None and device.enabled_at is not None:
        return
    raise AccessDeniedError(
        "This sign-in requires two-factor authentication, but your identity provider sends "
        "a transient NameID, which changes at every sign-in, so no authenticator can be "
        "tied to you. An administrator must configure the identity provider to send a "
        "persistent (or other stable) NameID for two-factor sign-in.",
        reason="mfa.transient_name_id",
    )


def _assume_role(db: Session, state: dict[str, Any], index: int) -> dict[str, Any]:
    rt = runtime()
    role_arn, provider_arn = state["roles"][index]
    if state["via"] == "saml":
        validated = assertion_from(state["assertion"], db, state["provider_pk"])
        pair = RolePair(role_arn, provider_arn)
        ends = _later_issue_ends(state)
        role = (
            rt.saml(db)
            .assume(validated, pair, second_factor=state["mfa_done"], console=True, not_after=ends)
            .role_session
        )
    else:
        federation = web_identity.WebIdentityFederation(
            rt.sts(db),
            lambda account_id: rt.iam(db, account_id),
            TokenValidator(KEYS, rt.clock, rt.settings.clock_skew_seconds),
        )
        req = SessionRequest(role_arn=role_arn, session_name=state["session_name"])
        role = federation.assume_role(
            state["id_token"], req, {}, {}, second_factor=state["mfa_done"]
        ).role_session
    return {
        "kind": "role",
        "arn": role.arn,
        "role_arn": role_arn,
        "credentials": _credentials(role.credentials),
    }


def _later_issue_ends(state: dict[str, Any]) -> datetime | None:
    """SAML: credentials issued after the sign-in itself (a role chosen or switched to,
    the TOTP step completed) end with the console session the sign-in established, not
    a SessionDuration later: the assertion they come from is that old. When less than
    AWS's minimum duration is left, the person must sign in again. None for the sign-in
    itself, whose session is being made (its `ends` is set by WebSessions.load).

    OpenID Connect is left as it was: its console session ends at the ID token's exp and
    a switch re-presents the token, refused once it has expired. (ID tokens often live
    only minutes; a 900 s floor there would leave no time to choose a role at all.)"""
    ends = state.get(ENDS)
    if state["via"] != "saml" or ends is None:
        return None
    until = datetime.fromisoformat(ends)
    if (until - now()).total_seconds() < MIN_DURATION:
        raise ExpiredTokenError(
            "Your console session ends in less than 15 minutes, too soon for new "
            "credentials (they last at least 900 seconds). Sign in again to choose a role.",
            reason="console.session_ending",
        )
    return until


def _user_name(db: Session, account_id: str, name: str) -> str:
    """User-based SSO: the IAM user the subject (or the configured attribute) names."""
    no_user = AccessDeniedError(
        f"There is no IAM user {names._shown(name)!r} in account {account_id} for you "
        "to sign in as.",
        reason="sso.no_such_user",
    )
    if not name or len(name) > names.USER_NAME_MAX or not names.valid_name(name):
        raise no_user
    user = runtime().iam(db, account_id).find_user(name)
    if user is None:
        raise no_user
    return user.name


def _session_name(claims: Any) -> str:
    """RoleSessionName from the person's claims, cut to what AWS accepts."""
    for claim in ("email", "preferred_username", "sub"):
        value = claims.get(claim)
        if isinstance(value, str):
            cleaned = re.sub(r"[^\w+=,.@-]", "-", value, flags=re.ASCII)[:64]
            if len(cleaned) >= 2:
                return cleaned
    return "oidc-user"


def _user_session(db: Session, state: dict[str, Any]) -> dict[str, Any]:
    rt = runtime()
    iam = rt.iam(db, state["account_id"])
    user = iam.user(state["user_name"])
    second_factor = state["idp_mfa"] or state["mfa_done"]
    if not second_factor and (
        state["provider_requires_mfa"]
        or dict(iam.tags_of("user", user.pk)).get(REQUIRE_MFA_TAG) == "true"
    ):
        raise AccessDeniedError(
            "Signing in as this user requires multi-factor authentication.",
            reason="mfa.required",
        )
    principal = iam.user_principal(user)
    seconds = USER_SESSION_SECONDS
    ends = _later_issue_ends(state)  # after the TOTP step
    if ends is not None:
        seconds = min(seconds, int((ends - now()).total_seconds()))
    creds = rt.sts(db).get_session_token(principal, seconds, mfa_authenticated=second_factor)
    return {"kind": "user", "arn": principal.arn, "credentials": _credentials(creds)}


def current_state(db: Session) -> tuple[str, dict[str, Any]] | None:
    session_id = cookie.get("sid")
    state = web_sessions(db).load(session_id)
    return (session_id, state) if state is not None and session_id else None


def mfa_device(db: Session, state: dict[str, Any]) -> tuple[MfaService, MfaDevice]:
    """The device this sign-in's TOTP step uses: the IAM user's own (user-based SSO) or
    the federated person's (role-based SSO). Made, not yet enabled, on first use."""
    rt = runtime()
    iam = rt.iam(db, state["account_id"])
    mfa = MfaService(iam, rt.secrets)
    if state["mode"] == "user":
        user = iam.user(state["user_name"])
        enabled = [d for d in mfa.for_user(user) if d.enabled_at is not None]
        if enabled:
            return mfa, enabled[0]
    else:
        device = mfa.for_subject(state["subject"])
        if device is not None:
            return mfa, device
        _check_can_have_a_device(db, state)
    if state.get("enrol_pk"):
        device = db.get(MfaDevice, state["enrol_pk"])
        if device is not None and device.enabled_at is None:
            return mfa, device
    digest = hashlib.sha256(state["subject"].encode()).hexdigest()[:20]
    subject = None if state["mode"] == "user" else state["subject"]
    name = f"console-{digest}"
    abandoned = mfa.unused(name)
    if abandoned is not None:
        # An enrolment an earlier sign-in began and never finished (user-based SSO keeps
        # no subject to find it by): start afresh, with a seed no earlier page showed.
        mfa.delete(mfa.serial(abandoned))
    device, _ = mfa.create_virtual(name, "/fedbridge/", subject=subject)
    state["enrol_pk"] = device.pk
    return mfa, device


def finish_enrolment(db: Session, state: dict[str, Any], device: MfaDevice) -> bool:
    """After the first good code: the device is enabled (and the user's, in user-based SSO)."""
    if device.enabled_at is not None:
        return False
    device.enabled_at = now()
    if state["mode"] == "user":
        device.user_pk = runtime().iam(db, state["account_id"]).user(state["user_name"]).pk
    state.pop("enrol_pk", None)
    return True
