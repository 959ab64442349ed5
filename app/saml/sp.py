"""The SAML service provider's own key pair: generated on first use, rotatable.

The newest key signs AuthnRequests; every key is published in metadata and
tried for decrypting assertions, so an IdP that still encrypts to the old
certificate keeps working until it has fetched the new metadata.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from app.clock import Clock
from app.crypto import SecretBox
from app.db.config_cache import cached
from app.db.engine import one_first_start_at_a_time
from app.db.models import SpKey

CERT_LIFETIME = timedelta(days=3650)


@dataclass(frozen=True)
class SpKeyPair:
    kid: str
    private_key_pem: str
    certificate_pem: str


class SpKeyRing:
    def __init__(self, sessions: sessionmaker[Session], secrets_: SecretBox, clock: Clock) -> None:
        self._sessions = sessions
        self._secrets = secrets_
        self._clock = clock
        self._opened: dict[str, SpKeyPair] = {}

    def ensure(self) -> None:
        """Make the first key pair if there is none (at start, where hosts may start
        together: they make one between them)."""
        with self._sessions() as session:
            if session.scalar(select(SpKey.kid).limit(1)) is not None:
                return
        first = self._new_key()
        with self._sessions.begin() as session:
            one_first_start_at_a_time(session)
            if session.scalar(select(SpKey.kid).limit(1)) is None:
                session.add(first)

    def rotate(self) -> str:
        """Make a new key pair the signing one; older ones stay for decryption."""
        row = self._new_key()
        try:
            with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError:  # another worker made one at the same instant
            pass
        return row.kid

    def _new_key(self) -> SpKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fedbridge SAML SP")])
        now = self._clock.now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + CERT_LIFETIME)
            .sign(key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return SpKey(
            kid=secrets.token_hex(4),
            private_key_sealed=self._secrets.seal(key_pem),
            certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
            created_at=now,
        )

    def all(self, session: Session) -> list[SpKeyPair]:
        """Newest first. Keys never change once made, so each is decrypted once."""
        return cached(session, SpKey, lambda: self._all(session))

    def _all(self, session: Session) -> list[SpKeyPair]:
        rows = session.execute(
            select(SpKey.kid, SpKey.private_key_sealed, SpKey.certificate_pem).order_by(
                SpKey.created_at.desc(), SpKey.kid
            )
        )
        pairs = []
        for kid, sealed, certificate in rows:
            if kid not in self._opened:
                self._opened[kid] = SpKeyPair(kid, self._secrets.open(sealed), certificate)
            pairs.append(self._opened[kid])
        return pairs
