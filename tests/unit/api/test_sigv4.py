"""SigV4 verification against requests signed by botocore itself, as clients do."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from urllib.parse import parse_qsl
from urllib.parse import quote
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from app.api.sigv4 import IncomingRequest
from app.api.sigv4 import parse_signature
from app.api.sigv4 import verify_signature
from app.errors import IncompleteSignatureError
from app.errors import MissingAuthenticationTokenError
from app.errors import RequestExpiredError
from app.errors import SignatureDoesNotMatchError

KEY, SECRET = "AKIAEXAMPLEKEY000000", "s" * 40
URL = "http://fedbridge.test:8080/"


def _bytes(body: bytes | str | None) -> bytes:
    return body.encode() if isinstance(body, str) else body or b""


def _incoming(req: AWSRequest, body: bytes | None = None) -> IncomingRequest:
    url = urlsplit(req.url)
    return IncomingRequest(
        method=req.method,
        scheme=url.scheme,
        host=url.netloc,
        path=url.path or "/",
        query=tuple(parse_qsl(url.query, keep_blank_values=True)),
        headers={k: v for k, v in req.headers.items()},
        body=_bytes(req.body) if body is None else body,
    )


def _header_signed(
    body: str = "Action=GetCallerIdentity&Version=2011-06-15",
    token: str | None = None,
    url: str = URL,
    headers: dict | None = None,
) -> AWSRequest:  # type: ignore[type-arg]
    req = AWSRequest(
        "POST",
        url,
        data=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            **(headers or {}),
        },
    )
    SigV4Auth(Credentials(KEY, SECRET, token), "sts", "us-east-1").add_auth(req)
    return req


def _presigned(expires: int = 60) -> AWSRequest:
    req = AWSRequest("GET", URL + "?Action=GetCallerIdentity&Version=2011-06-15")
    SigV4QueryAuth(Credentials(KEY, SECRET), "sts", "us-east-1", expires=expires).add_auth(req)
    return req


def _check(
    req: AWSRequest, *, secret: str = SECRET, now: datetime | None = None, body: bytes | None = None
) -> None:
    incoming = _incoming(req, body)
    claim = parse_signature(incoming)
    verify_signature(incoming, claim, secret, now or datetime.now(UTC))


def test_header_signed_request_verifies() -> None:
    req = _header_signed(token="opaque-token")
    claim = parse_signature(_incoming(req))
    assert (claim.access_key_id, claim.service, claim.region) == (KEY, "sts", "us-east-1")
    assert claim.session_token == "opaque-token"
    _check(req)


def test_query_string_and_odd_characters_verify() -> None:
    _check(
        _header_signed(
            url=URL + "?Extra=a%20b%2Fc&Z=1", body="Action=GetCallerIdentity&V=%E2%9C%93"
        )
    )


def test_any_signed_header_is_honoured() -> None:
    # Other SDKs sign headers botocore does not; whitespace is folded as SigV4 says.
    req = _header_signed(headers={"X-Custom": "one  two"})
    _check(req)


def test_wrong_secret_and_tampered_body() -> None:
    with pytest.raises(SignatureDoesNotMatchError):
        _check(_header_signed(), secret="x" * 40)
    with pytest.raises(SignatureDoesNotMatchError):
        _check(_header_signed(), body=b"Action=CreateUser&UserName=mallory")


def test_clock_skew_is_refused_in_sts_words() -> None:
    req = _header_signed()
    _check(req, now=datetime.now(UTC) + timedelta(minutes=14))
    with pytest.raises(
        SignatureDoesNotMatchError,
        match=r"^Signature expired: [0-9]{8}T[0-9]{6}Z "
        r"is now earlier than [0-9T]{15}Z \([0-9T]{15}Z - 15 min\.\)$",
    ):
        _check(req, now=datetime.now(UTC) + timedelta(minutes=16))
    with pytest.raises(
        SignatureDoesNotMatchError,
        match=r"^Signature not yet current: .* is "
        r"still later than .* \(.* \+ 15 min\.\)$",
    ):
        _check(req, now=datetime.now(UTC) - timedelta(minutes=16))


def test_presigned_request_verifies_until_it_expires() -> None:
    req = _presigned(expires=60)
    _check(req)
    with pytest.raises(RequestExpiredError):
        _check(req, now=datetime.now(UTC) + timedelta(seconds=90))


@pytest.mark.parametrize("expires", ["\u00b2", "\u0663\u0660", "+60", "0", "604801", ""])
def test_presigned_expiry_must_be_ascii_seconds_in_range(expires: str) -> None:
    req = _presigned()
    req.url = req.url.replace("X-Amz-Expires=60", "X-Amz-Expires=" + quote(expires))
    with pytest.raises(IncompleteSignatureError):
        parse_signature(_incoming(req))


@pytest.mark.parametrize("shape", ["T50923Z", "z", "t"])
def test_timestamp_must_be_iso8601_basic(shape: str) -> None:
    req = _header_signed()
    stamp = req.headers["X-Amz-Date"]
    loose = {
        "T50923Z": stamp[:9] + stamp[10:],  # a one-digit hour, which strptime would take
        "z": stamp[:-1] + "z",
        "t": stamp.replace("T", "t"),
    }[shape]
    req.headers.replace_header("X-Amz-Date", loose)
    with pytest.raises(IncompleteSignatureError):
        parse_signature(_incoming(req))


def test_presigned_request_with_changed_parameter_fails() -> None:
    req = _presigned()
    req.url = req.url.replace("GetCallerIdentity", "GetSessionToken")
    with pytest.raises(SignatureDoesNotMatchError):
        _check(req)


def test_unsigned_request() -> None:
    with pytest.raises(MissingAuthenticationTokenError):
        parse_signature(IncomingRequest("POST", "http", "h", "/", (), {}, b""))


@pytest.mark.parametrize(
    "authorization",
    [
        "AWS4-HMAC-SHA1 Credential=x",
        "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEKEY000000/20261123/us-east-1/sts/aws4_request, "
        "SignedHeaders=host, Signature=nothex",
        "AWS4-HMAC-SHA256 Credential=short/x, SignedHeaders=host, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEKEY000000/20261123/us-east-1/sts/aws4_request, "
        "SignedHeaders=x-amz-date, Signature=" + "0" * 64,
    ],
    ids=["algorithm", "no-credential", "signature-not-hex", "bad-scope", "host-unsigned"],
)
def test_malformed_authorization(authorization: str) -> None:
    headers = {"Authorization": authorization, "X-Amz-Date": "20261123T090000Z"}
    with pytest.raises(IncompleteSignatureError):
        parse_signature(IncomingRequest("POST", "http", "h", "/", (), headers, b""))


def test_an_unsigned_x_amz_date_is_refused() -> None:
    req = _header_signed()
    auth = req.headers["Authorization"]
    req.headers.replace_header("Authorization", auth.replace(";x-amz-date", ""))
    with pytest.raises(IncompleteSignatureError):
        parse_signature(_incoming(req))


def test_unsigned_security_token_is_refused() -> None:
    req = _header_signed()
    req.headers["X-Amz-Security-Token"] = "smuggled"
    with pytest.raises(IncompleteSignatureError):
        parse_signature(_incoming(req))
