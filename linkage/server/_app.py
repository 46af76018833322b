"""Assemble and run the gRPC server: servicers, health, reflection, TLS,
interceptors, limits and graceful shutdown."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass
from types import FrameType

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from linkage.errors import ConfigError
from linkage.server._config import ServerConfig, is_loopback_address

__all__ = ["RunningServer", "build_server"]

_log = logging.getLogger("linkage.server")

#: Registers one servicer on a server and returns the full service name.
ServiceRegistrar = Callable[[grpc.Server], str]


@dataclass
class RunningServer:
    """A started server and the means to stop it gracefully."""

    server: grpc.Server
    port: int
    health: health.HealthServicer
    service_names: tuple[str, ...]
    grace_period_s: float
    on_stopped: Callable[[], None] | None = None
    _stopped: threading.Event | None = None

    def stop(self, grace_period_s: float | None = None) -> None:
        """Stop accepting calls, let in-flight calls finish within the grace
        period, abort the rest, then run ``on_stopped``. Idempotent."""
        if self._stopped is None:
            self._stopped = threading.Event()
        elif self._stopped.is_set():
            return
        self.health.enter_graceful_shutdown()
        grace = self.grace_period_s if grace_period_s is None else grace_period_s
        self.server.stop(grace).wait()
        if self.on_stopped is not None:
            self.on_stopped()
        self._stopped.set()

    def wait_for_termination(self) -> None:
        """Block until :meth:`stop` has finished (for example from SIGTERM)."""
        self.server.wait_for_termination()
        if self._stopped is not None:
            self._stopped.wait()

    def stop_on_signals(self, signals: Sequence[int] = (signal.SIGTERM, signal.SIGINT)) -> None:
        """Install handlers that stop the server gracefully (main thread only)."""

        def handler(signum: int, _frame: FrameType | None) -> None:
            _log.info("received signal %d, shutting down gracefully", signum)
            threading.Thread(target=self.stop, name="graceful-shutdown").start()

        for sig in signals:
            signal.signal(sig, handler)


def build_server(
    config: ServerConfig,
    registrars: Sequence[ServiceRegistrar],
    *,
    interceptors: Sequence[grpc.ServerInterceptor] = (),
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
    options = [
        ("grpc.max_receive_message_length", config.limits.max_message_bytes),
        ("grpc.max_send_message_length", config.limits.max_message_bytes),
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.max_workers, thread_name_prefix="rpc"),
        interceptors=list(interceptors),
        options=options,
        maximum_concurrent_rpcs=config.max_workers * 8,
    )
    names = tuple(register(server) for register in registrars)
    health_servicer = health.HealthServicer()
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
        raise ConfigError(f"cannot listen on {config.listen}: the address is in use or invalid")
    server.start()
    for name in ("", *names):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
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
        on_stopped=on_stopped,
    )
