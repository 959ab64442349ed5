"""The signed-in browser: one place that turns a validated federated sign-in into a
console session (role-based or user-based SSO) and keeps it server-side."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from datetime import timedelta
from typing import Any

from flask import session as cookie
from sqlalchemy.orm import Session

from app.errors import AccessDeniedError
from app.iam import names
from app.iam.saml_providers import SSO_MODE_TAG
from app.iam.saml_providers import USER_ATTRIBUTE_TAG
from app.iam.saml_providers import SamlProviders
from app.saml.federation import RolePair
from app.saml.federation import mfa_asserted
from app.saml.federation import role_pairs
from app.saml.validate import ValidatedResponse
from app.sts.service import REQUIRE_MFA_TAG
from app.sts.service import IssuedCredentials
from app.web.common import now
from app.web.common import runtime
from app.web.common import web_sessions

#: A console session lasts at most this long, whatever the IdP says.
MAX_CONSOLE_SESSION = timedelta(hours=12)
USER_SESSION_SECONDS = 3600


def _credentials(creds: IssuedCredentials) -> dict[str, str]:
    return {
        "AccessKeyId": creds.access_key_id,
        "SecretAccessKey": creds.secret_access_key,
        "SessionToken": creds.session_token,
        "Expiration": creds.expiration.isoformat(),
    }


def _assertion(validated: ValidatedResponse) -> dict[str, Any]:
    data = asdict(validated)
    data.pop("provider")
    data.pop("metadata")
    for key in ("not_on_or_after", "session_not_on_or_after"):
        data[key] = data[key].isoformat() if data[key] else None
    return data


def assertion_from(data: dict[str, Any], db: Session, provider_pk: int) -> ValidatedResponse:
    from app.db.models import SamlProvider
    from app.saml.metadata import parse_idp_metadata

    provider = db.get(SamlProvider, provider_pk)
    if provider is None:
        raise AccessDeniedError(
            "The identity provider you signed in with has been removed.",
            reason="saml.provider_deleted",
        )
    fields = dict(data)
    for key in ("not_on_or_after", "session_not_on_or_after"):
        fields[key] = datetime.fromisoformat(fields[key]) if fields[key] else None
    fields["authn_contexts"] = tuple(fields["authn_contexts"])
    return ValidatedResponse(
        provider=provider,
        metadata=parse_idp_metadata(provider.metadata_document, now()),
        **fields,
    )


def start_saml_session(db: Session, validated: ValidatedResponse) -> dict[str, Any]:
    """Create the console session for a validated assertion; issue credentials at once
    when there is exactly one role (or in user-based SSO)."""
    rt = runtime()
    provider = validated.provider
    providers = SamlProviders(rt.iam(db, provider.account_id))
    provider_arn = providers.arn(provider)
    tags = providers.tags(provider)
    state: dict[str, Any] = {
        "via": "saml",
        "account_id": provider.account_id,
        "provider_pk": provider.pk,
        "provider_arn": provider_arn,
        "assertion": _assertion(validated),
        "mode": "user" if tags.get(SSO_MODE_TAG) == "user" else "role",
        "roles": [],
        "current": None,
    }
    if state["mode"] == "user":
        state["current"] = _user_session(db, validated, tags)
    else:
        pairs = [
            p
            for p in role_pairs(validated.attributes, rt.settings.partition)
            if p.provider_arn == provider_arn
        ]
        if not pairs:
            raise AccessDeniedError(
                "Your identity provider did not give you any role for this account.",
                reason="saml.no_roles",
            )
        state["roles"] = [[p.role_arn, p.provider_arn] for p in pairs]
        if len(pairs) == 1:
            state["current"] = assume_saml_role(db, state, 0)
    ends = [now() + MAX_CONSOLE_SESSION]
    if validated.session_not_on_or_after:
        ends.append(validated.session_not_on_or_after)
    session_id = web_sessions(db).create(state, min(ends))
    cookie.clear()
    cookie["sid"] = session_id
    return state


def assume_saml_role(db: Session, state: dict[str, Any], index: int) -> dict[str, Any]:
    validated = assertion_from(state["assertion"], db, state["provider_pk"])
    role_arn, provider_arn = state["roles"][index]
    session = runtime().saml(db).assume(validated, RolePair(role_arn, provider_arn))
    role = session.role_session
    return {
        "kind": "role",
        "arn": role.arn,
        "role_arn": role_arn,
        "credentials": _credentials(role.credentials),
    }


def _user_session(
    db: Session, validated: ValidatedResponse, tags: dict[str, str]
) -> dict[str, Any]:
    rt = runtime()
    provider = validated.provider
    iam = rt.iam(db, provider.account_id)
    attribute = tags.get(USER_ATTRIBUTE_TAG)
    values = validated.attributes.get(attribute, []) if attribute else [validated.name_id]
    name = values[0] if values else ""
    no_user = AccessDeniedError(
        f"There is no IAM user {names._shown(name)!r} in account {provider.account_id} for you "
        "to sign in as.",
        reason="saml.no_such_user",
    )
    if not name or len(name) > names.USER_NAME_MAX or not names.valid_name(name):
        raise no_user
    user = iam.find_user(name)
    if user is None:
        raise no_user
    idp_mfa = mfa_asserted(validated, tags)
    if not idp_mfa and (
        tags.get(REQUIRE_MFA_TAG) == "true"
        or dict(iam.tags_of("user", user.pk)).get(REQUIRE_MFA_TAG) == "true"
    ):
        raise AccessDeniedError(
            "Signing in as this user requires multi-factor authentication.",
            reason="mfa.required",
        )
    principal = iam.user_principal(user)
    creds = rt.sts(db).get_session_token(principal, USER_SESSION_SECONDS, mfa_authenticated=idp_mfa)
    return {"kind": "user", "arn": principal.arn, "credentials": _credentials(creds)}


def current_state(db: Session) -> tuple[str, dict[str, Any]] | None:
    session_id = cookie.get("sid")
    state = web_sessions(db).load(session_id)
    return (session_id, state) if state is not None and session_id else None
