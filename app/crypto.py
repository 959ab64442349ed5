"""Secrets at rest: encrypted with a master key that never enters the database.

The master key comes from FEDBRIDGE_MASTER_KEY (production: from a secret
store) or from `<data dir>/master.key`, created 0600 on first start. Several
comma-separated keys may be given: the first encrypts, all decrypt, so a key
can be rotated without re-encrypting everything at once.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken
from cryptography.fernet import MultiFernet

from app.errors import FedbridgeError


class SecretUnreadableError(FedbridgeError):
    """A stored secret does not decrypt with any configured master key."""


class SecretBox:
    """Encrypt and decrypt small secrets (access key secrets, TOTP seeds, client secrets)."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("at least one master key is required")
        self._fernet = MultiFernet([Fernet(k) for k in keys])
        self._primary = keys[0]

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, UnicodeError) as e:
            raise SecretUnreadableError("stored secret does not decrypt with the master key") from e

    def derive(self, purpose: str) -> bytes:
        """A key for one purpose (e.g. signing cookies), derived from the master key, so
        every worker agrees on it and nothing more needs storing."""
        return hmac.new(self._primary, purpose.encode(), hashlib.sha256).digest()

    @classmethod
    def from_settings(cls, master_key: str | None, data_dir: Path) -> SecretBox:
        if master_key:
            return cls(master_keys(master_key))
        return cls([_load_or_create_key_file(data_dir / "master.key")])


def master_keys(text: str) -> list[bytes]:
    """FEDBRIDGE_MASTER_KEY: one or more Fernet keys, comma-separated, the first encrypting."""
    return [k.strip().encode() for k in text.split(",") if k.strip()]


def _load_or_create_key_file(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two workers starting together must not both write a key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    key = Fernet.generate_key()
    with os.fdopen(fd, "wb") as f:
        f.write(key + b"\n")
    return key
