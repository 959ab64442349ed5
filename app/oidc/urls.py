"""Issuer URLs: https everywhere, plain http only on loopback (development and tests)."""

from __future__ import annotations

from urllib.parse import SplitResult
from urllib.parse import urlsplit

from app.errors import InvalidInputError

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def is_loopback(host: str | None) -> bool:
    return (host or "").lower() in LOOPBACK_HOSTS


def secure_enough(parts: SplitResult) -> bool:
    """https, or http to this very machine: nothing else may carry keys or tokens."""
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname))


def split_url(url: str) -> SplitResult | None:
    """The parts of an absolute http(s) URL without credentials, or None."""
    # ASCII only: http.client cannot send anything else (an IDN host is written in punycode).
    if not url.isascii() or not url.isprintable() or any(ch.isspace() for ch in url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return None
    return parts


def check_issuer_url(url: str) -> str:
    """Refuse what cannot be an issuer; return its key (the URL without its scheme).

    The key is AWS's: the provider ARN ends in it and trust-policy condition
    keys start with it (`token.example.com/path:sub`).
    """
    parts = split_url(url)
    if parts is None:
        raise InvalidInputError("The Url must be an absolute https:// URL.")
    if not secure_enough(parts):
        raise InvalidInputError(
            "The Url must begin with https:// (http:// is accepted only for loopback issuers)."
        )
    if "?" in url or "#" in url:
        raise InvalidInputError("The Url may have a path but no query or fragment.")
    return url_key(url)


def url_key(issuer: str) -> str:
    return issuer.split("://", 1)[1] if "://" in issuer else issuer
