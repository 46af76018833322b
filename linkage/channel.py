"""gRPC channels to the matcher, for the agency client, gateways and tests."""

from __future__ import annotations

from pathlib import Path

import grpc

from linkage.errors import ConfigError, NotFoundError
from linkage.private_files import private_file_problem, read_private_file

__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "mtls_channel", "private_file_problem", "read_private_key"]

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} at {path}: {exc.strerror}") from None


def read_private_key(path: Path, what: str = "private key") -> bytes:
    """A TLS private key file's bytes; refused if it is open to other users or a link
    (:func:`linkage.private_files.read_private_file`, root-owned 0640 accepted)."""
    try:
        return read_private_file(path, what, root_group=True)
    except NotFoundError as exc:
        raise ConfigError(exc.message) from None


def mtls_channel(
    target: str,
    *,
    ca_certificate: Path,
    certificate: Path,
    private_key: Path,
    server_name: str | None = None,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> grpc.Channel:
    """A mutual-TLS channel: the server is checked against ``ca_certificate``,
    and this client presents ``certificate`` with ``private_key``."""
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read(ca_certificate, "CA certificate"),
        private_key=read_private_key(private_key),
        certificate_chain=_read(certificate, "certificate"),
    )
    options: list[tuple[str, str | int]] = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        # a ping after 60 s of silence finds a dead matcher in a long call; the matcher
        # accepts pings every 30 s (linkage.server._app.KEEPALIVE_OPTIONS)
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
    ]
    if server_name:
        options.append(("grpc.ssl_target_name_override", server_name))
    return grpc.secure_channel(target, credentials, options=options)
