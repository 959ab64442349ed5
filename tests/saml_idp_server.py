"""The test IdP on loopback HTTP, for real browsers: it answers SP-initiated requests and
starts IdP-initiated sign-in with an auto-submitting POST form, as real IdPs do."""

from __future__ import annotations

import base64
import threading
import zlib
from html import escape
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from lxml import etree

from tests.saml_idp import TestIdp


class IdpServer:
    def __init__(self, idp: TestIdp, acs: str, audience: str) -> None:
        self.idp = idp
        self.acs = acs
        self.audience = audience
        #: Keyword arguments for every response this IdP makes (roles, name_id…).
        self.response_kwargs: dict[str, Any] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: nothing left open

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/sso":
                    xml = zlib.decompress(base64.b64decode(query["SAMLRequest"]), -15)
                    request_id = etree.fromstring(xml).get("ID")
                    body = outer._post_form(request_id, query.get("RelayState"))
                elif url.path == "/start":
                    body = outer._post_form(None, None)
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_port}"
        idp.sso_url = self.url + "/sso"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def _post_form(self, request_id: str | None, relay_state: str | None) -> str:
        response = self.idp.response(
            acs=self.acs, audience=self.audience, in_response_to=request_id, **self.response_kwargs
        )
        relay = (
            f'<input type="hidden" name="RelayState" value="{escape(relay_state)}">'
            if relay_state
            else ""
        )
        return (
            '<!doctype html><html><body onload="document.forms[0].submit()">'
            f'<form method="post" action="{escape(self.acs)}">'
            f'<input type="hidden" name="SAMLResponse" value="{response}">{relay}'
            "<noscript><button>Continue</button></noscript></form></body></html>"
        )

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
