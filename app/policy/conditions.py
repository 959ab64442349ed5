"""Condition operators, with AWS's rules for absent and multivalued keys.

A condition block holds (operator, key, values). Against a single-valued key
a positive operator is true when any policy value matches; a negated one
(StringNotEquals, NotIpAddress…) when none does. An absent key makes positive
operators false and negated ones true; `…IfExists` makes any operator true.
`ForAnyValue:` and `ForAllValues:` apply the test to each value of a
multivalued key: some must match, or all must (an absent key, or one whose
values are all empty strings: false for ForAnyValue, true for ForAllValues).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from datetime import UTC
from datetime import datetime

from app.policy.context import RequestContext
from app.policy.patterns import arn_match
from app.policy.patterns import resolve
from app.policy.patterns import wildcard_match

# A matcher answers: does the request value match this one policy value?
Matcher = Callable[[str, str, "RequestContext | None"], bool]


# An integer or a decimal, as AWS says; float() alone would take "nan", "infinity" and
# "3_600", and NumericLessThan "infinity" would hold for every request.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
# W3C's ISO 8601 profile also allows a year and month alone (1997-07).
_YEAR_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


def _number(text: str) -> float | None:
    text = text.strip()
    return float(text) if _NUMBER.fullmatch(text) else None


def _date(text: str) -> datetime | None:
    text = text.strip()
    try:
        if text.isascii() and text.isdigit():  # epoch seconds
            return datetime.fromtimestamp(int(text), UTC)
        if year_month := _YEAR_MONTH.fullmatch(text):
            return datetime(int(year_month[1]), int(year_month[2]), 1, tzinfo=UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):  # not a date, or none a datetime can hold
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _compare(parse: Callable[[str], object], test: Callable[[object, object], bool]) -> Matcher:
    def match(actual: str, expected: str, ctx: RequestContext | None) -> bool:
        a, e = parse(actual), parse(expected)
        return a is not None and e is not None and test(a, e)

    return match


def _string_equals(actual: str, expected: str, ctx: RequestContext | None) -> bool:
    return actual == resolve(expected, ctx)


def _string_equals_ignore_case(actual: str, expected: str, ctx: RequestContext | None) -> bool:
    resolved = resolve(expected, ctx)
    return resolved is not None and actual.casefold() == resolved.casefold()


def _string_like(actual: str, expected: str, ctx: RequestContext | None) -> bool:
    return wildcard_match(expected, actual, ctx)


def _bool(actual: str, expected: str, ctx: RequestContext | None) -> bool:
    return actual.lower() == expected.lower()


def _binary(actual: str, expected: str, ctx: RequestContext | None) -> bool:
    try:
        return base64.b64decode(actual, validate=True) == base64.b64decode(expected, validate=True)
    except (binascii.Error, ValueError):
        return False


def _ip(actual: str, expected: str, ctx: RequestContext | None) -> bool:
    try:
        address = ipaddress.ip_address(actual)
        network = ipaddress.ip_network(expected, strict=False)
    except ValueError:
        return False
    # A dual-stack listener or proxy may write an IPv4 client as ::ffff:203.0.113.5;
    # it is that IPv4 address, and a range of either form must see it.
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return address in network or (mapped is not None and mapped in network)


def _arn_like(actual: str, expected: str, ctx: RequestContext | None) -> bool:
    return arn_match(expected, actual, ctx)


_NUMERIC: dict[str, Callable[[object, object], bool]] = {
    "Equals": lambda a, e: a == e,
    "LessThan": lambda a, e: a < e,  # type: ignore[operator]
    "LessThanEquals": lambda a, e: a <= e,  # type: ignore[operator]
    "GreaterThan": lambda a, e: a > e,  # type: ignore[operator]
    "GreaterThanEquals": lambda a, e: a >= e,  # type: ignore[operator]
}

#: operator -> (matcher, negated)
OPERATORS: dict[str, tuple[Matcher, bool]] = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_string_equals_ignore_case, False),
    "StringNotEqualsIgnoreCase": (_string_equals_ignore_case, True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "Bool": (_bool, False),
    "BinaryEquals": (_binary, False),
    "IpAddress": (_ip, False),
    "NotIpAddress": (_ip, True),
    "ArnEquals": (_arn_like, False),
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
    "NumericNotEquals": (_compare(_number, _NUMERIC["Equals"]), True),
    "DateNotEquals": (_compare(_date, _NUMERIC["Equals"]), True),
}
for _suffix, _test in _NUMERIC.items():
    OPERATORS[f"Numeric{_suffix}"] = (_compare(_number, _test), False)
    OPERATORS[f"Date{_suffix}"] = (_compare(_date, _test), False)

_SET_QUALIFIERS = ("ForAnyValue:", "ForAllValues:")


def _split(operator: str) -> tuple[str | None, str, bool]:
    """'ForAllValues:StringLikeIfExists' -> ('ForAllValues:', 'StringLike', True)."""
    qualifier = next((q for q in _SET_QUALIFIERS if operator.startswith(q)), None)
    base = operator[len(qualifier) :] if qualifier else operator
    if_exists = base.endswith("IfExists") and base != "Null"
    if if_exists:
        base = base[: -len("IfExists")]
    return qualifier, base, if_exists


def known_operator(operator: str) -> bool:
    qualifier, base, if_exists = _split(operator)
    if base == "Null":
        return qualifier is None and not if_exists
    return base in OPERATORS


def condition_holds(
    operator: str,
    key: str,
    values: tuple[str, ...],
    ctx: RequestContext,
    *,
    variables: bool = True,
) -> bool:
    """Evaluate one condition; `variables=False` compares policy values literally."""
    qualifier, base, if_exists = _split(operator)
    actual = ctx.get(key)
    if base == "Null":
        return any((v.lower() == "true") == (actual is None) for v in values)
    if qualifier is not None and actual is not None:
        # AWS: a key whose values "resolve to a null data set, such as an empty string"
        # counts as absent for the set operators.
        request_values = actual if isinstance(actual, tuple) else (actual,)
        if all(value == "" for value in request_values):
            actual = None
    if actual is None:
        if if_exists:
            return True
        if qualifier == "ForAllValues:":
            return True
        if qualifier == "ForAnyValue:":
            return False
        return OPERATORS[base][1]  # negated operators hold when the key is absent
    matcher, negated = OPERATORS[base]
    vars_ctx = ctx if variables else None

    def one(value: str) -> bool:
        hit = any(matcher(value, expected, vars_ctx) for expected in values)
        return not hit if negated else hit

    request_values = actual if isinstance(actual, tuple) else (actual,)
    if qualifier == "ForAllValues:":
        return all(one(v) for v in request_values)
    if qualifier is None and negated:
        # A negated operator on a plain key: no request value may match.
        return all(one(v) for v in request_values)
    return any(one(v) for v in request_values)
