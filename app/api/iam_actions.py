"""IAM actions: read parameters, authorize, call IamService, shape AWS's result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from app.api.registry import Call
from app.api.registry import Result
from app.api.registry import action
from app.api.tags import Target
from app.api.tags import register_tag_actions
from app.api.tags import tag_context
from app.api.tags import tags_shape
from app.arn import root_arn
from app.db.config_cache import cached_get
from app.db.models import AccessKey
from app.db.models import AccessKeyUse
from app.db.models import Account
from app.db.models import Group
from app.db.models import ManagedPolicy
from app.db.models import PolicyVersion
from app.db.models import Role
from app.db.models import User
from app.errors import AccessDeniedError
from app.errors import NoSuchEntityError
from app.errors import ValidationError
from app.iam import names
from app.iam import trust
from app.iam.service import IamService
from app.iam.service import Page
from app.iam.service import page_of

# --- shapes --------------------------------------------------------------------------


def _document(text: str) -> str:
    """Policies travel URL-encoded in IAM responses; botocore decodes them."""
    return quote(text, safe="")


def _boundary_shape(iam: IamService, owner: User | Role) -> dict[str, str] | None:
    arn = iam.boundary_arn(owner)
    if arn is None:
        return None
    return {"PermissionsBoundaryType": "PermissionsBoundaryPolicy", "PermissionsBoundaryArn": arn}


def user_shape(iam: IamService, user: User, *, with_tags: bool = False) -> dict[str, Any]:
    """ListUsers leaves the tags and the permissions boundary out, as AWS does."""
    shape: dict[str, Any] = {
        "Path": user.path,
        "UserName": user.name,
        "UserId": user.user_id,
        "Arn": iam.user_arn(user),
        "CreateDate": user.created_at,
    }
    if with_tags:
        shape["PermissionsBoundary"] = _boundary_shape(iam, user)
        shape["Tags"] = tags_shape(iam.tags_of("user", user.pk)) or None
    return shape


def group_shape(iam: IamService, group: Group) -> dict[str, Any]:
    return {
        "Path": group.path,
        "GroupName": group.name,
        "GroupId": group.group_id,
        "Arn": iam.group_arn(group),
        "CreateDate": group.created_at,
    }


def role_shape(iam: IamService, role: Role, *, with_tags: bool = True) -> dict[str, Any]:
    """ListRoles leaves the tags and the permissions boundary out, as AWS does (a query
    per role saved too)."""
    return {
        "Path": role.path,
        "RoleName": role.name,
        "RoleId": role.role_id,
        "Arn": iam.role_arn(role),
        "CreateDate": role.created_at,
        "AssumeRolePolicyDocument": _document(trust.shown(iam.session, iam.partition, role)),
        "Description": role.description,
        "MaxSessionDuration": role.max_session_duration,
        "PermissionsBoundary": _boundary_shape(iam, role) if with_tags else None,
        "Tags": (tags_shape(iam.tags_of("role", role.pk)) or None) if with_tags else None,
    }


def policy_shape(
    iam: IamService, policy: ManagedPolicy, *, with_tags: bool = False
) -> dict[str, Any]:
    """ListPolicies leaves the tags out, as AWS does."""
    return {
        "PolicyName": policy.name,
        "PolicyId": policy.policy_id,
        "Arn": iam.policy_arn(policy),
        "Path": policy.path,
        "DefaultVersionId": f"v{policy.default_version}",
        "AttachmentCount": iam.attachment_count(policy),
        "PermissionsBoundaryUsageCount": iam.boundary_usage_count(policy),
        "IsAttachable": True,
        "Description": policy.description,
        "CreateDate": policy.created_at,
        "UpdateDate": policy.updated_at,
        "Tags": (tags_shape(iam.tags_of("policy", policy.pk)) or None) if with_tags else None,
    }


def version_shape(
    policy: ManagedPolicy, version: PolicyVersion, *, with_document: bool
) -> dict[str, Any]:
    return {
        "Document": _document(version.document) if with_document else None,
        "VersionId": f"v{version.version}",
        "IsDefaultVersion": version.version == policy.default_version,
        "CreateDate": version.created_at,
    }


def key_shape(key: AccessKey, user_name: str | None) -> dict[str, Any]:
    return {
        "UserName": user_name,
        "AccessKeyId": key.access_key_id,
        "Status": key.status,
        "CreateDate": key.created_at,
    }


def listing(field: str, page: Page[Any], shape: Any) -> dict[str, Any]:
    return {
        field: [shape(item) for item in page.items],
        "IsTruncated": page.is_truncated,
        "Marker": page.marker,
    }


def paging(call: Call) -> tuple[str | None, int | None]:
    return call.params.get("Marker"), call.params.integer("MaxItems")


def _any(call: Call, kind: str) -> str:
    """The resource of a List action: every entity of that kind in the account."""
    return call.services.iam.arn(kind, "/", "*")


def owner_arn(call: Call, kind: str, name: str) -> str:
    """The entity's ARN, or the one it would have (path /) if there is none: actions
    authorize before they look further, so a refused caller cannot tell what exists."""
    iam = call.services.iam
    finder = {"user": iam.find_user, "group": iam.find_group, "role": iam.find_role}[kind]
    owner = finder(name)
    if owner is None:
        return iam.arn(kind, "/", name)
    return iam.arn(kind, owner.path, owner.name)


# --- users -------------------------------------------------------------------------


def boundary_context(arn: str | None) -> dict[str, str]:
    """iam:PermissionsBoundary, the key delegated administration hangs on: "create roles,
    and give them policies, only with this boundary"."""
    return {"iam:PermissionsBoundary": arn} if arn else {}


