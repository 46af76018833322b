"""gRPC channels to the matcher, for the agency client, gateways and tests."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import grpc

from linkage.errors import ConfigError

__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "mtls_channel", "private_file_problem", "read_private_key"]

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} at {path}: {exc.strerror}") from None


def private_file_problem(path: Path, what: str) -> str | None:
    """Why ``path`` is too open to hold a secret, or None (PostgreSQL's rule for its key).

    A file owned by its user may give no permission to group or others (0600, 0400); a
    root-owned file may also be read by its group (0640, 0440: a service account reading a
    key through a group). Not checked on Windows, whose modes say nothing about this.
    """
    if os.name == "nt":
        return None
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    group_read_by_root = info.st_uid == 0 and not mode & 0o037
    if mode & 0o077 and not group_read_by_root:
        return (
            f"the {what} at {path} is open to other users (mode {mode:04o}); run chmod 600 on"
            " it (0640 is accepted for a file owned by root and read through its group)"
        )
    return None


def read_private_key(path: Path, what: str = "private key") -> bytes:
    """A TLS private key file's bytes; refused if it is open to other users."""
    data = _read(path, what)
    problem = private_file_problem(path, what)
    if problem is not None:
        raise ConfigError(problem)
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
