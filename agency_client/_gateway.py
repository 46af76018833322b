"""The responder gateway: a small local HTTP/JSON endpoint and a mobile-friendly page.

Standard library only (:mod:`http.server` with a bounded thread pool): the gateway
serves a handful of routes on loopback, and a framework would add dependencies
to patch without adding anything it needs.

Routes:

* ``GET /``: the page (a form posting to ``/lookup``).
* ``POST /lookup``: form-encoded query, answers with the page and result cards.
* ``POST /api/v1/lookup``: JSON query for CAD integrations, answers JSON.
* ``GET /healthz``: ``{"status": "ok"}``.

Safety rules:

* Binds to loopback by default. Any other address needs a bearer token (read from a
  0600 file or an environment variable); the API checks ``Authorization: Bearer``,
  the page asks for it as an access code. Comparisons are constant-time.
* Cross-origin posts are refused (``Origin`` must match ``Host``; ``null`` is refused
  too), and on loopback the ``Host`` must be a loopback name, which blocks DNS
  rebinding. The page sets ``Referrer-Policy: same-origin``, not ``no-referrer``,
  because browsers send ``Origin: null`` for form posts from a no-referrer page.
* Identifiers travel only in request bodies. Access logs carry the method, the
  path without query, the status and the duration, never a body or query string.
* Answers never show scores or CLKs; "nothing known" and "nothing you may see"
  are the same answer.
"""

from __future__ import annotations

import base64
import hmac
import http.server
import json
import logging
import os
import socket
import stat
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from agency_client._client_config import GatewaySettings, is_host_port, is_loopback_listen
from agency_client._gateway_page import NO_INFORMATION, render_page
from agency_client._matcher import consent_from_proto
from agency_client._query import QueryEncoder
from linkage.consent import Purpose
from linkage.errors import ConfigError, InvalidInputError, LinkageError
from linkage.v1 import lookup_pb2

__all__ = [
    "GatewayApp",
    "GatewayServer",
    "LookupFunction",
    "load_gateway_token",
    "start_gateway",
]

_log = logging.getLogger("agency_client.gateway")
_MAX_BODY: Final = 16 * 1024
_LOOPBACK_NAMES: Final = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})

LookupFunction = Callable[[lookup_pb2.LookupRequest], lookup_pb2.LookupResponse]


def load_gateway_token(settings: GatewaySettings, environ: Mapping[str, str]) -> str | None:
    """The bearer token, from the 0600 file or the variable the settings name (or ``None``)."""
    if settings.token_env is not None:
        value = environ.get(settings.token_env, "")
        if len(value) < 16:
            raise ConfigError(
                f"environment variable {settings.token_env} must hold a token of at least "
                "16 characters ([gateway] token_env)"
            )
        return value
    if settings.token_file is None:
        return None
    path = settings.token_file
    try:
        info = path.stat()
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the gateway token ({exc.strerror})") from None
    if info.st_mode & 0o077:
        raise ConfigError(
            f"{path}: the gateway token file is accessible by group or others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}); run chmod 600 on it"
        )
    if len(text) < 16:
        raise ConfigError(f"{path}: the gateway token must be at least 16 characters")
    return text


