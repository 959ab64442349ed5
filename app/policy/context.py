"""What a policy is evaluated against: one action on one resource, with its keys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field

ContextValue = str | tuple[str, ...]


@dataclass(frozen=True)
class RequestContext:
    #: "service:Action" as the caller asked for it.
    action: str
    #: The ARN of the resource acted on ("*" when the action has none).
    resource: str
    #: Condition keys (aws:username, sts:ExternalId, …); a tuple is a multivalued key.
    keys: Mapping[str, ContextValue] = field(default_factory=dict)
    #: For trust policies: the caller's identities by principal kind
    #: ("AWS" -> ARNs, "Federated" -> provider ARN, "Service" -> service name).
    principals: Mapping[str, frozenset[str]] = field(default_factory=dict)
    partition: str = "aws"

    def __post_init__(self) -> None:
        # Condition key names are case-insensitive in AWS; the values are not.
        folded = {k.lower(): v for k, v in self.keys.items()}
        object.__setattr__(self, "_folded", folded)

    def get(self, key: str) -> ContextValue | None:
        value = self._folded.get(key.lower())  # type: ignore[attr-defined]
        if isinstance(value, tuple) and not value:
            return None  # an empty multivalued key is the same as an absent one
        return value
