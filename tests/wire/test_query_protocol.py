"""The Query protocol's edges: malformed requests get AWS errors in AWS's XML, never a 500."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import ROOT_KEY
from tests.conftest import ROOT_SECRET
from tests.conftest import Server

NS = {"iam": "https://iam.amazonaws.com/doc/2010-05-08/"}


def _post(server: Server, body: str) -> requests.Response:
    req = AWSRequest(
        method="POST",
        url=server.url + "/",
        data=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(Credentials(ROOT_KEY, ROOT_SECRET), "iam", "us-east-1").add_auth(req)
    return requests.post(req.url, data=req.body, headers=dict(req.headers.items()), timeout=10)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("Action=NoSuchThing&Version=2010-05-08", 400, "InvalidAction"),
        ("Version=2010-05-08", 400, "MissingAction"),
        ("Action=GetRole&Version=2010-05-08", 400, "ValidationError"),
        (
            "Action=CreateRole&Version=2010-05-08&RoleName=x&AssumeRolePolicyDocument=%7B&MaxSessionDuration=abc",
            400,
            "ValidationError",
        ),
        ("Action=ListUsers&Version=2010-05-08&MaxItems=0", 400, "ValidationError"),
        ("Action=ListUsers&Version=2010-05-08&Marker=%%%", 400, "ValidationError"),
        ("Action=GetRole&Version=2010-05-08&RoleName=" + "a" * 5000, 400, "ValidationError"),
        ("Action=GetPolicy&Version=2010-05-08&PolicyArn=not-an-arn", 400, "InvalidInput"),
        ("Action=GetUser&Version=2010-05-08&UserName=a&UserName=b", 400, "InvalidParameterValue"),
        (
            "Action=TagRole&Version=2010-05-08&RoleName=x&Tags.member.2.Key=k",
            400,
            "InvalidParameterValue",
        ),
        (
            "Action=CreateUser&Version=2010-05-08&UserName=x&Tags.member.1.Key=k",
            400,
            "ValidationError",
        ),
        (
            "Action=CreateUser&Version=2010-05-08&UserName=x&Tags.member.1.Key=k"
            "&Tags.member.1.Value=v&Tags.member.1.Colour=red",
            400,
            "InvalidParameterValue",
        ),
        (
            "Action=CreatePolicy&Version=2010-05-08&PolicyName=p&PolicyDocument="
            "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%7B%22Effect%22%3A%22Allow"
            "%22%2C%22Action%22%3A%22*%22%2C%22Resource%22%3A%22*%22%2C%22Condition%22%3A%7B"
            "%22NumericLessThan%22%3A%7B%22s3%3Amax-keys%22%3ANaN%7D%7D%7D%7D",
            400,
            "MalformedPolicyDocument",
        ),
        ("Action=GetUser&Version=2011-06-15", 400, "InvalidAction"),
        ("Action=ListUsers&Version=2010-05-08&MaxItems=99999999999999", 400, "ValidationError"),
    ],
    ids=[
        "unknown-action",
        "no-action",
        "missing-param",
        "wrong-type",
        "max-items-zero",
        "garbage-marker",
        "over-long",
        "bad-arn",
        "duplicate-param",
        "gap-in-list",
        "tag-without-value",
        "tag-unknown-field",
        "policy-with-nan",
        "wrong-version",
        "huge-int",
    ],
)
def test_bad_requests(server: Server, body: str, status: int, code: str) -> None:
    resp = _post(server, body)
    assert resp.status_code == status, resp.text
    root = ET.fromstring(resp.content)
    assert root.tag.endswith("ErrorResponse")
    assert root.findtext(".//{*}Code") == code
    assert root.findtext(".//{*}Type") == "Sender"
    assert root.findtext("{*}RequestId")


def test_success_shape_has_request_id(server: Server) -> None:
    resp = _post(server, "Action=ListRoles&Version=2010-05-08")
    root = ET.fromstring(resp.content)
    assert root.tag == "{https://iam.amazonaws.com/doc/2010-05-08/}ListRolesResponse"
    assert root.find("iam:ListRolesResult/iam:IsTruncated", NS) is not None
    assert root.findtext("iam:ResponseMetadata/iam:RequestId", namespaces=NS)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_body_is_an_aws_error(server: Server, chunked: bool) -> None:
    body = b"Action=ListRoles&x=" + b"a" * (2 * 1024 * 1024)
    resp = requests.post(
        server.url + "/",
        # A generator is sent chunked, without a Content-Length to refuse it by.
        data=(body[i : i + 65536] for i in range(0, len(body), 65536)) if chunked else body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )
    assert resp.status_code == 413
    assert ET.fromstring(resp.content).findtext(".//{*}Code") == "RequestEntityTooLarge"


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe\x00garbage",
        b"Action=%ZZ",
        b"Action=ListRoles&" + b"&" * 10000,
        b"=&=&=",
        b"Action=\x00",
        # Echoed in the message: XML 1.0 cannot carry these even escaped.
        b"Action=GetCallerIdentity&Version=2011-06-15&%01%1b=a&%01%1b=b",
        b"Action=AssumeRoleWithWebIdentity&Version=2011-06-15&DurationSeconds=%01",
    ],
    ids=[
        "binary",
        "bad-escape",
        "many-ampersands",
        "empty-keys",
        "nul",
        "control-characters-in-a-name",
        "control-character-in-a-number",
    ],
)
def test_garbage_never_500(server: Server, body: bytes) -> None:
    resp = requests.post(
        server.url + "/",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert 400 <= resp.status_code < 500
    assert ET.fromstring(resp.content).tag.endswith("ErrorResponse")


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/x-www-form-urlencoded; charset=utf-8", 200),
        ("Application/X-WWW-Form-URLEncoded ; charset=UTF-8", 200),
        (None, 200),
        ("application/json", 400),
        ("multipart/form-data; boundary=x", 400),
        ("text/plain; note=application/x-www-form-urlencoded", 400),
    ],
    ids=["form", "form-any-case", "none", "json", "multipart", "form-as-a-parameter"],
)
def test_a_body_must_be_form_encoded(server: Server, content_type: str | None, status: int) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    req = AWSRequest(
        method="POST",
        url=server.url + "/",
        data=b"Action=ListRoles&Version=2010-05-08",
        headers=headers,
    )
    SigV4Auth(Credentials(ROOT_KEY, ROOT_SECRET), "iam", "us-east-1").add_auth(req)
    resp = requests.post(req.url, data=req.body, headers=dict(req.headers.items()), timeout=10)
    assert resp.status_code == status, resp.text
    if status == 400:
        assert ET.fromstring(resp.content).findtext(".//{*}Code") == "InvalidParameterValue"


def test_a_fault_of_ours_is_an_internal_failure_audited_as_an_error(
    server: Server, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from sqlalchemy import select

    from app.api.registry import ACTIONS
    from app.api.registry import ActionSpec
    from app.db.models import AuditEvent

    def broken(call):  # type: ignore[no-untyped-def]
        raise RuntimeError("a bug with a secret-looking detail: hunter22")

    monkeypatch.setitem(ACTIONS, "ListRoles", ActionSpec("iam", "ListRoles", broken))
    resp = _post(server, "Action=ListRoles&Version=2010-05-08")
    assert resp.status_code == 500 and "<Code>InternalFailure</Code>" in resp.text
    assert "hunter22" not in resp.text and "Traceback" not in resp.text
    assert "Traceback" in caplog.text  # for the operator, in the log
    request_id = ET.fromstring(resp.text).findtext("{*}RequestId")
    with server.runtime.sessions() as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.request_id == request_id))
    assert event is not None and (event.outcome, event.reason) == ("error", "internal")


def test_a_refused_federated_call_is_audited_with_its_target(server: Server) -> None:
    """Refused before its handler ran (a parameter left out), an unsigned call's record
    still names the role, and so the account; a RoleArn longer than the audit column is
    cut to fit, where PostgreSQL would otherwise refuse the row and lose the record."""
    from sqlalchemy import select

    from app.db.models import AuditEvent

    role = "arn:aws:iam::111122223333:role/Web"
    sent = [
        {"RoleArn": role, "WebIdentityToken": "not-a-token"},  # no RoleSessionName
        {"RoleArn": role + "x" * 3000, "RoleSessionName": "s1", "WebIdentityToken": "t" * 10},
    ]
    for params in sent:
        body = {"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", **params}
        assert requests.post(server.url + "/", data=body, timeout=10).status_code == 400
    with server.runtime.sessions() as session:
        long_one, missing = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "sts:AssumeRoleWithWebIdentity")
            .order_by(AuditEvent.id.desc())
            .limit(2)
        )
    assert (missing.account_id, missing.resource, missing.error_code) == (
        "111122223333",
        role,
        "ValidationError",
    )
    assert long_one.resource is not None and len(long_one.resource) == 2048
