"""Identifiers in AWS's shapes, drawn from `secrets`.

Long-term access keys start AKIA, temporary ones ASIA (20 characters); secrets
are 40 characters; unique ids carry AWS's four-letter prefixes (AIDA user,
AROA role, AGPA group, ANPA managed policy, AIPA… unused).
"""

from __future__ import annotations

import secrets
import string
import uuid

_UPPER_ALNUM = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"

USER_PREFIX = "AIDA"
ROLE_PREFIX = "AROA"
GROUP_PREFIX = "AGPA"
POLICY_PREFIX = "ANPA"
LONG_TERM_KEY_PREFIX = "AKIA"
TEMPORARY_KEY_PREFIX = "ASIA"


def _random(alphabet: str, length: int) -> str:
    # One read of the OS's randomness, mapped in C: secrets.choice per character cost
    # ~4 µs each, 9% of a web identity call. Bytes at or above the largest multiple
    # of the alphabet's size are dropped, so every character stays equally likely.
    table, dropped = _TABLES[alphabet]
    text = ""
    while len(text) < length:
        text += secrets.token_bytes(2 * length).translate(table, dropped).decode("ascii")
    return text[:length]


def _table(alphabet: str) -> tuple[bytes, bytes]:
    limit = 256 - 256 % len(alphabet)
    mapped = bytes(ord(alphabet[b % len(alphabet)]) if b < limit else 0 for b in range(256))
    return mapped, bytes(range(limit, 256))


_TABLES = {alphabet: _table(alphabet) for alphabet in (_UPPER_ALNUM, _SECRET_ALPHABET)}


def unique_id(prefix: str) -> str:
    """Return a 21-character unique id like AWS's (`AROA` + 17)."""
    return prefix + _random(_UPPER_ALNUM, 17)


def access_key_id(prefix: str = LONG_TERM_KEY_PREFIX) -> str:
    return prefix + _random(_UPPER_ALNUM, 16)


def secret_access_key() -> str:
    return _random(_SECRET_ALPHABET, 40)


def account_id() -> str:
    # AWS account ids never start with 0 in practice; keep them printable as ints.
    return str(secrets.randbelow(9 * 10**11) + 10**11)


def request_id() -> str:
    """Return a request id shaped like AWS's (a UUID4)."""
    return str(uuid.uuid4())
