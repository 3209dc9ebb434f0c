"""RetryStrategy, RequestLimiter and TtlCache: pure logic with injected clocks, no waiting."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import pytest

from pulsetrader.broker.errormap import parse_retry_after
from pulsetrader.broker.errors import (
    BrokerUnavailable,
    InvalidRequest,
    RateLimitError,
    TransientError,
)
from pulsetrader.broker.limiter import RequestLimiter
from pulsetrader.broker.orders import is_duplicate_client_order_id, new_client_order_id
from pulsetrader.broker.retry import RetryStrategy
from pulsetrader.caching import TtlCache
from tests.helpers import eventually


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def strategy(attempts: int = 4) -> tuple[RetryStrategy, list[float]]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    return RetryStrategy(
        attempts, base_delay=1, max_delay=8, rng=random.Random(3), sleep=sleep
    ), slept


async def test_retry_retries_transient_errors_with_growing_capped_delays() -> None:
    retry, slept = strategy(6)
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 6:
            raise BrokerUnavailable("down")
        return "ok"

    assert await retry.run(flaky) == "ok"
    assert calls == 6
    ceilings = [1, 2, 4, 8, 8]
    assert all(0 <= s <= c for s, c in zip(slept, ceilings, strict=True))


async def test_retry_gives_up_after_max_attempts_and_never_retries_permanent_errors() -> None:
    retry, slept = strategy(3)
    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        raise BrokerUnavailable("down")

    with pytest.raises(BrokerUnavailable):
        await retry.run(down)
    assert calls == 3

    async def bad() -> None:
        raise InvalidRequest("no")

    with pytest.raises(InvalidRequest):
        await retry.run(bad)
    assert len(slept) == 2


def test_retry_after_is_a_floor_under_the_backoff() -> None:
    retry, _ = strategy()
    assert retry.delay(1, RateLimitError("slow down", retry_after=42)) == 42
    assert retry.delay(1, TransientError("x")) <= 1


def test_retry_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryStrategy(max_attempts=0)


def test_parse_retry_after_from_either_header() -> None:
    assert parse_retry_after({"Retry-After": "3"}) == 3
    assert parse_retry_after({"X-Ratelimit-Reset": "1010"}, now=lambda: 1000.0) == 10
    assert parse_retry_after({"x-ratelimit-reset": "990"}, now=lambda: 1000.0) == 0
    assert parse_retry_after({}) is None
    assert parse_retry_after({"Retry-After": "soon"}) is None


def test_client_order_ids_are_unique_and_within_alpacas_limit() -> None:
    ids = {new_client_order_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) <= 48 for i in ids)
    assert is_duplicate_client_order_id("client_order_id must be unique")
    assert not is_duplicate_client_order_id("insufficient buying power")


def fake_time() -> tuple[FakeClock, Callable[[float], Awaitable[None]]]:
    clock = FakeClock()

    async def sleep(seconds: float) -> None:  # simulated time passes instantly
        clock.now += seconds
        await asyncio.sleep(0)

    return clock, sleep


async def test_limiter_allows_the_budget_then_waits_for_the_window() -> None:
    clock, sleep = fake_time()
    limiter = RequestLimiter(3, period=60, monotonic=clock, sleep=sleep)
    for _ in range(3):
        assert await limiter.acquire() == 0
        clock.now += 1
    # The 4th request waits until the first one leaves the trailing 60 s window.
    assert await limiter.acquire() == pytest.approx(57)
    assert limiter.used == 3


async def test_limiter_never_exceeds_the_budget_in_any_window() -> None:
    clock, sleep = fake_time()
    limiter = RequestLimiter(5, period=60, monotonic=clock, sleep=sleep)
    starts = []
    for _ in range(23):
        await limiter.acquire()
        starts.append(clock.now)
    for t0 in starts:
        assert sum(t0 <= s < t0 + 60 for s in starts) <= 5


async def test_limiter_pause_holds_everyone_until_the_reset() -> None:
    clock, sleep = fake_time()
    limiter = RequestLimiter(None, monotonic=clock, sleep=sleep)
    limiter.pause_for(5)
    assert await limiter.acquire() == pytest.approx(5)
    assert await limiter.acquire() == 0


class GatedLoader:
    """A loader whose loads wait for ``gate``; the n-th load answers ``n * step``."""

    def __init__(self, step: int = 1) -> None:
        self.gate = asyncio.Event()
        self.loads = 0
        self.step = step

    async def __call__(self) -> int:
        self.loads += 1
        number = self.loads
        await self.gate.wait()
        return number * self.step


async def test_cache_serves_fresh_values_and_shares_one_load_among_concurrent_misses() -> None:
    clock = FakeClock()
    cache: TtlCache[str, int] = TtlCache(10, monotonic=clock)
    load = GatedLoader()
    gate = load.gate

    tasks = [asyncio.create_task(cache.get_or_load("k", load)) for _ in range(20)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*tasks) == [1] * 20
    assert load.loads == 1
    assert await cache.get_or_load("k", load) == 1
    assert cache.stats.saved == 20
    clock.now += 11
    assert await cache.get_or_load("k", load) == 2


async def test_cache_does_not_keep_failures_and_survives_a_cancelled_caller() -> None:
    cache: TtlCache[str, int] = TtlCache(10)

    async def boom() -> int:
        raise BrokerUnavailable("down")

    with pytest.raises(BrokerUnavailable):
        await cache.get_or_load("k", boom)
    assert cache.inflight == 0
    gate = asyncio.Event()

    async def slow() -> int:
        await gate.wait()
        return 7

    first = asyncio.create_task(cache.get_or_load("k", slow))
    second = asyncio.create_task(cache.get_or_load("k", slow))
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    assert await second == 7
    assert cache.get("k") == 7
    assert cache.inflight == 0


def test_cache_evicts_the_oldest_entry_beyond_its_size() -> None:
    cache: TtlCache[int, int] = TtlCache(10, max_entries=2)
    for i in range(3):
        cache.put(i, i)
    assert cache.get(0) is None
    assert (cache.get(1), cache.get(2)) == (1, 2)


async def test_cache_keeps_a_none_value_for_its_ttl() -> None:
    now = [0.0]
    cache: TtlCache[str, int | None] = TtlCache(5.0, monotonic=lambda: now[0])
    loads = 0

    async def load() -> int | None:
        nonlocal loads
        loads += 1
        return None

    assert await cache.get_or_load("close", load) is None
    assert await cache.get_or_load("close", load) is None
    assert loads == 1
    now[0] = 6.0
    assert await cache.get_or_load("close", load) is None
    assert loads == 2


async def test_a_load_started_before_an_invalidation_stores_nothing_and_is_not_joined() -> None:
    cache: TtlCache[str, str] = TtlCache(10)
    release = asyncio.Event()
    loads: list[str] = []

    async def slow() -> str:
        name = f"load {len(loads) + 1}"
        loads.append(name)
        await release.wait()
        return name

    first = asyncio.ensure_future(cache.get_or_load("k", slow))
    await asyncio.sleep(0)  # the first load is under way
    cache.invalidate()  # something changed: what that load reads may be old
    second = asyncio.ensure_future(cache.get_or_load("k", slow))
    await asyncio.sleep(0)
    release.set()
    assert await first == "load 1"  # its own caller still gets an answer
    assert await second == "load 2"  # the read after the change did not join the old load
    assert cache.get("k") == "load 2"  # and the old load's value was not stored


async def test_a_stale_value_within_the_bound_is_served_at_once_and_renewed_once() -> None:
    clock = FakeClock()
    cache: TtlCache[str, int] = TtlCache(2, monotonic=clock)
    load = GatedLoader(step=10)
    gate = load.gate

    gate.set()
    assert await cache.get_or_refresh("k", load, max_stale=15) == 10  # nothing stored: waits
    gate.clear()
    clock.now += 5  # past the TTL, within the bound
    assert await cache.get_or_refresh("k", load, max_stale=15) == 10
    assert await cache.get_or_refresh("k", load, max_stale=15) == 10
    assert cache.inflight == 1  # one renewal for both reads
    gate.set()
    await eventually(lambda: cache.get("k") == 20, timeout=2, message="renewed in the background")
    clock.now += 20  # past the bound: the next read waits for the broker
    gate.clear()
    waiting = asyncio.create_task(cache.get_or_refresh("k", load, max_stale=15))
    await asyncio.sleep(0)
    assert not waiting.done()
    gate.set()
    assert await waiting == 30
