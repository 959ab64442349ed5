"""Session tokens: sealed, bound to their access key id, and surviving key rotation."""

from __future__ import annotations

import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from app.clock import FixedClock
from app.crypto import SecretBox
from app.db.engine import make_engine
from app.db.engine import make_session_factory
from app.db.engine import migrate
from app.sts import tokens
from app.sts.tokens import InvalidSessionTokenError
from app.sts.tokens import SessionClaims
from app.sts.tokens import TokenCodec
from app.sts.tokens import TokenKeyRing


@pytest.fixture
def codec(tmp_path: Path) -> TokenCodec:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(engine)
    ring = TokenKeyRing(
        make_session_factory(engine), SecretBox([Fernet.generate_key()]), FixedClock()
    )
    ring.ensure()
    return TokenCodec(ring)


def _claims(akid: str = "ASIAAAAAAAAAAAAAAAAA") -> SessionClaims:
    now = FixedClock().now()
    return SessionClaims(akid, "s" * 40, now, now + timedelta(hours=1), {"kind": "assumed-role"})


def test_roundtrip(codec: TokenCodec) -> None:
    token = codec.seal(_claims())
    opened = codec.open(token, "ASIAAAAAAAAAAAAAAAAA")
    assert opened.secret_access_key == "s" * 40 and opened.body == {"kind": "assumed-role"}
    assert "s" * 40 not in token


def test_tokens_sealed_with_zlib_defaults_still_open(
    codec: TokenCodec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sessions issued before the smaller compressor keep working after an upgrade."""
    monkeypatch.setattr(tokens, "_compress", zlib.compress)
    before_upgrade = codec.seal(_claims())
    monkeypatch.undo()
    assert codec.open(before_upgrade, "ASIAAAAAAAAAAAAAAAAA").secret_access_key == "s" * 40


def test_bound_to_its_access_key_id(codec: TokenCodec) -> None:
    token = codec.seal(_claims())
    with pytest.raises(InvalidSessionTokenError):
        codec.open(token, "ASIABBBBBBBBBBBBBBBB")


def test_rotation_keeps_old_tokens_and_uses_the_new_key(codec: TokenCodec) -> None:
    old = codec.seal(_claims())
    new_kid = codec.keys.rotate()
    assert codec.open(old, "ASIAAAAAAAAAAAAAAAAA").access_key_id == "ASIAAAAAAAAAAAAAAAAA"
    assert codec.seal(_claims()).split(".")[1] == new_kid


@pytest.mark.parametrize(
    "token",
    [
        "",
        "FB1",
        "FB1.x.y",
        "FB1..",
        "XX1.a.b",
        "FB1.deadbeef.AAAA",
        "FB1.{kid}.!!!!",
        "FB1.{kid}." + "A" * 100,
    ],
)
def test_garbage_is_refused(codec: TokenCodec, token: str) -> None:
    kid, _ = codec.keys.current()
    with pytest.raises(InvalidSessionTokenError):
        codec.open(token.replace("{kid}", kid), "ASIAAAAAAAAAAAAAAAAA")
