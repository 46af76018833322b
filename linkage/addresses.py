"""Listen addresses (``host:port``), shared by the matcher and the agency gateway."""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback"]


def is_loopback(listen: str) -> bool:
    """Whether a ``host:port`` address binds to loopback only (``localhost``, 127.0.0.0/8,
    ``[::1]``); a name other than ``localhost`` is not loopback."""
    host = listen.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