@dataclass(frozen=True, slots=True)
class GatewayApp:
    """The gateway's behaviour without HTTP: encode, look up, shape the answer."""

    agency_name: str
    encoder: QueryEncoder
    lookup: LookupFunction
    key_epoch: int
    fingerprint: str
    purpose: Purpose
    max_links: int = 5
    token: str | None = field(default=None, repr=False)

    @property
    def auth_required(self) -> bool:
        return self.token is not None

    def authorised(self, presented: str | None) -> bool:
        if self.token is None:
            return True
        if not presented:
            return False
        return hmac.compare_digest(presented.encode("utf-8"), self.token.encode("utf-8"))

    def run_lookup(self, query: Mapping[str, object]) -> list[dict[str, object]]:
        """Disclosed records, one dict per record (best link first); ``[]`` when none."""
        values = dict(query)
        purpose = self.purpose
        requested = values.pop("purpose", None)
        if requested not in (None, ""):
            try:
                purpose = Purpose(str(requested))
            except ValueError:
                known = ", ".join(p.value for p in Purpose)
                raise InvalidInputError(f"purpose must be one of {known}") from None
        clk = self.encoder.encode(values)
        try:
            response = self.lookup(
                lookup_pb2.LookupRequest(
                    clk=clk,
                    key_epoch=self.key_epoch,
                    schema_fingerprint=self.fingerprint,
                    purpose=purpose.value,
                    max_links=self.max_links,
                )
            )
        except InvalidInputError as exc:
            if "implausible" in exc.message:
                raise InvalidInputError(
                    "the query holds too few details to be matched reliably; add the phone "
                    "number and the address (street, suburb, postcode, state)"
                ) from None
            raise
        results: list[dict[str, object]] = []
        for link in response.links:
            for record in link.records:
                consent = consent_from_proto(record.consent)
                results.append(
                    {
                        "link": link.link,
                        "agency": record.agency.removeprefix("agencies/"),
                        "display_name": record.contact_card.display_name,
                        "instructions": record.contact_card.instructions,
                        "phone_number": record.contact_card.phone_number,
                        "pointer_token": base64.urlsafe_b64encode(record.pointer_token)
                        .decode("ascii")
                        .rstrip("="),
                        "consent_purposes": sorted(p.value for p in consent.purposes),
                        "consent_expires": (
                            consent.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
                            if consent.expires_at
                            else None
                        ),
                    }
                )
        return results

    def json_answer(self, results: list[dict[str, object]]) -> dict[str, object]:
        return {
            "known": bool(results),
            "message": "" if results else NO_INFORMATION,
            "results": results,
        }


