"""The client's address when load balancers or reverse proxies stand in front.

Behind a proxy every request's socket peer is the proxy, so per-IP rate limits would
become one limit for everybody and the audit trail would name the proxy. With
FEDBRIDGE_TRUSTED_PROXIES=N, N proxies are said to append the address they saw to
X-Forwarded-For: werkzeug's ProxyFix takes the Nth entry from the right as the
client. Entries further left are whatever the client wrote and are never used, so N
must be exactly the number of proxies. An entry that is not a plain IP address is
dropped and the socket's peer kept: it would otherwise flow into rate-limit keys, audit
rows and aws:SourceIp. The same proxies' X-Forwarded-Proto says whether the client
came over TLS (aws:SecureTransport): a proxy that terminates TLS is the usual front.
Each trusted proxy must then set or overwrite X-Forwarded-Proto; one that passes
the client's along lets a plain-http client claim TLS.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from werkzeug.middleware.proxy_fix import ProxyFix

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment

log = logging.getLogger("fedbridge.proxies")


def trust_forwarded_for(app: WSGIApplication, hops: int) -> WSGIApplication:
    """`app` with REMOTE_ADDR taken from X-Forwarded-For, `hops` proxies deep."""
    return ProxyFix(_addresses_only(app), x_for=hops, x_proto=hops, x_host=0, x_port=0, x_prefix=0)


def _addresses_only(app: WSGIApplication) -> WSGIApplication:
    def checked(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        original = environ.get("werkzeug.proxy_fix.orig", {})
        peer = original.get("REMOTE_ADDR")
        if environ.get("REMOTE_ADDR") != peer and not _is_address(environ.get("REMOTE_ADDR")):
            environ["REMOTE_ADDR"] = peer
            log.warning("X-Forwarded-For entry is not an IP address; using the socket's peer")
        if environ.get("wsgi.url_scheme") not in ("http", "https"):
            environ["wsgi.url_scheme"] = original.get("wsgi.url_scheme", "http")
        return app(environ, start_response)

    return checked


def _is_address(value: str | None) -> bool:
    try:
        address = ipaddress.ip_address(value or "")
    except ValueError:
        return False
    # No IPv6 zone ("fe80::1%eth0"): a client's address has none, and its text is
    # unbounded.
    return getattr(address, "scope_id", None) is None
