"""The policy evaluator against a table of AWS-documented behaviours."""

from __future__ import annotations

import json

import pytest

from app.errors import MalformedPolicyDocumentError
from app.policy import Decision
from app.policy import RequestContext
from app.policy import evaluate
from app.policy import evaluate_trust
from app.policy import parse_policy

ALLOW = Decision.ALLOW
DENY = Decision.EXPLICIT_DENY
NONE = Decision.IMPLICIT_DENY
BUCKET = "arn:aws:s3:::reports"
ALICE = {"aws:username": "alice", "aws:PrincipalTag/team": "blue", "aws:SourceIp": "10.1.2.3"}


def _policy(*statements: dict, version: str = "2012-10-17") -> str:  # type: ignore[type-arg]
    return json.dumps({"Version": version, "Statement": list(statements)})


def _allow(action: object = "s3:GetObject", resource: object = "*", **extra: object) -> dict:  # type: ignore[type-arg]
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def _deny(action: object = "s3:GetObject", resource: object = "*", **extra: object) -> dict:  # type: ignore[type-arg]
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def _when(operator: str, key: str, value: object) -> dict:  # type: ignore[type-arg]
    return {"Condition": {operator: {key: value}}}


CASES = [
    # (id, statements, action, resource, keys, expected)
    ("no-policy", [], "s3:GetObject", BUCKET, {}, NONE),
    ("exact-allow", [_allow()], "s3:GetObject", BUCKET, {}, ALLOW),
    ("action-case-insensitive", [_allow("S3:getobject")], "s3:GetObject", BUCKET, {}, ALLOW),
    ("action-wildcard", [_allow("s3:Get*")], "s3:GetObject", BUCKET, {}, ALLOW),
    ("action-question-mark", [_allow("s3:GetObjec?")], "s3:GetObject", BUCKET, {}, ALLOW),
    ("action-other-service", [_allow("iam:*")], "s3:GetObject", BUCKET, {}, NONE),
    ("action-list", [_allow(["iam:GetUser", "s3:GetObject"])], "s3:GetObject", BUCKET, {}, ALLOW),
    ("star-action", [_allow("*")], "iam:DeleteUser", BUCKET, {}, ALLOW),
    (
        "not-action-excludes",
        [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}],
        "iam:CreateUser",
        BUCKET,
        {},
        NONE,
    ),
    (
        "not-action-includes-others",
        [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}],
        "s3:GetObject",
        BUCKET,
        {},
        ALLOW,
    ),
    ("resource-exact", [_allow(resource=BUCKET)], "s3:GetObject", BUCKET, {}, ALLOW),
    (
        "resource-case-sensitive",
        [_allow(resource="arn:aws:s3:::Reports")],
        "s3:GetObject",
        BUCKET,
        {},
        NONE,
    ),
    (
        "resource-wildcard-crosses-slash",
        [_allow(resource="arn:aws:s3:::rep*")],
        "s3:GetObject",
        BUCKET + "/a/b",
        {},
        ALLOW,
    ),
    (
        "not-resource",
        [{"Effect": "Allow", "Action": "*", "NotResource": BUCKET}],
        "s3:GetObject",
        BUCKET,
        {},
        NONE,
    ),
    ("deny-wins", [_allow("*"), _deny("s3:GetObject")], "s3:GetObject", BUCKET, {}, DENY),
    ("deny-other-action", [_allow("*"), _deny("s3:PutObject")], "s3:GetObject", BUCKET, {}, ALLOW),
    ("deny-alone", [_deny()], "s3:GetObject", BUCKET, {}, DENY),
    # Policy variables
    (
        "var-username",
        [_allow(resource="arn:aws:s3:::home/${aws:username}/*")],
        "s3:GetObject",
        "arn:aws:s3:::home/alice/x",
        ALICE,
        ALLOW,
    ),
    (
        "var-other-user",
        [_allow(resource="arn:aws:s3:::home/${aws:username}/*")],
        "s3:GetObject",
        "arn:aws:s3:::home/bob/x",
        ALICE,
        NONE,
    ),
    (
        "var-missing-key",
        [_allow(resource="arn:aws:s3:::home/${aws:username}/*")],
        "s3:GetObject",
        "arn:aws:s3:::home//x",
        {},
        NONE,
    ),
    (
        "var-default",
        [_allow(resource="arn:aws:s3:::home/${aws:username, 'nobody'}")],
        "s3:GetObject",
        "arn:aws:s3:::home/nobody",
        {},
        ALLOW,
    ),
    (
        "var-value-is-literal",
        [_allow(resource="arn:aws:s3:::home/${aws:username}")],
        "s3:GetObject",
        "arn:aws:s3:::home/ab",
        {"aws:username": "a*"},
        NONE,
    ),
    (
        "var-literal-star",
        [_allow(resource="arn:aws:s3:::home/${*}")],
        "s3:GetObject",
        "arn:aws:s3:::home/x",
        {},
        NONE,
    ),
    (
        "var-literal-star-matches-star",
        [_allow(resource="arn:aws:s3:::home/${*}")],
        "s3:GetObject",
        "arn:aws:s3:::home/*",
        {},
        ALLOW,
    ),
    (
        "var-principal-tag",
        [_allow(**_when("StringEquals", "aws:ResourceTag/team", "${aws:PrincipalTag/team}"))],
        "s3:GetObject",
        BUCKET,
        {**ALICE, "aws:ResourceTag/team": "blue"},
        ALLOW,
    ),
    # Conditions
    (
        "string-equals",
        [_allow(**_when("StringEquals", "aws:username", "alice"))],
        "s3:GetObject",
        BUCKET,
        ALICE,
        ALLOW,
    ),
    (
        "string-equals-key-case-insensitive",
        [_allow(**_when("StringEquals", "AWS:UserName", "alice"))],
        "s3:GetObject",
        BUCKET,
        ALICE,
        ALLOW,
    ),
    (
        "string-equals-value-case-sensitive",
        [_allow(**_when("StringEquals", "aws:username", "Alice"))],
        "s3:GetObject",
        BUCKET,
        ALICE,
        NONE,
    ),
    (
        "string-equals-ignore-case",
        [_allow(**_when("StringEqualsIgnoreCase", "aws:username", "ALICE"))],
        "s3:GetObject",
        BUCKET,
        ALICE,
        ALLOW,
    ),
    (
        "string-equals-any-of",
        [_allow(**_when("StringEquals", "aws:username", ["bob", "alice"]))],
        "s3:GetObject",
        BUCKET,
        ALICE,
        ALLOW,
    ),
    (
        "string-equals-missing-key",
        [_allow(**_when("StringEquals", "aws:username", "alice"))],
        "s3:GetObject",
        BUCKET,
        {},
        NONE,
    ),
    (
        "string-not-equals-missing-key",
        [_deny(**_when("StringNotEquals", "aws:username", "alice"))],
        "s3:GetObject",
        BUCKET,
        {},
        DENY,
    ),
    (
        "string-not-equals-other",
        [_deny(**_when("StringNotEquals", "aws:username", ["alice", "bob"]))],
        "s3:GetObject",
        BUCKET,
        ALICE,
        NONE,
    ),
    (
        "string-like",
        [_allow(**_when("StringLike", "aws:username", "al*"))],
        "s3:GetObject",
        BUCKET,
        ALICE,
        ALLOW,
    ),
    (
        "string-not-like",
        [_allow(**_when("StringNotLike", "aws:username", "al*"))],
        "s3:GetObject",
        BUCKET,
        ALICE,
        NONE,
    ),
    (
        "if-exists-missing",
        [_allow(**_when("StringEqualsIfExists", "aws:username", "bob"))],
        "s3:GetObject",
        BUCKET,
        {},
        ALLOW,
    ),
    (
        "if-exists-present",
        [_allow(**_when("StringEqualsIfExists", "aws:username", "bob"))],
        "s3:GetObject",
        BUCKET,
        ALICE,
        NONE,
    ),
    (
        "numeric-less-than",
        [_allow(**_when("NumericLessThan", "aws:MultiFactorAuthAge", "3600"))],
        "s3:GetObject",
        BUCKET,
        {"aws:MultiFactorAuthAge": "120"},
        ALLOW,
    ),
    (
        "numeric-not-a-number",
        [_allow(**_when("NumericLessThan", "aws:MultiFactorAuthAge", "3600"))],
        "s3:GetObject",
        BUCKET,
        {"aws:MultiFactorAuthAge": "soon"},
        NONE,
    ),
    (
        "numeric-greater-than-equals",
        [_allow(**_when("NumericGreaterThanEquals", "n", 5))],
        "s3:GetObject",
        BUCKET,
        {"n": "5"},
        ALLOW,
    ),
    (
        "date-less-than",
        [_allow(**_when("DateLessThan", "aws:CurrentTime", "2030-01-01T00:00:00Z"))],
        "s3:GetObject",
        BUCKET,
        {"aws:CurrentTime": "2026-11-23T09:00:00Z"},
        ALLOW,
    ),
    (
        "date-greater-than-epoch",
        [_allow(**_when("DateGreaterThan", "aws:CurrentTime", "1893456000"))],
        "s3:GetObject",
        BUCKET,
        {"aws:CurrentTime": "2026-11-23T09:00:00Z"},
        NONE,
    ),
    (
        "date-token-issue-time",
        [_deny(**_when("DateLessThan", "aws:TokenIssueTime", "2026-11-23T09:00:00.500Z"))],
        "s3:GetObject",
        BUCKET,
        {"aws:TokenIssueTime": "2026-11-23T09:00:00.499Z"},
        DENY,
    ),
    (
        "bool-true",
        [_allow(**_when("Bool", "aws:MultiFactorAuthPresent", "true"))],
        "s3:GetObject",
        BUCKET,
        {"aws:MultiFactorAuthPresent": "true"},
        ALLOW,
    ),
    (
        "bool-json-true",
        [_allow(**_when("Bool", "aws:MultiFactorAuthPresent", True))],
        "s3:GetObject",
        BUCKET,
        {"aws:MultiFactorAuthPresent": "true"},
        ALLOW,
    ),
    (
        "bool-false",
        [_allow(**_when("Bool", "aws:MultiFactorAuthPresent", "true"))],
        "s3:GetObject",
        BUCKET,
        {"aws:MultiFactorAuthPresent": "false"},
        NONE,
    ),
    (
        "bool-if-exists-missing-deny",
        [_deny(**_when("BoolIfExists", "aws:MultiFactorAuthPresent", "false"))],
        "s3:GetObject",
        BUCKET,
        {},
        DENY,
    ),
    (
        "ip-in-range",
        [_allow(**_when("IpAddress", "aws:SourceIp", "10.0.0.0/8"))],
        "s3:GetObject",
        BUCKET,
        ALICE,
        ALLOW,
    ),
    (
        "ip-out-of-range",
        [_allow(**_when("IpAddress", "aws:SourceIp", "192.168.0.0/16"))],
        "s3:GetObject",
        BUCKET,
        ALICE,
        NONE,
    ),
    (
        "ip-v6",
        [_allow(**_when("IpAddress", "aws:SourceIp", "2001:db8::/32"))],
        "s3:GetObject",
        BUCKET,
        {"aws:SourceIp": "2001:db8::1"},
        ALLOW,
    ),
    (
        "not-ip",
        [_deny(**_when("NotIpAddress", "aws:SourceIp", "10.0.0.0/8"))],
        "s3:GetObject",
        BUCKET,
        {"aws:SourceIp": "8.8.8.8"},
        DENY,
    ),
    (
        "arn-like",
        [_allow(**_when("ArnLike", "aws:PrincipalArn", "arn:aws:iam::*:role/Ops*"))],
        "s3:GetObject",
        BUCKET,
        {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/OpsAdmin"},
        ALLOW,
    ),
    (
        "arn-like-no-cross-part",
        [_allow(**_when("ArnLike", "aws:PrincipalArn", "arn:aws:iam::*"))],
        "s3:GetObject",
        BUCKET,
        {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/OpsAdmin"},
        NONE,
    ),
    (
        "arn-not-equals",
        [_deny(**_when("ArnNotEquals", "aws:PrincipalArn", "arn:aws:iam::111122223333:role/A"))],
        "s3:GetObject",
        BUCKET,
        {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/B"},
        DENY,
    ),
    (
        "null-true-missing",
        [_deny(**_when("Null", "aws:TokenIssueTime", "true"))],
        "s3:GetObject",
        BUCKET,
        {},
        DENY,
    ),
    (
        "null-true-present",
        [_deny(**_when("Null", "aws:TokenIssueTime", "true"))],
        "s3:GetObject",
        BUCKET,
        {"aws:TokenIssueTime": "x"},
        NONE,
    ),
    (
        "null-false-present",
        [_allow(**_when("Null", "aws:TokenIssueTime", "false"))],
        "s3:GetObject",
        BUCKET,
        {"aws:TokenIssueTime": "x"},
        ALLOW,
    ),
    (
        "binary",
        [_allow(**_when("BinaryEquals", "k", "QUJD"))],
        "s3:GetObject",
        BUCKET,
        {"k": "QUJD"},
        ALLOW,
    ),
    (
        "for-any-value-hit",
        [_allow(**_when("ForAnyValue:StringEquals", "aws:TagKeys", ["a", "b"]))],
        "s3:GetObject",
        BUCKET,
        {"aws:TagKeys": ("z", "b")},
        ALLOW,
    ),
    (
        "for-any-value-miss",
        [_allow(**_when("ForAnyValue:StringEquals", "aws:TagKeys", ["a", "b"]))],
        "s3:GetObject",
        BUCKET,
        {"aws:TagKeys": ("z",)},
        NONE,
    ),
    (
        "for-any-value-missing",
        [_allow(**_when("ForAnyValue:StringEquals", "aws:TagKeys", "a"))],
        "s3:GetObject",
        BUCKET,
        {},
        NONE,
    ),
    (
        "for-all-values-subset",
        [_allow(**_when("ForAllValues:StringLike", "aws:TagKeys", ["env*", "team"]))],
        "s3:GetObject",
        BUCKET,
        {"aws:TagKeys": ("env-a", "team")},
        ALLOW,
    ),
    (
        "for-all-values-extra",
        [_allow(**_when("ForAllValues:StringEquals", "aws:TagKeys", ["team"]))],
        "s3:GetObject",
        BUCKET,
        {"aws:TagKeys": ("team", "cost")},
        NONE,
    ),
    (
        "for-all-values-missing-is-true",
        [_allow(**_when("ForAllValues:StringEquals", "aws:TagKeys", ["team"]))],
        "s3:GetObject",
        BUCKET,
        {},
        ALLOW,
    ),
    (
        "for-all-values-empty-is-true",
        [_allow(**_when("ForAllValues:StringEquals", "aws:TagKeys", ["team"]))],
        "s3:GetObject",
        BUCKET,
        {"aws:TagKeys": ()},
        ALLOW,
    ),
    (
        "all-conditions-must-hold",
        [
            _allow(
                Condition={
                    "StringEquals": {"aws:username": "alice"},
                    "IpAddress": {"aws:SourceIp": "192.168.0.0/16"},
                }
            )
        ],
        "s3:GetObject",
        BUCKET,
        ALICE,
        NONE,
    ),
    *[
        (
            f"date-{name}",
            [_allow(**_when("DateLessThan", "aws:RequestTag/until", "2030-01-01T00:00:00Z"))],
            "s3:GetObject",
            BUCKET,
            {"aws:RequestTag/until": sent},
            expected,
        )
        for name, sent, expected in [
            ("iso", "2029-12-31T23:59:59Z", ALLOW),
            ("epoch-seconds", "1700000000", ALLOW),
            ("later", "2030-01-01T00:00:01Z", NONE),
            # Not dates: the condition fails, and the caller gets a refusal, not a 500.
            ("beyond-any-datetime", "99999999999999999999", NONE),
            ("superscript-two", "\u00b2", NONE),
            ("arabic-indic-digits", "\u0663\u0660\u0660", NONE),
            ("text", "soon", NONE),
        ]
    ],
    # W3C's ISO 8601 profile, which AWS names, has year-month dates: an expiry guardrail
    # written "2020-01" must apply.
    (
        "date-year-month",
        [_allow(), _deny(**_when("DateGreaterThan", "aws:CurrentTime", "2020-01"))],
        "s3:GetObject",
        BUCKET,
        {"aws:CurrentTime": "2026-11-27T10:00:00Z"},
        DENY,
    ),
    # An integer or a decimal; "infinity" is not a number every request is less than.
    *[
        (
            f"numeric-{name}",
            [_allow(**_when("NumericLessThan", "aws:MultiFactorAuthAge", limit))],
            "s3:GetObject",
            BUCKET,
            {"aws:MultiFactorAuthAge": "100"},
            expected,
        )
        for name, limit, expected in [
            ("decimal", "3600.5", ALLOW),
            ("number", 3600, ALLOW),
            ("infinity", "infinity", NONE),
            ("nan", "nan", NONE),
            ("underscores", "3_600", NONE),
        ]
    ],
    # A client written in IPv4-mapped form (a dual-stack listener) is that IPv4 client.
    *[
        (
            f"ip-mapped-{name}",
            [_allow(), _deny(**_when(operator, "aws:SourceIp", network))],
            "s3:GetObject",
            BUCKET,
            {"aws:SourceIp": "::ffff:203.0.113.5"},
            expected,
        )
        for name, operator, network, expected in [
            ("in-v4-range", "IpAddress", "203.0.113.0/24", DENY),
            ("in-mapped-range", "IpAddress", "::ffff:203.0.113.0/120", DENY),
            ("outside", "IpAddress", "198.51.100.0/24", ALLOW),
            ("not-in-allowed", "NotIpAddress", "203.0.113.0/24", ALLOW),
        ]
    ],
    # Variables in the ARN operators' values resolve before the ARN splits into its parts.
    *[
        (
            f"arn-variable-{operator}",
            [
                _allow(
                    "iam:AttachUserPolicy",
                    **_when(
                        operator,
                        "iam:PolicyARN",
                        "arn:aws:iam::${aws:PrincipalAccount}:policy/Admin*",
                    ),
                )
            ],
            "iam:AttachUserPolicy",
            "*",
            {
                "aws:PrincipalAccount": "111122223333",
                "iam:PolicyARN": "arn:aws:iam::111122223333:policy/AdminFull",
            },
            expected,
        )
        for operator, expected in [
            ("ArnLike", ALLOW),
            ("ArnEquals", ALLOW),
            ("ArnNotLike", NONE),
            ("ArnNotEquals", NONE),
        ]
    ],
    (
        "arn-variable-value-keeps-its-colons",
        [_allow(**_when("ArnLike", "aws:SourceArn", "arn:aws:${aws:PrincipalTag/svc}:*:*:*"))],
        "s3:GetObject",
        BUCKET,
        {"aws:PrincipalTag/svc": "s3:us-east-1", "aws:SourceArn": "arn:aws:s3:us-east-1:1:x:y"},
        NONE,
    ),
    (
        "default-value-for-a-tag-key-with-a-space",
        [_allow(resource="arn:aws:s3:::${aws:PrincipalTag/cost center, 'shared'}")],
        "s3:GetObject",
        "arn:aws:s3:::shared",
        {},
        ALLOW,
    ),
    # The set operators count a key whose values are all empty as absent (AWS: "a null
    # data set, such as an empty string").
    *[
        (
            f"set-empty-{name}",
            [_allow(), _deny(**_when(operator, "saml:edupersonaffiliation", ["staff"]))],
            "s3:GetObject",
            BUCKET,
            {"saml:edupersonaffiliation": sent},
            expected,
        )
        for name, operator, sent, expected in [
            ("for-all-values", "ForAllValues:StringEquals", "", DENY),
            ("for-all-values-list", "ForAllValues:StringEquals", ("",), DENY),
            ("for-any-value", "ForAnyValue:StringLike", ("",), ALLOW),
            ("for-all-values-other", "ForAllValues:StringEquals", ("", "faculty"), ALLOW),
        ]
    ],
]


@pytest.mark.parametrize(
    ("statements", "action", "resource", "keys", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_identity_policy(statements, action, resource, keys, expected) -> None:  # type: ignore[no-untyped-def]
    policies = [parse_policy(_policy(*statements))] if statements else []
    ctx = RequestContext(action=action, resource=resource, keys=keys)
    assert evaluate(policies, ctx) is expected


def test_version_2008_has_no_variables() -> None:
    policy = parse_policy(
        _policy(_allow(resource="arn:aws:s3:::home/${aws:username}"), version="2008-10-17")
    )
    ctx = RequestContext("s3:GetObject", "arn:aws:s3:::home/alice", ALICE)
    assert evaluate([policy], ctx) is NONE
    literal = RequestContext("s3:GetObject", "arn:aws:s3:::home/${aws:username}", ALICE)
    assert evaluate([policy], literal) is ALLOW


def test_session_policies_intersect() -> None:
    identity = [parse_policy(_policy(_allow("s3:*")))]
    session = [parse_policy(_policy(_allow(["s3:GetObject", "iam:GetUser"])), "session")]
    get = RequestContext("s3:GetObject", BUCKET)
    put = RequestContext("s3:PutObject", BUCKET)
    user = RequestContext("iam:GetUser", BUCKET)
    assert evaluate(identity, get, session_policies=session) is ALLOW
    assert evaluate(identity, put, session_policies=session) is NONE  # the session does not allow
    assert evaluate(identity, user, session_policies=session) is NONE  # the role does not allow
    deny = [parse_policy(_policy(_deny("s3:GetObject")), "session")]
    assert evaluate(identity, get, session_policies=deny) is DENY


def _trust(principal: object, *, condition: dict | None = None, effect: str = "Allow") -> str:  # type: ignore[type-arg]
    statement = {"Effect": effect, "Principal": principal, "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return _policy(statement)


ROLE = "arn:aws:iam::111122223333:role/R"
ALICE_ARN = "arn:aws:iam::444455556666:user/alice"
SESSION_ARN = "arn:aws:sts::444455556666:assumed-role/Base/s1"


@pytest.mark.parametrize(
    ("principal", "callers", "expected"),
    [
        ({"AWS": "444455556666"}, {"AWS": {ALICE_ARN, "arn:aws:iam::444455556666:root"}}, ALLOW),
        ({"AWS": "444455556666"}, {"AWS": {ALICE_ARN}}, NONE),
        ({"AWS": ALICE_ARN}, {"AWS": {ALICE_ARN}}, ALLOW),
        ({"AWS": "arn:aws:iam::444455556666:user/bob"}, {"AWS": {ALICE_ARN}}, NONE),
        ({"AWS": "*"}, {"AWS": {ALICE_ARN}}, ALLOW),
        ("*", {"Federated": {"arn:aws:iam::1:saml-provider/x"}}, ALLOW),
        (
            {"Federated": "arn:aws:iam::111122223333:saml-provider/okta"},
            {"Federated": {"arn:aws:iam::111122223333:saml-provider/okta"}},
            ALLOW,
        ),
        (
            {"Federated": "arn:aws:iam::111122223333:saml-provider/okta"},
            {"AWS": {"arn:aws:iam::111122223333:saml-provider/okta"}},
            NONE,
        ),
        ({"Service": "ec2.amazonaws.com"}, {"AWS": {ALICE_ARN}}, NONE),
        ({"AWS": SESSION_ARN}, {"AWS": {SESSION_ARN}}, ALLOW),
    ],
    ids=[
        "account",
        "account-needs-root-id",
        "user",
        "other-user",
        "any-aws",
        "star",
        "federated",
        "federated-kind-matters",
        "service-only",
        "role-session",
    ],
)
def test_trust_principals(principal, callers, expected) -> None:  # type: ignore[no-untyped-def]
    policy = parse_policy(_trust(principal), "trust")
    ctx = RequestContext(
        "sts:AssumeRole", ROLE, principals={k: frozenset(v) for k, v in callers.items()}
    )
    assert evaluate_trust(policy, ctx) is expected


def test_trust_condition_and_explicit_deny() -> None:
    policy = parse_policy(
        _trust({"AWS": ALICE_ARN}, condition={"StringEquals": {"sts:ExternalId": "c-42"}}), "trust"
    )
    callers = {"AWS": frozenset({ALICE_ARN})}
    good = RequestContext("sts:AssumeRole", ROLE, {"sts:ExternalId": "c-42"}, callers)
    assert evaluate_trust(policy, good) is ALLOW
    assert evaluate_trust(policy, RequestContext("sts:AssumeRole", ROLE, {}, callers)) is NONE
    deny = parse_policy(_trust({"AWS": "*"}, effect="Deny"), "trust")
    assert evaluate_trust(deny, good) is DENY


MALFORMED = [
    ("not-json", "{", "identity"),
    ("not-object", "[]", "identity"),
    ("bad-version", json.dumps({"Version": "2020-01-01", "Statement": [_allow()]}), "identity"),
    ("no-statement", json.dumps({"Version": "2012-10-17"}), "identity"),
    ("no-effect", _policy({"Action": "*", "Resource": "*"}), "identity"),
    ("bad-effect", _policy({"Effect": "Maybe", "Action": "*", "Resource": "*"}), "identity"),
    ("no-action", _policy({"Effect": "Allow", "Resource": "*"}), "identity"),
    ("action-and-not-action", _policy(_allow(NotAction="iam:*")), "identity"),
    ("action-without-vendor", _policy(_allow("GetObject")), "identity"),
    ("no-resource", _policy({"Effect": "Allow", "Action": "*"}), "identity"),
    ("resource-not-arn", _policy(_allow(resource="bucket")), "identity"),
    ("principal-in-identity", _policy(_allow(Principal="*")), "identity"),
    ("trust-without-principal", _policy({"Effect": "Allow", "Action": "sts:AssumeRole"}), "trust"),
    (
        "trust-with-resource",
        _policy({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole", "Resource": "*"}),
        "trust",
    ),
    ("bad-principal-kind", _trust({"Wizard": "x"}), "trust"),
    ("bad-aws-principal", _trust({"AWS": "alice"}), "trust"),
    # AWS: no wildcard may match part of a principal ARN; one would match nobody.
    *[
        (f"aws-principal-{name}", _trust({"AWS": arn}), "trust")
        for name, arn in [
            ("account-wildcard", "arn:aws:iam::*:root"),
            ("resource-wildcard", "arn:aws:iam::111122223333:*"),
            ("session-wildcard", "arn:aws:sts::111122223333:assumed-role/Base/*"),
            ("user-question-mark", "arn:aws:iam::111122223333:user/al?ce"),
            ("group", "arn:aws:iam::111122223333:group/admins"),
            ("not-a-principal", "arn:aws:ec2:us-east-1:111122223333:instance/i-1"),
            ("bare-arn", "arn:foo"),
        ]
    ],
    ("unknown-operator", _policy(_allow(**_when("StringSorta", "k", "v"))), "identity"),
    ("null-if-exists", _policy(_allow(**_when("NullIfExists", "k", "true"))), "identity"),
    ("nested-condition-value", _policy(_allow(**_when("StringEquals", "k", {"a": 1}))), "identity"),
    ("unknown-field", _policy(_allow(Wat=1)), "identity"),
    ("duplicate-key", '{"Version":"2012-10-17","Version":"2012-10-17","Statement":[]}', "identity"),
    ("duplicate-sid", _policy(_allow(Sid="A"), _allow(Sid="A")), "identity"),
    ("sid-not-alphanumeric", _policy(_allow(Sid="a-b")), "identity"),
    ("empty-action-list", _policy(_allow([])), "identity"),
    ("deeply-nested", "[" * 100000 + "]" * 100000, "identity"),
]


@pytest.mark.parametrize(
    ("text", "kind"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED]
)
def test_malformed_policies_are_refused(text: str, kind: str) -> None:
    with pytest.raises(MalformedPolicyDocumentError):
        parse_policy(text, kind)  # type: ignore[arg-type]
