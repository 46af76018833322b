"""The gRPC layer of the central matcher: the only package that knows gRPC."""

from linkage.server._app import RunningServer, build_server
from linkage.server._config import (
    ServerConfig,
    StoreConfig,
    TlsConfig,
    is_loopback_address,
    load_server_config,
    parse_server_config,
)
from linkage.server._interceptor import DEV_PRINCIPAL_HEADER, GatewayInterceptor, current_principal
from linkage.server._serve import open_store, server_credentials, start_matcher
from linkage.server._status import GRPC_CODE_FOR_HINT, status_for_error

__all__ = [
    "DEV_PRINCIPAL_HEADER",
    "GRPC_CODE_FOR_HINT",
    "GatewayInterceptor",
    "RunningServer",
    "ServerConfig",
    "StoreConfig",
    "TlsConfig",
    "build_server",
    "current_principal",
    "is_loopback_address",
    "load_server_config",
    "open_store",
    "parse_server_config",
    "server_credentials",
    "start_matcher",
    "status_for_error",
]
