"""The responder gateway's web layer: a Starlette (ASGI) app over :class:`GatewayApp`.

Routes:

* ``GET /``: the page (``templates/gateway.html``), a form posting to ``/lookup``.
* ``POST /lookup``: the form (``application/x-www-form-urlencoded``); answers the page
  with the result cards.
* ``POST /api/v1/lookup``: a JSON query for CAD integrations; answers JSON.
* ``POST /contact`` and ``POST /api/v1/contact``: "log this contact" after a lookup (the
  page's short form, or JSON): the lookup's contact token, a date, a time and a
  disposition code, nothing else (:mod:`agency_client._gateway_contacts`); the access code
  or bearer token as for a lookup. Only when the gateway keeps a field-contact file.
* ``GET /healthz``: ``{"status": "ok"}``, answered on the event loop (no worker thread).
* ``GET /static/...``: the page's style and script (``agency_client/static/``).

Safety rules, every one tested in tests/agency_client/test_gateway*.py:

* Every lookup needs the bearer token, on loopback too: ``Authorization: Bearer`` on the
  API, the access code on the page (compared in constant time). The purpose is the
  gateway's configuration; a request naming one is refused.
* Every response, errors and static files included, carries the same strict headers
  (:func:`security_headers`): a Content-Security-Policy without inline script or style
  and with ``frame-ancestors 'none'``, ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy: no-referrer``, ``Cache-Control: no-store``, and
  ``Strict-Transport-Security`` on HTTPS.
* Cross-origin requests are refused: a request's ``Origin`` must match its ``Host``; a
  browser's form post from the page, which carries ``Origin: null`` under
  ``no-referrer``, must say ``Sec-Fetch-Site: same-origin``; a POST another site's page
  makes is refused by its ``Sec-Fetch-Site``. On loopback the ``Host`` must be a loopback
  name, which blocks DNS rebinding.
* Bodies are bounded (:class:`GatewayLimits`): over ``max_body_bytes`` is 413, a body
  slower than ``body_timeout_s`` is 408, a bad ``Content-Length``, a body that is not
  UTF-8 JSON (or a form) and JSON nested deeper than ``max_json_depth`` are 400 with
  the problem named; never a dropped connection.
* Identifiers travel only in request bodies. The access log has the method, the route
  (an unknown path is logged as ``(other)``, never as sent), the status and the
  duration; never a body, query string, token or header. An unexpected failure is
  logged by its exception type only.
* Answers never show scores or CLKs; "nothing known" and "nothing you may see" are the
  same answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Final

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agency_client._gateway import GatewayApp
from agency_client._gateway_contacts import CONTACT_FIELDS
from agency_client._gateway_page import CONTACT_LOGGED, STATIC_PREFIX, ContactForm, render_page
from linkage.errors import InvalidInputError, LinkageError

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "GatewayLimits",
    "build_asgi_app",
    "json_depth_exceeds",
    "security_headers",
]

_log = logging.getLogger("agency_client.gateway")

#: No inline script or style (the page has none), nothing framed, forms post home only.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HSTS: Final = "max-age=31536000"
_LOOPBACK_NAMES: Final = frozenset({"localhost", "127.0.0.1", "[::1]"})
_FORM_TYPE: Final = "application/x-www-form-urlencoded"
_LOGGED_PATHS: Final = frozenset(
    {"/", "/lookup", "/api/v1/lookup", "/contact", "/api/v1/contact", "/healthz"}
)


@dataclass(frozen=True, slots=True)
class GatewayLimits:
    """What one client may cost the gateway (defaults are the production settings)."""

    #: a request body over this is refused with 413
    max_body_bytes: int = 16 * 1024
    #: JSON nested deeper than this ({...} and [...] levels) is refused with 400
    max_json_depth: int = 20
    #: a body must arrive within this (from the first read), else 408
    body_timeout_s: float = 10.0
    #: a connection must send a whole request head within this after it opens or after
    #: its previous response, else it is closed (idle and slow-header connections)
    head_timeout_s: float = 10.0
    #: an idle keep-alive connection is closed after this (uvicorn's keep-alive timeout)
    keep_alive_s: int = 5
    #: the request line and headers together, at most (h11's incomplete event size)
    max_head_bytes: int = 16 * 1024
    #: lookups (encoding and the matcher call) run on this many worker threads
    lookup_workers: int = 8
    #: on shutdown, in-flight requests get this long to finish
    shutdown_grace_s: int = 5


def security_headers(*, https: bool) -> list[tuple[bytes, bytes]]:
    """The headers every response carries (HSTS only on HTTPS)."""
    headers = [
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode("ascii")),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"cache-control", b"no-store"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cross-origin-resource-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    ]
    if https:
        headers.append((b"strict-transport-security", _HSTS.encode("ascii")))
    return headers


_SECURITY_NAMES: Final = frozenset(name for name, _ in security_headers(https=True)) | frozenset(
    {b"server"}
)


def json_depth_exceeds(text: str, limit: int) -> bool:
    """Whether JSON ``text`` nests objects and arrays deeper than ``limit`` (strings skipped).

    Checked before parsing, so a deeply nested body never reaches the recursive parser.
    """
    depth = 0
    in_string = False
    escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


class _BodyRefusedError(InvalidInputError):
    """A request body refused while reading it: the HTTP status and a message for the caller."""

    def __init__(self, status: int, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.close = close


def _json(status: int, payload: object, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(payload).encode("utf-8"),
        status_code=status,
        media_type="application/json",
        headers=dict(headers or {}),
    )


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0]


class _Endpoints:
    """The routes' handlers over one :class:`GatewayApp`."""

    def __init__(
        self, app: GatewayApp, *, loopback_only: bool, limits: GatewayLimits, executor: Executor
    ) -> None:
        self.app = app
        self.loopback_only = loopback_only
        self.limits = limits
        self.executor = executor

    # -- checks
    def _origin_refused(self, request: Request) -> bool:
        host = request.headers.get("host", "")
        if self.loopback_only and _host_name(host) not in _LOOPBACK_NAMES:
            return True
        site = request.headers.get("sec-fetch-site")
        origin = request.headers.get("origin")
        if request.method == "POST" and site is not None and site not in ("same-origin", "none"):
            return True
        if origin is None:
            return False
        if origin == "null":
            # a form post from the page itself under Referrer-Policy: no-referrer
            return not (request.method == "POST" and site == "same-origin")
        return urllib.parse.urlsplit(origin).netloc != host

    async def _body(self, request: Request) -> bytes:
        limit = self.limits.max_body_bytes
        too_large = f"the request body must be at most {limit} bytes"
        declared = request.headers.get("content-length")
        if declared is not None:
            if not (declared.isascii() and declared.isdecimal()):
                raise _BodyRefusedError(400, "the Content-Length is not a number", close=True)
            if int(declared) > limit:
                raise _BodyRefusedError(413, too_large)
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.limits.body_timeout_s):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise _BodyRefusedError(413, too_large)
                    chunks.append(chunk)
        except TimeoutError:
            late = "the request body did not arrive in time"
            raise _BodyRefusedError(408, late, close=True) from None
        except ClientDisconnect:
            raise _BodyRefusedError(400, "the request body ended early", close=True) from None
        return b"".join(chunks)

    async def _run_lookup(
        self, query: Mapping[str, object]
    ) -> tuple[list[dict[str, object]], str | None]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.app.lookup_for_contact, query)

    async def _log_contact(self, token: str, values: Mapping[str, str]) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.executor, self.app.log_contact, token, values)

    def _page(
        self,
        status: int,
        *,
        values: Mapping[str, str] | None = None,
        results: list[dict[str, object]] | None = None,
        error: str | None = None,
        close: bool = False,
        contact: ContactForm | None = None,
        notice: str | None = None,
    ) -> Response:
        body = render_page(
            agency_name=self.app.agency_name,
            fields=self.app.encoder.fields,
            auth_required=True,
            values=values,
            results=results,
            error=error,
            contact=contact,
            notice=notice,
        )
        return HTMLResponse(body, status_code=status, headers=_close(close))

    async def _json_body(self, request: Request) -> dict[str, object] | Response:
        """The request's JSON object, or the response refusing it."""
        if not request.headers.get("content-type", "").startswith("application/json"):
            return _json(415, {"error": "send the body as application/json"})
        try:
            body = await self._body(request)
        except _BodyRefusedError as exc:
            return _json(exc.status, {"error": exc.message}, _close(exc.close))
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return _bad_body("is not UTF-8")
        if json_depth_exceeds(text, self.limits.max_json_depth):
            return _bad_body(f"nests deeper than {self.limits.max_json_depth} levels")
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):
            return _bad_body("is not JSON")
        if not isinstance(parsed, dict):
            return _bad_body("must be a JSON object")
        return parsed

    def _bearer_refused(self, request: Request) -> Response | None:
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        if self.app.authorised(token):
            return None
        return _json(
            401,
            {"error": "send Authorization: Bearer <gateway token>"},
            {"WWW-Authenticate": 'Bearer realm="gateway"'},
        )

    async def _form_values(self, request: Request) -> dict[str, str] | Response:
        """The posted form's fields (first value of each), or the page refusing it."""
        if not request.headers.get("content-type", "").startswith(_FORM_TYPE):
            return self._page(415, error="The form could not be read.")
        try:
            body = await self._body(request)
        except _BodyRefusedError as exc:
            message = f"{exc.message[0].upper()}{exc.message[1:]}."
            return self._page(exc.status, error=message, close=exc.close)
        try:
            fields = urllib.parse.parse_qs(
                body.decode("utf-8"), keep_blank_values=True, max_num_fields=50
            )
        except (UnicodeDecodeError, ValueError):
            return self._page(400, error="The form could not be read.")
        return {k: v[0] for k, v in fields.items() if v}

    # -- routes
    async def page(self, request: Request) -> Response:
        if self._origin_refused(request):
            return _json(403, {"error": "this host or origin is not allowed"})
        return self._page(200)

    async def healthz(self, request: Request) -> Response:
        if self._origin_refused(request):
            return _json(403, {"error": "this host or origin is not allowed"})
        return _json(200, {"status": "ok"})

    async def api_lookup(self, request: Request) -> Response:
        if self._origin_refused(request):
            return _json(403, {"error": "this host or origin is not allowed"})
        refused = self._bearer_refused(request)
        if refused is not None:
            return refused
        query = await self._json_body(request)
        if isinstance(query, Response):
            return query
        try:
            results, contact_token = await self._run_lookup(query)
        except InvalidInputError as exc:
            return _json(
                400,
                {
                    "error": exc.message,
                    "problems": [{"field": p.location, "reason": p.reason} for p in exc.problems],
                },
            )
        except LinkageError as exc:
            _log.warning("lookup failed: %s", type(exc).__name__)
            return _json(502, {"error": "the matcher could not answer; try again shortly"})
        return _json(200, self.app.json_answer(results, contact_token))

    async def form_lookup(self, request: Request) -> Response:
        if self._origin_refused(request):
            return _json(403, {"error": "this host or origin is not allowed"})
        values = await self._form_values(request)
        if isinstance(values, Response):
            return values
        code = values.pop("access_code", None)
        if not self.app.authorised(code):
            return self._page(401, values=values, error="The access code is not right.")
        query = {k: v for k, v in values.items() if v.strip()}
        try:
            results, contact_token = await self._run_lookup(query)
        except InvalidInputError as exc:
            reasons = _reasons(exc)
            return self._page(400, values=values, error=f"Please check: {reasons}.")
        except LinkageError as exc:
            _log.warning("lookup failed: %s", type(exc).__name__)
            return self._page(502, values=values, error="The matcher could not answer; try again.")
        contact = None if contact_token is None else ContactForm(contact_token)
        return self._page(200, values=values, results=results, contact=contact)

    async def form_contact(self, request: Request) -> Response:
        if self._origin_refused(request):
            return _json(403, {"error": "this host or origin is not allowed"})
        if self.app.contacts is None:
            return _json(404, {"error": "not found"})
        values = await self._form_values(request)
        if isinstance(values, Response):
            return values
        code = values.pop("access_code", None)
        token = values.pop("contact_token", "")
        entered = ContactForm(token, **{k: values.get(k, "") for k in CONTACT_FIELDS})
        if not self.app.authorised(code):
            return self._page(401, contact=entered, error="The access code is not right.")
        try:
            await self._log_contact(token, values)
        except InvalidInputError as exc:
            reasons = _reasons(exc)
            return self._page(400, contact=entered, error=f"Please check: {reasons}.")
        except LinkageError as exc:
            _log.warning("logging a contact failed: %s", type(exc).__name__)
            return self._page(500, contact=entered, error="The contact could not be kept.")
        return self._page(200, notice=CONTACT_LOGGED)

    async def api_contact(self, request: Request) -> Response:
        if self._origin_refused(request):
            return _json(403, {"error": "this host or origin is not allowed"})
        if self.app.contacts is None:
            return _json(404, {"error": "not found"})
        refused = self._bearer_refused(request)
        if refused is not None:
            return refused
        body = await self._json_body(request)
        if isinstance(body, Response):
            return body
        token = body.pop("contact_token", "")
        if not isinstance(token, str) or not all(isinstance(v, str) for v in body.values()):
            return _bad_body("must hold text values only")
        try:
            await self._log_contact(token, {k: str(v) for k, v in body.items()})
        except InvalidInputError as exc:
            return _json(
                400,
                {
                    "error": exc.message,
                    "problems": [{"field": p.location, "reason": p.reason} for p in exc.problems],
                },
            )
        except LinkageError as exc:
            _log.warning("logging a contact failed: %s", type(exc).__name__)
            return _json(500, {"error": "the contact could not be kept"})
        return _json(201, {"logged": True, "message": CONTACT_LOGGED})


