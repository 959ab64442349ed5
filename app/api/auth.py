"""Authentication: who signed this request, checked with SigV4 against a key we issued."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.api.sigv4 import IncomingRequest
from app.api.sigv4 import SignatureClaim
from app.api.sigv4 import parse_signature
from app.api.sigv4 import verify_signature
from app.arn import root_arn
from app.crypto import SecretUnreadableError
from app.db.config_cache import cached_get
from app.db.models import AccessKey
from app.db.models import User
from app.errors import InternalFailureError
from app.errors import InvalidClientTokenIdError
from app.errors import SignatureDoesNotMatchError
from app.iam.principal import Principal
from app.runtime import Runtime

_INVALID = "The security token included in the request is invalid."


def _temporary(
    req: IncomingRequest, claim: SignatureClaim, runtime: Runtime, session: Session
) -> Principal:
    """Temporary credentials: the sealed token carries the secret and the session."""
    if claim.session_token is None:
        raise InvalidClientTokenIdError(_INVALID, reason="sigv4.missing_session_token")
    sts = runtime.sts(session)
    claims = sts.open_token(claim.session_token, claim.access_key_id)
    verify_signature(req, claim, claims.secret_access_key, runtime.clock.now())
    principal = sts.principal_for(claims, session)
    if (
        claim.service == "iam"
        and principal.kind != "assumed-role"
        and not (principal.session and principal.session.mfa_authenticated)
    ):
        # GetSessionToken's credentials reach IAM only when MFA was given for them; AWS
        # answers others with this same InvalidClientTokenId.
        raise InvalidClientTokenIdError(_INVALID, reason="sts.session_token_without_mfa")
    return principal


def authenticate(
    req: IncomingRequest, runtime: Runtime, session: Session, service: str
) -> Principal:
    claim = parse_signature(req)
    if claim.service != service:
        raise SignatureDoesNotMatchError(
            f"Credential should be scoped to correct service: '{service}'.",
            reason="sigv4.wrong_service",
        )
    if claim.access_key_id.startswith("ASIA"):
        return _temporary(req, claim, runtime, session)
    if claim.session_token is not None:
        # A session token only goes with temporary (ASIA) credentials.
        raise InvalidClientTokenIdError(_INVALID, reason="sigv4.token_with_long_term_key")
    key = cached_get(session, AccessKey, claim.access_key_id)
    if key is None:
        raise InvalidClientTokenIdError(_INVALID, reason="sigv4.unknown_key")
    if key.status != "Active":
        raise InvalidClientTokenIdError(_INVALID, reason="sigv4.inactive_key")
    try:
        secret = runtime.secrets.open(key.secret_sealed)
    except SecretUnreadableError as e:
        raise InternalFailureError("The request could not be authenticated.") from e
    now = runtime.clock.now()
    verify_signature(req, claim, secret, now)
    runtime.key_usage.note(key.access_key_id, claim.service, claim.region, now)
    partition = runtime.settings.partition
    if key.user_pk is None:
        return Principal(
            kind="root",
            account_id=key.account_id,
            arn=root_arn(partition, key.account_id),
            user_id=key.account_id,
            access_key_id=key.access_key_id,
        )
    user = cached_get(session, User, key.user_pk)
    assert user is not None, "access keys are deleted with their user"
    return runtime.iam(session, user.account_id).user_principal(user, key.access_key_id)
