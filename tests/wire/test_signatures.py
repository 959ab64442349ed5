"""SigV4 at the wire: each way of getting a signature wrong has its own AWS error, and changes nothing."""

from __future__ import annotations

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.conftest import ROOT_KEY
from tests.conftest import ROOT_SECRET
from tests.conftest import Server
from tests.conftest import error_code

BODY = "Action=CreateUser&Version=2010-05-08&UserName=mallory"


def _signed(
    server: Server, body: str = BODY, key: str = ROOT_KEY, secret: str = ROOT_SECRET
) -> AWSRequest:
    req = AWSRequest(
        method="POST",
        url=server.url + "/",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(Credentials(key, secret), "iam", "us-east-1").add_auth(req)
    return req


def _send(req: AWSRequest, body: str | None = None) -> requests.Response:
    return requests.post(
        req.url,
        data=body if body is not None else req.body,
        headers=dict(req.headers.items()),
        timeout=10,
    )


def _no_mallory(iam) -> None:  # type: ignore[no-untyped-def]
    assert "mallory" not in [u["UserName"] for u in iam.list_users()["Users"]]


def test_correct_signature_works(server: Server, iam) -> None:  # type: ignore[no-untyped-def]
    resp = _send(_signed(server, BODY.replace("mallory", "trent")))
    assert resp.status_code == 200 and "<UserName>trent</UserName>" in resp.text
    iam.delete_user(UserName="trent")


def test_wrong_secret(server: Server, iam) -> None:  # type: ignore[no-untyped-def]
    resp = _send(_signed(server, secret="x" * 40))
    assert (resp.status_code, error_code(resp)) == (403, "SignatureDoesNotMatch")
    _no_mallory(iam)


def test_unknown_key(server: Server, iam) -> None:  # type: ignore[no-untyped-def]
    resp = _send(_signed(server, key="AKIAUNKNOWNKEY000000"))
    assert (resp.status_code, error_code(resp)) == (403, "InvalidClientTokenId")
    _no_mallory(iam)


def test_unsigned_call(server: Server, iam) -> None:  # type: ignore[no-untyped-def]
    resp = requests.post(
        server.url + "/",
        data=BODY,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert (resp.status_code, error_code(resp)) == (403, "MissingAuthenticationToken")
    _no_mallory(iam)


def test_tampered_body(server: Server, iam) -> None:  # type: ignore[no-untyped-def]
    req = _signed(server, BODY.replace("mallory", "harmless"))
    resp = _send(req, BODY)
    assert (resp.status_code, error_code(resp)) == (403, "SignatureDoesNotMatch")
    _no_mallory(iam)


def test_incomplete_authorization_header(server: Server, iam) -> None:  # type: ignore[no-untyped-def]
    req = _signed(server)
    req.headers.replace_header(
        "Authorization", req.headers["Authorization"].split(", Signature=")[0]
    )
    resp = _send(req)
    assert (resp.status_code, error_code(resp)) == (400, "IncompleteSignature")
    _no_mallory(iam)


def test_skewed_clock(server: Server, iam) -> None:  # type: ignore[no-untyped-def]
    server.clock.advance(3600)  # the server's clock is an hour ahead of the client's
    resp = _send(_signed(server))
    # STS's answer, which SDKs take as a sign to correct their clock.
    assert (resp.status_code, error_code(resp)) == (403, "SignatureDoesNotMatch")
    assert "Signature expired: " in resp.text and " - 15 min.)" in resp.text
    server.clock.reset()
    _no_mallory(iam)


def test_presigned_get_works_and_expires(server: Server) -> None:
    req = AWSRequest(method="GET", url=server.url + "/?Action=GetCallerIdentity&Version=2011-06-15")
    SigV4QueryAuth(Credentials(ROOT_KEY, ROOT_SECRET), "sts", "us-east-1", expires=60).add_auth(req)
    resp = requests.get(req.url, timeout=10)
    assert resp.status_code == 200 and "arn:aws:iam::111122223333:root" in resp.text
    server.clock.advance(120)
    resp = requests.get(req.url, timeout=10)
    assert resp.status_code == 400 and error_code(resp) == "RequestExpired"
    # A digit Python's isdigit() knows and int() does not: a 400, never a 500.
    resp = requests.get(req.url.replace("X-Amz-Expires=60", "X-Amz-Expires=%C2%B2"), timeout=10)
    assert resp.status_code == 400 and error_code(resp) == "IncompleteSignature"


def test_a_presigned_identity_check_answers_json_when_asked(server: Server) -> None:
    """As AWS STS does for verifiers built on a presigned GetCallerIdentity, like
    aws-iam-authenticator: a signed x-k8s-aws-id header, Accept: application/json."""
    req = AWSRequest(
        method="GET",
        url=server.url + "/?Action=GetCallerIdentity&Version=2011-06-15",
        headers={"x-k8s-aws-id": "my-cluster"},
    )
    SigV4QueryAuth(Credentials(ROOT_KEY, ROOT_SECRET), "sts", "us-east-1", expires=60).add_auth(req)
    asked = {"x-k8s-aws-id": "my-cluster", "accept": "application/json"}
    resp = requests.get(req.url, headers=asked, timeout=10)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/json"
    body = resp.json()["GetCallerIdentityResponse"]
    assert body["GetCallerIdentityResult"] == {
        "UserId": "111122223333",
        "Account": "111122223333",
        "Arn": "arn:aws:iam::111122223333:root",
    }
    assert body["ResponseMetadata"]["RequestId"] == resp.headers["x-amzn-RequestId"]
    # Another cluster's name was not signed: refused, in JSON too.
    refused = requests.get(req.url, headers={**asked, "x-k8s-aws-id": "other"}, timeout=10)
    assert refused.status_code == 403
    assert refused.json()["Error"]["Code"] == "SignatureDoesNotMatch"
    # Only a client that names JSON gets it: not */*, not JSON refused with q=0.
    for accept in ("*/*", "application/json;q=0, text/xml", None):
        plain = {"x-k8s-aws-id": "my-cluster", **({"accept": accept} if accept else {})}
        assert requests.get(req.url, headers=plain, timeout=10).text.startswith("<?xml")
    upper = {"x-k8s-aws-id": "my-cluster", "accept": "APPLICATION/JSON"}
    assert requests.get(req.url, headers=upper, timeout=10).json()["GetCallerIdentityResponse"]


def test_the_host_header_is_verified_as_sent(server: Server) -> None:
    # A proxy's name with the scheme's default port, signed as the client sent it.
    req = AWSRequest(
        method="POST",
        url=server.url + "/",
        data="Action=GetCallerIdentity&Version=2011-06-15",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Host": "fedbridge.example:80",
        },
    )
    SigV4Auth(Credentials(ROOT_KEY, ROOT_SECRET), "sts", "us-east-1").add_auth(req)
    assert _send(req).status_code == 200
    req.headers.replace_header("Host", "fedbridge.example")  # not what was signed
    assert error_code(_send(req)) == "SignatureDoesNotMatch"


def test_wrong_service_scope(server: Server) -> None:
    req = AWSRequest(
        method="POST",
        url=server.url + "/",
        data="Action=GetCallerIdentity&Version=2011-06-15",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    SigV4Auth(Credentials(ROOT_KEY, ROOT_SECRET), "iam", "us-east-1").add_auth(req)
    resp = _send(req)
    assert (resp.status_code, error_code(resp)) == (403, "SignatureDoesNotMatch")


def test_boto3_surfaces_the_codes(server: Server) -> None:
    bad = server.client("sts", ROOT_KEY, "y" * 40)
    with pytest.raises(ClientError) as err:
        bad.get_caller_identity()
    assert err.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert (
        server.client("sts", ROOT_KEY, ROOT_SECRET).get_caller_identity()["Account"]
        == "111122223333"
    )