@action("iam", "CreateUser")
def create_user(call: Call) -> Result:
    iam, p = call.services.iam, call.params
    name, path, tags = p.req("UserName"), p.get("Path"), p.tags()
    boundary = p.get("PermissionsBoundary")
    call.authorize(
        "iam:CreateUser",
        iam.arn("user", path or "/", name),
        **tag_context(tags),
        **boundary_context(boundary),
    )
    user = iam.create_user(name, path, tags, boundary)
    return {"User": user_shape(iam, user, with_tags=True)}


def user_or_self(call: Call, action_name: str) -> User | None:
    """The named user, or the caller itself when UserName is omitted (None for root)."""
    iam, name = call.services.iam, call.params.get("UserName")
    caller = call.signer
    if name is None:
        if caller.kind == "root":
            call.authorize(action_name, caller.arn)
            return None
        if caller.kind != "user":
            raise ValidationError("Must specify userName when calling with non-User credentials")
        name = caller.name
    user = iam.find_user(name)
    call.authorize(action_name, iam.user_arn(user) if user else iam.arn("user", "/", name))
    return iam.user(name) if user is None else user


@action("iam", "GetUser")
def get_user(call: Call) -> Result:
    iam = call.services.iam
    user = user_or_self(call, "iam:GetUser")
    if user is None:
        caller = call.signer
        account = iam.session.get(Account, caller.account_id)
        created = account.created_at if account else None
        return {"User": {"UserId": caller.account_id, "Arn": caller.arn, "CreateDate": created}}
    return {"User": user_shape(iam, user, with_tags=True)}


@action("iam", "ListUsers")
def list_users(call: Call) -> Result:
    iam = call.services.iam
    call.authorize("iam:ListUsers", _any(call, "user"))
    page = iam.list_users(call.params.get("PathPrefix"), *paging(call))
    return listing("Users", page, lambda u: user_shape(iam, u))


@action("iam", "UpdateUser")
def update_user(call: Call) -> Result:
    iam, p = call.services.iam, call.params
    source = owner_arn(call, "user", p.req("UserName"))
    call.authorize("iam:UpdateUser", source)
    user = iam.find_user(p.req("UserName"))
    if user is not None:
        # On the target too, as AWS requires: else a user allowed only over /team/ could
        # move one to /ops/, where other policies trust it.
        target = iam.arn("user", p.get("NewPath") or user.path, p.get("NewUserName") or user.name)
        if target != source:
            call.authorize("iam:UpdateUser", target)
    iam.update_user(p.req("UserName"), p.get("NewUserName"), p.get("NewPath"))
    return None


