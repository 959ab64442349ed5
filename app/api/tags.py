"""Tags at the API edge, the same for every taggable entity: the Tag…, Untag… and
List…Tags actions, their XML shape, and the condition keys a tagging request brings
to authorization."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

from app.api.registry import Call
from app.api.registry import Result
from app.api.registry import action
from app.iam import names
from app.iam.service import page_of


def tags_shape(pairs: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in pairs]


def tag_context(tags: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """aws:RequestTag/<key> and aws:TagKeys, as AWS evaluates tagging requests."""
    context: dict[str, Any] = {f"aws:RequestTag/{k}": v for k, v in tags}
    if tags:
        context["aws:TagKeys"] = tuple(k for k, _ in tags)
    return context


#: What a tagging call names: (the resource authorization sees, which is the entity's
#: ARN or the one it would have; the owner kind its tags are filed under; a lookup of
#: the entity's key, run after authorization so that a refused caller cannot tell
#: whether it exists).
Target = tuple[str, str, Callable[[], int]]


def register_tag_actions(noun: str, target: Callable[[Call], Target]) -> None:
    """Tag{noun}, Untag{noun} and List{noun}Tags, for one kind of entity."""
    for name, run in (
        (f"Tag{noun}", tag_resource),
        (f"Untag{noun}", untag_resource),
        (f"List{noun}Tags", list_resource_tags),
    ):

        def handler(call: Call, run: Callable[..., Result] = run) -> Result:
            return run(call, noun, *target(call))

        action("iam", name)(handler)


def tag_resource(
    call: Call, noun: str, resource: str, kind: str, owner_pk: Callable[[], int]
) -> Result:
    tags = call.params.tags()
    if not tags:  # required; boto3 sends `Tags=` for an empty list
        raise names.missing("Tags")
    call.authorize(f"iam:Tag{noun}", resource, **tag_context(tags))
    call.services.iam.tag(kind, owner_pk(), tags)
    return None


def untag_resource(
    call: Call, noun: str, resource: str, kind: str, owner_pk: Callable[[], int]
) -> Result:
    keys = call.params.members("TagKeys")
    if not keys:
        raise names.missing("TagKeys")
    if len(keys) > names.MAX_TAGS:
        raise names.validation_error(
            "tagKeys", None, f"Member must have length less than or equal to {names.MAX_TAGS}"
        )
    call.authorize(f"iam:Untag{noun}", resource, **{"aws:TagKeys": tuple(keys)})
    call.services.iam.untag(kind, owner_pk(), keys)
    return None


def list_resource_tags(
    call: Call, noun: str, resource: str, kind: str, owner_pk: Callable[[], int]
) -> Result:
    call.authorize(f"iam:List{noun}Tags", resource)
    tags = call.services.iam.tags_of(kind, owner_pk())
    page = page_of(
        tags, lambda tag: tag[0].lower(), call.params.get("Marker"), call.params.integer("MaxItems")
    )
    return {"Tags": tags_shape(page.items), "IsTruncated": page.is_truncated, "Marker": page.marker}
