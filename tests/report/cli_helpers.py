"""Helpers of the report's command-line tests: run the CLI, dump a store, look for secrets."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

from click.testing import CliRunner, Result

from linkage.admin.cli import main


def run_cli(*args: str | Path) -> Result:
    """``linkage-admin ARGS`` in-process."""
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _forms(secret: bytes) -> set[str]:
    forms = {
        secret.hex(),
        base64.b64encode(secret).decode(),
        base64.urlsafe_b64encode(secret).decode().rstrip("="),
    }
    return {form for form in forms if len(form) >= 12}


def assert_no_secret(text: str, secrets: list[bytes]) -> None:
    """No secret appears in ``text`` as hex, base64 or unpadded base64url."""
    for secret in secrets:
        for form in _forms(secret):
            assert form not in text, "a pointer token, record key or CLK was written out"


def dump(path: Path) -> list[str]:
    """Every table's rows, as SQL text (what the store holds, not how the file looks)."""
    connection = sqlite3.connect(path)
    try:
        return list(connection.iterdump())
    finally:
        connection.close()
