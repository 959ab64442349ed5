"""The console a person lands on after sign-in: who they are, as which role, until when,
credentials to copy, switch role, sign out. And the sign-in start page."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime

from flask import Blueprint
from flask import redirect
from flask import request
from flask import session as cookie
from werkzeug.wrappers import Response as BaseResponse

from app.arn import is_account_id
from app.errors import ServiceError
from app.iam.oidc_providers import OidcProviders
from app.iam.saml_providers import SamlProviders
from app.runtime import recording_refusals
from app.web.common import audit
from app.web.common import csrf_protected
from app.web.common import csrf_token
from app.web.common import now
from app.web.common import page
from app.web.common import page_error
from app.web.common import rate_limited
from app.web.common import runtime
from app.web.common import web_sessions
from app.web.signin import advance
from app.web.signin import current_state
from app.web.signin import finish_enrolment
from app.web.signin import mfa_device

bp = Blueprint(
    "console",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/console/static",
)


def _not_signed_in() -> BaseResponse:
    return redirect("/signin", code=303)


@bp.get("/console")
def console() -> BaseResponse:
    rt = runtime()
    with rt.sessions() as db:
        found = current_state(db)
    if found is None:
        return _not_signed_in()
    _, state = found
    current = state["current"]
    if state.get("pending"):
        return redirect("/console/mfa", code=303)
    if current is None:
        return redirect("/console/roles", code=303)
    creds = current["credentials"]
    expires = datetime.fromisoformat(creds["Expiration"])
    return page(
        "console.html",
        state=state,
        current=current,
        account_id=state["account_id"],
        expires=expires,
        seconds_left=max(0, int((expires - now()).total_seconds())),
        exports=_exports(creds),
        credentials_file=_credentials_file(creds),
        credential_process=json.dumps(
            {
                "Version": 1,
                "AccessKeyId": creds["AccessKeyId"],
                "SecretAccessKey": creds["SecretAccessKey"],
                "SessionToken": creds["SessionToken"],
                "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            indent=2,
        ),
        endpoint=rt.settings.public_base_url,
        other_roles=[
            (i, arn) for i, (arn, _) in enumerate(state["roles"]) if arn != current.get("role_arn")
        ],
        csrf=csrf_token(),
    )


def _exports(creds: dict[str, str]) -> str:
    return (
        f"export AWS_ACCESS_KEY_ID={creds['AccessKeyId']}\n"
        f"export AWS_SECRET_ACCESS_KEY={creds['SecretAccessKey']}\n"
        f"export AWS_SESSION_TOKEN={creds['SessionToken']}\n"
    )


def _credentials_file(creds: dict[str, str]) -> str:
    return (
        "[fedbridge]\n"
        f"aws_access_key_id = {creds['AccessKeyId']}\n"
        f"aws_secret_access_key = {creds['SecretAccessKey']}\n"
        f"aws_session_token = {creds['SessionToken']}\n"
    )


@bp.get("/console/roles")
def roles() -> BaseResponse:
    rt = runtime()
    with rt.sessions() as db:
        found = current_state(db)
    if found is None:
        return _not_signed_in()
    _, state = found
    return page(
        "roles.html",
        roles=list(enumerate(arn for arn, _ in state["roles"])),
        account_id=state["account_id"],
        current=state["current"],
        csrf=csrf_token(),
    )


@bp.post("/console/roles")
@csrf_protected
def choose_role() -> BaseResponse:
    rt = runtime()
    state: dict = {}
    try:
        with rt.sessions.begin() as db:
            found = current_state(db)
            if found is None:
                return _not_signed_in()
            session_id, state = found
            index = request.form.get("role", "")
            if not re.fullmatch(r"[0-9]{1,4}", index) or int(index) >= len(state["roles"]):
                return redirect("/console/roles", code=303)
            state["pending"] = {"role": int(index)}
            advance(db, state)
            web_sessions(db).save(session_id, state)
    except ServiceError as err:
        return page_error(err, "console:AssumeRole", account_id=state.get("account_id"))
    if state["pending"]:
        return redirect("/console/mfa", code=303)
    audit(
        "console:AssumeRole",
        "allowed",
        account_id=state["account_id"],
        principal=state["current"]["arn"],
        resource=state["current"]["role_arn"],
    )
    return redirect("/console", code=303)


@bp.post("/console/signout")
@csrf_protected
def sign_out() -> BaseResponse:
    rt = runtime()
    with rt.sessions.begin() as db:
        found = current_state(db)
        web_sessions(db).delete(cookie.get("sid"))
    cookie.clear()
    if found is not None:
        _, state = found
        principal = state["current"]["arn"] if state["current"] else None
        audit("console:SignOut", "allowed", account_id=state["account_id"], principal=principal)
    return page("signed_out.html")


@bp.get("/signin")
@rate_limited("console:SignInStart")
def sign_in_start() -> BaseResponse:
    """The start page: the account's identity providers, one link each."""
    rt = runtime()
    account = request.args.get("account", "").strip()
    saml: list[tuple[str, str]] = []
    oidc: list[tuple[str, str]] = []
    if is_account_id(account):
        with rt.readers() as db:
            iam = rt.iam(db, account)
            saml_providers, oidc_providers = SamlProviders(iam), OidcProviders(iam)
            saml = [(p.name, saml_providers.arn(p)) for p in saml_providers.list()]
            oidc = [(p.url_key, oidc_providers.arn(p)) for p in oidc_providers.list()]
    shown = account if account.isascii() and account.isdigit() else ""  # refill a partial id
    return page("signin.html", account=shown, saml=saml, oidc=oidc)


