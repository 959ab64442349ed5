"""ARNs: `arn:<partition>:<service>:<region>:<account>:<resource>`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"

    @classmethod
    def parse(cls, text: str) -> Arn | None:
        """Return the ARN, or None when `text` is not one."""
        parts = text.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn" or not parts[1] or not parts[2]:
            return None
        return cls(parts[1], parts[2], parts[3], parts[4], parts[5])


def is_account_id(text: str) -> bool:
    """Twelve ASCII digits. (str.isdigit() is true for "²" and "٣" too, which int()
    refuses or reads as other digits.)"""
    return len(text) == 12 and text.isascii() and text.isdigit()


def iam_arn(partition: str, account: str, kind: str, path: str, name: str) -> str:
    """`arn:aws:iam::111122223333:role/some/path/Name` (path always starts and ends with /)."""
    return f"arn:{partition}:iam::{account}:{kind}{path}{name}"


def root_arn(partition: str, account: str) -> str:
    return f"arn:{partition}:iam::{account}:root"
