"""Token buckets per principal, with an injected clock."""

from __future__ import annotations

import math
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkage.errors import InvalidInputError, ResourceExhaustedError
from linkage.security import RateLimit, RateLimiter

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_s=2.0, burst=3, clock=clock)
    assert [limiter.try_acquire("a") for _ in range(4)] == [True, True, True, False]
    clock.now = 0.49
    assert limiter.try_acquire("a") is False
    clock.now = 0.5  # one token back after 1/rate seconds
    assert limiter.try_acquire("a") is True
    assert limiter.try_acquire("a") is False
    clock.now = 100.0  # refills only up to the burst
    assert [limiter.try_acquire("a") for _ in range(4)] == [True, True, True, False]


def test_keys_are_independent() -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=1, clock=FakeClock())
    assert limiter.try_acquire("alice") is True
    assert limiter.try_acquire("alice") is False
    assert limiter.try_acquire("bob") is True


def test_acquire_raises_resource_exhausted() -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=1, clock=FakeClock())
    limiter.acquire("k")
    with pytest.raises(ResourceExhaustedError, match="rate limit") as info:
        limiter.acquire("k")
    assert info.value.status_hint.value == "resource_exhausted"


def test_retry_after() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_s=4.0, burst=2, clock=clock)
    assert limiter.retry_after("k") == 0.0
    limiter.try_acquire("k", cost=2)
    assert limiter.retry_after("k") == pytest.approx(0.25)
    assert math.isinf(limiter.retry_after("k", cost=3))


def test_a_clock_stepping_back_mints_nothing() -> None:
    clock = FakeClock()
    clock.now = 10.0
    limiter = RateLimiter(rate_per_s=1.0, burst=1, clock=clock)
    assert limiter.try_acquire("k") is True
    clock.now = 5.0
    assert limiter.try_acquire("k") is False
    clock.now = 10.5
    assert limiter.try_acquire("k") is False  # still counted from 10.0
    clock.now = 11.0
    assert limiter.try_acquire("k") is True


def test_full_buckets_are_pruned_past_max_keys() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_s=1.0, burst=1, clock=clock, max_keys=10)
    for i in range(10):
        limiter.try_acquire(i)
    assert len(limiter) == 10
    clock.now = 5.0  # everyone has refilled: their state is worthless
    limiter.try_acquire("new")
    assert len(limiter) == 1  # only "new" is not full
    assert limiter.try_acquire("new") is False


def test_threads_never_exceed_the_burst() -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=500, clock=FakeClock())
    granted: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = sum(limiter.try_acquire("shared") for _ in range(200))
        with lock:
            granted.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) == 500  # 1600 attempts, frozen clock: exactly the burst


@given(
    rate=st.floats(min_value=0.1, max_value=100),
    burst=st.integers(min_value=1, max_value=50),
    steps=st.lists(st.floats(min_value=0, max_value=2), min_size=1, max_size=60),
)
def test_never_more_than_burst_plus_rate_times_elapsed(
    rate: float, burst: int, steps: list[float]
) -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_s=rate, burst=burst, clock=clock)
    granted = 0
    for step in steps:
        clock.now += step
        granted += sum(limiter.try_acquire("k") for _ in range(5))
    assert granted <= burst + rate * clock.now + 1e-6


@pytest.mark.parametrize(
    ("rate", "burst"),
    [(0, 1), (-1, 1), (math.inf, 1), (math.nan, 1), (1, 0), (1, 1.5), (1, True)],
)
def test_configuration_is_validated(rate: float, burst: int) -> None:
    with pytest.raises(InvalidInputError):
        RateLimit(rate, burst)


def test_cost_must_be_positive() -> None:
    with pytest.raises(InvalidInputError):
        RateLimiter(1.0, 1, clock=FakeClock()).try_acquire("k", cost=0)


def test_a_refund_gives_a_token_back_never_beyond_the_burst() -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=2, clock=FakeClock())
    assert [limiter.try_acquire("a") for _ in range(3)] == [True, True, False]
    limiter.refund("a")
    assert [limiter.try_acquire("a") for _ in range(2)] == [True, False]
    limiter.refund("b", cost=5)  # a new key starts full: nothing beyond the burst
    assert [limiter.try_acquire("b") for _ in range(3)] == [True, True, False]
    with pytest.raises(InvalidInputError, match="cost"):
        limiter.refund("a", cost=0)
