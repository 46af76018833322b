"""Serving the gateway: uvicorn (asyncio, h11) on a socket bound here, HTTPS beyond loopback.

:func:`start_gateway` checks the deployment rules before anything listens:

* a bearer token is required, on loopback too (``[gateway] token_file`` or ``token_env``);
* an address beyond loopback needs ``--allow-remote`` **and** HTTPS with the agency's own
  certificate (``[gateway] https_cert`` and ``https_key``; the key a private file under
  the project's one rule, :mod:`linkage.private_files`). Plain HTTP
  beyond loopback is refused. A reverse proxy that terminates TLS must forward to a
  gateway listening on loopback.

Robustness (:class:`~agency_client._gateway_http.GatewayLimits`): connections are
served on one asyncio event loop, so idle connections and slow bodies hold no thread;
lookups run on a small worker pool, ``/healthz`` on the loop itself. A connection must
send a whole request head within ``head_timeout_s`` of opening (or of its previous
response) or it is closed; a body must arrive within ``body_timeout_s`` (408); heads are
bounded by ``max_head_bytes`` and bodies by ``max_body_bytes`` (413). A malformed request
that never reaches the app (a bad ``Content-Length``, a broken request line) is answered
400 with the same security headers as every other response.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, ClassVar, Final

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from agency_client._client_config import HttpsFiles, is_host_port, is_loopback_listen
from agency_client._gateway import GatewayApp
from agency_client._gateway_http import GatewayLimits, build_asgi_app, security_headers
from linkage.channel import read_private_key
from linkage.errors import ConfigError

__all__ = ["GatewayServer", "server_tls_context", "start_gateway"]

_log = logging.getLogger("agency_client.gateway")
_START_TIMEOUT_S: Final = 15.0
# TLS 1.2 suites (TLS 1.3's are OpenSSL's AEAD defaults): forward secrecy and AEAD only.
_TLS12_CIPHERS: Final = "ECDHE+AESGCM:ECDHE+CHACHA20"


class _GatewayProtocol(H11Protocol):
    """uvicorn's h11 protocol with a request-head timeout and a secured 400 answer.

    uvicorn closes idle keep-alive connections after a response, but a connection that
    never sends a request, or sends its head a byte at a time, is held forever. Here a
    timer runs from the moment a connection opens (and again after each response) until
    a whole request head has arrived; when it fires the connection is closed.
    """

    head_timeout_s: ClassVar[float] = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        # uvicorn's access log writes the request target with its query string whenever
        # any handler is listening; the gateway's own log (method, route, status) is it.
        self.access_log = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # uvicorn writes a response's head and body separately; without TCP_NODELAY the
        # body of every keep-alive response after the first waited for the client's
        # delayed ACK (about 40 ms a request on Linux)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        scope = self.scope
        super().handle_events()
        if self.scope is not scope:  # a new request's head arrived
            self._cancel_head_timer()

    def on_response_complete(self) -> None:
        # Armed first: a pipelined request whose head is already here cancels it below.
        self._arm_head_timer()
        super().on_response_complete()
        if self.transport.is_closing():
            self._cancel_head_timer()

    def send_400_response(self, msg: str) -> None:
        body = json.dumps({"error": "malformed HTTP request"}).encode("utf-8")
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"connection", b"close"),
            *security_headers(https=self.scheme == "https"),
        ]
        try:
            output = self.conn.send(h11.Response(status_code=400, headers=headers))
            output += self.conn.send(h11.Data(data=body))
            output += self.conn.send(h11.EndOfMessage())
            self.transport.write(output)
        except h11.LocalProtocolError:
            pass  # a response was already under way: just close
        self.transport.close()

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def _protocol_class(limits: GatewayLimits) -> type[_GatewayProtocol]:
    class _Protocol(_GatewayProtocol):
        head_timeout_s = limits.head_timeout_s

    return _Protocol


def server_tls_context(files: HttpsFiles) -> ssl.SSLContext:
    """The gateway's HTTPS context: TLS 1.2+ (forward-secret AEAD suites), the agency's
    certificate chain and its key (refused when other users can read it)."""
    read_private_key(files.key, "gateway HTTPS key ([gateway] https_key)")
    if not files.cert.is_file():
        raise ConfigError(f"[gateway] https_cert: no certificate file at {files.cert}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(_TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    context.set_alpn_protocols(["http/1.1"])
    try:
        # an encrypted key fails here instead of OpenSSL prompting on the terminal
        context.load_cert_chain(files.cert, files.key, password=lambda: b"")
    except (ssl.SSLError, OSError, ValueError):
        raise ConfigError(
            f"[gateway] https_cert and https_key: {files.cert} and {files.key} are not a PEM "
            "certificate chain (leaf first) and its unencrypted private key"
        ) from None
    return context


class GatewayServer:
    """A running gateway: uvicorn on its own thread and event loop; :meth:`close` stops it."""

    def __init__(
        self,
        sock: socket.socket,
        app: GatewayApp,
        *,
        loopback_only: bool,
        tls: ssl.SSLContext | None,
        limits: GatewayLimits,
    ) -> None:
        self._socket = sock
        self.port: int = int(sock.getsockname()[1])
        self.scheme = "https" if tls is not None else "http"
        self._executor = ThreadPoolExecutor(
            max_workers=limits.lookup_workers, thread_name_prefix="gateway-lookup"
        )
        asgi = build_asgi_app(
            app, loopback_only=loopback_only, limits=limits, executor=self._executor
        )
        config = uvicorn.Config(
            asgi,
            http=_protocol_class(limits),
            ws="none",
            loop="asyncio",
            interface="asgi3",
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=False,
            timeout_keep_alive=limits.keep_alive_s,
            timeout_graceful_shutdown=limits.shutdown_grace_s,
            h11_max_incomplete_event_size=limits.max_head_bytes,
            ssl_context_factory=None if tls is None else (lambda _config, _default: tls),
        )
        self._grace_s = limits.shutdown_grace_s
        self._server = uvicorn.Server(config)
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="gateway-http", daemon=True)

    def _serve(self) -> None:
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as exc:  # reported by start(); SystemExit from uvicorn too
            self._failure = exc

    def start(self) -> None:
        """Serve on the background thread; return once connections are accepted."""
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.close()
                reason = type(self._failure).__name__ if self._failure else "no start in time"
                raise ConfigError(f"the gateway could not start ({reason})")
            time.sleep(0.01)

    def close(self) -> None:
        """Stop accepting, let in-flight requests finish (bounded), stop the workers."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=self._grace_s + 5)
        self._socket.close()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> GatewayServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _bind(listen: str) -> socket.socket:
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, int(port)))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
    return sock