@action("iam", "DeleteUser")
def delete_user(call: Call) -> Result:
    iam, name = call.services.iam, call.params.req("UserName")
    call.authorize("iam:DeleteUser", owner_arn(call, "user", name))
    iam.delete_user(name)
    return None


# --- access keys ---------------------------------------------------------------------


@action("iam", "CreateAccessKey")
def create_access_key(call: Call) -> Result:
    user = user_or_self(call, "iam:CreateAccessKey")
    key, secret = call.services.iam.create_access_key(user)
    shape = key_shape(key, user.name if user else None)
    shape["SecretAccessKey"] = secret
    call.audit_detail["access_key_id"] = key.access_key_id
    return {"AccessKey": shape}


@action("iam", "ListAccessKeys")
def list_access_keys(call: Call) -> Result:
    user = user_or_self(call, "iam:ListAccessKeys")
    keys = call.services.iam.access_keys(user)
    name = user.name if user else None
    page = page_of(keys, lambda k: k.access_key_id, *paging(call))
    return listing("AccessKeyMetadata", page, lambda k: key_shape(k, name))


@action("iam", "GetAccessKeyLastUsed")
def get_access_key_last_used(call: Call) -> Result:
    """Recorded to the hour (app.iam.key_usage). Authorized on the key's owner; a key
    that is not the account's is looked for under user/*. A refusal names the key, not
    its owner: who owns a key is not told to a caller who may not ask."""
    iam, key_id = call.services.iam, call.params.req("AccessKeyId")
    key = iam.find_access_key(key_id)
    user = cached_get(iam.session, User, key.user_pk) if key and key.user_pk else None
    if key is None:
        owner = _any(call, "user")
    else:
        owner = iam.user_arn(user) if user else root_arn(iam.partition, iam.account_id)
    try:
        call.authorize("iam:GetAccessKeyLastUsed", owner)
    except AccessDeniedError as err:
        raise AccessDeniedError(
            f"User: {call.signer.arn} is not authorized to perform: "
            f"iam:GetAccessKeyLastUsed on access key {names._shown(key_id)}",
            reason=err.reason,
        ) from None
    if key is None:
        raise NoSuchEntityError(f"The Access Key with id {names._shown(key_id)} cannot be found.")
    use = iam.session.get(AccessKeyUse, key.access_key_id)
    return {
        "UserName": user.name if user else None,
        "AccessKeyLastUsed": {
            "LastUsedDate": use.last_used_at if use else None,
            "ServiceName": use.service if use else "N/A",
            "Region": use.region if use else "N/A",
        },
    }


@action("iam", "UpdateAccessKey")
def update_access_key(call: Call) -> Result:
    user = user_or_self(call, "iam:UpdateAccessKey")
    p = call.params
    call.services.iam.update_access_key(user, p.req("AccessKeyId"), p.req("Status"))
    return None


@action("iam", "DeleteAccessKey")
def delete_access_key(call: Call) -> Result:
    user = user_or_self(call, "iam:DeleteAccessKey")
    call.services.iam.delete_access_key(user, call.params.req("AccessKeyId"))
    return None


# --- groups --------------------------------------------------------------------------


@action("iam", "CreateGroup")
def create_group(call: Call) -> Result:
    iam, p = call.services.iam, call.params
    name, path = p.req("GroupName"), p.get("Path")
    call.authorize("iam:CreateGroup", iam.arn("group", path or "/", name))
    return {"Group": group_shape(iam, iam.create_group(name, path))}


@action("iam", "GetGroup")
def get_group(call: Call) -> Result:
    iam, name = call.services.iam, call.params.req("GroupName")
    call.authorize("iam:GetGroup", owner_arn(call, "group", name))
    group = iam.group(name)
    page = iam.group_members(group, *paging(call))
    return {
        "Group": group_shape(iam, group),
        **listing("Users", page, lambda u: user_shape(iam, u)),
    }


