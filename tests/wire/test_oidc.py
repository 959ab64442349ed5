"""OpenID Connect over HTTP with boto3: providers, and AssumeRoleWithWebIdentity against a
real issuer on loopback (tests/oidc_issuer.py) serving discovery and JWKS."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import select

from app.db.models import AuditEvent
from app.oidc.jwks import REFRESH_INTERVAL_SECONDS
from tests.conftest import Server
from tests.oidc_issuer import CLIENT_ID
from tests.oidc_issuer import Issuer
from tests.oidc_issuer import b64json
from tests.oidc_issuer import b64url
from tests.oidc_issuer import new_ec_key
from tests.oidc_issuer import new_rsa_key

ACTION = "sts:AssumeRoleWithWebIdentity"
ALLOW_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)
THUMBPRINT = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return err.value.response["Error"]["Code"]


def web_trust(provider_arn: str, *actions: str, **condition: dict) -> str:
    statement: dict = {
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": list(actions or (ACTION,)),
    }
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


class World:
    """An account with an OIDC provider for `issuer` and helpers to make roles and assume them."""

    def __init__(self, server: Server, issuer: Issuer, **provider: object) -> None:
        account = server.new_account()
        self.server, self.issuer, self.account_id = server, issuer, account.account_id
        self.admin = server.client("iam", account.access_key_id, account.secret_access_key)
        # AssumeRoleWithWebIdentity is unsigned: botocore sends no signature at all.
        self.sts = server.client("sts", account.access_key_id, account.secret_access_key)
        provider.setdefault("ClientIDList", [CLIENT_ID])
        self.provider_arn = self.admin.create_open_id_connect_provider(Url=issuer.url, **provider)[
            "OpenIDConnectProviderArn"
        ]

    def role(self, name: str, trust: str | None = None, policy: str = ALLOW_ALL) -> str:
        arn = self.admin.create_role(
            RoleName=name, AssumeRolePolicyDocument=trust or web_trust(self.provider_arn)
        )["Role"]["Arn"]
        self.admin.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=policy)
        return arn

    def assume(self, role_arn: str, token: str, **kwargs: object) -> dict:
        return self.sts.assume_role_with_web_identity(
            RoleArn=role_arn, RoleSessionName="web-session", WebIdentityToken=token, **kwargs
        )

    def refused(self, role_arn: str, token: str, **kwargs: object) -> str:
        with pytest.raises(ClientError) as err:
            self.assume(role_arn, token, **kwargs)
        return _code(err)

    def clients(self, creds: dict) -> tuple:
        args = (creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
        return self.server.client("iam", *args), self.server.client("sts", *args)


def audit(server: Server, resource: str) -> list[AuditEvent]:
    with server.runtime.sessions() as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == ACTION, AuditEvent.resource == resource)
                .order_by(AuditEvent.id)
            )
        )


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    # A path in the issuer URL, as Keycloak and EKS have: it is part of the ARN and keys.
    issuer = Issuer("/tenant-1")
    yield issuer
    issuer.stop()


@pytest.fixture(scope="module")
def world(server: Server, issuer: Issuer) -> World:
    return World(server, issuer)


@pytest.fixture(scope="module")
def web_role(world: World) -> str:
    return world.role("Web")


# --- providers -----------------------------------------------------------------------


def test_provider_lifecycle(server: Server, account) -> None:  # type: ignore[no-untyped-def]
    iam = server.client("iam", account.access_key_id, account.secret_access_key)
    url = "https://token.example.com/path"
    created = iam.create_open_id_connect_provider(
        Url=url,
        ClientIDList=["sts.amazonaws.com"],
        ThumbprintList=[THUMBPRINT.upper()],
        Tags=[{"Key": "team", "Value": "blue"}],
    )
    arn = created["OpenIDConnectProviderArn"]
    assert arn == f"arn:aws:iam::{account.account_id}:oidc-provider/token.example.com/path"
    assert created["Tags"] == [{"Key": "team", "Value": "blue"}]

    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert got["Url"] == "token.example.com/path"  # AWS answers it without the scheme
    assert got["ClientIDList"] == ["sts.amazonaws.com"]
    assert got["ThumbprintList"] == [THUMBPRINT]
    assert got["Tags"] == [{"Key": "team", "Value": "blue"}]
    assert got["CreateDate"]
    assert iam.list_open_id_connect_providers()["OpenIDConnectProviderList"] == [{"Arn": arn}]

    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="web")
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="web")
    iam.remove_client_id_from_open_id_connect_provider(
        OpenIDConnectProviderArn=arn, ClientID="sts.amazonaws.com"
    )
    iam.remove_client_id_from_open_id_connect_provider(
        OpenIDConnectProviderArn=arn, ClientID="never-there"
    )
    iam.update_open_id_connect_provider_thumbprint(
        OpenIDConnectProviderArn=arn, ThumbprintList=["a" * 40, "b" * 40]
    )
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert got["ClientIDList"] == ["web"]
    assert got["ThumbprintList"] == ["a" * 40, "b" * 40]

    iam.tag_open_id_connect_provider(
        OpenIDConnectProviderArn=arn,
        Tags=[{"Key": "env", "Value": "prod"}, {"Key": "zone", "Value": "1"}],
    )
    iam.untag_open_id_connect_provider(OpenIDConnectProviderArn=arn, TagKeys=["zone"])
    first = iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=arn, MaxItems=1)
    assert first["Tags"] == [{"Key": "env", "Value": "prod"}] and first["IsTruncated"]
    rest = iam.list_open_id_connect_provider_tags(
        OpenIDConnectProviderArn=arn, Marker=first["Marker"]
    )
    assert rest["Tags"] == [{"Key": "team", "Value": "blue"}] and not rest["IsTruncated"]

    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    with pytest.raises(ClientError) as err:
        iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert _code(err) == "NoSuchEntity"
    assert iam.list_open_id_connect_providers()["OpenIDConnectProviderList"] == []
    # Its tags went with it: a provider at the same URL starts bare.
    iam.create_open_id_connect_provider(Url=url)
    assert "Tags" not in iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"Url": "http://token.example.com"}, "InvalidInput"),  # plain http off loopback
        ({"Url": "token.example.com"}, "InvalidInput"),
        ({"Url": "https://token.example.com/?x=1"}, "InvalidInput"),
        ({"Url": "https://token.example.com/#f"}, "InvalidInput"),
        ({"Url": "https://u:p@token.example.com"}, "InvalidInput"),
        ({"Url": "https://token.example.com/t\u00e9"}, "InvalidInput"),  # not sendable as is
        ({"Url": "https://" + "a" * 250 + ".com"}, "ValidationError"),
        ({"Url": "https://x.example.com", "ThumbprintList": ["abc"]}, "ValidationError"),
        ({"Url": "https://x.example.com", "ThumbprintList": ["g" * 40]}, "ValidationError"),
        (
            {"Url": "https://x.example.com", "ThumbprintList": [f"{i}" * 40 for i in range(6)]},
            "LimitExceeded",
        ),
        ({"Url": "https://x.example.com", "ClientIDList": ["c" * 256]}, "ValidationError"),
        (
            {"Url": "https://x.example.com", "ClientIDList": [f"c{i}" for i in range(101)]},
            "LimitExceeded",
        ),
    ],
)
def test_provider_validation(server: Server, account, kwargs: dict, code: str) -> None:  # type: ignore[no-untyped-def]
    iam = server.client("iam", account.access_key_id, account.secret_access_key)
    with pytest.raises(ClientError) as err:
        iam.create_open_id_connect_provider(**kwargs)
    assert _code(err) == code
    assert iam.list_open_id_connect_providers()["OpenIDConnectProviderList"] == []


def test_provider_conflicts_and_lookups(server: Server, account) -> None:  # type: ignore[no-untyped-def]
    iam = server.client("iam", account.access_key_id, account.secret_access_key)
    iam.create_open_id_connect_provider(Url="https://a.example.com")
    with pytest.raises(ClientError) as err:
        iam.create_open_id_connect_provider(Url="https://a.example.com")
    assert _code(err) == "EntityAlreadyExists"
    for arn, code in (
        ("arn:aws:iam::123456789012:role/NotAProvider", "InvalidInput"),
        (f"arn:aws:iam::{account.account_id}:oidc-provider/b.example.com", "NoSuchEntity"),
        ("arn:aws:iam::999999999999:oidc-provider/a.example.com", "NoSuchEntity"),
    ):
        with pytest.raises(ClientError) as err:
            iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
        assert _code(err) == code


def test_provider_actions_need_permission(server: Server, account) -> None:  # type: ignore[no-untyped-def]
    iam = server.client("iam", account.access_key_id, account.secret_access_key)
    iam.create_user(UserName="bob")
    key = iam.create_access_key(UserName="bob")["AccessKey"]
    bob = server.client("iam", key["AccessKeyId"], key["SecretAccessKey"])
    with pytest.raises(ClientError) as err:
        bob.create_open_id_connect_provider(Url="https://a.example.com")
    assert _code(err) == "AccessDenied"
    assert iam.list_open_id_connect_providers()["OpenIDConnectProviderList"] == []


# --- AssumeRoleWithWebIdentity -----------------------------------------------------------


def test_web_identity_credentials_work(world: World, web_role: str, issuer: Issuer) -> None:
    token = issuer.token(sub="ci-pipeline-7")
    resp = world.assume(web_role, token)
    assert resp["SubjectFromWebIdentityToken"] == "ci-pipeline-7"
    assert resp["Audience"] == CLIENT_ID
    assert resp["Provider"] == world.provider_arn
    assert world.provider_arn.endswith(f":oidc-provider/{issuer.key}")
    session_arn = f"arn:aws:sts::{world.account_id}:assumed-role/Web/web-session"
    assert resp["AssumedRoleUser"]["Arn"] == session_arn
    creds = resp["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["SecretAccessKey"]) == 40
    iam, sts = world.clients(creds)
    assert sts.get_caller_identity()["Arn"] == session_arn
    iam.list_roles()
    # The same token again: web identity tokens stay reusable until they expire.
    again = world.assume(web_role, token)
    assert again["Credentials"]["AccessKeyId"] != creds["AccessKeyId"]


def test_es256_token(world: World, web_role: str, issuer: Issuer) -> None:
    resp = world.assume(web_role, issuer.token(alg="ES256", sub="es-user"))
    assert resp["SubjectFromWebIdentityToken"] == "es-user"


def test_session_policy_and_duration(world: World, web_role: str, issuer: Issuer) -> None:
    narrow = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}],
        }
    )
    resp = world.assume(web_role, issuer.token(), Policy=narrow, DurationSeconds=900)
    assert 850 < resp["Credentials"]["Expiration"].timestamp() - time.time() <= 900
    assert resp["PackedPolicySize"] > 0
    iam, _ = world.clients(resp["Credentials"])
    iam.list_roles()
    with pytest.raises(ClientError) as err:
        iam.list_users()
    assert _code(err) == "AccessDenied"


def test_kubernetes_service_account_token(world: World, issuer: Issuer) -> None:
    sub = "system:serviceaccount:payments:ledger"
    role = world.role(
        "Ledger",
        trust=web_trust(
            world.provider_arn,
            StringEquals={f"{issuer.key}:sub": sub, f"{issuer.key}:aud": CLIENT_ID},
        ),
    )
    now = int(time.time())

    def k8s_token(subject: str) -> str:
        namespace, name = subject.split(":")[2:]
        return issuer.token(
            sub=subject,
            aud=[CLIENT_ID],
            nbf=now,
            **{
                "kubernetes.io": {
                    "namespace": namespace,
                    "pod": {"name": f"{name}-7d9f", "uid": str(uuid.uuid4())},
                    "serviceaccount": {"name": name, "uid": str(uuid.uuid4())},
                }
            },
        )

    token = k8s_token(sub)
    for _ in range(2):  # the kubelet hands the same projected token out for its lifetime
        assert world.assume(role, token)["SubjectFromWebIdentityToken"] == sub
    assert world.refused(role, k8s_token("system:serviceaccount:payments:other")) == "AccessDenied"


def test_session_tags_from_the_token(world: World, issuer: Issuer) -> None:
    tags_claim = {
        "https://aws.amazon.com/tags": {
            "principal_tags": {"team": ["blue"], "cost": ["42"]},
            "transitive_tag_keys": ["team"],
        },
        "https://aws.amazon.com/source_identity": "alice",
    }
    blue_only = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "iam:ListRoles",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:PrincipalTag/team": "blue"}},
                }
            ],
        }
    )
    tagged = world.role(
        "Tagged",
        trust=web_trust(world.provider_arn, ACTION, "sts:TagSession", "sts:SetSourceIdentity"),
        policy=blue_only,
    )
    resp = world.assume(tagged, issuer.token(**tags_claim))
    assert resp["SourceIdentity"] == "alice"
    assert resp["PackedPolicySize"] > 0
    iam, _ = world.clients(resp["Credentials"])
    iam.list_roles()  # allowed only for sessions tagged team=blue
    # Without sts:TagSession in the trust policy, a token with tags is refused.
    untagged = world.role("NoTags")
    assert world.refused(untagged, issuer.token(**tags_claim)) == "AccessDenied"
    # A transitive key must name one of the session's tags, as for AssumeRole.
    stray = {"principal_tags": {"team": ["blue"]}, "transitive_tag_keys": ["zz"]}
    stray_token = issuer.token(**{"https://aws.amazon.com/tags": stray})
    assert world.refused(tagged, stray_token) == "ValidationError"
    # And a source identity needs sts:SetSourceIdentity there.
    no_source = world.role(
        "NoSource", trust=web_trust(world.provider_arn, ACTION, "sts:TagSession")
    )
    assert world.refused(no_source, issuer.token(**tags_claim)) == "AccessDenied"
    assert world.assume(
        no_source,
        issuer.token(**{"https://aws.amazon.com/tags": tags_claim["https://aws.amazon.com/tags"]}),
    )
    assert (
        world.refused(
            tagged, issuer.token(**{"https://aws.amazon.com/tags": {"principal_tags": {"a": [1]}}})
        )
        == "InvalidIdentityToken"
    )


def test_mfa_required_by_tag(world: World, issuer: Issuer) -> None:
    role = world.role("Strict")
    world.admin.tag_role(
        RoleName="Strict", Tags=[{"Key": "fedbridge:require-mfa", "Value": "true"}]
    )
    assert world.refused(role, issuer.token(amr=["pwd"])) == "AccessDenied"
    world.assume(role, issuer.token(amr=["pwd", "mfa"]))


def test_accepted_mfa_values_are_configurable_per_provider(server: Server, issuer: Issuer) -> None:
    world = World(
        server, issuer, Tags=[{"Key": "fedbridge:mfa-contexts", "Value": "urn:corp:loa:3"}]
    )
    role = world.role("Strict")
    world.admin.tag_role(
        RoleName="Strict", Tags=[{"Key": "fedbridge:require-mfa", "Value": "true"}]
    )
    world.assume(role, issuer.token(acr="urn:corp:loa:3"))
    # The configured list replaces the defaults.
    assert world.refused(role, issuer.token(amr=["mfa"])) == "AccessDenied"


def test_role_must_trust_the_provider(world: World, issuer: Issuer, server: Server) -> None:
    other = world.role("OtherIdp", trust=web_trust(world.provider_arn.replace("tenant-1", "x")))
    assert world.refused(other, issuer.token()) == "AccessDenied"
    missing = f"arn:aws:iam::{world.account_id}:role/Missing"
    assert world.refused(missing, issuer.token()) == "AccessDenied"
    # A role in another account: its account has no provider for this issuer.
    stranger = World(server, Issuer())  # a provider for some other issuer only
    role = stranger.role("Stranger")
    assert stranger.refused(role, issuer.token()) == "InvalidIdentityToken"
    stranger.issuer.stop()


def test_provider_id_and_parameters(world: World, web_role: str, issuer: Issuer) -> None:
    code = world.refused(web_role, issuer.token(), ProviderId="www.amazon.com")
    assert code == "InvalidParameterValue"
    with pytest.raises(ClientError) as err:
        world.sts.assume_role_with_web_identity(
            RoleArn=web_role, RoleSessionName="bad name!", WebIdentityToken=issuer.token()
        )
    assert _code(err) == "ValidationError"


def _forged(issuer: Issuer, *, embed: bool = False) -> str:
    """Signed by a key the issuer never published: under the issuer's own kid, or with
    no kid and the forger's key in a `jwk` header."""
    key = new_rsa_key()
    if embed:
        return issuer.token(key=key, header={"kid": None, "jwk": key.as_dict(private=False)})
    return issuer.token(key=key, header={"kid": issuer.rsa.kid})