def start_gateway(
    app: GatewayApp,
    listen: str,
    *,
    allow_non_loopback: bool = False,
    https: HttpsFiles | None = None,
    limits: GatewayLimits | None = None,
) -> GatewayServer:
    """Check the deployment rules, bind ``listen`` and serve in the background.

    The caller calls :meth:`GatewayServer.close` (or uses it as a context manager).
    """
    if not is_host_port(listen):
        raise ConfigError(f"cannot listen on {listen!r}: give host:port with a port 0-65535")
    loopback = is_loopback_listen(listen)
    if not loopback and not allow_non_loopback:
        raise ConfigError(f"{listen} is not a loopback address; pass --allow-remote to serve on it")
    if app.token is None:
        raise ConfigError(
            "the gateway needs a bearer token, on loopback too: set [gateway] token_file "
            "(a file of at least 16 characters, mode 0600) or token_env; agency-client init "
            "writes gateway.token"
        )
    if not loopback and https is None:
        raise ConfigError(
            f"{listen} is beyond loopback, where the gateway serves HTTPS only: set "
            "[gateway] https_cert and https_key (the agency's server certificate and its "
            "key, mode 0600), or listen on loopback behind a reverse proxy that terminates TLS"
        )
    tls = server_tls_context(https) if https is not None else None
    sock = _bind(listen)
    server = GatewayServer(
        sock, app, loopback_only=loopback, tls=tls, limits=limits or GatewayLimits()
    )
    server.start()
    _log.info("gateway listening on %s (%s)", listen.rpartition(":")[0], server.scheme)
    return server
