"""Assemble and run the gRPC server: servicers, health, reflection, TLS,
interceptors, limits, keepalive and graceful shutdown.

The server is a ``grpc.aio`` server on an event loop of its own thread, so that an idle
stream holds no thread (:mod:`linkage.server._calls`); :class:`RunningServer` is the
synchronous face the CLI, the tests and the benchmarks use."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from linkage.errors import ConfigError
from linkage.server._config import ServerConfig, is_loopback_address
from linkage.server._interceptor import GatewayInterceptor

__all__ = ["KEEPALIVE_OPTIONS", "RunningServer", "build_server"]

_log = logging.getLogger("linkage.server")
_T = TypeVar("_T")

#: Registers one servicer on a server and returns the full service name.
ServiceRegistrar = Callable[[grpc.aio.Server], str]

#: Keepalive and connection limits (docs/security.md, "No principal can starve the
#: others"): the server pings a connection silent for 60 s and drops it when the ping
#: is not answered in 20 s; a client may ping at most every 30 s without data (two
#: strikes, then GOAWAY); a connection with no call for 5 minutes is closed; one
#: connection carries at most 128 concurrent streams (per-principal caps do the rest).
KEEPALIVE_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 30_000),
    ("grpc.http2.max_ping_strikes", 2),
    ("grpc.max_connection_idle_ms", 300_000),
    ("grpc.max_concurrent_streams", 128),
)


@dataclass
class RunningServer:
    """A started server and the means to stop it gracefully."""

    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    service_names: tuple[str, ...]
    grace_period_s: float
    loop: asyncio.AbstractEventLoop
    on_stopped: Callable[[], None] | None = None
    closers: tuple[Callable[[], None], ...] = ()
    _thread: threading.Thread | None = None
    _stopping: threading.Lock = field(default_factory=threading.Lock)
    _stopped: threading.Event = field(default_factory=threading.Event)

    def on_loop(self, coroutine: Awaitable[_T]) -> _T:
        """Run ``coroutine`` on the server's event loop and wait for its result."""
        return _on_loop(self.loop, coroutine)

    def stop(self, grace_period_s: float | None = None) -> None:
        """Stop accepting calls, let in-flight calls finish within the grace
        period, abort the rest, then run ``on_stopped``. Idempotent."""
        with self._stopping:
            if self._stopped.is_set():
                return
            grace = self.grace_period_s if grace_period_s is None else grace_period_s

            async def stop() -> None:
                await self.health.enter_graceful_shutdown()
                await self.server.stop(grace)

            try:
                self.on_loop(stop())
                for close in self.closers:  # work in flight ends while the loop still runs
                    close()
            finally:
                self.loop.call_soon_threadsafe(self.loop.stop)
                if self._thread is not None:
                    self._thread.join()
                self.loop.close()
                try:
                    if self.on_stopped is not None:
                        self.on_stopped()
                finally:
                    self._stopped.set()

    def wait_for_termination(self) -> None:
        """Block until :meth:`stop` has finished (for example from SIGTERM)."""
        self._stopped.wait()

    def stop_on_signals(self, signals: Sequence[int] = (signal.SIGTERM, signal.SIGINT)) -> None:
        """Install handlers that stop the server gracefully (main thread only)."""

        def handler(signum: int, _frame: FrameType | None) -> None:
            _log.info("received signal %d, shutting down gracefully", signum)
            threading.Thread(target=self.stop, name="graceful-shutdown").start()

        for sig in signals:
            signal.signal(sig, handler)


def _on_loop(loop: asyncio.AbstractEventLoop, coroutine: Awaitable[_T]) -> _T:
    async def run() -> _T:
        return await coroutine

    return asyncio.run_coroutine_threadsafe(run(), loop).result()


def build_server(
    config: ServerConfig,
    registrars: Sequence[ServiceRegistrar],
    *,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    credentials: grpc.ServerCredentials | None,
    insecure_dev: bool = False,
    on_stopped: Callable[[], None] | None = None,
) -> RunningServer:
    """Build and start a server on ``config.listen``.

    Without ``credentials`` the server only starts when ``insecure_dev`` is
    set and the address is loopback; it then logs a warning.
    """
    if credentials is None:
        if not insecure_dev:
            raise ConfigError(
                "refusing to serve without mutual TLS: configure [tls], or pass "
                "--insecure-dev for a loopback-only development server"
            )
        if not is_loopback_address(config.listen):
            raise ConfigError(
                f"--insecure-dev only binds to loopback, not {config.listen}; "
                "use 127.0.0.1:PORT or configure [tls]"
            )
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", config.limits.max_message_bytes),
        ("grpc.max_send_message_length", config.limits.max_message_bytes),
        ("grpc.so_reuseport", 0),
        *KEEPALIVE_OPTIONS,
    ]
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="grpc-server", daemon=True)
    thread.start()
    # handlers the interceptors do not wrap (none when GatewayInterceptor is one of them)
    fallback = futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="rpc-fallback")

    async def start() -> tuple[grpc.aio.Server, int, health.aio.HealthServicer, tuple[str, ...]]:
        server = grpc.aio.server(
            migration_thread_pool=fallback,
            interceptors=list(interceptors),
            options=options,
            maximum_concurrent_rpcs=config.max_workers * 8 + config.streams.max_streams,
        )
        names = tuple(register(server) for register in registrars)
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        reflection.enable_server_reflection(
            (*names, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        try:
            if credentials is None:
                port = server.add_insecure_port(config.listen)
            else:
                port = server.add_secure_port(config.listen, credentials)
        except RuntimeError:  # grpcio raises "Failed to bind" where older versions returned 0
            port = 0
        if port == 0:
            await server.stop(None)
            raise ConfigError(f"cannot listen on {config.listen}: the address is in use or invalid")
        await server.start()
        for name in ("", *names):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        return server, port, health_servicer, names

    closers: list[Callable[[], None]] = [
        i.close for i in interceptors if isinstance(i, GatewayInterceptor)
    ]
    closers.append(lambda: fallback.shutdown(wait=True))
    try:
        server, port, health_servicer, names = _on_loop(loop, start())
    except BaseException:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
        for close in closers:
            close()
        raise
    if credentials is None:
        _log.warning(
            "INSECURE DEVELOPMENT MODE: no TLS and no client authentication on %s; "
            "never use this with real data",
            config.listen,
        )
    return RunningServer(
        server=server,
        port=port,
        health=health_servicer,
        service_names=names,
        grace_period_s=config.grace_period_s,
        loop=loop,
        on_stopped=on_stopped,
        closers=tuple(closers),
        _thread=thread,
    )
