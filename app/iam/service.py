"""IAM: one method per IAM action, acting inside one account and one transaction.

The caller opens the transaction; a refusal raised here rolls back everything
the call wrote, so a failed request leaves the data exactly as it was.
Methods return database rows; the API layer shapes them into AWS's responses.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from typing import Generic
from typing import TypeVar

from sqlalchemy import Select
from sqlalchemy import delete
from sqlalchemy import false
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.orm import Session

from app import ids
from app.arn import Arn
from app.arn import iam_arn
from app.clock import Clock
from app.clock import iso_ms
from app.crypto import SecretBox
from app.db.config_cache import cached
from app.db.config_cache import cached_get
from app.db.models import AccessKey
from app.db.models import AccessKeyUse
from app.db.models import Account
from app.db.models import Group
from app.db.models import GroupMember
from app.db.models import InlinePolicy
from app.db.models import ManagedPolicy
from app.db.models import MfaDevice
from app.db.models import PolicyAttachment
from app.db.models import PolicyVersion
from app.db.models import Role
from app.db.models import Tag
from app.db.models import User
from app.errors import DeleteConflictError
from app.errors import EntityAlreadyExistsError
from app.errors import InvalidInputError
from app.errors import LimitExceededError
from app.errors import NoSuchEntityError
from app.errors import ValidationError
from app.iam import names
from app.iam import trust
from app.iam.principal import Principal
from app.policy import PolicyDocument
from app.policy import parse_policy

T = TypeVar("T")

#: Product rule (Baidu AI Cloud IAM): at most 100 roles per account.
MAX_ROLES_PER_ACCOUNT = 100
MAX_ACCESS_KEYS_PER_USER = 2
MAX_POLICY_VERSIONS = 5
MAX_GROUPS_PER_USER = 10
MAX_MANAGED_POLICIES_PER_ENTITY = 10
#: The inline policy AWS's console writes to revoke a role's active sessions.
REVOKE_POLICY_NAME = "AWSRevokeOlderSessions"

OwnerKind = str  # "user" | "group" | "role"
#: What a permissions boundary whose policy is gone allows: nothing.
_ALLOWS_NOTHING = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}'
)


@lru_cache(maxsize=4096)
def parsed_policy(document: str, kind: str = "identity") -> PolicyDocument:
    """Parse a stored policy once; stored documents were validated when written."""
    return parse_policy(document, kind)  # type: ignore[arg-type]


def validate_policy(document: str, kind: str, limit: int, quota_name: str) -> str:
    names.check_policy_size(document, limit, quota_name)
    parse_policy(document, kind)  # type: ignore[arg-type]
    return document


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    #: Where the next page starts; None when this page is the last.
    marker: str | None

    @property
    def is_truncated(self) -> bool:
        return self.marker is not None


#: What a lookup by name accepts before it is a miss rather than a malformed name. Users
#: are looked up by AWS's existingUserNameType (128), though created at most 64 long.
_NAME_RULES: dict[Any, tuple[str, int]] = {
    User: ("userName", 128),
    Group: ("groupName", names.GROUP_NAME_MAX),
    Role: ("roleName", names.ROLE_NAME_MAX),
    ManagedPolicy: ("policyName", names.POLICY_NAME_MAX),
}


def _encode_marker(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode("ascii")


def _decode_marker(marker: str) -> str:
    try:
        return base64.b64decode(marker.encode("ascii"), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise ValidationError("Invalid Marker: pass the Marker of the previous response.") from None


def page_of(
    items: Iterable[T], key: Callable[[T], str], marker: str | None, max_items: int | None
) -> Page[T]:
    """A page of a list already read whole (a user's keys and devices: a few each), with
    the markers and MaxItems rules of the listings the database pages."""
    limit = check_max_items(max_items)
    after = _decode_marker(marker) if marker is not None else None
    rest = [item for item in sorted(items, key=key) if after is None or key(item) > after]
    if len(rest) <= limit:
        return Page(rest, None)
    return Page(rest[:limit], _encode_marker(key(rest[limit - 1])))


def check_max_items(value: int | None) -> int:
    if value is None:
        return 100
    if not 1 <= value <= 1000:
        raise names.validation_error(
            "maxItems", str(value), "Member must have value between 1 and 1000"
        )
    return value


def _check_usage_filter(usage: str | None) -> None:
    """PolicyUsageFilter: permissions policies, or permissions boundaries."""
    if usage not in (None, "PermissionsPolicy", "PermissionsBoundary"):
        raise names.validation_error(
            "policyUsageFilter",
            usage,
            "Member must satisfy enum value set: [PermissionsPolicy, PermissionsBoundary]",
        )


class IamService:
    def __init__(
        self,
        session: Session,
        account_id: str,
        *,
        partition: str,
        clock: Clock,
        secrets: SecretBox,
    ) -> None:
        self.session = session
        self.account_id = account_id
        self.partition = partition
        self.clock = clock
        self.secrets = secrets

    # --- ARNs -------------------------------------------------------------------

    def arn(self, kind: str, path: str, name: str) -> str:
        return iam_arn(self.partition, self.account_id, kind, path, name)

    def user_arn(self, user: User) -> str:
        return self.arn("user", user.path, user.name)

    def group_arn(self, group: Group) -> str:
        return self.arn("group", group.path, group.name)

    def user_principal(self, user: User, access_key_id: str | None = None) -> Principal:
        """The principal an IAM user's own credentials (or browser sign-in) act as."""
        arn = self.user_arn(user)
        return Principal(
            kind="user",
            account_id=user.account_id,
            arn=arn,
            user_id=user.user_id,
            name=user.name,
            owner_pk=user.pk,
            identity_arn=arn,
            access_key_id=access_key_id,
        )

    def role_arn(self, role: Role) -> str:
        return self.arn("role", role.path, role.name)

    def policy_arn(self, policy: ManagedPolicy) -> str:
        return self.arn("policy", policy.path, policy.name)

    # --- lookups ------------------------------------------------------------------

    def _one(self, model: Any, name: str) -> Any:
        # A name that could never have been created is the caller's mistake, not a miss.
        field, max_len = _NAME_RULES[model]
        names.check_name(field, name, max_len)
        return cached(
            self.session,
            (model, self.account_id, name.lower()),
            lambda: self.session.scalar(
                select(model).where(
                    model.account_id == self.account_id, model.name_key == name.lower()
                )
            ),
        )

    def find_user(self, name: str) -> User | None:
        return self._one(User, name)

    def find_group(self, name: str) -> Group | None:
        return self._one(Group, name)

    def find_role(self, name: str) -> Role | None:
        return self._one(Role, name)

    def user(self, name: str) -> User:
        user = self.find_user(name)
        if user is None:
            raise NoSuchEntityError(f"The user with name {names._shown(name)} cannot be found.")
        return user

    def group(self, name: str) -> Group:
        group = self.find_group(name)
        if group is None:
            raise NoSuchEntityError(f"The group with name {names._shown(name)} cannot be found.")
        return group

    def role(self, name: str) -> Role:
        role = self.find_role(name)
        if role is None:
            raise NoSuchEntityError(f"The role with name {names._shown(name)} cannot be found.")
        return role

    def find_policy(self, policy_arn: str) -> ManagedPolicy | None:
        arn = Arn.parse(policy_arn)
        if arn is None or arn.service != "iam" or not arn.resource.startswith("policy/"):
            raise InvalidInputError(f"ARN {names._shown(policy_arn)} is not valid.")
        if arn.account != self.account_id or arn.partition != self.partition:
            return None
        policy = self._one(ManagedPolicy, arn.resource.rpartition("/")[2])
        # Exactly its ARN: the caller's policies were checked against the text sent, so
        # another spelling of it (a region, other letter case) must not find it.
        if policy is None or self.policy_arn(policy) != policy_arn:
            return None
        return policy

    def policy(self, policy_arn: str) -> ManagedPolicy:
        policy = self.find_policy(policy_arn)
        if policy is None:
            raise NoSuchEntityError(
                f"Policy {names._shown(policy_arn)} does not exist or is not attachable."
            )
        return policy

    def _page(
        self,
        stmt: Select[Any],
        key: InstrumentedAttribute[str],
        marker: str | None,
        max_items: int | None,
    ) -> Page[Any]:
        limit = check_max_items(max_items)
        if marker is not None:
            stmt = stmt.where(key > _decode_marker(marker))
        rows = list(self.session.scalars(stmt.order_by(key).limit(limit + 1)))
        if len(rows) <= limit:
            return Page(rows, None)
        last = rows[limit - 1]
        return Page(rows[:limit], _encode_marker(str(getattr(last, key.key))))

    # --- tags -----------------------------------------------------------------------

    def tags_of(self, kind: OwnerKind, pk: int) -> list[tuple[str, str]]:
        def load() -> list[tuple[str, str]]:
            rows = self.session.execute(
                select(Tag.key, Tag.value)
                .where(Tag.owner_kind == kind, Tag.owner_pk == pk)
                .order_by(Tag.key_lower)
            )
            return [(key, value) for key, value in rows]

        return cached(self.session, (Tag, kind, pk), load)

    def tag(self, kind: OwnerKind, pk: int, tags: Sequence[tuple[str, str]]) -> None:
        names.check_tags(tags)
        for key, value in tags:
            existing = self.session.get(Tag, (kind, pk, key.lower()))
            if existing is None:
                self.session.add(
                    Tag(owner_kind=kind, owner_pk=pk, key_lower=key.lower(), key=key, value=value)
                )
            else:
                existing.key, existing.value = key, value
        self.session.flush()
        if len(self.tags_of(kind, pk)) > names.MAX_TAGS:
            raise LimitExceededError(f"Cannot exceed quota for TagsPerResource: {names.MAX_TAGS}.")

    def untag(self, kind: OwnerKind, pk: int, keys: Sequence[str]) -> None:
        for key in keys:
            names.check_length("tagKeys.member", key, 1, 128)
        self.session.execute(
            delete(Tag).where(
                Tag.owner_kind == kind,
                Tag.owner_pk == pk,
                Tag.key_lower.in_([k.lower() for k in keys]),
            )
        )

    def untag_all(self, kind: OwnerKind, pk: int) -> None:
        """Forget every tag of an owner that is being deleted."""
        self.session.execute(delete(Tag).where(Tag.owner_kind == kind, Tag.owner_pk == pk))

    # --- users ------------------------------------------------------------------------

    def create_user(
        self,
        name: str,
        path: str | None,
        tags: Sequence[tuple[str, str]] = (),
        boundary_arn: str | None = None,
    ) -> User:
        names.check_name("userName", name, names.USER_NAME_MAX)
        path = names.check_path("path", path)
        names.check_tags(tags)
        boundary = self._boundary(boundary_arn)
        if self.find_user(name):
            raise EntityAlreadyExistsError(f"User with name {name} already exists.")
        user = User(
            account_id=self.account_id,
            name=name,
            name_key=name.lower(),
            path=path,
            user_id=ids.unique_id(ids.USER_PREFIX),
            created_at=self.clock.now(),
            boundary_pk=boundary.pk if boundary else None,
        )
        self.session.add(user)
        self.session.flush()
        self.tag("user", user.pk, tags)
        return user

    def list_users(
        self, path_prefix: str | None, marker: str | None, max_items: int | None
    ) -> Page[User]:
        prefix = names.check_path_prefix(path_prefix)
        stmt = select(User).where(User.account_id == self.account_id, User.path.startswith(prefix))
        return self._page(stmt, User.name_key, marker, max_items)

    def update_user(self, name: str, new_name: str | None, new_path: str | None) -> None:
        user = self.user(name)
        if new_name is not None:
            names.check_name("newUserName", new_name, names.USER_NAME_MAX)
            other = self.find_user(new_name)
            if other is not None and other.pk != user.pk:
                raise EntityAlreadyExistsError(f"User with name {new_name} already exists.")
            user.name, user.name_key = new_name, new_name.lower()
        if new_path is not None:
            user.path = names.check_path("newPath", new_path)

    def delete_user(self, name: str) -> None:
        user = self.user(name)
        owner = ("user", user.pk)
        if self.session.scalar(select(func.count()).where(AccessKey.user_pk == user.pk)):
            raise DeleteConflictError("Cannot delete entity, must delete access keys first.")
        if self._has_policies(*owner):
            raise DeleteConflictError("Cannot delete entity, must delete policies first.")
        if self.session.scalar(select(func.count()).where(GroupMember.user_pk == user.pk)):
            raise DeleteConflictError(
                "Cannot delete entity, must remove user from all groups first."
            )
        if self.session.scalar(select(func.count()).where(MfaDevice.user_pk == user.pk)):
            raise DeleteConflictError("Cannot delete entity, must delete MFA device first.")
        self.untag_all(*owner)
        self.session.delete(user)

    # --- access keys ----------------------------------------------------------------

    def create_access_key(self, user: User | None) -> tuple[AccessKey, str]:
        """Create a key for `user` (None: the account's root). The secret is returned once."""
        user_pk = user.pk if user else None
        count = self.session.scalar(
            select(func.count()).where(
                AccessKey.account_id == self.account_id,
                AccessKey.user_pk.is_(None) if user_pk is None else AccessKey.user_pk == user_pk,
            )
        )
        if count and count >= MAX_ACCESS_KEYS_PER_USER:
            raise LimitExceededError(
                f"Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS_PER_USER}"
            )
        secret = ids.secret_access_key()
        key = AccessKey(
            access_key_id=ids.access_key_id(),
            account_id=self.account_id,
            user_pk=user_pk,
            secret_sealed=self.secrets.seal(secret),
            status="Active",
            created_at=self.clock.now(),
        )
        self.session.add(key)
        self.session.flush()
        return key, secret

    def access_keys(self, user: User | None) -> list[AccessKey]:
        owner = AccessKey.user_pk.is_(None) if user is None else AccessKey.user_pk == user.pk
        return list(
            self.session.scalars(
                select(AccessKey)
                .where(AccessKey.account_id == self.account_id, owner)
                .order_by(AccessKey.created_at, AccessKey.access_key_id)
            )
        )

    def find_access_key(self, access_key_id: str) -> AccessKey | None:
        """A long-term key of this account, whoever's it is."""
        names.check_length("accessKeyId", access_key_id, 16, 128)
        key = self.session.get(AccessKey, access_key_id)
        return key if key is not None and key.account_id == self.account_id else None

    def _access_key(self, user: User | None, access_key_id: str) -> AccessKey:
        names.check_length("accessKeyId", access_key_id, 16, 128)
        for key in self.access_keys(user):
            if key.access_key_id == access_key_id:
                return key
        raise NoSuchEntityError(
            f"The Access Key with id {names._shown(access_key_id)} cannot be found."
        )

    def update_access_key(self, user: User | None, access_key_id: str, status: str) -> None:
        if status not in ("Active", "Inactive"):
            raise names.validation_error(
                "status", status, "Member must satisfy enum value set: [Active, Inactive]"
            )
        self._access_key(user, access_key_id).status = status

    def delete_access_key(self, user: User | None, access_key_id: str) -> None:
        self.session.delete(self._access_key(user, access_key_id))
        self.session.execute(
            delete(AccessKeyUse).where(AccessKeyUse.access_key_id == access_key_id)
        )

    # --- groups ---------------------------------------------------------------------

    def create_group(self, name: str, path: str | None) -> Group:
        names.check_name("groupName", name, names.GROUP_NAME_MAX)
        path = names.check_path("path", path)
        if self.find_group(name):
            raise EntityAlreadyExistsError(f"Group with name {name} already exists.")
        group = Group(
            account_id=self.account_id,
            name=name,
            name_key=name.lower(),
            path=path,
            group_id=ids.unique_id(ids.GROUP_PREFIX),
            created_at=self.clock.now(),
        )
        self.session.add(group)
        self.session.flush()
        return group

    def list_groups(
        self, path_prefix: str | None, marker: str | None, max_items: int | None
    ) -> Page[Group]:
        prefix = names.check_path_prefix(path_prefix)
        stmt = select(Group).where(
            Group.account_id == self.account_id, Group.path.startswith(prefix)
        )
        return self._page(stmt, Group.name_key, marker, max_items)

    def group_members(self, group: Group, marker: str | None, max_items: int | None) -> Page[User]:
        stmt = (
            select(User)
            .join(GroupMember, GroupMember.user_pk == User.pk)
            .where(GroupMember.group_pk == group.pk)
        )
        return self._page(stmt, User.name_key, marker, max_items)

    def groups_for_user(
        self, user: User, marker: str | None = None, max_items: int | None = None
    ) -> Page[Group]:
        stmt = (
            select(Group)
            .join(GroupMember, GroupMember.group_pk == Group.pk)
            .where(GroupMember.user_pk == user.pk)
        )
        return self._page(stmt, Group.name_key, marker, max_items)

    def add_user_to_group(self, group_name: str, user_name: str) -> None:
        group = self.group(group_name)
        user = self.find_user(user_name)
        if user is None:
            if self.find_role(user_name) is not None:
                # Product rule: roles are never members of groups.
                raise NoSuchEntityError(
                    f"The user with name {user_name} cannot be found. {user_name} is a role, "
                    "and roles cannot be members of groups: grant a role permissions with "
                    "policies attached to the role itself."
                )
            self.user(user_name)
        assert user is not None
        if self.session.get(GroupMember, (group.pk, user.pk)) is not None:
            return  # AWS: adding an existing member succeeds
        if len(self.groups_for_user(user, max_items=1000).items) >= MAX_GROUPS_PER_USER:
            raise LimitExceededError(
                f"Cannot exceed quota for GroupsPerUser: {MAX_GROUPS_PER_USER}"
            )
        self.session.add(GroupMember(group_pk=group.pk, user_pk=user.pk))

    def remove_user_from_group(self, group_name: str, user_name: str) -> None:
        group, user = self.group(group_name), self.user(user_name)
        member = self.session.get(GroupMember, (group.pk, user.pk))
        if member is None:
            raise NoSuchEntityError(
                f"The user with name {user.name} is not a member of group {group.name}."
            )
        self.session.delete(member)

    def delete_group(self, name: str) -> None:
        group = self.group(name)
        if self.session.scalar(select(func.count()).where(GroupMember.group_pk == group.pk)):
            raise DeleteConflictError("Cannot delete entity, must remove users from group first.")
        if self._has_policies("group", group.pk):
            raise DeleteConflictError("Cannot delete entity, must delete policies first.")
        self.session.delete(group)

    # --- roles -------------------------------------------------------------------------

    def create_role(
        self,
        name: str,
        path: str | None,
        trust_policy: str,
        description: str | None,
        max_session_duration: int | None,
        tags: Sequence[tuple[str, str]] = (),
        boundary_arn: str | None = None,
    ) -> Role:
        names.check_name("roleName", name, names.ROLE_NAME_MAX)
        path = names.check_path("path", path)
        description = names.check_description(description)
        duration = names.check_max_session_duration(max_session_duration)
        names.check_tags(tags)
        validate_policy(trust_policy, "trust", names.TRUST_POLICY_MAX, "ACLSizePerRole")
        bindings = trust.bind(self.session, self.partition, trust_policy)
        boundary = self._boundary(boundary_arn)
        self.lock_account()
        if self.find_role(name):
            raise EntityAlreadyExistsError(f"Role with name {name} already exists.")
        count = self.session.scalar(select(func.count()).where(Role.account_id == self.account_id))
        if count is not None and count >= MAX_ROLES_PER_ACCOUNT:
            raise LimitExceededError(
                f"Cannot exceed quota for RolesPerAccount: {MAX_ROLES_PER_ACCOUNT}."
            )
        role = Role(
            account_id=self.account_id,
            name=name,
            name_key=name.lower(),
            path=path,
            role_id=ids.unique_id(ids.ROLE_PREFIX),
            trust_policy=trust_policy,
            trust_bindings=bindings,
            description=description,
            max_session_duration=duration,
            created_at=self.clock.now(),
            boundary_pk=boundary.pk if boundary else None,
        )
        self.session.add(role)
        self.session.flush()
        self.tag("role", role.pk, tags)
        return role

    def revoke_role_sessions(self, name: str) -> None:
        """Deny everything to sessions of this role issued before now, as AWS does it.

        The Deny on aws:TokenIssueTime is evaluated on every request, so it takes
        effect on the next call on every worker; sessions issued later are unaffected.
        """
        document = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Action": ["*"],
                    "Resource": ["*"],
                    "Condition": {"DateLessThan": {"aws:TokenIssueTime": iso_ms(self.clock.now())}},
                }
            ],
        }
        self.put_inline_policy("role", name, REVOKE_POLICY_NAME, json.dumps(document))

    def lock_account(self) -> None:
        """Serialize the account's writes (FOR UPDATE on PostgreSQL; SQLite's BEGIN
        IMMEDIATE already does): count rules such as 100 roles, 2 keys per user, 50 tags
        and 5 policy versions then hold under concurrency, and so do next-number and
        already-there checks."""
        self.session.scalar(select(Account).where(Account.id == self.account_id).with_for_update())

    def list_roles(
        self, path_prefix: str | None, marker: str | None, max_items: int | None
    ) -> Page[Role]:
        prefix = names.check_path_prefix(path_prefix)
        stmt = select(Role).where(Role.account_id == self.account_id, Role.path.startswith(prefix))
        return self._page(stmt, Role.name_key, marker, max_items)

    def all_roles(self) -> list[Role]:
        """Every role of the account (at most 100, the product's limit)."""
        return list(
            self.session.scalars(
                select(Role).where(Role.account_id == self.account_id).order_by(Role.name_key)
            )
        )

    def update_role(
        self, name: str, description: str | None, max_session_duration: int | None
    ) -> None:
        role = self.role(name)
        if description is not None:
            role.description = names.check_description(description)
        if max_session_duration is not None:
            role.max_session_duration = names.check_max_session_duration(max_session_duration)

    def update_assume_role_policy(self, name: str, trust_policy: str) -> None:
        role = self.role(name)
        validate_policy(trust_policy, "trust", names.TRUST_POLICY_MAX, "ACLSizePerRole")
        role.trust_bindings = trust.bind(self.session, self.partition, trust_policy)
        role.trust_policy = trust_policy

    def delete_role(self, name: str) -> None:
        role = self.role(name)
        # Product rule: revoke a role's authorization before deleting it.
        if self.session.scalar(
            select(func.count()).where(
                PolicyAttachment.owner_kind == "role", PolicyAttachment.owner_pk == role.pk
            )
        ):
            raise DeleteConflictError("Cannot delete entity, must detach all policies first.")
        if self.session.scalar(
            select(func.count()).where(
                InlinePolicy.owner_kind == "role", InlinePolicy.owner_pk == role.pk
            )
        ):
            raise DeleteConflictError("Cannot delete entity, must delete policies first.")
        self.untag_all("role", role.pk)
        self.session.delete(role)

    # --- managed policies ---------------------------------------------------------------

    def create_policy(
        self,
        name: str,
        path: str | None,
        document: str,
        description: str | None,
        tags: Sequence[tuple[str, str]] = (),
    ) -> ManagedPolicy:
        names.check_name("policyName", name, names.POLICY_NAME_MAX)
        path = names.check_path("path", path, names.POLICY_PATH_PATTERN)
        description = names.check_description(description, pattern=None)
        validate_policy(document, "identity", names.MANAGED_POLICY_MAX, "PolicySize")
        names.check_tags(tags)
        if self._one(ManagedPolicy, name):
            raise EntityAlreadyExistsError(
                f"A policy called {name} already exists. Duplicate names are not allowed."
            )
        now = self.clock.now()
        policy = ManagedPolicy(
            account_id=self.account_id,
            name=name,
            name_key=name.lower(),
            path=path,
            policy_id=ids.unique_id(ids.POLICY_PREFIX),
            description=description,
            default_version=1,
            next_version=2,
            created_at=now,
            updated_at=now,
        )
        self.session.add(policy)
        self.session.flush()
        self.session.add(
            PolicyVersion(policy_pk=policy.pk, version=1, document=document, created_at=now)
        )
        self.tag("policy", policy.pk, tags)
        return policy

    def list_policies(
        self,
        scope: str | None,
        only_attached: bool,
        path_prefix: str | None,
        marker: str | None,
        max_items: int | None,
        usage: str | None = None,
    ) -> Page[ManagedPolicy]:
        """`usage` (PolicyUsageFilter): only the policies attached as permissions policies
        (PermissionsPolicy), or only those used as permissions boundaries."""
        if scope not in (None, "All", "AWS", "Local"):
            raise names.validation_error(
                "scope", scope, "Member must satisfy enum value set: [All, AWS, Local]"
            )
        _check_usage_filter(usage)
        prefix = names.check_path_prefix(path_prefix)
        stmt = select(ManagedPolicy).where(
            ManagedPolicy.account_id == self.account_id, ManagedPolicy.path.startswith(prefix)
        )
        if scope == "AWS":
            stmt = stmt.where(false())  # no AWS-managed policies exist here
        attached = (
            select(PolicyAttachment.policy_pk)
            .where(PolicyAttachment.policy_pk == ManagedPolicy.pk)
            .exists()
        )
        if only_attached or usage == "PermissionsPolicy":
            stmt = stmt.where(attached)
        if usage == "PermissionsBoundary":
            stmt = stmt.where(
                or_(
                    *(
                        select(m.pk).where(m.boundary_pk == ManagedPolicy.pk).exists()
                        for m in (User, Role)
                    )
                )
            )
        return self._page(stmt, ManagedPolicy.name_key, marker, max_items)

    def attachment_count(self, policy: ManagedPolicy) -> int:
        return (
            self.session.scalar(select(func.count()).where(PolicyAttachment.policy_pk == policy.pk))
            or 0
        )

    def policy_versions(self, policy: ManagedPolicy) -> list[PolicyVersion]:
        return list(
            self.session.scalars(
                select(PolicyVersion)
                .where(PolicyVersion.policy_pk == policy.pk)
                .order_by(PolicyVersion.version.desc())
            )
        )

    def policy_version(self, policy: ManagedPolicy, version_id: str) -> PolicyVersion:
        names.check_pattern("versionId", version_id, r"v[1-9][0-9]*(\.[A-Za-z0-9-]*)?")
        number = int(version_id[1:].split(".")[0])
        # AWS's pattern allows any length; the column holds 32 bits, and a larger number
        # would fail in the database rather than find nothing.
        version = self.session.get(PolicyVersion, (policy.pk, number)) if number < 2**31 else None
        if version is None:
            raise NoSuchEntityError(
                f"Policy {self.policy_arn(policy)} version {version_id} does not exist or is not "
                "attachable."
            )
        return version

    def default_document(self, policy: ManagedPolicy) -> str:
        version = self.session.get(PolicyVersion, (policy.pk, policy.default_version))
        assert version is not None, "a managed policy always has its default version"
        return version.document

    def create_policy_version(
        self, policy_arn: str, document: str, set_as_default: bool
    ) -> PolicyVersion:
        policy = self.policy(policy_arn)
        validate_policy(document, "identity", names.MANAGED_POLICY_MAX, "PolicySize")
        if len(self.policy_versions(policy)) >= MAX_POLICY_VERSIONS:
            raise LimitExceededError(
                f"A managed policy can have up to {MAX_POLICY_VERSIONS} versions. Before you "
                "create a new version, you must delete an existing version."
            )
        now = self.clock.now()
        version = PolicyVersion(
            policy_pk=policy.pk, version=policy.next_version, document=document, created_at=now
        )
        self.session.add(version)
        policy.next_version += 1
        policy.updated_at = now
        if set_as_default:
            policy.default_version = version.version
        return version

    def set_default_policy_version(self, policy_arn: str, version_id: str) -> None:
        policy = self.policy(policy_arn)
        policy.default_version = self.policy_version(policy, version_id).version
        policy.updated_at = self.clock.now()

    def delete_policy_version(self, policy_arn: str, version_id: str) -> None:
        policy = self.policy(policy_arn)
        version = self.policy_version(policy, version_id)
        if version.version == policy.default_version:
            raise DeleteConflictError("Cannot delete the default version of a policy.")
        self.session.delete(version)

    def delete_policy(self, policy_arn: str) -> None:
        policy = self.policy(policy_arn)
        if self.attachment_count(policy) or self.boundary_usage_count(policy):
            raise DeleteConflictError("Cannot delete a policy attached to entities.")
        if len(self.policy_versions(policy)) > 1:
            raise DeleteConflictError(
                "This policy has more than one version. Before you delete a policy, you must "
                "delete the policy's non-default versions."
            )
        self.session.execute(delete(PolicyVersion).where(PolicyVersion.policy_pk == policy.pk))
        self.untag_all("policy", policy.pk)
        self.session.delete(policy)

    # --- attachments and inline policies (users, groups, roles alike) -----------------

    def owner(self, kind: OwnerKind, name: str) -> User | Group | Role:
        lookup: dict[str, Callable[[str], User | Group | Role]] = {
            "user": self.user,
            "group": self.group,
            "role": self.role,
        }
        return lookup[kind](name)

    def attach_policy(self, kind: OwnerKind, owner_name: str, policy_arn: str) -> None:
        owner = self.owner(kind, owner_name)
        policy = self.policy(policy_arn)
        if self.session.get(PolicyAttachment, (policy.pk, kind, owner.pk)) is not None:
            return
        if len(self.attached_policies(kind, owner.pk)) >= MAX_MANAGED_POLICIES_PER_ENTITY:
            raise LimitExceededError(
                f"Cannot exceed quota for PoliciesPerEntity: {MAX_MANAGED_POLICIES_PER_ENTITY}"
            )
        self.session.add(PolicyAttachment(policy_pk=policy.pk, owner_kind=kind, owner_pk=owner.pk))

    def detach_policy(self, kind: OwnerKind, owner_name: str, policy_arn: str) -> None:
        owner = self.owner(kind, owner_name)
        policy = self.policy(policy_arn)
        attachment = self.session.get(PolicyAttachment, (policy.pk, kind, owner.pk))
        if attachment is None:
            raise NoSuchEntityError(f"Policy {policy_arn} was not found.")
        self.session.delete(attachment)

    def attached_policies(self, kind: OwnerKind, owner_pk: int) -> list[ManagedPolicy]:
        return list(
            self.session.scalars(
                select(ManagedPolicy)
                .join(PolicyAttachment, PolicyAttachment.policy_pk == ManagedPolicy.pk)
                .where(PolicyAttachment.owner_kind == kind, PolicyAttachment.owner_pk == owner_pk)
                .order_by(ManagedPolicy.name_key)
            )
        )

    def put_inline_policy(self, kind: OwnerKind, owner_name: str, name: str, document: str) -> None:
        owner = self.owner(kind, owner_name)
        names.check_name("policyName", name, names.POLICY_NAME_MAX)
        limit = names.INLINE_POLICY_MAX[kind]
        quota = {"user": "UserPolicySize", "group": "GroupPolicySize", "role": "RolePolicySize"}
        validate_policy(document, "identity", limit, quota[kind])
        existing = self.session.get(InlinePolicy, (kind, owner.pk, name.lower()))
        others = sum(
            len(p.document) - sum(c.isspace() for c in p.document)
            for p in self.inline_policies(kind, owner.pk)
            if p.name_key != name.lower()
        )
        if others + sum(not c.isspace() for c in document) > limit:
            raise LimitExceededError(
                f"Maximum policy size of {limit} bytes exceeded for {kind} {owner.name}"
            )
        if existing is None:
            self.session.add(
                InlinePolicy(
                    owner_kind=kind,
                    owner_pk=owner.pk,
                    name_key=name.lower(),
                    name=name,
                    document=document,
                )
            )
        else:
            existing.name, existing.document = name, document

    def inline_policy(
        self, kind: OwnerKind, owner_name: str, name: str
    ) -> tuple[Any, InlinePolicy]:
        owner = self.owner(kind, owner_name)
        names.check_name("policyName", name, names.POLICY_NAME_MAX)
        policy = self.session.get(InlinePolicy, (kind, owner.pk, name.lower()))
        if policy is None:
            raise NoSuchEntityError(f"The {kind} policy with name {name} cannot be found.")
        return owner, policy

    def delete_inline_policy(self, kind: OwnerKind, owner_name: str, name: str) -> None:
        _, policy = self.inline_policy(kind, owner_name, name)
        self.session.delete(policy)

    def inline_policies(self, kind: OwnerKind, owner_pk: int) -> list[InlinePolicy]:
        return list(
            self.session.scalars(
                select(InlinePolicy)
                .where(InlinePolicy.owner_kind == kind, InlinePolicy.owner_pk == owner_pk)
                .order_by(InlinePolicy.name_key)
            )
        )

    def _has_policies(self, kind: OwnerKind, owner_pk: int) -> bool:
        return bool(self.attached_policies(kind, owner_pk) or self.inline_policies(kind, owner_pk))

    # --- permissions boundaries (users and roles) ------------------------------------

    def _boundary(self, policy_arn: str | None) -> ManagedPolicy | None:
        if policy_arn is None:
            return None
        names.check_length("permissionsBoundary", policy_arn, 20, 2048)
        return self.policy(policy_arn)

    def boundary_arn(self, owner: User | Role) -> str | None:
        if owner.boundary_pk is None:
            return None
        policy = cached_get(self.session, ManagedPolicy, owner.boundary_pk)
        assert policy is not None, "a policy in use as a boundary cannot be deleted"
        return self.policy_arn(policy)

    def set_boundary(self, kind: OwnerKind, owner_name: str, policy_arn: str | None) -> None:
        """Put (or, with None, delete) the user's or role's permissions boundary."""
        owner = self.owner(kind, owner_name)
        assert isinstance(owner, User | Role)
        boundary = self._boundary(policy_arn)
        owner.boundary_pk = boundary.pk if boundary else None

    def policy_entities(
        self,
        policy: ManagedPolicy,
        entity_filter: str | None,
        path_prefix: str | None,
        usage: str | None,
    ) -> list[tuple[str, Any]]:
        """ListEntitiesForPolicy: (kind, entity) of each user, group and role the policy
        is attached to (PermissionsPolicy) or bounds (PermissionsBoundary)."""
        kinds = ("User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy")
        if entity_filter not in (None, *kinds):
            raise names.validation_error(
                "entityFilter",
                entity_filter,
                f"Member must satisfy enum value set: [{', '.join(kinds)}]",
            )
        _check_usage_filter(usage)
        prefix = names.check_path_prefix(path_prefix)
        if entity_filter == "AWSManagedPolicy":
            return []  # the policy is the account's own
        found: list[tuple[str, Any]] = []
        models: tuple[tuple[str, Any], ...] = (("user", User), ("group", Group), ("role", Role))
        for kind, model in models:
            if entity_filter in ("User", "Group", "Role") and entity_filter.lower() != kind:
                continue
            uses: list[Any] = []
            if usage != "PermissionsBoundary":
                uses.append(
                    model.pk.in_(
                        select(PolicyAttachment.owner_pk).where(
                            PolicyAttachment.policy_pk == policy.pk,
                            PolicyAttachment.owner_kind == kind,
                        )
                    )
                )
            if usage != "PermissionsPolicy" and model is not Group:
                uses.append(model.boundary_pk == policy.pk)
            if not uses:
                continue  # groups are never bounded
            query = select(model).where(or_(*uses), model.path.startswith(prefix))
            found += [(kind, entity) for entity in self.session.scalars(query)]
        return found

    def boundary_usage_count(self, policy: ManagedPolicy) -> int:
        return sum(
            self.session.scalar(select(func.count()).where(model.boundary_pk == policy.pk)) or 0
            for model in (User, Role)
        )

    # --- what applies to a caller ----------------------------------------------------

    def boundary_document(self, kind: OwnerKind, owner_pk: int) -> str | None:
        """The default version of the user's or role's permissions boundary, if it has one."""

        def load() -> str | None:
            owner: User | Role | None = (
                cached_get(self.session, User, owner_pk)
                if kind == "user"
                else cached_get(self.session, Role, owner_pk)
            )
            if owner is None or owner.boundary_pk is None:
                return None
            policy = cached_get(self.session, ManagedPolicy, owner.boundary_pk)
            # Gone (DeletePolicy refuses a boundary in use, so never expected): fail closed.
            return self.default_document(policy) if policy else _ALLOWS_NOTHING

        return cached(self.session, ("boundary_document", kind, owner_pk), load)

    def policy_documents(self, kind: OwnerKind, owner_pk: int) -> list[str]:
        """Every identity policy of a user (with its groups') or a role, as JSON text."""
        return cached(
            self.session,
            ("policy_documents", kind, owner_pk),
            lambda: self._policy_documents(kind, owner_pk),
        )

    def _policy_documents(self, kind: OwnerKind, owner_pk: int) -> list[str]:
        owners: list[tuple[str, int]] = [(kind, owner_pk)]
        if kind == "user":
            group_pks = self.session.scalars(
                select(GroupMember.group_pk).where(GroupMember.user_pk == owner_pk)
            )
            owners += [("group", pk) for pk in group_pks]
        documents: list[str] = []
        for owner_kind, pk in owners:
            documents += [p.document for p in self.inline_policies(owner_kind, pk)]
            documents += [self.default_document(p) for p in self.attached_policies(owner_kind, pk)]
        return documents