def _nested_header(issuer: Issuer) -> str:
    """A header nested 3,000 deep (8 KB): Python's JSON reader gives up with RecursionError."""
    header = b'{"alg":"RS256","x":' + b"[" * 3000 + b"]" * 3000 + b"}"
    return f"{b64url(header)}.{b64json(issuer.claims())}.x"


HOUR = 3600
#: id -> (how to make the token from the issuer and an attacker's issuer, audit reason).
HOSTILE = {
    "alg-none": (lambda i, a: i.unsigned(), "jwt.alg_not_allowed"),
    "hs256-public-key": (lambda i, a: i.hs256_with_public_key(), "jwt.alg_not_allowed"),
    "unknown-key": (lambda i, a: _forged(i), "jwt.bad_signature"),
    "jwk-header": (lambda i, a: _forged(i, embed=True), "jwt.bad_signature"),
    # The attacker's own issuer, named by a `jku` header: never fetched.
    "jku-header": (
        lambda i, a: a.token(header={"jku": f"{a.url}/keys", "kid": a.rsa.kid}, iss=i.url),
        "jwt.unknown_kid",
    ),
    "wrong-iss": (lambda i, a: i.token(iss=a.url), "jwt.iss_unknown"),
    "iss-with-nul": (lambda i, a: i.token(iss=i.url + "\x00"), "jwt.iss_unknown"),
    "iss-trailing-slash": (lambda i, a: i.token(iss=i.url + "/"), "jwt.iss_unknown"),
    "wrong-aud": (lambda i, a: i.token(aud="someone-else"), "jwt.aud_mismatch"),
    "no-aud": (lambda i, a: i.token(aud=None), "jwt.no_aud"),
    "no-aud-unlisted-azp": (lambda i, a: i.token(aud=None, azp="other"), "jwt.aud_mismatch"),
    "expired": (lambda i, a: i.token(exp=int(time.time()) - HOUR), "jwt.expired"),
    "no-exp": (lambda i, a: i.token(exp=None), "jwt.bad_exp"),
    "exp-not-a-number": (lambda i, a: i.token(exp="tomorrow"), "jwt.bad_exp"),
    "exp-beyond-any-date": (lambda i, a: i.token(exp=10**400), "jwt.bad_exp"),
    "not-yet-valid": (lambda i, a: i.token(nbf=int(time.time()) + HOUR), "jwt.not_yet_valid"),
    "issued-in-future": (lambda i, a: i.token(iat=int(time.time()) + HOUR), "jwt.issued_in_future"),
    "no-sub": (lambda i, a: i.token(sub=None), "jwt.no_sub"),
    # Signed by the issuer, but no subject identifier (OIDC Core: at most 255 characters),
    # and nothing an answer can echo.
    "sub-with-controls": (lambda i, a: i.token(sub="user\x01\x1b[31m"), "jwt.bad_sub"),
    "sub-too-long": (lambda i, a: i.token(sub="s" * 256), "jwt.bad_sub"),
    "garbage": (lambda i, a: "garbage", "jwt.malformed"),
    "not-json": (lambda i, a: "a.b.c", "jwt.malformed"),
    "header-a-list": (lambda i, a: f"{b64json(['alg'])}.{b64json(i.claims())}.x", "jwt.malformed"),
    "tampered": (lambda i, a: i.token()[:-8] + "AAAAAAAA", "jwt.bad_signature"),
    "header-nested-json": (lambda i, a: _nested_header(i), "jwt.malformed"),
    # AWS accepts RS256/384/512 and ES256/384/512 only.
    "ps256": (lambda i, a: i.token(alg="PS256"), "jwt.alg_not_allowed"),
    "too-large": (lambda i, a: "a" * 25000, "ValidationError"),
    "one-megabyte": (lambda i, a: "a" * 1_000_000, "ValidationError"),
}
CODES = {"jwt.expired": "ExpiredTokenException", "ValidationError": "ValidationError"}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_tokens_are_refused(
    world: World, web_role: str, issuer: Issuer, server: Server, case: str
) -> None:
    make, reason = HOSTILE[case]
    attacker = Issuer()
    try:
        token = make(issuer, attacker)
        before = len(audit(server, web_role))
        assert world.refused(web_role, token) == CODES.get(reason, "InvalidIdentityToken")
        events = audit(server, web_role)[before:]
        assert [(e.outcome, e.reason) for e in events] == [("refused", reason)]
        assert sum(attacker.requests.values()) == 0  # keys come from the issuer, never the token
    finally:
        attacker.stop()


