"""gRPC channels to the matcher, for the agency client, gateways and tests."""

from __future__ import annotations

import stat
from pathlib import Path

import grpc

from linkage.errors import ConfigError

__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "mtls_channel", "read_private_key"]

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} at {path}: {exc.strerror}") from None


def read_private_key(path: Path, what: str = "private key") -> bytes:
    """A TLS private key file's bytes; refused if other users may read it (not 0600)."""
    data = _read(path, what)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"the {what} at {path} is open to other users (mode {mode:04o}); run chmod 600 on it"
        )
    return data


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
    ]
    if server_name:
        options.append(("grpc.ssl_target_name_override", server_name))
    return grpc.secure_channel(target, credentials, options=options)