@action("iam", "ListGroups")
def list_groups(call: Call) -> Result:
    iam = call.services.iam
    call.authorize("iam:ListGroups", _any(call, "group"))
    page = iam.list_groups(call.params.get("PathPrefix"), *paging(call))
    return listing("Groups", page, lambda g: group_shape(iam, g))


@action("iam", "ListGroupsForUser")
def list_groups_for_user(call: Call) -> Result:
    iam, name = call.services.iam, call.params.req("UserName")
    call.authorize("iam:ListGroupsForUser", owner_arn(call, "user", name))
    page = iam.groups_for_user(iam.user(name), *paging(call))
    return listing("Groups", page, lambda g: group_shape(iam, g))


@action("iam", "AddUserToGroup")
def add_user_to_group(call: Call) -> Result:
    p = call.params
    call.authorize("iam:AddUserToGroup", owner_arn(call, "group", p.req("GroupName")))
    call.services.iam.add_user_to_group(p.req("GroupName"), p.req("UserName"))
    return None


@action("iam", "RemoveUserFromGroup")
def remove_user_from_group(call: Call) -> Result:
    p = call.params
    call.authorize("iam:RemoveUserFromGroup", owner_arn(call, "group", p.req("GroupName")))
    call.services.iam.remove_user_from_group(p.req("GroupName"), p.req("UserName"))
    return None


@action("iam", "DeleteGroup")
def delete_group(call: Call) -> Result:
    name = call.params.req("GroupName")
    call.authorize("iam:DeleteGroup", owner_arn(call, "group", name))
    call.services.iam.delete_group(name)
    return None


# --- roles ---------------------------------------------------------------------------


@action("iam", "CreateRole")
def create_role(call: Call) -> Result:
    iam, p = call.services.iam, call.params
    name, path, tags = p.req("RoleName"), p.get("Path"), p.tags()
    boundary = p.get("PermissionsBoundary")
    call.authorize(
        "iam:CreateRole",
        iam.arn("role", path or "/", name),
        **tag_context(tags),
        **boundary_context(boundary),
    )
    role = iam.create_role(
        name,
        path,
        p.req("AssumeRolePolicyDocument"),
        p.get("Description"),
        p.integer("MaxSessionDuration"),
        tags,
        boundary,
    )
    return {"Role": role_shape(iam, role)}


@action("iam", "GetRole")
def get_role(call: Call) -> Result:
    iam, name = call.services.iam, call.params.req("RoleName")
    call.authorize("iam:GetRole", owner_arn(call, "role", name))
    return {"Role": role_shape(iam, iam.role(name))}


@action("iam", "ListRoles")
def list_roles(call: Call) -> Result:
    iam = call.services.iam
    call.authorize("iam:ListRoles", _any(call, "role"))
    page = iam.list_roles(call.params.get("PathPrefix"), *paging(call))
    return listing("Roles", page, lambda r: role_shape(iam, r, with_tags=False))


@action("iam", "UpdateRole")
def update_role(call: Call) -> Result:
    p = call.params
    call.authorize("iam:UpdateRole", owner_arn(call, "role", p.req("RoleName")))
    call.services.iam.update_role(
        p.req("RoleName"), p.get("Description"), p.integer("MaxSessionDuration")
    )
    return {}


@action("iam", "UpdateRoleDescription")
def update_role_description(call: Call) -> Result:
    iam, p = call.services.iam, call.params
    name = p.req("RoleName")
    call.authorize("iam:UpdateRoleDescription", owner_arn(call, "role", name))
    iam.update_role(name, p.req("Description"), None)
    return {"Role": role_shape(iam, iam.role(name))}


@action("iam", "ListInstanceProfilesForRole")
def list_instance_profiles_for_role(call: Call) -> Result:
    """There are no instance profiles here (no instances): always an empty list, which
    is what tools that tidy them up before DeleteRole (Terraform) need to read."""
    iam, name = call.services.iam, call.params.req("RoleName")
    call.authorize("iam:ListInstanceProfilesForRole", owner_arn(call, "role", name))
    iam.role(name)
    return listing("InstanceProfiles", page_of([], str, *paging(call)), str)