def test_a_listed_azp_admits_the_token(world: World, web_role: str, issuer: Issuer) -> None:
    # Google's ID tokens name the web client in azp and may carry another aud.
    creds = world.assume(web_role, issuer.token(aud="another-client", azp=CLIENT_ID))
    assert creds["AssumedRoleUser"]["Arn"].startswith("arn:aws:sts::")
    world.assume(web_role, issuer.token(aud=None, azp=CLIENT_ID))  # the contract: aud or azp


def test_missing_claims_are_named_as_aws_names_them(
    world: World, web_role: str, issuer: Issuer
) -> None:
    for claim in ("aud", "sub", "exp"):
        with pytest.raises(ClientError) as err:
            world.assume(web_role, issuer.token(**{claim: None}))
        assert err.value.response["Error"]["Message"] == f"Missing a required claim: {claim}"


def test_expired_by_the_server_clock(
    world: World, web_role: str, issuer: Issuer, server: Server
) -> None:
    token = issuer.token()  # exp in 10 minutes
    server.clock.advance(600 + 30)  # within the 60 s skew: still good
    world.assume(web_role, token)
    server.clock.advance(60)
    assert world.refused(web_role, token) == "ExpiredTokenException"


def test_deleted_provider_vouches_for_nobody(server: Server, issuer: Issuer) -> None:
    world = World(server, issuer)
    role = world.role("Gone")
    world.assume(role, issuer.token())
    world.admin.delete_open_id_connect_provider(OpenIDConnectProviderArn=world.provider_arn)
    assert world.refused(role, issuer.token()) == "InvalidIdentityToken"