def _reasons(exc: InvalidInputError) -> str:
    reasons = "; ".join(f"{p.location.replace('_', ' ')} {p.reason}" for p in exc.problems)
    return reasons or exc.message


def _bad_body(reason: str) -> Response:
    return _json(
        400,
        {"error": f"the body {reason}", "problems": [{"field": "body", "reason": reason}]},
    )


def _close(close: bool) -> dict[str, str]:
    """``Connection: close`` when the connection must not carry another request."""
    return {"Connection": "close"} if close else {}


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: "not found", 405: "method not allowed"}
    return _json(exc.status_code, {"error": messages.get(exc.status_code, "refused")}, exc.headers)


async def _internal_error(request: Request, exc: Exception) -> Response:
    return _json(500, {"error": "the gateway failed; try again"})


class _Guard:
    """Outermost ASGI layer: security headers on every response, the access log, and
    unexpected failures answered 500 and logged by type only."""

    def __init__(self, app: ASGIApp, limits: GatewayLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        https = scope.get("scheme") == "https"
        status: int | None = None

        async def send_secured(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() not in _SECURITY_NAMES
                ]
                message = {**message, "headers": headers + security_headers(https=https)}
            await send(message)

        try:
            head = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
            if head > self.limits.max_head_bytes:
                # h11 bounds a head that arrives in pieces; one that arrives whole is here
                limit = self.limits.max_head_bytes
                error = {"error": f"the request head must be at most {limit} bytes"}
                response = _json(431, error, {"Connection": "close"})
                await response(scope, receive, send_secured)
            else:
                await self.app(scope, receive, send_secured)
        except Exception as exc:
            _log.warning("a request failed unexpectedly: %s", type(exc).__name__)
            if status is None:
                response = _json(500, {"error": "the gateway failed; try again"})
                await response(scope, receive, send_secured)
        finally:
            path = str(scope.get("path", ""))
            if path not in _LOGGED_PATHS and not path.startswith(STATIC_PREFIX + "/"):
                path = "(other)"
            elapsed = (time.perf_counter() - started) * 1000
            _log.info("%s %s %s %.1f ms", scope.get("method", "-"), path, status or "-", elapsed)


def build_asgi_app(
    app: GatewayApp, *, loopback_only: bool, limits: GatewayLimits, executor: Executor
) -> ASGIApp:
    """The gateway as an ASGI application (served by :mod:`agency_client._gateway_server`)."""
    endpoints = _Endpoints(app, loopback_only=loopback_only, limits=limits, executor=executor)
    handlers: dict[object, Callable[[Request, Exception], Awaitable[Response]]] = {
        HTTPException: _http_exception,
        Exception: _internal_error,  # answered 500 here, logged by type in _Guard
    }
    starlette = Starlette(
        routes=[
            Route("/", endpoints.page, methods=["GET"]),
            Route("/healthz", endpoints.healthz, methods=["GET"]),
            Route("/lookup", endpoints.form_lookup, methods=["POST"]),
            Route("/api/v1/lookup", endpoints.api_lookup, methods=["POST"]),
            Route("/contact", endpoints.form_contact, methods=["POST"]),
            Route("/api/v1/contact", endpoints.api_contact, methods=["POST"]),
            Mount(
                STATIC_PREFIX,
                app=StaticFiles(packages=[("agency_client", "static")]),
                name="static",
            ),
        ],
        exception_handlers=handlers,
    )
    return _Guard(starlette, limits)
