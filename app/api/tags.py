"""Tags at the API edge, the same for every taggable entity: their XML shape, and the
condition keys a tagging request brings to authorization."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def tags_shape(pairs: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in pairs]


def tag_context(tags: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """aws:RequestTag/<key> and aws:TagKeys, as AWS evaluates tagging requests."""
    context: dict[str, Any] = {f"aws:RequestTag/{k}": v for k, v in tags}
    if tags:
        context["aws:TagKeys"] = tuple(k for k, _ in tags)
    return context
