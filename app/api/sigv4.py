"""SigV4 verification for header-signed and presigned requests.

The claim (who says they signed, when, for what scope) is parsed here; the
expected signature is recomputed with botocore's own signer over exactly the
headers the client says it signed, and compared in constant time. Only the
key lookup lives elsewhere (app.api.auth): this module knows no database.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.awsrequest import HTTPHeaders
from botocore.credentials import Credentials

from app.errors import IncompleteSignatureError
from app.errors import MissingAuthenticationTokenError
from app.errors import RequestExpiredError
from app.errors import SignatureDoesNotMatchError
from app.iam import names

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICES = ("iam", "sts")
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
_TIMESTAMP = "%Y%m%dT%H%M%SZ"
_BASIC_TIMESTAMP = re.compile(r"[0-9]{8}T[0-9]{6}Z")  # strptime takes "T50923" and "z" too
_EXPIRES = re.compile(r"[0-9]{1,6}")  # ASCII: "²".isdigit() is true, and int() refuses it
_AUTH_FIELD = re.compile(r"\s*(Credential|SignedHeaders|Signature)=([^,\s]*)\s*")
_SCOPE = re.compile(
    r"(?P<key>[A-Z0-9]{16,128})/(?P<date>[0-9]{8})/(?P<region>[a-z0-9-]{1,32})"
    r"/(?P<service>[a-z0-9-]{1,32})/aws4_request"
)
_SIGNED_HEADERS = re.compile(r"[a-z0-9-]+(;[a-z0-9-]+)*")
_PRESIGN_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)


@dataclass(frozen=True)
class IncomingRequest:
    method: str
    scheme: str
    host: str
    path: str
    #: Decoded query-string pairs, in order.
    query: tuple[tuple[str, str], ...]
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    def query_value(self, name: str) -> str | None:
        return next((v for k, v in self.query if k == name), None)


@dataclass(frozen=True)
class SignatureClaim:
    access_key_id: str
    session_token: str | None
    signed_at: datetime
    #: The timestamp exactly as signed (X-Amz-Date).
    timestamp: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    presigned: bool
    expires_in: int | None = None


def _incomplete(message: str) -> IncompleteSignatureError:
    return IncompleteSignatureError(message, reason="sigv4.incomplete")


def parse_signature(req: IncomingRequest) -> SignatureClaim:
    authorization = req.header("Authorization")
    if authorization is not None:
        return _from_header(req, authorization)
    if req.query_value("X-Amz-Algorithm") is not None or req.query_value("X-Amz-Signature"):
        return _from_query(req)
    raise MissingAuthenticationTokenError(
        "Request is missing Authentication Token", reason="sigv4.missing"
    )


def _from_header(req: IncomingRequest, authorization: str) -> SignatureClaim:
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _incomplete(f"Unsupported AWS 'algorithm': '{names._shown(algorithm)}'")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        match = _AUTH_FIELD.fullmatch(part)
        if match is None or match.group(1) in fields:
            raise _incomplete("Authorization header is malformed.")
        fields[match.group(1)] = match.group(2)
    missing = [f for f in ("Credential", "SignedHeaders", "Signature") if f not in fields]
    if missing:
        raise _incomplete(
            " ".join(f"Authorization header requires '{f}' parameter." for f in missing)
        )
    timestamp = req.header("X-Amz-Date")
    if timestamp is None:
        raise _incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    token = req.header("X-Amz-Security-Token")
    claim = _claim(
        fields["Credential"],
        fields["SignedHeaders"],
        fields["Signature"],
        timestamp,
        token,
        presigned=False,
    )
    for name in ("x-amz-date", "x-amz-security-token"):
        if name not in claim.signed_headers and req.header(name) is not None:
            raise _incomplete(f"The {name} header must be signed.")
    return claim


def _from_query(req: IncomingRequest) -> SignatureClaim:
    missing = [p for p in _PRESIGN_PARAMS if req.query_value(p) is None]
    if missing:
        raise _incomplete(
            " ".join(f"Query-string authentication requires the {p} parameter." for p in missing)
        )
    if req.query_value("X-Amz-Algorithm") != ALGORITHM:
        raise _incomplete("Unsupported AWS 'algorithm'.")
    expires_text = req.query_value("X-Amz-Expires") or ""
    if not _EXPIRES.fullmatch(expires_text) or not 1 <= int(expires_text) <= MAX_PRESIGN_SECONDS:
        raise _incomplete(f"X-Amz-Expires must be between 1 and {MAX_PRESIGN_SECONDS} seconds.")
    claim = _claim(
        req.query_value("X-Amz-Credential") or "",
        req.query_value("X-Amz-SignedHeaders") or "",
        req.query_value("X-Amz-Signature") or "",
        req.query_value("X-Amz-Date") or "",
        req.query_value("X-Amz-Security-Token"),
        presigned=True,
    )
    return SignatureClaim(**{**claim.__dict__, "expires_in": int(expires_text)})


def _claim(
    credential: str,
    signed_headers: str,
    signature: str,
    timestamp: str,
    token: str | None,
    *,
    presigned: bool,
) -> SignatureClaim:
    scope = _SCOPE.fullmatch(credential)
    if scope is None:
        raise _incomplete(
            "Credential must have the form <key>/<date>/<region>/<service>/aws4_request."
        )
    if scope.group("service") not in SERVICES:
        raise SignatureDoesNotMatchError(
            f"Credential should be scoped to a valid service: {' or '.join(SERVICES)}.",
            reason="sigv4.wrong_service",
        )
    try:
        if not _BASIC_TIMESTAMP.fullmatch(timestamp):
            raise ValueError(timestamp)
        signed_at = datetime.strptime(timestamp, _TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        raise _incomplete(
            "X-Amz-Date must be in the ISO 8601 basic format YYYYMMDD'T'HHMMSS'Z'."
        ) from None
    if scope.group("date") != timestamp[:8]:
        raise SignatureDoesNotMatchError(
            f"Credential should be scoped to a valid date: '{timestamp[:8]}'.",
            reason="sigv4.scope_date",
        )
    if not _SIGNED_HEADERS.fullmatch(signed_headers) or "host" not in signed_headers.split(";"):
        raise _incomplete("SignedHeaders must be a ';'-separated lower-case list including host.")
    if not re.fullmatch(r"[0-9a-f]{64}", signature):
        raise _incomplete("Signature must be 64 lower-case hexadecimal characters.")
    return SignatureClaim(
        access_key_id=scope.group("key"),
        session_token=token or None,
        signed_at=signed_at,
        timestamp=timestamp,
        region=scope.group("region"),
        service=scope.group("service"),
        signed_headers=tuple(signed_headers.split(";")),
        signature=signature,
        presigned=presigned,
    )


class _Verifier(SigV4Auth):
    """botocore's signer, told to use exactly the headers the client claims it signed."""

    def __init__(self, claim: SignatureClaim, secret: str, signed: HTTPHeaders) -> None:
        super().__init__(Credentials(claim.access_key_id, secret), claim.service, claim.region)
        self._signed = signed

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        return self._signed

    def payload(self, request: AWSRequest) -> str:
        return hashlib.sha256(request.body or b"").hexdigest()


