"""Time as the service sees it: injectable so tests control it."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "datetime_from_us", "system_clock_us"]

#: A clock returns the current time in microseconds since the Unix epoch.
Clock = Callable[[], int]


def system_clock_us() -> int:
    """Wall-clock time in microseconds since the Unix epoch."""
    return time.time_ns() // 1000


def datetime_from_us(us: int) -> datetime:
    """An aware UTC datetime for a microsecond timestamp."""
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC)
