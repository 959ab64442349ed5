"""Validating an OpenID Connect ID token (or JWT access token) against a registered provider.

Shared by AssumeRoleWithWebIdentity and the browser sign-in. In order: size,
shape, the algorithm allow-list (asymmetric only: never `none`, never HMAC),
the provider its `iss` names, a key from that issuer's own JWKS (headers
that carry or point at keys, `jwk`, `jku`, `x5u`, `x5c`, are ignored), the
signature, then `exp`/`nbf`/`iat` with the configured skew against the
application clock, `aud` or `azp` in the client id list, and `sub`.
Nothing is remembered: a token stays usable until it expires, as Kubernetes
service-account tokens need.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jws import JWSRegistry

from app.clock import Clock
from app.db.models import OidcProvider
from app.errors import ExpiredFederationTokenError
from app.errors import InvalidIdentityTokenError
from app.iam.names import _shown
from app.oidc.jwks import ALGORITHM_KEYS
from app.oidc.jwks import KeyCache

MAX_TOKEN_CHARS = 20000
MAX_SUBJECT_CHARS = 255
ALLOWED_ALGORITHMS = tuple(ALGORITHM_KEYS)
# Unknown header names are tolerated (issuers add their own); they are never used.
_REGISTRY = JWSRegistry(algorithms=ALLOWED_ALGORITHMS, strict_check_header=False)
# Headers may carry certificate chains (x5c); the whole token is capped anyway.
_REGISTRY.max_header_length = MAX_TOKEN_CHARS


def _invalid(message: str, reason: str) -> InvalidIdentityTokenError:
    return InvalidIdentityTokenError(message, reason=reason)


def _malformed() -> InvalidIdentityTokenError:
    return _invalid("The web identity token is not a well-formed JWT.", "jwt.malformed")


@dataclass(frozen=True)
class ValidatedToken:
    provider: OidcProvider
    issuer: str
    subject: str
    #: The client id that admitted the token: `azp` when listed, else a listed `aud`.
    audience: str
    claims: Mapping[str, Any]


class TokenValidator:
    def __init__(self, keys: KeyCache, clock: Clock, skew_seconds: int) -> None:
        self.keys = keys
        self.clock = clock
        self.skew = skew_seconds

    def validate(
        self, token: str, find_provider: Callable[[str], OidcProvider | None]
    ) -> ValidatedToken:
        """Check everything; `find_provider` maps the token's `iss` to the provider that
        may vouch for it (None: no such provider where the caller looks)."""
        if len(token) > MAX_TOKEN_CHARS:
            raise _invalid("The web identity token is too large.", "jwt.too_large")
        try:
            obj = jws.extract_compact(token.encode("ascii"), registry=_REGISTRY)
            header = obj.headers()
        # joserfc trips over some shapes (a JSON list as header) with plain Python errors.
        except (UnicodeError, JoseError, ValueError, TypeError, AttributeError, RecursionError):
            raise _malformed() from None
        if not isinstance(header, dict):
            raise _malformed()
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            shown = _shown(alg) if isinstance(alg, str) else "?"
            raise _invalid(
                f"The token is signed with {shown}; only RSA (RS256/384/512) and ECDSA "
                "(ES256/384/512) signatures are accepted, as in AWS.",
                "jwt.alg_not_allowed",
            )
        kid = header.get("kid")
        if "crit" in header or not (kid is None or isinstance(kid, str)):
            raise _invalid("The token's header is not acceptable.", "jwt.malformed")
        claims = _claims(obj.payload)
        issuer = claims.get("iss")
        provider = find_provider(issuer) if isinstance(issuer, str) else None
        if provider is None or provider.issuer != issuer:
            shown = _shown(issuer) if isinstance(issuer, str) else "(none)"
            raise _invalid(
                f"No OpenIDConnect provider found in your account for {shown}", "jwt.iss_unknown"
            )
        now = self.clock.now()
        key = self.keys.key_for(provider.issuer, provider.thumbprints, kid, alg, now)
        if key is None:
            raise _invalid(
                "The token is signed with a key its issuer does not publish.", "jwt.unknown_kid"
            )
        try:
            verified = jws.validate_compact(obj, key, registry=_REGISTRY)
        except (JoseError, ValueError, TypeError):
            verified = False
        if not verified:
            raise _invalid("The token's signature is not valid.", "jwt.bad_signature")
        self._check_times(claims, now.timestamp())
        audience = _audience(claims, provider.client_ids)
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise _invalid("Missing a required claim: sub", "jwt.no_sub")
        # OpenID Connect Core 2: at most 255 characters. It is echoed in the answer and
        # becomes a condition key, so no control characters either.
        if len(subject) > MAX_SUBJECT_CHARS or not subject.isprintable():
            raise _invalid(
                f"The token's sub must be 1 to {MAX_SUBJECT_CHARS} printable characters.",
                "jwt.bad_sub",
            )
        return ValidatedToken(provider, provider.issuer, subject, audience, claims)

    def _check_times(self, claims: Mapping[str, Any], now: float) -> None:
        expires = _numeric_date(claims, "exp", required=True)
        assert expires is not None
        if now >= expires + self.skew:
            raise ExpiredFederationTokenError(
                "Token expired: the web identity token's exp is in the past.",
                reason="jwt.expired",
            )
        not_before = _numeric_date(claims, "nbf")
        if not_before is not None and not_before > now + self.skew:
            raise _invalid("The token is not valid yet (nbf).", "jwt.not_yet_valid")
        issued = _numeric_date(claims, "iat")
        if issued is not None and issued > now + self.skew:
            raise _invalid("The token was issued in the future (iat).", "jwt.issued_in_future")


def _claims(payload: bytes | None) -> dict[str, Any]:
    def no_constants(name: str) -> None:
        raise ValueError(name)  # NaN and Infinity are not JSON

    try:
        claims = json.loads(payload or b"", parse_constant=no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):
        claims = None
    if not isinstance(claims, dict):
        raise _invalid("The token's claims are not a JSON object.", "jwt.malformed")
    return claims


def _numeric_date(claims: Mapping[str, Any], name: str, *, required: bool = False) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise _invalid(f"Missing a required claim: {name}", f"jwt.bad_{name}")
        return None
    bad = _invalid(f"The token's {name} must be a number of seconds.", f"jwt.bad_{name}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad
    try:
        seconds = float(value)
    except OverflowError:  # an int beyond any date
        raise bad from None
    if not math.isfinite(seconds):
        raise bad
    return seconds


def audiences(claims: Mapping[str, Any]) -> list[Any]:
    """The token's aud as a list (one string, or a list of them)."""
    aud = claims.get("aud")
    return [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []


def _audience(claims: Mapping[str, Any], client_ids: list[str]) -> str:
    azp = claims.get("azp")
    if claims.get("aud") is None and azp is None:  # AWS's words; GitLab's CI tokens lacked it
        raise _invalid("Missing a required claim: aud", "jwt.no_aud")
    candidates = [azp, *audiences(claims)] if isinstance(azp, str) else audiences(claims)
    for candidate in candidates:
        if isinstance(candidate, str) and candidate in client_ids:
            return candidate
    raise _invalid("Incorrect token audience", "jwt.aud_mismatch")