@action("iam", "UpdateAssumeRolePolicy")
def update_assume_role_policy(call: Call) -> Result:
    p = call.params
    call.authorize("iam:UpdateAssumeRolePolicy", owner_arn(call, "role", p.req("RoleName")))
    call.services.iam.update_assume_role_policy(p.req("RoleName"), p.req("PolicyDocument"))
    return None


@action("iam", "DeleteRole")
def delete_role(call: Call) -> Result:
    name = call.params.req("RoleName")
    call.authorize(
        "iam:DeleteRole", owner_arn(call, "role", name), **_current_boundary(call, "role", name)
    )
    call.services.iam.delete_role(name)
    return None


def _owner_target(kind: str) -> Callable[[Call], Target]:
    """Users' and roles' tags: named by UserName or RoleName."""
    param = "UserName" if kind == "user" else "RoleName"

    def target(call: Call) -> Target:
        iam, name = call.services.iam, call.params.req(param)
        return owner_arn(call, kind, name), kind, lambda: iam.owner(kind, name).pk

    return target


register_tag_actions("User", _owner_target("user"))
register_tag_actions("Role", _owner_target("role"))


# --- managed policies ----------------------------------------------------------------


def _policy_resource(call: Call) -> str:
    arn = call.params.req("PolicyArn")
    call.services.iam.find_policy(arn)  # refuses a malformed ARN before it reaches a message
    return arn


@action("iam", "CreatePolicy")
def create_policy(call: Call) -> Result:
    iam, p = call.services.iam, call.params
    name, path, tags = p.req("PolicyName"), p.get("Path"), p.tags()
    call.authorize("iam:CreatePolicy", iam.arn("policy", path or "/", name), **tag_context(tags))
    policy = iam.create_policy(name, path, p.req("PolicyDocument"), p.get("Description"), tags)
    return {"Policy": policy_shape(iam, policy, with_tags=True)}


@action("iam", "GetPolicy")
def get_policy(call: Call) -> Result:
    iam = call.services.iam
    call.authorize("iam:GetPolicy", _policy_resource(call))
    return {"Policy": policy_shape(iam, iam.policy(call.params.req("PolicyArn")), with_tags=True)}


@action("iam", "ListPolicies")
def list_policies(call: Call) -> Result:
    iam, p = call.services.iam, call.params
    call.authorize("iam:ListPolicies", _any(call, "policy"))
    page = iam.list_policies(
        p.get("Scope"),
        bool(p.boolean("OnlyAttached")),
        p.get("PathPrefix"),
        *paging(call),
        usage=p.get("PolicyUsageFilter"),
    )
    return listing("Policies", page, lambda pol: policy_shape(iam, pol))


def _policy_target(call: Call) -> Target:
    iam, arn = call.services.iam, _policy_resource(call)
    return arn, "policy", lambda: iam.policy(arn).pk


register_tag_actions("Policy", _policy_target)


@action("iam", "ListEntitiesForPolicy")
def list_entities_for_policy(call: Call) -> Result:
    iam, p = call.services.iam, call.params
    call.authorize("iam:ListEntitiesForPolicy", _policy_resource(call))
    entities = iam.policy_entities(
        iam.policy(p.req("PolicyArn")),
        p.get("EntityFilter"),
        p.get("PathPrefix"),
        p.get("PolicyUsageFilter"),
    )
    page = page_of(entities, lambda e: f"{e[0]}:{e[1].name_key}", *paging(call))
    listed: dict[str, list[dict[str, str]]] = {"group": [], "user": [], "role": []}
    for kind, entity in page.items:
        title = kind.title()
        unique_id = getattr(entity, f"{kind}_id")  # user_id, group_id, role_id
        listed[kind].append({f"{title}Name": entity.name, f"{title}Id": unique_id})
    return {
        "PolicyGroups": listed["group"],
        "PolicyUsers": listed["user"],
        "PolicyRoles": listed["role"],
        "IsTruncated": page.is_truncated,
        "Marker": page.marker,
    }


