"""AWS's rules for names, paths, descriptions, tags and policy sizes, with AWS's messages.

Messages follow AWS's wording ("1 validation error detected: Value '…' at
'roleName' failed to satisfy constraint: …") because scripts match on it.
Values are echoed back only when short and printable; a hostile 1 MB name or
control characters never reach a response or a log.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from app.errors import InvalidInputError
from app.errors import LimitExceededError
from app.errors import MalformedPolicyDocumentError
from app.errors import ValidationError

NAME_PATTERN = r"[\w+=,.@-]+"
PATH_PATTERN = r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)"
#: A managed policy's path is narrower than a user's or role's: no `*`, `!`, `/` runs…
POLICY_PATH_PATTERN = r"((/[A-Za-z0-9\.,\+@=_-]+)*)/"
#: Every policy document: tab, line breaks, and Latin-1's printable characters.
POLICY_DOCUMENT_PATTERN = r"[\u0009\u000A\u000D\u0020-\u00FF]+"
PATH_PREFIX_PATTERN = r"\u002F[\u0021-\u007F]*"
DESCRIPTION_PATTERN = r"[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*"
TAG_PATTERN = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+"
# \p{L}\p{N}_ is Python's Unicode \w; \p{Z} is these separators (\s would add tabs and
# line breaks).
_TAG_RE = re.compile(r"[\w\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000.:/=+\-@]+")

USER_NAME_MAX = 64
ROLE_NAME_MAX = 64
GROUP_NAME_MAX = 128
POLICY_NAME_MAX = 128
MAX_TAGS = 50

# IAM quotas on policy sizes (characters, whitespace not counted), per
# "IAM and AWS STS quotas": managed policy 6 144, role trust policy 2 048,
# inline policies per user 2 048, per group 5 120, per role 10 240.
MANAGED_POLICY_MAX = 6144
TRUST_POLICY_MAX = 2048
INLINE_POLICY_MAX = {"user": 2048, "group": 5120, "role": 10240}
#: The API's own bound on any policy document parameter.
POLICY_DOCUMENT_API_MAX = 131072


def _shown(value: str) -> str:
    if len(value) > 64 or not value.isprintable():
        return value[:32].encode("unicode_escape").decode("ascii") + "…"
    return value


def validation_error(
    field: str, value: str | None, constraint: str, *, secret: bool = False
) -> ValidationError:
    """`secret`: the value is not repeated (a TOTP code refused for its shape may still
    be good for the rest of its 30 seconds, and error messages end up in logs)."""
    shown = "null" if value is None else "'***'" if secret else f"'{_shown(value)}'"
    return ValidationError(
        f"1 validation error detected: Value {shown} at '{field}' failed to satisfy "
        f"constraint: {constraint}"
    )


def missing(*parameters: str) -> ValidationError:
    """AWS's answer for required parameters left out, all of them at once: "2 validation
    errors detected: Value null at 'roleArn' failed to satisfy constraint: Member must
    not be null; Value null at 'roleSessionName' …"."""
    problems = [
        f"Value null at '{p[0].lower() + p[1:]}' failed to satisfy constraint: "
        "Member must not be null"
        for p in parameters
    ]
    count = f"{len(problems)} validation error{'s' if len(problems) > 1 else ''}"
    return ValidationError(f"{count} detected: {'; '.join(problems)}")


def check_length(field: str, value: str, lo: int, hi: int, *, secret: bool = False) -> str:
    if len(value) < lo:
        raise validation_error(
            field, value, f"Member must have length greater than or equal to {lo}", secret=secret
        )
    if len(value) > hi:
        raise validation_error(
            field, value, f"Member must have length less than or equal to {hi}", secret=secret
        )
    return value


def check_pattern(field: str, value: str, pattern: str, *, secret: bool = False) -> str:
    """AWS's patterns are Java's, where \\w and \\d are ASCII (Python's match other
    scripts' letters and digits too)."""
    if not re.fullmatch(pattern, value, re.ASCII):
        raise validation_error(
            field,
            value,
            f"Member must satisfy regular expression pattern: {pattern}",
            secret=secret,
        )
    return value


def check_serial_number(value: str) -> str:
    """An MFA device's serial number (an ARN, or a hardware token's id) as AWS bounds it."""
    check_length("serialNumber", value, 9, 256)
    return check_pattern("serialNumber", value, r"[\w+=/:,.@-]*")


def check_mfa_code(field: str, value: str) -> str:
    """A TOTP code (TokenCode, AuthenticationCode1/2) as AWS bounds it: six digits."""
    check_length(field, value, 6, 6, secret=True)
    return check_pattern(field, value, r"[\d]*", secret=True)


def check_name(field: str, value: str, max_len: int) -> str:
    check_length(field, value, 1, max_len)
    return check_pattern(field, value, NAME_PATTERN)


def valid_name(value: str) -> bool:
    return re.fullmatch(NAME_PATTERN, value, re.ASCII) is not None


def check_path(field: str, value: str | None, pattern: str = PATH_PATTERN) -> str:
    if value is None:
        return "/"
    check_length(field, value, 1, 512)
    return check_pattern(field, value, pattern)


def check_path_prefix(value: str | None) -> str:
    if value is None:
        return "/"
    check_length("pathPrefix", value, 1, 512)
    return check_pattern("pathPrefix", value, PATH_PREFIX_PATTERN)


def check_description(value: str | None, pattern: str | None = DESCRIPTION_PATTERN) -> str | None:
    """A role's description; a managed policy's has no pattern (pattern=None)."""
    if value is None:
        return None
    check_length("description", value, 0, 1000)
    return value if pattern is None else check_pattern("description", value, pattern)


def check_max_session_duration(value: int | None) -> int:
    if value is None:
        return 3600
    if value < 3600:
        raise validation_error(
            "maxSessionDuration", str(value), "Member must have value greater than or equal to 3600"
        )
    if value > 43200:
        raise validation_error(
            "maxSessionDuration", str(value), "Member must have value less than or equal to 43200"
        )
    return value


def check_tags(tags: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    if len(tags) > MAX_TAGS:
        raise LimitExceededError(f"Cannot exceed quota for TagsPerResource: {MAX_TAGS}.")
    seen: set[str] = set()
    for key, value in tags:
        check_length("tags.member.key", key, 1, 128)
        check_length("tags.member.value", value, 0, 256)
        if not _TAG_RE.fullmatch(key) or (value and not _TAG_RE.fullmatch(value)):
            raise validation_error(
                "tags.member", key, f"Member must satisfy regular expression pattern: {TAG_PATTERN}"
            )
        if key.lower().startswith("aws:"):
            raise InvalidInputError("Tag keys starting with 'aws:' are reserved for AWS use.")
        if key.lower() in seen:
            raise InvalidInputError(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive."
            )
        seen.add(key.lower())
    return list(tags)


def check_policy_size(document: str, limit: int, quota_name: str) -> None:
    """Refuse a document over its IAM quota (whitespace does not count, as in AWS)."""
    if len(document) > POLICY_DOCUMENT_API_MAX:
        raise validation_error(
            "policyDocument",
            None,
            f"Member must have length less than or equal to {POLICY_DOCUMENT_API_MAX}",
        )
    if not document.strip():
        raise MalformedPolicyDocumentError("Syntax errors in policy.")
    check_pattern("policyDocument", document, POLICY_DOCUMENT_PATTERN)
    if sum(1 for ch in document if not ch.isspace()) > limit:
        raise LimitExceededError(f"Cannot exceed quota for {quota_name}: {limit}")
