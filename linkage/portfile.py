"""Port files: how a server started on port 0 tells its starter the port it bound.

``linkage-server serve --port-file`` and ``agency-client gateway --port-file`` write the
bound port with :func:`write_port_file` (atomically: a reader sees no file or the whole
port); whoever started the process (the demo, tests, benchmarks) waits for it with
:func:`wait_for_port_file`.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

from linkage.errors import UnavailableError

__all__ = ["wait_for_port_file", "write_port_file"]

_POLL_S = 0.05
_LOG_TAIL_CHARS = 2000


def write_port_file(path: Path, port: int) -> None:
    """Write the bound port atomically (for scripts that start on port 0)."""
    temp = path.with_suffix(path.suffix + ".tmp")
    temp.write_text(f"{port}\n")
    os.replace(temp, path)


def _port(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text else None


def wait_for_port_file(
    path: Path,
    process: subprocess.Popen[Any],
    what: str,
    *,
    timeout_s: float | None = 60.0,
    log: Path | None = None,
) -> int:
    """The port ``process`` wrote to ``path``, once it has.

    :class:`UnavailableError` if the process exits first, or if ``timeout_s`` passes
    (the process is then killed; ``None`` waits as long as it runs); the message names
    ``what`` and ends with the tail of ``log`` when given.
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while (port := _port(path)) is None:
        code = process.poll()
        if code is not None:
            raise UnavailableError(f"the {what} exited at start (exit code {code}){_tail(log)}")
        if deadline is not None and time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise UnavailableError(f"the {what} did not start in {timeout_s:g} s{_tail(log)}")
        time.sleep(_POLL_S)
    return port


def _tail(log: Path | None) -> str:
    if log is None:
        return ""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    return f"; its log ends:\n{text[-_LOG_TAIL_CHARS:]}"
