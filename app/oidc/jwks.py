"""An issuer's signing keys: its discovery document, then its JWKS, fetched briefly, cached.

Fetching: `<issuer>/.well-known/openid-configuration`, then its `jwks_uri`
(and, for the browser sign-in, the POST to its token endpoint); each gets
FETCH_SECONDS in all (connect, TLS, headers, body) and at most
MAX_DOCUMENT_BYTES, and follows no redirect, so an issuer that is down or slow
costs a worker a few seconds, never a hang (name resolution is the system
resolver's, outside that budget). Every URL must be https, except on loopback.

TLS trust, as AWS documents it: the host's certificate is checked against the
system's trusted CAs first. Only when that fails and the provider has
thumbprints, the certificate chain the host presents must contain a
certificate whose SHA-1 is one of them, and the connection is made again
trusting that certificate alone as the anchor (partial chains allowed, host
name checked), so a pinned CA vouches only for certificates it really
signed. Python 3.11 exposes the presented chain only through a private method
(public from 3.13); without it only the leaf can be compared.

Caching: keys are kept per (issuer, thumbprints) for CACHE_SECONDS. A token
naming an unknown `kid` triggers a refresh, but an issuer is fetched at most
once per REFRESH_INTERVAL_SECONDS, whatever happens: random kids cannot make
us hammer it, and an issuer that just failed fails the next calls at once.
Times come from the application clock, which tests move.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import SplitResult

from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from joserfc.jwk import Key
from joserfc.jwk import RSAKey

from app.errors import IdpCommunicationError
from app.errors import InvalidIdentityTokenError
from app.errors import ServiceError
from app.oidc.urls import is_loopback
from app.oidc.urls import secure_enough
from app.oidc.urls import split_url

FETCH_SECONDS = 3.0
MAX_DOCUMENT_BYTES = 1024 * 1024
MAX_KEYS_PER_TYPE = 100
MIN_RSA_BITS = 2048
CACHE_SECONDS = 600
REFRESH_INTERVAL_SECONDS = 10

#: Which key each allowed algorithm needs: (kty, crv).
ALGORITHM_KEYS: dict[str, tuple[str, str | None]] = {
    # AWS: "RSA keys (RS256, RS384, or RS512) or ECDSA keys (ES256, ES384, or ES512)".
    **{f"RS{size}": ("RSA", None) for size in (256, 384, 512)},
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
}
_PUBLIC_FIELDS = {"RSA": ("n", "e"), "EC": ("crv", "x", "y")}

_NO_KEYS = (
    "Couldn't retrieve verification key from your identity provider, please reference "
    "AssumeRoleWithWebIdentity documentation for requirements"
)


def _unreachable(detail: str) -> IdpCommunicationError:
    return IdpCommunicationError(
        f"The identity provider could not be reached: {detail}.", reason="oidc.unreachable"
    )


# --- one fetch -------------------------------------------------------------------------


def _presented_chain(sock: ssl.SSLSocket) -> list[bytes]:
    """The DER certificates the server sent, leaf first (unverified)."""
    getter = getattr(sock, "get_unverified_chain", None)  # Python 3.13+
    if getter is None:
        getter = getattr(sock._sslobj, "get_unverified_chain", None)  # type: ignore[attr-defined]
    if getter is not None:
        chain = getter() or []
        return [c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER) for c in chain]  # type: ignore[attr-defined]
    leaf = sock.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def _pinned_context(
    parts: SplitResult, thumbprints: Sequence[str], deadline: float
) -> ssl.SSLContext:
    """A context trusting only the presented certificate that matches a thumbprint."""
    probe = ssl.create_default_context()
    probe.check_hostname, probe.verify_mode = False, ssl.CERT_NONE
    conn = _connection(parts, probe, deadline)
    try:
        conn.connect()
        chain = _presented_chain(conn.sock)  # type: ignore[arg-type]
    finally:
        conn.close()
    for der in chain:
        if hashlib.sha1(der).hexdigest() in thumbprints:  # noqa: S324 -- AWS's thumbprint is SHA-1
            pinned = ssl.create_default_context(cadata=der)
            pinned.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
            return pinned
    raise InvalidIdentityTokenError(
        "OpenIDConnect provider's HTTPS certificate doesn't match configured thumbprint",
        reason="oidc.thumbprint_mismatch",
    )


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the identity provider took too long")
    return left


def _connection(
    parts: SplitResult, context: ssl.SSLContext | None, deadline: float
) -> http.client.HTTPConnection:
    host = parts.hostname or ""  # split_url made sure there is one
    if context is None:
        return http.client.HTTPConnection(host, parts.port, timeout=_remaining(deadline))
    return http.client.HTTPSConnection(
        host, parts.port, timeout=_remaining(deadline), context=context
    )


def _request(
    parts: SplitResult,
    context: ssl.SSLContext | None,
    deadline: float,
    form: Form | None,
) -> bytes:
    conn = _connection(parts, context, deadline)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # Socket timeouts bound each read, not the whole: a status line or headers sent a byte
    # a second would hold the worker. At the deadline the connection is cut under it.
    cutoff = threading.Timer(_remaining(deadline), _cut, args=(conn,))
    cutoff.daemon = True
    cutoff.start()
    try:
        if form is None:
            conn.request("GET", target, headers={"Accept": "application/json"})
        else:
            headers = {
                "Accept": "application/json",
                "Content-Type": "application/x-www-form-urlencoded",
                **form.headers,
            }
            conn.request("POST", target, body=form.body.encode(), headers=headers)
        response = conn.getresponse()
        if response.status >= 500:
            raise _unreachable(f"HTTP {response.status}")
        if response.status != 200:
            raise InvalidIdentityTokenError(_NO_KEYS, reason="oidc.http_status")
        body = bytearray()
        while chunk := _read_some(conn, response, deadline):
            body += chunk
            if len(body) > MAX_DOCUMENT_BYTES:
                raise InvalidIdentityTokenError(_NO_KEYS, reason="oidc.document_too_large")
        return bytes(body)
    finally:
        cutoff.cancel()
        conn.close()


def _cut(conn: http.client.HTTPConnection) -> None:
    sock = conn.sock
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)


def _read_some(
    conn: http.client.HTTPConnection, response: http.client.HTTPResponse, deadline: float
) -> bytes:
    # read1 returns what one socket read gives, so the deadline is checked between reads
    # (a server trickling bytes cannot hold us past it).
    if conn.sock is not None:
        conn.sock.settimeout(_remaining(deadline))
    return response.read1(65536)


@dataclass(frozen=True)
class Form:
    """A form to POST (the token endpoint's request) and the headers it needs."""

    body: str
    headers: dict[str, str]


def fetch_json(url: str, thumbprints: Sequence[str], form: Form | None = None) -> dict[str, Any]:
    """GET one JSON object from an issuer, or POST `form` for it, within FETCH_SECONDS and
    MAX_DOCUMENT_BYTES, with the TLS trust above and no redirect."""
    parts = split_url(url)
    if parts is None or not secure_enough(parts):
        raise InvalidIdentityTokenError(_NO_KEYS, reason="oidc.insecure_url")
    deadline = time.monotonic() + FETCH_SECONDS
    try:
        if parts.scheme == "http":
            body = _request(parts, None, deadline, form)
        else:
            try:
                body = _request(parts, ssl.create_default_context(), deadline, form)
            except ssl.SSLCertVerificationError:
                if not thumbprints:
                    raise InvalidIdentityTokenError(
                        "The identity provider's HTTPS certificate is not trusted, and the "
                        "provider has no thumbprints.",
                        reason="oidc.tls_untrusted",
                    ) from None
                pinned = _pinned_context(parts, thumbprints, deadline)
                body = _request(parts, pinned, deadline, form)
    except ssl.SSLCertVerificationError:
        raise InvalidIdentityTokenError(
            "OpenIDConnect provider's HTTPS certificate doesn't match configured thumbprint",
            reason="oidc.thumbprint_mismatch",
        ) from None
    except (OSError, http.client.HTTPException) as e:  # refused, reset, timeout, DNS, TLS
        raise _unreachable(type(e).__name__) from None
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidIdentityTokenError(_NO_KEYS, reason="oidc.not_json") from None
    if not isinstance(document, dict):
        raise InvalidIdentityTokenError(_NO_KEYS, reason="oidc.not_json")
    return document


# --- keys ------------------------------------------------------------------------------


def _import_key(jwk: Any) -> Key | None:
    """A public signing key from one JWKS entry; None for anything we would not verify with."""
    if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
        return None
    kty = jwk.get("kty")
    fields = _PUBLIC_FIELDS.get(kty) if isinstance(kty, str) else None
    if fields is None or not all(isinstance(jwk.get(f), str) for f in fields):
        return None
    # Public parameters only: a JWKS that leaks private parts is still used as public keys.
    public = {"kty": kty, **{f: jwk[f] for f in fields}}
    for optional in ("kid", "alg"):
        if isinstance(jwk.get(optional), str):
            public[optional] = jwk[optional]
    try:
        if kty == "RSA":
            n = base64.urlsafe_b64decode(public["n"] + "=" * (-len(public["n"]) % 4))
            if len(n.lstrip(b"\0")) * 8 < MIN_RSA_BITS:
                return None
            return RSAKey.import_key(public)
        return ECKey.import_key(public)
    except (JoseError, ValueError, TypeError):
        return None


@dataclass(frozen=True)
class IssuerKeys:
    keys: tuple[Key, ...]

    def find(self, kid: str | None, alg: str) -> Key | None:
        """The key for a token's `kid` and `alg`; without a kid, the only key that fits."""
        kty, crv = ALGORITHM_KEYS[alg]
        fitting = [
            k
            for k in self.keys
            if k.key_type == kty and (crv is None or k.get("crv") == crv) and k.alg in (None, alg)
        ]
        if kid is None:
            return fitting[0] if len(fitting) == 1 else None
        return next((k for k in fitting if k.kid == kid), None)


def issuer_may_send_us_to(issuer: str, url: str) -> bool:
    """Whether an issuer's discovery document may name `url` (its JWKS, its token
    endpoint): https, or loopback for a loopback issuer. Where the issuer lives, or
    further out: an issuer elsewhere may not point a fetch at the machine fedbridge
    runs on (plain http, its own ports), nor a token request carrying the client
    secret."""
    parts, issuer_parts = split_url(url), split_url(issuer)
    if parts is None or not secure_enough(parts):
        return False
    return not is_loopback(parts.hostname) or (
        issuer_parts is not None and is_loopback(issuer_parts.hostname)
    )


def fetch_keys(issuer: str, thumbprints: Sequence[str]) -> IssuerKeys:
    """Discovery, then the JWKS it names."""
    discovery = fetch_json(issuer.rstrip("/") + "/.well-known/openid-configuration", thumbprints)
    jwks_uri = discovery.get("jwks_uri")
    # OpenID Connect Discovery 1.0 §4.3: the document must name the issuer it describes.
    if discovery.get("issuer") != issuer or not isinstance(jwks_uri, str):
        raise InvalidIdentityTokenError(_NO_KEYS, reason="oidc.bad_discovery")
    if not issuer_may_send_us_to(issuer, jwks_uri):
        raise InvalidIdentityTokenError(_NO_KEYS, reason="oidc.insecure_url")
    entries = fetch_json(jwks_uri, thumbprints).get("keys")
    if not isinstance(entries, list):
        raise InvalidIdentityTokenError(_NO_KEYS, reason="oidc.bad_jwks")
    # AWS reads up to 100 RSA and 100 EC keys (counted before importing, which costs).
    per_type: dict[str, int] = {}
    keys = []
    for entry in entries:
        kty = entry.get("kty") if isinstance(entry, dict) else None
        if not isinstance(kty, str) or per_type.get(kty, 0) >= MAX_KEYS_PER_TYPE:
            continue
        key = _import_key(entry)
        if key is not None:
            per_type[kty] = per_type.get(kty, 0) + 1
            keys.append(key)
    return IssuerKeys(tuple(keys))


# --- the cache ---------------------------------------------------------------------------


@dataclass
class _Entry:
    lock: threading.Lock
    keys: IssuerKeys | None = None
    fetched_at: datetime | None = None
    attempted_at: datetime | None = None
    #: The last fetch's refusal, replayed (as a new exception) while fetching is on hold.
    failure: Callable[[], ServiceError] | None = None


def _within(since: datetime | None, now: datetime, seconds: float) -> bool:
    # A clock moved backwards (tests reset theirs) counts as "long ago".
    return since is not None and 0 <= (now - since).total_seconds() < seconds


class KeyCache:
    """Issuer keys per (issuer, thumbprints), shared by every request of this process."""

    def __init__(self, fetch: Callable[[str, Sequence[str]], IssuerKeys] = fetch_keys) -> None:
        self._fetch = fetch
        self._entries: dict[tuple[str, tuple[str, ...]], _Entry] = {}
        self._lock = threading.Lock()

    def key_for(
        self, issuer: str, thumbprints: Sequence[str], kid: str | None, alg: str, now: datetime
    ) -> Key | None:
        """The issuer's key for this token header, fetching when stale or unknown; None when
        the issuer does not publish it (or may not be asked again yet)."""
        cache_key = (issuer, tuple(sorted(thumbprints)))
        with self._lock:
            entry = self._entries.setdefault(cache_key, _Entry(threading.Lock()))
        with entry.lock:  # one fetch per issuer at a time; the others wait for its keys
            if entry.keys is None or not _within(entry.fetched_at, now, CACHE_SECONDS):
                self._refresh(entry, issuer, cache_key[1], now)
            # _refresh raised unless some fetch has succeeded: every failure is recorded.
            assert entry.keys is not None
            key = entry.keys.find(kid, alg)
            if key is None and not _within(entry.attempted_at, now, REFRESH_INTERVAL_SECONDS):
                self._refresh(entry, issuer, cache_key[1], now)
                key = entry.keys.find(kid, alg)
            return key

    def _refresh(
        self, entry: _Entry, issuer: str, thumbprints: Sequence[str], now: datetime
    ) -> None:
        if _within(entry.attempted_at, now, REFRESH_INTERVAL_SECONDS):
            if entry.failure is not None:
                raise entry.failure()
            return  # fetched moments ago: keep what we have
        entry.attempted_at = now
        try:
            keys = self._fetch(issuer, thumbprints)
        except ServiceError as e:
            kind, message, reason = type(e), e.message, e.reason
            entry.failure = lambda: kind(message, reason=reason)
            raise
        except Exception:  # a fault of ours: this call fails, the next ones are refused
            entry.failure = lambda: InvalidIdentityTokenError(_NO_KEYS, reason="oidc.no_keys")
            raise
        entry.keys, entry.fetched_at, entry.failure = keys, now, None

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


#: The process's cache: every worker keeps its own (keys are public; nothing to share).
KEYS = KeyCache()