class _Handler(http.server.BaseHTTPRequestHandler):
    server: GatewayServer
    server_version = "coresponder-gateway"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    # -- logging: method, path without query, status; never bodies or queries
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urllib.parse.urlsplit(self.path).path if hasattr(self, "path") else "-"
        elapsed = (time.perf_counter() - getattr(self, "_started", time.perf_counter())) * 1000
        method = getattr(self, "command", None) or "-"
        _log.info("%s %s %s %.1f ms", method, path, code, elapsed)

    def log_error(self, format: str, *args: Any) -> None:
        _log.info("rejected a malformed request")

    def log_message(self, format: str, *args: Any) -> None:
        return

    # -- helpers
    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "same-origin")
        self.send_header(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
            "frame-ancestors 'none'",
        )
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: object) -> None:
        self._send(status, json.dumps(payload).encode("utf-8"), "application/json")

    def _page(self, status: int, **kwargs: Any) -> None:
        app = self.server.app
        body = render_page(
            agency_name=app.agency_name,
            fields=app.encoder.fields,
            auth_required=app.auth_required,
            **kwargs,
        )
        self._send(status, body, "text/html; charset=utf-8")

    def _host_allowed(self) -> bool:
        host = self.headers.get("Host", "")
        if self.server.loopback_only:
            name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
            if name not in _LOOPBACK_NAMES:
                return False
        origin = self.headers.get("Origin")
        if origin is not None and origin != "null":
            return urllib.parse.urlsplit(origin).netloc == host
        return origin is None

    def _body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            return None
        if length < 0 or length > _MAX_BODY:
            return None
        return self.rfile.read(length)

    # -- routes
    def do_GET(self) -> None:
        self._started = time.perf_counter()
        path = urllib.parse.urlsplit(self.path).path
        if not self._host_allowed():
            self._json(403, {"error": "this host or origin is not allowed"})
        elif path == "/":
            self._page(200)
        elif path == "/healthz":
            self._json(200, {"status": "ok"})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        self._started = time.perf_counter()
        path = urllib.parse.urlsplit(self.path).path
        if not self._host_allowed():
            self._json(403, {"error": "this host or origin is not allowed"})
            return
        body = self._body()
        if body is None:
            self._json(413, {"error": f"the request body must be at most {_MAX_BODY} bytes"})
            return
        if path == "/api/v1/lookup":
            self._api_lookup(body)
        elif path == "/lookup":
            self._form_lookup(body)
        else:
            self._json(404, {"error": "not found"})

    def _api_lookup(self, body: bytes) -> None:
        app = self.server.app
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        if not app.authorised(token):
            self._json(401, {"error": "send Authorization: Bearer <gateway token>"})
            return
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            self._json(415, {"error": "send the query as application/json"})
            return
        try:
            query = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            self._json(400, {"error": "the body is not JSON"})
            return
        if not isinstance(query, dict):
            self._json(400, {"error": "the body must be a JSON object"})
            return
        try:
            results = app.run_lookup(query)
        except InvalidInputError as exc:
            self._json(
                400,
                {
                    "error": exc.message,
                    "problems": [{"field": p.location, "reason": p.reason} for p in exc.problems],
                },
            )
            return
        except LinkageError as exc:
            _log.warning("lookup failed: %s", type(exc).__name__)
            self._json(502, {"error": "the matcher could not answer; try again shortly"})
            return
        self._json(200, app.json_answer(results))

    def _form_lookup(self, body: bytes) -> None:
        app = self.server.app
        try:
            fields = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            self._page(400, error="The form could not be read.")
            return
        values = {k: v[0] for k, v in fields.items() if v}
        code = values.pop("access_code", None)
        if not app.authorised(code):
            self._page(401, values=values, error="The access code is not right.")
            return
        query = {k: v for k, v in values.items() if v.strip()}
        try:
            results = app.run_lookup(query)
        except InvalidInputError as exc:
            reasons = "; ".join(f"{p.location.replace('_', ' ')} {p.reason}" for p in exc.problems)
            self._page(400, values=values, error=f"Please check: {reasons or exc.message}.")
            return
        except LinkageError as exc:
            _log.warning("lookup failed: %s", type(exc).__name__)
            self._page(502, values=values, error="The matcher could not answer; try again.")
            return
        self._page(200, values=values, results=results)


class GatewayServer(http.server.HTTPServer):
    """An HTTP server that handles requests on a bounded thread pool."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], app: GatewayApp, *, loopback_only: bool, workers: int = 8
    ) -> None:
        self.app = app
        self.loopback_only = loopback_only
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gateway")
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self._pool.submit(self._work, request, client_address)

    def _work(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            _log.warning("a request failed unexpectedly")
        finally:
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        _log.warning("a request failed unexpectedly")

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


def start_gateway(
    app: GatewayApp, listen: str, *, allow_non_loopback: bool = False
) -> tuple[GatewayServer, threading.Thread]:
    """Bind and serve in a background thread; the caller calls ``shutdown()``."""
    if not is_host_port(listen):
        raise ConfigError(f"cannot listen on {listen!r}: give host:port with a port 0-65535")
    host, _, port = listen.rpartition(":")
    loopback = is_loopback_listen(listen)
    if not loopback:
        if not allow_non_loopback:
            raise ConfigError(
                f"{listen} is not a loopback address; pass --allow-remote to serve on it"
            )
        if app.token is None:
            raise ConfigError(
                "serving beyond loopback needs local authentication: set [gateway] token_file "
                "(mode 0600) or token_env"
            )
    try:
        server = GatewayServer((host.strip("[]"), int(port)), app, loopback_only=loopback)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
    thread = threading.Thread(target=server.serve_forever, name="gateway-http", daemon=True)
    thread.start()
    return server, thread


def write_port_file(path: Path, port: int) -> None:
    """Write the bound port atomically (for scripts that start on port 0)."""
    temp = path.with_suffix(path.suffix + ".tmp")
    temp.write_text(f"{port}\n")
    os.replace(temp, path)