@action("iam", "DeletePolicy")
def delete_policy(call: Call) -> Result:
    call.authorize("iam:DeletePolicy", _policy_resource(call))
    call.services.iam.delete_policy(call.params.req("PolicyArn"))
    return None


@action("iam", "GetPolicyVersion")
def get_policy_version(call: Call) -> Result:
    iam, p = call.services.iam, call.params
    call.authorize("iam:GetPolicyVersion", _policy_resource(call))
    policy = iam.policy(p.req("PolicyArn"))
    version = iam.policy_version(policy, p.req("VersionId"))
    return {"PolicyVersion": version_shape(policy, version, with_document=True)}


@action("iam", "ListPolicyVersions")
def list_policy_versions(call: Call) -> Result:
    iam = call.services.iam
    call.authorize("iam:ListPolicyVersions", _policy_resource(call))
    policy = iam.policy(call.params.req("PolicyArn"))
    # Newest first, as AWS lists them: the key sorts higher version numbers first.
    page = page_of(iam.policy_versions(policy), lambda v: f"{2**31 - v.version:010}", *paging(call))
    return listing("Versions", page, lambda v: version_shape(policy, v, with_document=False))


@action("iam", "CreatePolicyVersion")
def create_policy_version(call: Call) -> Result:
    iam, p = call.services.iam, call.params
    call.authorize("iam:CreatePolicyVersion", _policy_resource(call))
    version = iam.create_policy_version(
        p.req("PolicyArn"), p.req("PolicyDocument"), bool(p.boolean("SetAsDefault"))
    )
    policy = iam.policy(p.req("PolicyArn"))
    return {"PolicyVersion": version_shape(policy, version, with_document=False)}


@action("iam", "SetDefaultPolicyVersion")
def set_default_policy_version(call: Call) -> Result:
    p = call.params
    call.authorize("iam:SetDefaultPolicyVersion", _policy_resource(call))
    call.services.iam.set_default_policy_version(p.req("PolicyArn"), p.req("VersionId"))
    return None


@action("iam", "DeletePolicyVersion")
def delete_policy_version(call: Call) -> Result:
    p = call.params
    call.authorize("iam:DeletePolicyVersion", _policy_resource(call))
    call.services.iam.delete_policy_version(p.req("PolicyArn"), p.req("VersionId"))
    return None


# --- attached and inline policies of users, groups and roles ----------------------
#
# Registered in a loop, one set per kind, because the twelve actions of each kind
# differ only in their names:
#   Attach{User,Group,Role}Policy, Detach…Policy, ListAttached…Policies,
#   Put{User,Group,Role}Policy, Get…Policy, Delete…Policy, List…Policies.


def _current_boundary(call: Call, kind: str, name: str) -> dict[str, str]:
    """iam:PermissionsBoundary of a user or role a call changes the policies of (AWS
    sets it for these calls too: a delegate may be allowed to grant only within it)."""
    if kind not in ("user", "role"):
        return {}
    iam = call.services.iam
    owner = iam.find_user(name) if kind == "user" else iam.find_role(name)
    return boundary_context(iam.boundary_arn(owner) if owner else None)


