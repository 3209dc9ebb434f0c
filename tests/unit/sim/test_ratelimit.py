"""RateLimiter: fixed one-minute windows per key, headers, refusals, unlimited mode."""

from __future__ import annotations

import pytest

from pulsetrader.sim.ratelimit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.25

    def __call__(self) -> float:
        return self.now


def test_counts_down_and_refuses_over_the_limit() -> None:
    clock = FakeClock()
    limiter = RateLimiter(3, clock=clock)
    decisions = [limiter.hit("k") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    headers = decisions[0].headers()
    assert headers == {
        "X-Ratelimit-Limit": "3",
        "X-Ratelimit-Remaining": "2",
        "X-Ratelimit-Reset": str(1_700_000_061),
    }
    refused = decisions[-1].headers()
    assert refused["Retry-After"] == "60"
    assert refused["X-Ratelimit-Remaining"] == "0"
    assert limiter.refused == 1


def test_window_refills_after_a_minute() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, clock=clock)
    limiter.hit("k")
    clock.now += 30
    limiter.hit("k")
    refused = limiter.hit("k")
    assert not refused.allowed
    assert refused.retry_after == 30
    clock.now += 29.9
    assert not limiter.hit("k").allowed
    clock.now += 0.1
    again = limiter.hit("k")
    assert again.allowed
    assert again.remaining == 1


def test_keys_have_separate_budgets() -> None:
    limiter = RateLimiter(1, clock=FakeClock())
    assert limiter.hit("a").allowed
    assert limiter.hit("b").allowed
    assert not limiter.hit("a").allowed


def test_refusals_do_not_consume_budget() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1, clock=clock)
    limiter.hit("k")
    for _ in range(10):
        limiter.hit("k")
    clock.now += 60
    assert limiter.hit("k").allowed


def test_unlimited_admits_everything_without_headers() -> None:
    limiter = RateLimiter(None, clock=FakeClock())
    for _ in range(1000):
        decision = limiter.hit("k")
        assert decision.allowed
    assert decision.headers() == {}


def test_reset_forgets_windows() -> None:
    limiter = RateLimiter(1, clock=FakeClock())
    limiter.hit("k")
    assert not limiter.hit("k").allowed
    limiter.reset()
    assert limiter.hit("k").allowed
    assert limiter.refused == 0


def test_rejects_a_zero_limit() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RateLimiter(0)
