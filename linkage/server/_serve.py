"""Compose a running matcher from its configuration: store, service,
credentials, interceptor, servicers."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path

import grpc
from cryptography import x509

from linkage.channel import read_private_key
from linkage.errors import AuthenticationError, ConfigError, LinkageError
from linkage.match import warm_up
from linkage.pki import (
    PeerAuthenticator,
    RevocationChecker,
    Role,
    load_certificate,
    parse_spiffe_id,
    principal_from_certificate,
)
from linkage.server._app import RunningServer, build_server
from linkage.server._config import ServerConfig, StoreConfig, TlsConfig
from linkage.server._interceptor import CallObserver, GatewayInterceptor
from linkage.server._servicers import registrars
from linkage.service import LinkageService, ServiceObserver
from linkage.store import LinkStore, SqliteLinkStore

__all__ = ["open_store", "server_credentials", "start_matcher"]

_log = logging.getLogger("linkage.server")
_INSECURE_REMINDER_S = 60.0


def open_store(config: StoreConfig) -> LinkStore:
    """Open the configured store, applying schema migrations."""
    if config.engine == "sqlite":
        assert config.path is not None
        return SqliteLinkStore(config.path)
    if config.engine == "postgres":
        assert config.dsn is not None
        try:
            from linkage.store import PostgresLinkStore
        except ImportError:
            raise ConfigError(
                "store engine 'postgres' needs the optional extra: "
                "pip install 'coresponder-linkage[postgres]'"
            ) from None
        return PostgresLinkStore(config.dsn)
    raise ConfigError(f"store engine {config.engine!r} is not available in this build")


def _read(path_text: str, what: str) -> bytes:
    try:
        with open(path_text, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} at {path_text}: {exc.strerror}") from None


def _check_server_identity(server_pem: bytes, tls: TlsConfig) -> None:
    """The server certificate must be a server identity in ``[tls] trust_domain``.

    Every caller's certificate is checked against that trust domain, so a mismatch (a CA
    made with another ``--trust-domain``) would refuse every call; say so at start instead.
    """
    try:
        principal = principal_from_certificate(server_pem)
    except AuthenticationError as exc:
        raise ConfigError(f"[tls] cert {tls.cert}: {exc}") from None
    if principal.role is not Role.SERVER:
        raise ConfigError(
            f"[tls] cert {tls.cert} is an {principal.role.value!r} certificate, not a server's;"
            " issue one with `linkage-admin cert issue --role server ...`"
        )
    # well formed (checked above): one spiffe URI whose first part is the trust domain
    san = load_certificate(server_pem).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    domain = parse_spiffe_id(san.value.get_values_for_type(x509.UniformResourceIdentifier)[0])[0]
    if domain != tls.trust_domain:
        raise ConfigError(
            f"[tls] trust_domain is {tls.trust_domain!r}, but the server certificate {tls.cert}"
            f" belongs to {domain!r} (the trust domain its CA was created with); every caller"
            f" would be refused: set trust_domain = {domain!r}"
        )


def server_credentials(tls: TlsConfig) -> tuple[grpc.ServerCredentials, PeerAuthenticator]:
    """Mutual-TLS credentials and the authenticator that checks each caller."""
    ca_pem = _read(str(tls.ca_cert), "CA certificate")
    try:
        ca_cert = x509.load_pem_x509_certificate(ca_pem)
    except ValueError:
        raise ConfigError(f"{tls.ca_cert} is not a PEM certificate") from None
    server_pem = _read(str(tls.cert), "server certificate")
    _check_server_identity(server_pem, tls)
    credentials = grpc.ssl_server_credentials(
        [(read_private_key(Path(tls.key), "server key"), server_pem)],
        root_certificates=ca_pem,
        require_client_auth=True,
    )
    revocation = RevocationChecker(tls.crl, ca_cert) if tls.crl is not None else None
    return credentials, PeerAuthenticator(ca_cert, tls.trust_domain, revocation=revocation)


def start_matcher(
    config: ServerConfig,
    *,
    insecure_dev: bool = False,
    observer: CallObserver | None = None,
    service_observer: ServiceObserver | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[RunningServer, LinkageService]:
    """Open the store, load the index and start serving. The caller stops it."""
    del environ
    if config.tls is None and not insecure_dev:
        raise ConfigError(
            "refusing to serve without mutual TLS: configure [tls], or pass "
            "--insecure-dev for a loopback-only development server"
        )
    credentials: grpc.ServerCredentials | None = None
    authenticator: PeerAuthenticator | None = None
    if config.tls is not None and not insecure_dev:
        credentials, authenticator = server_credentials(config.tls)
    seconds = warm_up(config.linkage.clk_bits, (config.linkage.threshold,))
    _log.info("matching kernels ready in %.2f s", seconds)
    store = open_store(config.store)
    try:
        service = LinkageService(store, config.linkage, config.limits, observer=service_observer)
        if (linker_seconds := service.warm_up()) > 0:
            _log.info("probabilistic kernels ready in %.2f s", linker_seconds)
        interceptor = GatewayInterceptor(
            authenticator,
            observer=observer,
            max_workers=config.max_workers,
            stream_limits=config.streams,
            on_denied=lambda principal, method: service.audit_refusal(
                principal, "call.refused", "permission_denied", [method]
            ),
        )
        stop_reminder = threading.Event()

        def stopped() -> None:
            stop_reminder.set()
            try:
                service.close()
            except LinkageError as exc:  # the refusals' counts could not be written
                _log.warning("at the stop, %s; the store is closed all the same", exc)
            finally:
                store.close()

        running = build_server(
            config,
            registrars(service),
            interceptors=[interceptor],
            credentials=credentials,
            insecure_dev=insecure_dev,
            on_stopped=stopped,
        )
    except BaseException:
        store.close()
        raise
    if credentials is None:

        def remind() -> None:
            while not stop_reminder.wait(_INSECURE_REMINDER_S):
                _log.warning("still running in INSECURE DEVELOPMENT MODE on %s", config.listen)

        threading.Thread(target=remind, name="insecure-reminder", daemon=True).start()
    return running, service