def verify_signature(
    req: IncomingRequest,
    claim: SignatureClaim,
    secret: str,
    now: datetime,
    max_skew: timedelta = timedelta(minutes=15),
) -> None:
    # STS's own answers to a skewed clock, wording included: SignatureDoesNotMatch,
    # which SDKs read as clock skew and correct for.
    latest, earliest = now + max_skew, now - max_skew
    minutes = int(max_skew.total_seconds() // 60)
    if claim.signed_at > latest:
        raise SignatureDoesNotMatchError(
            f"Signature not yet current: {claim.timestamp} is still later than "
            f"{latest.strftime(_TIMESTAMP)} ({now.strftime(_TIMESTAMP)} + {minutes} min.)",
            reason="sigv4.not_yet_valid",
        )
    if claim.presigned:
        assert claim.expires_in is not None
        if now > claim.signed_at + timedelta(seconds=claim.expires_in):
            raise RequestExpiredError("Request has expired.", reason="sigv4.presign_expired")
    elif claim.signed_at < earliest:
        raise SignatureDoesNotMatchError(
            f"Signature expired: {claim.timestamp} is now earlier than "
            f"{earliest.strftime(_TIMESTAMP)} ({now.strftime(_TIMESTAMP)} - {minutes} min.)",
            reason="sigv4.skew",
        )
    body_hash = hashlib.sha256(req.body).hexdigest()
    declared = req.header("X-Amz-Content-SHA256")
    if declared is not None and declared != body_hash:
        raise SignatureDoesNotMatchError(
            "The provided X-Amz-Content-SHA256 header does not match what was computed.",
            reason="sigv4.payload_hash",
        )
    signed = HTTPHeaders()
    for name in claim.signed_headers:
        value = req.host if name == "host" else req.header(name)
        if value is None:
            raise SignatureDoesNotMatchError(
                f"The request signature we calculated does not match the signature you "
                f"provided. Signed header {name} is not in the request.",
                reason="sigv4.missing_signed_header",
            )
        signed[name] = value
    query = [(k, v) for k, v in req.query if not (claim.presigned and k == "X-Amz-Signature")]
    aws_request = AWSRequest(
        method=req.method,
        url=f"{req.scheme}://{req.host}{req.path}",
        headers=signed,
        data=req.body,
    )
    aws_request.params = query
    aws_request.context["timestamp"] = claim.timestamp
    verifier = _Verifier(claim, secret, signed)
    canonical = verifier.canonical_request(aws_request)
    expected = verifier.signature(verifier.string_to_sign(aws_request, canonical), aws_request)
    if not hmac.compare_digest(expected, claim.signature):
        raise SignatureDoesNotMatchError(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service "
            "documentation for details.",
            reason="sigv4.bad_signature",
        )
