"""A real OpenID Connect issuer for tests, on 127.0.0.1: discovery and JWKS over HTTP(S).

Keys (RSA 2048 and EC P-256) are made at test time; `rotate()` replaces them
with new ones under new kids; `stop()` takes the issuer off the network.
`token()` mints RS256 or ES256 tokens; `unsigned()` and `hs256_with_public_key()`
build the classic forgeries by hand. Every request is counted per path, so a
test can tell whether (and how often) fedbridge fetched something.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import ssl
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl
from urllib.parse import unquote
from urllib.parse import urlencode
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.jwk import ECKey
from joserfc.jwk import Key
from joserfc.jwk import RSAKey

CLIENT_ID = "sts.amazonaws.com"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64url(json.dumps(value).encode())


def new_rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": f"rsa-{uuid.uuid4().hex[:8]}"})


def new_ec_key() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": f"ec-{uuid.uuid4().hex[:8]}"})


class TlsFiles:
    """A CA and a certificate for 127.0.0.1 it signed; the server presents both."""

    def __init__(self, directory: Path) -> None:
        now = datetime.now(UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test issuer CA")])
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        self.chain = directory / "chain.pem"
        self.chain.write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
        self.key = directory / "key.pem"
        self.key.write_bytes(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        #: What AWS calls the provider's thumbprint: SHA-1 of the top CA certificate.
        self.ca_thumbprint = hashlib.sha1(ca.public_bytes(serialization.Encoding.DER)).hexdigest()


class Issuer:
    def __init__(self, path: str = "", *, tls: bool = False) -> None:
        self.rsa: RSAKey = new_rsa_key()
        self.ec: ECKey = new_ec_key()
        self.requests: Counter[str] = Counter()
        self._tmp = tempfile.TemporaryDirectory()
        self.tls = TlsFiles(Path(self._tmp.name)) if tls else None
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.requests[self.path] += 1
                url = urlsplit(self.path)
                if url.path == f"{issuer._path}/authorize":
                    status, location = issuer.authorize(dict(parse_qsl(url.query)))
                    self.send_response(status)
                    self.send_header("Location", location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = issuer.document(self.path)
                if body is None:
                    self.send_error(404)
                    return
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                issuer.requests[self.path] += 1
                if self.path != f"{issuer._path}/token":
                    self.send_error(404)
                    return
                form = dict(
                    parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode())
                )
                status, body = issuer.exchange(form, self.headers.get("Authorization"))
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in issuer.token_headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        #: Authorization server: registered clients, and what the next sign-in asserts.
        self.clients: dict[str, str] = {}
        self.subject = "user-1234"
        self.extra_claims: dict[str, Any] = {}
        #: RFC 9207: name this issuer (`iss`) in every authorization response, and say so
        #: in discovery (`authorization_response_iss_parameter_supported`).
        self.send_iss = True
        self.advertise_iss = True
        #: A misbehaving token endpoint: its answer replaced (status, body), headers added.
        self.token_answer: tuple[int, bytes] | None = None
        self.token_headers: dict[str, str] = {}
        self._codes: dict[str, dict[str, str]] = {}
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.tls.chain, self.tls.key)
            self.http.socket = context.wrap_socket(self.http.socket, server_side=True)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.http.server_port}{path}"
        #: The provider ARN's resource and the trust-policy condition-key prefix.
        self.key = self.url.split("://", 1)[1]
        self._path = path
        self._thread = threading.Thread(
            target=self.http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    # --- serving -------------------------------------------------------------------

    def document(self, path: str) -> dict[str, Any] | bytes | None:
        if path == f"{self._path}/.well-known/openid-configuration":
            return {
                "issuer": self.url,
                "jwks_uri": f"{self.url}/keys",
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
                **(
                    {"authorization_response_iss_parameter_supported": True}
                    if self.advertise_iss
                    else {}
                ),
            }
        if path == f"{self._path}/keys":
            return {"keys": [self.rsa.as_dict(private=False), self.ec.as_dict(private=False)]}
        return None

    # --- authorization server (code flow with PKCE) -------------------------------------

    def authorize(self, query: dict[str, str]) -> tuple[int, str]:
        """Sign the person in at once (no login page) and send them back with a code."""
        if query.get("client_id") not in self.clients or query.get("response_type") != "code":
            return 302, self.answer(query.get("redirect_uri", ""), error="unauthorized_client")
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return 302, self.answer(
                query["redirect_uri"], error="invalid_request", state=query.get("state", "")
            )
        code = uuid.uuid4().hex
        self._codes[code] = query
        return 302, self.answer(query["redirect_uri"], code=code, state=query.get("state", ""))

    def answer(self, redirect_uri: str, **params: str) -> str:
        """The authorization response: the redirect URI with `params`, and `iss` (RFC 9207)
        when this issuer sends it."""
        if self.send_iss:
            params["iss"] = self.url
        return f"{redirect_uri}?{urlencode(params)}"

    def exchange(
        self, form: dict[str, str], authorization: str | None
    ) -> tuple[int, dict[str, Any] | bytes]:
        """The token endpoint: one use per code, the PKCE verifier checked, the client too."""
        if self.token_answer is not None:
            return self.token_answer
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.startswith("Basic "):
            client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
            client_id, secret = unquote(client_id), unquote(secret)
        request = self._codes.pop(form.get("code", ""), None)
        if request is None:
            return 400, {"error": "invalid_grant", "error_description": "unknown or used code"}
        if self.clients.get(client_id or "") != secret or request["client_id"] != client_id:
            return 401, {"error": "invalid_client"}
        if form.get("redirect_uri") != request["redirect_uri"]:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri"}
        verifier = form.get("code_verifier", "")
        if b64url(hashlib.sha256(verifier.encode()).digest()) != request["code_challenge"]:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        claims = {
            "sub": self.subject,
            "aud": client_id,
            "nonce": request.get("nonce"),
            **self.extra_claims,
        }
        return 200, {
            "access_token": uuid.uuid4().hex,
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": self.token(**claims),
        }

    @property
    def jwks_fetches(self) -> int:
        return self.requests[f"{self._path}/keys"]

    def rotate(self) -> None:
        """New keys under new kids; the old ones are no longer published."""
        self.rsa, self.ec = new_rsa_key(), new_ec_key()

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self._tmp.cleanup()

    # --- minting -------------------------------------------------------------------

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """Default claims of a good token; an override of None removes that claim."""
        now = int(time.time())
        claims = {
            "iss": self.url,
            "sub": "user-1234",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 600,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(
        self,
        *,
        alg: str = "RS256",
        key: Key | None = None,
        header: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        key = key or (self.ec if alg.startswith("ES") else self.rsa)
        head = {"alg": alg, "kid": key.kid, **(header or {})}
        head = {k: v for k, v in head.items() if v is not None}
        return jwt.encode(head, self.claims(**claims), key, algorithms=[alg])

    def unsigned(self, **claims: Any) -> str:
        """alg "none": no signature at all."""
        return f"{b64json({'alg': 'none', 'typ': 'JWT'})}.{b64json(self.claims(**claims))}."

    def hs256_with_public_key(self, **claims: Any) -> str:
        """HMAC keyed with the issuer's public RSA key (the algorithm-confusion forgery)."""
        head = {"alg": "HS256", "typ": "JWT", "kid": self.rsa.kid}
        signing_input = f"{b64json(head)}.{b64json(self.claims(**claims))}"
        secret = self.rsa.as_pem(private=False)
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64url(signature)}"