def test_audit_records_accepted_and_refused_tokens(
    world: World, issuer: Issuer, server: Server
) -> None:
    role = world.role("Audited")
    token = issuer.token(sub="audited-sub")
    issued = world.assume(role, token)["Credentials"]["AccessKeyId"]
    world.refused(role, issuer.token(sub="audited-sub", aud="elsewhere"))
    accepted, refused = audit(server, role)
    assert accepted.outcome == "allowed" and accepted.reason is None
    # Unsigned, yet filed under the account the role belongs to (fedbridge audit --account).
    assert accepted.account_id == refused.account_id == world.account_id
    assert accepted.detail["provider"] == world.provider_arn
    assert accepted.detail["subject"] == "audited-sub"
    assert accepted.detail["audience"] == CLIENT_ID
    assert accepted.detail["issued_access_key_id"] == issued
    assert (refused.outcome, refused.error_code, refused.reason) == (
        "refused",
        "InvalidIdentityToken",
        "jwt.aud_mismatch",
    )
    for event in (accepted, refused):
        assert token.split(".")[2] not in json.dumps(event.detail or {})


# --- the issuer's keys: rotation, rate limit, outages, TLS ------------------------------


def test_key_rotation_without_restart(server: Server) -> None:
    issuer = Issuer()
    try:
        world = World(server, issuer)
        role = world.role("Rotating")
        old = issuer.token()
        world.assume(role, old)
        world.assume(role, issuer.token(alg="ES256"))
        assert issuer.jwks_fetches == 1  # cached
        issuer.rotate()
        server.clock.advance(REFRESH_INTERVAL_SECONDS + 1)
        world.assume(role, issuer.token())  # an unknown kid: the keys are fetched again
        world.assume(role, issuer.token(alg="ES256"))
        assert issuer.jwks_fetches == 2
        assert world.refused(role, old) == "InvalidIdentityToken"  # its key is gone
        # …but at most once per interval per issuer: a flood of random kids costs nothing.
        for _ in range(20):
            forged = issuer.token(header={"kid": uuid.uuid4().hex})
            assert world.refused(role, forged) == "InvalidIdentityToken"
        assert issuer.jwks_fetches == 2
        server.clock.advance(REFRESH_INTERVAL_SECONDS + 1)
        assert world.refused(role, issuer.token(header={"kid": "x"})) == "InvalidIdentityToken"
        assert issuer.jwks_fetches == 3
    finally:
        issuer.stop()