def _register_policy_actions(kind: str, title: str) -> None:
    name_param = f"{title}Name"

    def attach(call: Call) -> Result:
        p = call.params
        call.authorize(
            f"iam:Attach{title}Policy",
            owner_arn(call, kind, p.req(name_param)),
            **{"iam:PolicyARN": _policy_resource(call)},
            **_current_boundary(call, kind, p.req(name_param)),
        )
        call.services.iam.attach_policy(kind, p.req(name_param), p.req("PolicyArn"))
        return None

    def detach(call: Call) -> Result:
        p = call.params
        call.authorize(
            f"iam:Detach{title}Policy",
            owner_arn(call, kind, p.req(name_param)),
            **{"iam:PolicyARN": _policy_resource(call)},
            **_current_boundary(call, kind, p.req(name_param)),
        )
        call.services.iam.detach_policy(kind, p.req(name_param), p.req("PolicyArn"))
        return None

    def list_attached(call: Call) -> Result:
        iam, owner_name = call.services.iam, call.params.req(name_param)
        call.authorize(f"iam:ListAttached{title}Policies", owner_arn(call, kind, owner_name))
        prefix = names.check_path_prefix(call.params.get("PathPrefix"))
        owner = iam.owner(kind, owner_name)
        policies = [p for p in iam.attached_policies(kind, owner.pk) if p.path.startswith(prefix)]
        page = page_of(policies, lambda pol: pol.name_key, *paging(call))
        return listing(
            "AttachedPolicies",
            page,
            lambda pol: {"PolicyName": pol.name, "PolicyArn": iam.policy_arn(pol)},
        )

    def put(call: Call) -> Result:
        p = call.params
        call.authorize(
            f"iam:Put{title}Policy",
            owner_arn(call, kind, p.req(name_param)),
            **_current_boundary(call, kind, p.req(name_param)),
        )
        call.services.iam.put_inline_policy(
            kind, p.req(name_param), p.req("PolicyName"), p.req("PolicyDocument")
        )
        return None

    def get(call: Call) -> Result:
        p = call.params
        call.authorize(f"iam:Get{title}Policy", owner_arn(call, kind, p.req(name_param)))
        owner, policy = call.services.iam.inline_policy(
            kind, p.req(name_param), p.req("PolicyName")
        )
        return {
            name_param: owner.name,
            "PolicyName": policy.name,
            "PolicyDocument": _document(policy.document),
        }

    def delete(call: Call) -> Result:
        p = call.params
        call.authorize(
            f"iam:Delete{title}Policy",
            owner_arn(call, kind, p.req(name_param)),
            **_current_boundary(call, kind, p.req(name_param)),
        )
        call.services.iam.delete_inline_policy(kind, p.req(name_param), p.req("PolicyName"))
        return None

    def list_inline(call: Call) -> Result:
        iam, owner_name = call.services.iam, call.params.req(name_param)
        call.authorize(f"iam:List{title}Policies", owner_arn(call, kind, owner_name))
        owner = iam.owner(kind, owner_name)
        page = page_of(iam.inline_policies(kind, owner.pk), lambda pol: pol.name_key, *paging(call))
        return listing("PolicyNames", page, lambda pol: pol.name)

    action("iam", f"Attach{title}Policy")(attach)
    action("iam", f"Detach{title}Policy")(detach)
    action("iam", f"ListAttached{title}Policies")(list_attached)
    action("iam", f"Put{title}Policy")(put)
    action("iam", f"Get{title}Policy")(get)
    action("iam", f"Delete{title}Policy")(delete)
    action("iam", f"List{title}Policies")(list_inline)


for _kind, _title in (("user", "User"), ("group", "Group"), ("role", "Role")):
    _register_policy_actions(_kind, _title)


# --- permissions boundaries of users and roles -------------------------------------
#   Put{User,Role}PermissionsBoundary, Delete{User,Role}PermissionsBoundary.


def _register_boundary_actions(kind: str, title: str) -> None:
    name_param = f"{title}Name"

    def put(call: Call) -> Result:
        p = call.params
        name, arn = p.req(name_param), p.req("PermissionsBoundary")
        call.authorize(
            f"iam:Put{title}PermissionsBoundary",
            owner_arn(call, kind, name),
            **boundary_context(arn),
        )
        call.services.iam.set_boundary(kind, name, arn)
        return None

    def delete(call: Call) -> Result:
        name = call.params.req(name_param)
        call.authorize(
            f"iam:Delete{title}PermissionsBoundary",
            owner_arn(call, kind, name),
            **_current_boundary(call, kind, name),
        )
        call.services.iam.set_boundary(kind, name, None)
        return None

    action("iam", f"Put{title}PermissionsBoundary")(put)
    action("iam", f"Delete{title}PermissionsBoundary")(delete)


for _kind, _title in (("user", "User"), ("role", "Role")):
    _register_boundary_actions(_kind, _title)
