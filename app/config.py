"""Settings: every FEDBRIDGE_* variable read once, coerced and validated at start."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from urllib.parse import urlsplit

from app.clock import Clock
from app.clock import SystemClock
from app.crypto import SecretBox
from app.crypto import master_keys

_REDIS_SCHEMES = ("redis", "rediss", "unix")
_ACCOUNT_ID = re.compile(r"[0-9]{12}")


class ConfigError(ValueError):
    """A FEDBRIDGE_* variable has a value fedbridge cannot run with."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("var")
    database_url: str | None = None
    redis_url: str | None = None
    base_url: str = "http://127.0.0.1:8000"
    account_id: str | None = None
    root_access_key_id: str | None = None
    root_secret_access_key: str | None = None
    partition: str = "aws"
    saml_entity_id: str | None = None
    clock_skew_seconds: int = 60
    #: Encryption key for secrets at rest (Fernet, urlsafe base64). Unset: a key
    #: file under data_dir is created on first start.
    master_key: str | None = None
    #: Largest request body accepted, in bytes. AWS caps a SAML assertion at
    #: 100 000 characters; nothing legitimate comes near this.
    max_body_bytes: int = 1024 * 1024
    #: Requests per second one source IP may make to unsigned STS actions and sign-in
    #: pages, and that may name one identity provider; 0 turns a limit off.
    rate_limit_per_ip: int = 100
    rate_limit_per_provider: int = 1000
    #: Proxies in front that append the client's address to X-Forwarded-For; 0 trusts
    #: no header and takes the socket's peer (see app/proxies.py).
    trusted_proxies: int = 0
    #: Worker processes serving together (`fedbridge serve --workers`, not an environment
    #: variable). Above one, per-process state is not enough (app.ratelimit).
    workers: int = 1
    clock: Clock = field(default_factory=SystemClock, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.account_id is not None and not _ACCOUNT_ID.fullmatch(self.account_id):
            raise ConfigError("FEDBRIDGE_ACCOUNT_ID must be 12 digits")
        if (self.root_access_key_id is None) != (self.root_secret_access_key is None):
            raise ConfigError(
                "FEDBRIDGE_ROOT_ACCESS_KEY_ID and FEDBRIDGE_ROOT_SECRET_ACCESS_KEY go together"
            )
        if self.root_access_key_id is not None and not re.fullmatch(
            r"AKIA[A-Z0-9]{16}", self.root_access_key_id
        ):
            raise ConfigError("FEDBRIDGE_ROOT_ACCESS_KEY_ID must be AKIA + 16 of [A-Z0-9]")
        if self.root_secret_access_key is not None and len(self.root_secret_access_key) != 40:
            raise ConfigError("FEDBRIDGE_ROOT_SECRET_ACCESS_KEY must be 40 characters")
        scheme = urlsplit(self.base_url).scheme
        if scheme not in ("http", "https"):
            raise ConfigError("FEDBRIDGE_BASE_URL must be an http(s) URL")
        if not re.fullmatch(r"aws[a-z-]*", self.partition):
            raise ConfigError("FEDBRIDGE_PARTITION must look like aws, aws-cn, aws-us-gov")
        if self.clock_skew_seconds < 0:
            raise ConfigError("FEDBRIDGE_CLOCK_SKEW_SECONDS must be >= 0")
        if self.redis_url is not None and urlsplit(self.redis_url).scheme not in _REDIS_SCHEMES:
            raise ConfigError("FEDBRIDGE_REDIS_URL must be a redis://, rediss:// or unix:// URL")
        if self.master_key is not None:
            try:
                SecretBox(master_keys(self.master_key))
            except (ValueError, TypeError):
                raise ConfigError(
                    "FEDBRIDGE_MASTER_KEY must be one or more (comma-separated) Fernet "
                    "keys: 32 bytes, url-safe base64"
                ) from None

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir.resolve() / 'fedbridge.db'}"

    @property
    def public_base_url(self) -> str:
        return self.base_url.rstrip("/")

    @property
    def sp_entity_id(self) -> str:
        return self.saml_entity_id or f"{self.public_base_url}/saml/metadata"

    @property
    def saml_acs_url(self) -> str:
        return f"{self.public_base_url}/saml/acs"

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from FEDBRIDGE_* variables; a bad value fails start-up."""
        env = os.environ if environ is None else environ

        def opt(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def whole(name: str, default: int) -> int:
            try:
                value = int(env.get(name, str(default)))
            except ValueError:
                raise ConfigError(f"{name} must be a whole number") from None
            if value < 0:
                raise ConfigError(f"{name} must be >= 0")
            return value

        return cls(
            data_dir=Path(opt("FEDBRIDGE_DATA_DIR") or "var"),
            database_url=opt("FEDBRIDGE_DATABASE_URL"),
            redis_url=opt("FEDBRIDGE_REDIS_URL"),
            base_url=opt("FEDBRIDGE_BASE_URL") or "http://127.0.0.1:8000",
            account_id=opt("FEDBRIDGE_ACCOUNT_ID"),
            root_access_key_id=opt("FEDBRIDGE_ROOT_ACCESS_KEY_ID"),
            root_secret_access_key=opt("FEDBRIDGE_ROOT_SECRET_ACCESS_KEY"),
            partition=opt("FEDBRIDGE_PARTITION") or "aws",
            saml_entity_id=opt("FEDBRIDGE_SAML_ENTITY_ID"),
            clock_skew_seconds=whole("FEDBRIDGE_CLOCK_SKEW_SECONDS", 60),
            rate_limit_per_ip=whole("FEDBRIDGE_RATE_LIMIT_PER_IP", 100),
            rate_limit_per_provider=whole("FEDBRIDGE_RATE_LIMIT_PER_PROVIDER", 1000),
            trusted_proxies=whole("FEDBRIDGE_TRUSTED_PROXIES", 0),
            master_key=opt("FEDBRIDGE_MASTER_KEY"),
        )