@bp.get("/console/mfa")
def mfa_step() -> BaseResponse:
    return _mfa_page()


def _mfa_page(error: str | None = None, status: int = 200) -> BaseResponse:
    rt = runtime()
    state: dict = {}
    try:
        with rt.sessions.begin() as db:
            found = current_state(db)
            if found is None:
                return _not_signed_in()
            session_id, state = found
            if not state.get("pending"):
                return redirect("/console", code=303)
            mfa, device = mfa_device(db, state)  # the IAM user may be gone since sign-in
            enrolling = device.enabled_at is None
            secret = qr = None
            if enrolling:
                seed = rt.secrets.open(device.seed_sealed)
                label = f"fedbridge {state['account_id']}"
                qr = base64.b64encode(mfa.qr_png(device, seed, label)).decode()
                secret = " ".join(seed[i : i + 4] for i in range(0, len(seed), 4))
            web_sessions(db).save(session_id, state)
    except ServiceError as err:
        return page_error(err, "console:MfaStep", account_id=state.get("account_id"))
    return page(
        "mfa.html",
        status=status,
        enrolling=enrolling,
        qr=qr,
        secret=secret,
        error=error,
        account_id=state["account_id"],
        csrf=csrf_token(),
    )


@bp.post("/console/mfa")
@rate_limited("console:MfaVerify")
@csrf_protected
def mfa_verify() -> BaseResponse:
    rt = runtime()
    code = "".join(request.form.get("code", "").split())
    state: dict = {}
    try:
        with rt.sessions.begin() as db:
            found = current_state(db)
            if found is None:
                return _not_signed_in()
            session_id, state = found
            if not state.get("pending"):
                return redirect("/console", code=303)
            mfa, device = mfa_device(db, state)
            serial = mfa.serial(device)
            # The device's row is this call's until it ends: a code posted from two
            # browsers at once is checked once against the newest step accepted.
            db.refresh(device, with_for_update=True)
            with recording_refusals(db):
                mfa.verify(device, code)
                enrolled = finish_enrolment(db, state, device)
                state["mfa_done"] = True
                advance(db, state)
                session_id = web_sessions(db).rotate(session_id, state)
    except ServiceError as err:
        if err.reason.startswith("totp."):
            audit("console:MfaVerify", "refused", account_id=state.get("account_id"), err=err)
            return _mfa_page(err.message, status=403)
        return page_error(err, "console:MfaVerify", account_id=state.get("account_id"))
    if enrolled:
        audit("console:MfaEnrol", "allowed", account_id=state["account_id"], resource=serial)
    audit(
        "console:MfaVerify",
        "allowed",
        account_id=state["account_id"],
        principal=state["current"]["arn"] if state.get("current") else None,
        resource=serial,
    )
    cookie["sid"] = session_id
    cookie.pop("csrf", None)  # a new one on the next page, for the new session
    return redirect("/console", code=303)
