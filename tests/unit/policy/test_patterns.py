"""Wildcards: `*` and `?` mean what a glob means, at a cost bounded by the sizes."""

from __future__ import annotations

import random
import signal
from functools import cache

import pytest

from app.policy import RequestContext
from app.policy.patterns import wildcard_match


def _glob(pattern: str, value: str) -> bool:
    """The definition, by dynamic programming: the reference the matcher must agree with."""

    @cache
    def match(p: int, v: int) -> bool:
        if p == len(pattern):
            return v == len(value)
        if pattern[p] == "*":
            return match(p + 1, v) or (v < len(value) and match(p, v + 1))
        return v < len(value) and pattern[p] in ("?", value[v]) and match(p + 1, v + 1)

    return match(0, 0)


def test_agrees_with_the_definition_of_a_glob() -> None:
    rng = random.Random(7)
    for _ in range(4000):
        pattern = "".join(rng.choice("ab*?.") for _ in range(rng.randint(0, 8)))
        value = "".join(rng.choice("ab.") for _ in range(rng.randint(0, 10)))
        assert wildcard_match(pattern, value) is _glob(pattern, value), (pattern, value)


def test_variables_are_literal_even_when_their_value_has_wildcards() -> None:
    ctx = RequestContext("s3:GetObject", "*", {"aws:username": "a*?"})
    assert wildcard_match("home/${aws:username}/*", "home/a*?/x", ctx)
    assert not wildcard_match("home/${aws:username}/*", "home/abc/x", ctx)
    assert wildcard_match("${aws:username}*b", "a*?zzb", ctx)


@pytest.fixture
def five_seconds():  # type: ignore[no-untyped-def]
    def expired(*_: object) -> None:
        raise TimeoutError("a wildcard match took over 5 s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(5)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_many_stars_cannot_stall_a_worker(five_seconds) -> None:  # type: ignore[no-untyped-def]
    # With `*` as a backtracking `.*`, ten stars took 41 s here and fourteen would take
    # hours; a StringLike pattern meets request values (tags, session names) this way.
    arn = "arn:aws:s3:::" + "a" * 60
    assert not wildcard_match("arn:aws:s3:::" + "*a" * 14 + "*b", arn)
    assert wildcard_match("arn:aws:s3:::" + "*a" * 14 + "*", arn)
    assert not wildcard_match("*-*-*-*-*-*-*-x", "-" * 4000)
