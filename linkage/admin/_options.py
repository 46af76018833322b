"""Options shared by admin commands, defined once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from linkage.errors import ConfigError, InvalidInputError, NotFoundError
from linkage.pki._files import read_private_file

__all__ = ["parse_utc", "passphrase_file_option", "pki_dir_option", "read_passphrase"]

_F = TypeVar("_F", bound=Callable[..., Any])


def pki_dir_option(func: _F) -> _F:
    """``--dir``: the PKI directory (or ``$LINKAGE_PKI_DIR``)."""
    return click.option(
        "--dir",
        "pki_dir",
        envvar="LINKAGE_PKI_DIR",
        required=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="PKI directory (env LINKAGE_PKI_DIR).",
    )(func)


def passphrase_file_option(func: _F) -> _F:
    """``--ca-passphrase-file``: a 0600 file holding the CA key's passphrase, if it has one."""
    return click.option(
        "--ca-passphrase-file",
        envvar="LINKAGE_CA_PASSPHRASE_FILE",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="File (mode 0600) with the CA key passphrase (env LINKAGE_CA_PASSPHRASE_FILE). "
        "Secrets are never taken from the command line.",
    )(func)


def read_passphrase(path: Path | None) -> bytes | None:
    """The passphrase in ``path`` (one line, trailing newline dropped), or None."""
    if path is None:
        return None
    try:
        data = read_private_file(path, "CA passphrase file")
    except NotFoundError:
        raise ConfigError(f"{path}: CA passphrase file not found") from None
    passphrase = data.rstrip(b"\r\n")
    if len(passphrase) < 12:
        raise ConfigError(f"{path}: CA passphrase must be at least 12 bytes")
    return passphrase


def parse_utc(value: str | None, what: str) -> datetime | None:
    """Parse ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM:SS[Z|+hh:mm]``; naive means UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(f"{what}: not an ISO 8601 date or timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