def test_issuer_down_fails_fast(server: Server) -> None:
    issuer = Issuer()
    world = World(server, issuer)
    role = world.role("Down")
    token = issuer.token()
    issuer.stop()
    started = time.monotonic()
    assert world.refused(role, token) == "IDPCommunicationError"
    assert world.refused(role, token) == "IDPCommunicationError"
    assert time.monotonic() - started < 5
    assert audit(server, role)[-1].reason == "oidc.unreachable"


def test_issuer_that_never_answers_times_out(server: Server) -> None:
    # Accepts connections (the kernel's backlog) and never says a word.
    silent = socket.create_server(("127.0.0.1", 0))
    issuer = Issuer()
    issuer.url = f"http://127.0.0.1:{silent.getsockname()[1]}"  # the tokens' iss, the provider
    try:
        world = World(server, issuer)
        role = world.role("Silent")
        started = time.monotonic()
        assert world.refused(role, issuer.token()) == "IDPCommunicationError"
        assert time.monotonic() - started < 5
    finally:
        issuer.stop()
        silent.close()


def test_https_issuer_pinned_by_thumbprint(server: Server) -> None:
    issuer = Issuer(tls=True)
    assert issuer.tls is not None
    try:
        world = World(server, issuer)  # no thumbprints: the system CAs do not know it
        role = world.role("Pinned")
        assert world.refused(role, issuer.token()) == "InvalidIdentityToken"
        assert audit(server, role)[-1].reason == "oidc.tls_untrusted"
        world.admin.update_open_id_connect_provider_thumbprint(
            OpenIDConnectProviderArn=world.provider_arn, ThumbprintList=[THUMBPRINT]
        )
        assert world.refused(role, issuer.token()) == "InvalidIdentityToken"
        assert audit(server, role)[-1].reason == "oidc.thumbprint_mismatch"
        world.admin.update_open_id_connect_provider_thumbprint(
            OpenIDConnectProviderArn=world.provider_arn,
            ThumbprintList=[THUMBPRINT, issuer.tls.ca_thumbprint],
        )
        world.assume(role, issuer.token())
    finally:
        issuer.stop()


def test_unreadable_issuer_documents_are_refusals_not_failures(server: Server) -> None:
    issuer = Issuer()
    issuer.document = lambda path: b"[" * 100_000  # type: ignore[method-assign]
    try:
        world = World(server, issuer)
        role = world.role("Unreadable")
        for _ in range(2):  # and again while the failed fetch is on hold
            assert world.refused(role, issuer.token()) == "InvalidIdentityToken"
    finally:
        issuer.stop()


def test_keys_are_counted_per_type(server: Server) -> None:
    issuer = Issuer()
    published = issuer.document

    def hundred_ec_keys_first(path: str):  # type: ignore[no-untyped-def]
        doc = published(path)
        if isinstance(doc, dict) and "keys" in doc:
            doc["keys"] = [new_ec_key().as_dict(private=False) for _ in range(100)] + doc["keys"]
        return doc

    issuer.document = hundred_ec_keys_first  # type: ignore[method-assign]
    try:
        world = World(server, issuer)
        # AWS reads up to 100 RSA and 100 EC keys: the RSA key after 100 EC ones counts.
        assert world.assume(world.role("ManyKeys"), issuer.token())["Credentials"]
    finally:
        issuer.stop()
