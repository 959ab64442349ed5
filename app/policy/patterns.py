"""Wildcards and policy variables, the two ways a policy string means more than itself.

`*` matches any run of characters (across `:` and `/`), `?` any one character.
`${aws:username}` is replaced by the request's value; `${key, 'default'}`
falls back to a default; `${*}`, `${?}` and `${$}` stand for the literal
characters. A variable whose key is absent (and has no default) makes the
string match nothing, as in AWS. Version 2008-10-17 policies have no variables.
"""

from __future__ import annotations

import re
from functools import lru_cache

from app.policy.context import RequestContext

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
# The key may hold spaces (tag keys do): `${aws:PrincipalTag/cost center, 'shared'}`.
_DEFAULT = re.compile(r"\s*([^,]*[^,\s])\s*,\s*'([^']*)'\s*")
_LITERALS = {"*": "*", "?": "?", "$": "$"}

# A piece of a resolved pattern: (text, literal). Literal text has no wildcards.
Piece = tuple[str, bool]


def _resolve_pieces(pattern: str, ctx: RequestContext | None) -> list[Piece] | None:
    if ctx is None or "${" not in pattern:
        return [(pattern, False)]
    pieces: list[Piece] = []
    position = 0
    for match in _VARIABLE.finditer(pattern):
        pieces.append((pattern[position : match.start()], False))
        inner = match.group(1)
        if inner in _LITERALS:
            pieces.append((_LITERALS[inner], True))
        else:
            default = _DEFAULT.fullmatch(inner)
            key, fallback = (
                (default.group(1), default.group(2)) if default else (inner.strip(), None)
            )
            value = ctx.get(key)
            if not isinstance(value, str):
                if fallback is None:
                    return None
                value = fallback
            pieces.append((value, True))
        position = match.end()
    pieces.append((pattern[position:], False))
    return pieces


def resolve(pattern: str, ctx: RequestContext | None) -> str | None:
    """The pattern with its variables replaced, or None when one has no value."""
    pieces = _resolve_pieces(pattern, ctx)
    return None if pieces is None else "".join(text for text, _ in pieces)


@lru_cache(maxsize=8192)
def _plain_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    return _regex([(pattern, False)], ignore_case)


def _regex(pieces: list[Piece], ignore_case: bool) -> re.Pattern[str]:
    """`*` as plain `.*` backtracks without bound: ten stars against a 53-character ARN
    took 41 s, and request values (tags, session names) meet StringLike patterns. So
    every run between two stars is matched at its first place and kept there, in an
    atomic group: that is where a glob match puts it anyway (the earliest place leaves
    the most room for the rest), and the regex stays polynomial."""
    runs: list[list[str]] = [[]]  # the pattern's pieces between stars, as regex
    for text, literal in pieces:
        if literal:
            runs[-1].append(re.escape(text))
            continue
        for c in text:
            if c == "*":
                runs.append([])
            else:
                runs[-1].append("." if c == "?" else re.escape(c))
    first, *rest = ("".join(run) for run in runs)
    if rest:
        *middle, last = rest
        first += "".join(f"(?>.*?{run})" for run in middle) + ".*" + last
    return re.compile(first, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _matches(pieces: list[Piece], value: str) -> bool:
    if len(pieces) == 1 and not pieces[0][1]:
        return _plain_regex(pieces[0][0], False).fullmatch(value) is not None
    return _regex(pieces, False).fullmatch(value) is not None


def arn_match(pattern: str, arn: str, ctx: RequestContext | None = None) -> bool:
    """ArnLike: the six colon-separated parts of `arn` matched one by one, so a `*` in
    the service cannot eat the region. Variables are resolved first: a `:` the policy
    wrote separates parts, one inside a variable's value is just a character."""
    got = arn.split(":", 5)
    pieces = _resolve_pieces(pattern, ctx)
    if len(got) != 6 or pieces is None:
        return False
    parts: list[list[Piece]] = [[]]
    for text, literal in pieces:
        chunks = [text] if literal else text.split(":", 6 - len(parts))
        parts[-1].append((chunks[0], literal))
        parts.extend([(chunk, False)] for chunk in chunks[1:])
    return len(parts) == 6 and all(_matches(p, g) for p, g in zip(parts, got, strict=True))


def wildcard_match(
    pattern: str, value: str, ctx: RequestContext | None = None, *, ignore_case: bool = False
) -> bool:
    """Does `value` match `pattern` (with `*`/`?`, variables resolved from `ctx`)?"""
    if ctx is None or "${" not in pattern:
        return _plain_regex(pattern, ignore_case).fullmatch(value) is not None
    pieces = _resolve_pieces(pattern, ctx)
    if pieces is None:
        return False
    return _regex(pieces, ignore_case).fullmatch(value) is not None
