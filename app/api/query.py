"""Query-protocol parameters: pairs, lists (`X.member.N`) and maps (`X.member.N.Key`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import parse_qsl

from app.errors import InvalidParameterValueError
from app.errors import ValidationError
from app.iam import names

#: No AWS IAM/STS list parameter comes near this many members.
MAX_LIST_MEMBERS = 1000
_MEMBER = re.compile(r"^(?P<prefix>.+)\.member\.(?P<n>[1-9][0-9]{0,3})(?:\.(?P<field>[A-Za-z]+))?$")


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """Decode a form or query string; malformed escapes or UTF-8 are the caller's error."""
    try:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise InvalidParameterValueError("The request is not valid form-encoded UTF-8.") from None


class QueryParams:
    """Typed access to one request's parameters; every getter refuses wrong types."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        values: dict[str, str] = {}
        for key, value in pairs:
            if key in values:
                raise InvalidParameterValueError(
                    f"Parameter {names._shown(key)} appears more than once."
                )
            values[key] = value
        self._values = values

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def has_member(self, name: str) -> bool:
        """Whether the request gives `name`: itself, or a part of it (Tags.member.1.Key)."""
        prefix = name + "."
        return name in self._values or any(k.startswith(prefix) for k in self._values)

    def raw(self) -> Mapping[str, str]:
        return self._values

    def get(self, name: str, *, required: bool = False) -> str | None:
        value = self._values.get(name)
        if value is None and required:
            raise names.missing(name)
        return value

    def req(self, name: str) -> str:
        value = self.get(name, required=True)
        assert value is not None
        return value

    def integer(self, name: str, *, required: bool = False) -> int | None:
        value = self.get(name, required=required)
        if value is None:
            return None
        if not re.fullmatch(r"-?[0-9]{1,10}", value):
            raise ValidationError(
                f"1 validation error detected: Value '{names._shown(value)}' at '{name}' failed "
                "to satisfy constraint: Member must be a whole number"
            )
        return int(value)

    def boolean(self, name: str) -> bool | None:
        value = self.get(name)
        if value is None:
            return None
        if value.lower() not in ("true", "false"):
            raise ValidationError(
                f"1 validation error detected: Value '{names._shown(value)}' at '{name}' failed "
                "to satisfy constraint: Member must be true or false"
            )
        return value.lower() == "true"

    def _members(self, prefix: str) -> dict[int, dict[str | None, str]]:
        members: dict[int, dict[str | None, str]] = {}
        for key, value in self._values.items():
            match = _MEMBER.match(key)
            if match and match["prefix"] == prefix:
                members.setdefault(int(match["n"]), {})[match["field"]] = value
        if len(members) > MAX_LIST_MEMBERS:
            raise ValidationError(f"Too many members in {prefix}.")
        if sorted(members) != list(range(1, len(members) + 1)):
            raise InvalidParameterValueError(
                f"{prefix}.member.N must be numbered 1, 2, 3… without gaps."
            )
        return members

    def members(self, prefix: str) -> list[str]:
        members = self._members(prefix)
        out = []
        for n in sorted(members):
            if None not in members[n]:
                raise InvalidParameterValueError(f"{prefix}.member.{n} must be a plain value.")
            out.append(members[n][None])
        return out

    def tags(self, prefix: str = "Tags") -> list[tuple[str, str]]:
        members = self._members(prefix)
        out = []
        for n in sorted(members):
            member = members[n]
            if set(member) - {"Key", "Value"}:
                raise InvalidParameterValueError(f"{prefix}.member.{n} has unknown fields.")
            for field in ("Key", "Value"):  # both required, as in AWS's Tag (Value may be "")
                if field not in member:
                    field_path = f"{prefix[0].lower()}{prefix[1:]}.{n}.member.{field.lower()}"
                    raise names.validation_error(field_path, None, "Member must not be null")
            out.append((member["Key"], member["Value"]))
        return out

    def structs(self, prefix: str, fields: tuple[str, ...]) -> list[dict[str, str]]:
        members = self._members(prefix)
        out = []
        for n in sorted(members):
            member = members[n]
            unknown = set(member) - set(fields)
            if unknown:
                raise InvalidParameterValueError(f"{prefix}.member.{n} has unknown fields.")
            out.append({k: v for k, v in member.items() if k is not None})
        return out
