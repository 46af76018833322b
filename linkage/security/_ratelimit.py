"""A thread-safe token bucket per key (typically per principal)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from linkage.errors import InvalidInputError, ResourceExhaustedError

__all__ = ["RateLimit", "RateLimiter"]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Sustained ``rate_per_s`` tokens per second, up to ``burst`` tokens saved up."""

    rate_per_s: float
    burst: int

    def __post_init__(self) -> None:
        if not (isinstance(self.rate_per_s, int | float) and math.isfinite(self.rate_per_s)):
            raise InvalidInputError("rate_per_s: must be a finite number")
        if self.rate_per_s <= 0:
            raise InvalidInputError("rate_per_s: must be positive")
        if isinstance(self.burst, bool) or not isinstance(self.burst, int) or self.burst < 1:
            raise InvalidInputError("burst: must be an integer of at least 1")


class RateLimiter:
    """Token buckets keyed by principal; :meth:`try_acquire` never blocks.

    A new key starts with a full bucket. Buckets that have refilled completely
    carry no state worth keeping, so when more than ``max_keys`` are held the
    full ones are dropped (memory stays bounded under many principals).
    ``clock`` returns seconds and must be monotonic; tests inject a fake one.
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_keys: int = 100_000,
    ) -> None:
        self.limit = RateLimit(rate_per_s, burst)
        if max_keys < 1:
            raise InvalidInputError("max_keys: must be at least 1")
        self._clock = clock
        #: the clock the buckets fill by (seconds, monotonic)
        self.clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        # key -> (tokens, time of last update)
        self._buckets: dict[Hashable, tuple[float, float]] = {}

    def try_acquire(self, key: Hashable, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens from ``key``'s bucket if it has them."""
        if not cost > 0:
            raise InvalidInputError("cost: must be positive")
        with self._lock:
            tokens, now = self._refilled(key, self._clock())
            if tokens >= cost:
                self._store(key, tokens - cost, now)
                return True
            self._store(key, tokens, now)
            return False

    def refund(self, key: Hashable, cost: float = 1.0) -> None:
        """Give back ``cost`` tokens taken by :meth:`try_acquire` for a call another limit
        refused (the bucket never holds more than its burst)."""
        if not cost > 0:
            raise InvalidInputError("cost: must be positive")
        with self._lock:
            tokens, now = self._refilled(key, self._clock())
            self._store(key, min(float(self.limit.burst), tokens + cost), now)

    def acquire(self, key: Hashable, cost: float = 1.0) -> None:
        """Like :meth:`try_acquire`, raising ResourceExhaustedError when over the limit."""
        if not self.try_acquire(key, cost):
            raise ResourceExhaustedError("request rate limit exceeded; retry later")

    def retry_after(self, key: Hashable, cost: float = 1.0) -> float:
        """Seconds until ``cost`` tokens will be available for ``key`` (0 if now)."""
        with self._lock:
            tokens, _ = self._refilled(key, self._clock())
        if cost > self.limit.burst:
            return math.inf
        return max(0.0, (cost - tokens) / self.limit.rate_per_s)

    def _refilled(self, key: Hashable, now: float) -> tuple[float, float]:
        """The bucket's tokens at ``now`` and the time to record (never earlier than before)."""
        state = self._buckets.get(key)
        if state is None:
            return float(self.limit.burst), now
        tokens, last = state
        if now <= last:  # a clock that stands still or steps back mints nothing
            return tokens, last
        return min(float(self.limit.burst), tokens + (now - last) * self.limit.rate_per_s), now

    def _store(self, key: Hashable, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self._max_keys:
            self._prune(now)

    def _prune(self, now: float) -> None:
        burst = float(self.limit.burst)
        full = [
            k
            for k, (tokens, last) in self._buckets.items()
            if tokens + max(0.0, now - last) * self.limit.rate_per_s >= burst
        ]
        for k in full:
            del self._buckets[k]

    def __len__(self) -> int:
        with self._lock:
            return len(self._buckets)
