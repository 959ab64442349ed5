"""The action registry: `@action("iam", "CreateRole")` binds a handler, so grep finds it.

A handler receives a `Call`, reads its parameters, calls `call.authorize(...)`
with the action and resource before it touches anything, uses the services,
and returns a dict shaped like AWS's `<ActionResult>` (or None for actions
without one). The dispatcher refuses to answer for a signed action whose
handler never authorized: a forgotten check is a 500 in the tests, not a hole.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from app.api.query import QueryParams
from app.api.required import REQUIRED
from app.errors import InvalidActionError
from app.iam import names
from app.iam.principal import Principal
from app.policy.context import ContextValue

VERSIONS = {"iam": "2010-05-08", "sts": "2011-06-15"}

Result = dict[str, Any] | None


@dataclass
class Call:
    params: QueryParams
    caller: Principal | None
    request_id: str
    source_ip: str | None
    user_agent: str | None
    #: True when the request came over TLS (aws:SecureTransport).
    secure: bool
    #: The services this call may use (app.runtime.CallServices).
    services: Any
    #: Set by authorize(); the audit record names it.
    resource: str | None = None
    authorized: bool = False
    #: Extra, non-secret facts for the audit record.
    audit_detail: dict[str, Any] = field(default_factory=dict)

    @property
    def signer(self) -> Principal:
        """The caller of a signed action, always authenticated before its handler runs."""
        if self.caller is None:
            raise RuntimeError("an unsigned request reached a signed action's handler")
        return self.caller

    def authorize(self, action: str, resource: str, **context: ContextValue) -> None:
        """Decide with IAM policy evaluation; AccessDenied unless allowed."""
        self.resource = resource
        self.services.authorize(self, action, resource, context)
        self.authorized = True


Handler = Callable[[Call], Result]


@dataclass(frozen=True)
class ActionSpec:
    service: str
    name: str
    handler: Handler
    #: False only for AssumeRoleWithSAML / AssumeRoleWithWebIdentity.
    signed: bool = True
    #: Whether a call may write (then it runs in a write transaction, and its audit
    #: record lands in it). Calls that only read run beside writers instead.
    writes: Callable[[QueryParams], bool] = lambda params: True
    #: The parameters AWS requires (app.api.required): all checked before the handler
    #: runs, as AWS does.
    required: tuple[str, ...] = ()

    def check_required(self, params: QueryParams) -> None:
        absent = [name for name in self.required if not params.has_member(name)]
        if absent:
            raise names.missing(*absent)


ACTIONS: dict[str, ActionSpec] = {}


def _writes_by_name(name: str) -> Callable[[QueryParams], bool]:
    read_only = name.startswith(("Get", "List"))
    return lambda params: not read_only


def action(
    service: str,
    name: str,
    *,
    signed: bool = True,
    writes: Callable[[QueryParams], bool] | None = None,
) -> Callable[[Handler], Handler]:
    """Register a handler. `writes` defaults to: Get*/List* read, everything else writes."""

    def register(handler: Handler) -> Handler:
        if name in ACTIONS:
            raise RuntimeError(f"action {name} registered twice")
        ACTIONS[name] = ActionSpec(
            service,
            name,
            handler,
            signed,
            writes or _writes_by_name(name),
            REQUIRED.get(name, ()),
        )
        return handler

    return register


def lookup(name: str, version: str | None) -> ActionSpec:
    spec = ACTIONS.get(name)
    if spec is None or (version is not None and VERSIONS[spec.service] != version):
        shown = name[:64] if name.isprintable() else "?"
        raise InvalidActionError(
            f"Could not find operation {shown} for version {(version or 'NO_VERSION')[:16]}"
        )
    return spec


def load_actions() -> None:
    """Import every `app/api/*_actions.py`: importing a module registers its handlers."""
    import app.api

    for module in pkgutil.iter_modules(app.api.__path__):
        if module.name.endswith("_actions"):
            importlib.import_module(f"app.api.{module.name}")
