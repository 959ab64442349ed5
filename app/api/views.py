"""The Query endpoint: `POST /` and `GET /?Action=…` for IAM and STS alike.

The request is turned into plain values here, authenticated, handed to the
registered handler inside one transaction, and answered in AWS's XML. Every
call, allowed or refused, leaves an audit record. Unknown failures become
InternalFailure: logged with a traceback, never sent.

It is a plain WSGI application in front of Flask, which serves every other path:
one endpoint with its own error format needs none of Flask's routing, contexts and
hooks, which cost a cached STS call about a sixth of its CPU (measured in alternating
rounds, one worker: 1.21x web-identity calls, 1.20x GetCallerIdentity, 1.09x SAML).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Request
from werkzeug.wrappers import Response

from app.api import xml
from app.api.auth import authenticate
from app.api.query import QueryParams
from app.api.query import parse_pairs
from app.api.registry import VERSIONS
from app.api.registry import Call
from app.api.registry import lookup
from app.api.sigv4 import IncomingRequest
from app.arn import Arn
from app.audit import AuditRecord
from app.errors import InternalFailureError
from app.errors import InvalidParameterValueError
from app.errors import MissingActionError
from app.errors import RequestEntityTooLargeError
from app.errors import ServiceError
from app.iam.principal import Principal
from app.observability import ENDPOINT
from app.observability import REQUEST_ID
from app.runtime import CallServices
from app.runtime import Runtime
from app.runtime import recording_refusals

log = logging.getLogger("fedbridge.api")

#: The endpoint's name in metrics (it was a Flask view's).
NAME = "api.query_endpoint"
_METHODS = ("GET", "HEAD", "POST")


class QueryEndpoint:
    """WSGI: `/` answered here, every other path passed on to `pages` (Flask)."""

    def __init__(self, runtime: Runtime, pages: Any) -> None:
        self.runtime, self.pages = runtime, pages

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") != "/":
            return self.pages(environ, start_response)
        environ[ENDPOINT] = NAME
        if environ.get("REQUEST_METHOD") not in _METHODS:
            response = not_here(405)
            response.headers["Allow"] = ", ".join(_METHODS)
            return response(environ, start_response)
        request = Request(environ)
        # One byte over the limit is read, so that a chunked body (no Content-Length),
        # which werkzeug cuts at the limit without a word, is seen to be too large.
        request.max_content_length = self.runtime.settings.max_body_bytes + 1
        return handle(self.runtime, request, environ[REQUEST_ID])(environ, start_response)


def not_here(code: int) -> Response:
    """What a path or method nothing serves gets (Flask's 404 and 405 too)."""
    return Response(f"{code}: nothing here\n", status=code, content_type="text/plain")


def _incoming(request: Request, body: bytes, query: list[tuple[str, str]]) -> IncomingRequest:
    return IncomingRequest(
        method=request.method,
        scheme=request.scheme,
        # As sent: werkzeug's request.host drops a default port the client signed.
        host=request.environ.get("HTTP_HOST") or request.host,
        path=request.path,
        query=tuple(query),
        headers=dict(request.headers.items()),
        body=body,
    )


def _query_string(request: Request) -> str:
    try:
        return request.query_string.decode("ascii")
    except UnicodeDecodeError:
        raise InvalidParameterValueError("The query string must be URL-encoded ASCII.") from None


def _form_pairs(request: Request, body: bytes) -> list[tuple[str, str]]:
    if request.method != "POST" or not body:
        return []
    # The media type alone (werkzeug's request.mimetype parses every parameter too).
    content_type = (request.content_type or "").split(";", 1)[0].strip().lower()
    if content_type not in ("", "application/x-www-form-urlencoded"):
        raise InvalidParameterValueError(
            "The body must be application/x-www-form-urlencoded (AWS Query protocol)."
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidParameterValueError("The request body is not valid UTF-8.") from None
    return parse_pairs(text)


#: Actions answered in JSON when the client asks (Accept: application/json), as AWS STS
#: answers them: identity verifiers built on a presigned GetCallerIdentity
#: (aws-iam-authenticator and its kind) ask for JSON and parse nothing else.
_JSON_ACTIONS = frozenset({"GetCallerIdentity"})


def _asks_for_json(request: Request) -> bool:
    """Accept names application/json itself (any case, not with q=0); */* is not asking."""
    return any(
        kind.lower() == "application/json" and quality > 0
        for kind, quality in request.accept_mimetypes
    )


def _json_success(action: str, result: Mapping[str, Any] | None, request_id: str) -> bytes:
    response = {f"{action}Result": result or {}, "ResponseMetadata": {"RequestId": request_id}}
    return json.dumps({f"{action}Response": response}).encode()


def _json_error(err: ServiceError, request_id: str) -> bytes:
    error = {"Type": err.fault, "Code": err.code, "Message": err.message}
    return json.dumps({"Error": error, "RequestId": request_id}).encode()


def handle(runtime: Runtime, request: Request, request_id: str) -> QueryReply:
    service, action_name, caller = "iam", "unknown", None
    call: Call | None = None
    as_json = False
    try:
        try:
            body = request.get_data(cache=True)
            if len(body) > runtime.settings.max_body_bytes:
                raise RequestEntityTooLarge()
        except RequestEntityTooLarge:
            raise RequestEntityTooLargeError(
                f"The request body exceeds {runtime.settings.max_body_bytes} bytes.",
                reason="request.too_large",
            ) from None
        query = parse_pairs(_query_string(request))
        params = QueryParams(query + _form_pairs(request, body))
        version = params.get("Version")
        service = next((s for s, v in VERSIONS.items() if v == version), service)
        name = params.get("Action")
        if not name:
            raise MissingActionError("The request must contain the parameter Action.")
        spec = lookup(name, version)
        service, action_name = spec.service, f"{spec.service}:{spec.name}"
        as_json = spec.name in _JSON_ACTIONS and _asks_for_json(request)
        if not spec.signed:
            runtime.rate_limiter.check("ip", request.remote_addr)
        writes = spec.writes(params)
        with (runtime.sessions if writes else runtime.readers).begin() as session:
            if not writes:
                runtime.config.attach(session)
            if spec.signed:
                caller = authenticate(
                    _incoming(request, body, query), runtime, session, spec.service
                )
            call = Call(
                params=params,
                caller=caller,
                request_id=request_id,
                source_ip=request.remote_addr,
                user_agent=request.user_agent.string[:512] or None,
                secure=request.is_secure,
                services=CallServices(runtime, session, caller.account_id if caller else None),
                # What an unsigned call (a federated sign-in) aims at: its audit record
                # names the role, and so the account, even when refused at once.
                resource=None if spec.signed else params.get("RoleArn"),
            )
            spec.check_required(params)
            if writes and caller is not None:
                call.services.iam.lock_account()  # every count and uniqueness rule holds
            if writes:
                with recording_refusals(session):
                    result = spec.handler(call)
            else:
                result = spec.handler(call)
            if spec.signed and not call.authorized:
                raise RuntimeError(f"handler for {spec.name} never called authorize()")
            record = _record(request, runtime, request_id, action_name, call, caller)
            if writes:
                # The record lands if and only if the call's writes do.
                runtime.audit.add(session, record)
        if not writes:
            runtime.audit.write(record)
        if as_json:
            return QueryReply(_json_success(spec.name, result, request_id), 200, JSON)
        return QueryReply(xml.success(service, spec.name, result, request_id), 200)
    except ServiceError as err:
        return _refuse(
            request, runtime, service, err, request_id, action_name, call, caller, as_json
        )
    except Exception:
        log.exception("internal failure in %s (request %s)", action_name, request_id)
        failure = InternalFailureError(
            "We encountered an internal error. Please try again.", reason="internal"
        )
        return _refuse(
            request, runtime, service, failure, request_id, action_name, call, caller, as_json
        )
    finally:
        # Outside the call's transaction: on SQLite a second writer inside it would wait.
        try:
            runtime.key_usage.flush()
        except Exception:  # the call's answer stands; the key's use is written next hour
            log.exception("could not record access key use (request %s)", request_id)


def _refuse(
    request: Request,
    runtime: Runtime,
    service: str,
    err: ServiceError,
    request_id: str,
    action_name: str,
    call: Call | None,
    caller: Principal | None,
    as_json: bool = False,
) -> QueryReply:
    log.info("refused %s: %s (%s) request %s", action_name, err.code, err.reason, request_id)
    record = _record(request, runtime, request_id, action_name, call, caller, err)
    try:
        runtime.audit.write(record)
    except Exception:
        log.exception("could not write the audit record of request %s", request_id)
    if as_json:
        return QueryReply(_json_error(err, request_id), err.status, JSON)
    return QueryReply(xml.error(service, err, request_id), err.status)


def _record(
    request: Request,
    runtime: Runtime,
    request_id: str,
    action_name: str,
    call: Call | None,
    caller: Principal | None,
    err: ServiceError | None = None,
) -> AuditRecord:
    detail: dict[str, Any] | None = call.audit_detail or None if call else None
    resource = call.resource if call else None
    return AuditRecord(
        at=runtime.clock.now(),
        request_id=request_id,
        action=action_name,
        outcome="allowed" if err is None else _OUTCOMES.get(type(err), "refused"),
        account_id=caller.account_id if caller else _account_of(resource),
        principal=caller.arn if caller else None,
        resource=resource,
        source_ip=request.remote_addr,
        user_agent=request.user_agent.string[:512] or None,
        error_code=err.code if err else None,
        reason=err.reason if err else None,
        detail=detail,
    )


#: A fault of ours is no refusal: `fedbridge audit --outcome error` finds them.
_OUTCOMES: dict[type[ServiceError], str] = {InternalFailureError: "error"}


def _account_of(resource: str | None) -> str | None:
    """The account an unsigned call aims at (its role ARN's), so `fedbridge audit
    --account` lists the federated sign-ins into an account and the attempts on it."""
    arn = Arn.parse(resource) if resource else None
    return arn.account if arn and len(arn.account) == 12 and arn.account.isdigit() else None


JSON = "application/json"


class QueryReply:
    """A Query-protocol reply, sent as WSGI: what werkzeug's Response would send for it
    (HEAD without the body), without the 20 µs its header machinery costs per call."""

    __slots__ = ("body", "content_type", "status")

    def __init__(self, body: bytes, status: int, content_type: str = "text/xml") -> None:
        self.body, self.status, self.content_type = body, status, content_type

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        headers = [
            ("Content-Type", self.content_type),
            ("Content-Length", str(len(self.body))),
            # Error messages quote what a caller sent; no browser may read them as HTML.
            ("X-Content-Type-Options", "nosniff"),
        ]
        start_response(f"{self.status} {HTTP_STATUS_CODES[self.status]}", headers)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [self.body]
