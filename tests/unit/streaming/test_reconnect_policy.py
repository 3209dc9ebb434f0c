"""ReconnectPolicy: exponential backoff with equal jitter and a cap; long connection-limit waits."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pulsetrader.streaming import ReconnectPolicy


def ceilings(policy: ReconnectPolicy, attempts: range) -> list[float]:
    return [min(policy.max_delay, policy.base_delay * 2 ** (n - 1)) for n in attempts]


def test_delays_double_from_the_base_until_the_cap() -> None:
    policy = ReconnectPolicy(base_delay=1.0, max_delay=30.0, rng=random.Random(7))
    for attempt, ceiling in zip(
        range(1, 12), [1, 2, 4, 8, 16, 30, 30, 30, 30, 30, 30], strict=True
    ):
        samples = [policy.delay(attempt) for _ in range(200)]
        # Equal jitter: half the ceiling is fixed, the other half random.
        assert all(ceiling / 2 <= s <= ceiling for s in samples), (attempt, min(samples))
        assert max(samples) - min(samples) > ceiling / 4, "no jitter"


def test_the_cap_holds_for_huge_attempt_counts() -> None:
    policy = ReconnectPolicy(base_delay=0.5, max_delay=10.0)
    assert all(5.0 <= policy.delay(n) <= 10.0 for n in (50, 1000, 10_000))


def test_attempt_zero_or_less_waits_like_the_first() -> None:
    policy = ReconnectPolicy(base_delay=2.0, max_delay=30.0)
    assert all(1.0 <= policy.delay(n) <= 2.0 for n in (-3, 0, 1))


def test_jitter_is_random_but_reproducible_with_a_seed() -> None:
    a = ReconnectPolicy(rng=random.Random(42))
    b = ReconnectPolicy(rng=random.Random(42))
    c = ReconnectPolicy(rng=random.Random(43))
    seq_a = [a.delay(n) for n in range(1, 20)]
    assert seq_a == [b.delay(n) for n in range(1, 20)]
    assert seq_a != [c.delay(n) for n in range(1, 20)]


def test_clients_that_fail_together_spread_out() -> None:
    """Ten clients dropped at once do not come back at one instant (no thundering herd)."""
    waits = [ReconnectPolicy(rng=random.Random(i)).delay(3) for i in range(10)]
    assert len({round(w, 3) for w in waits}) == 10
    assert max(waits) - min(waits) > 0.5


def test_connection_limit_waits_start_long_and_are_capped() -> None:
    policy = ReconnectPolicy(base_delay=1.0, max_delay=30.0, limit_delay=15.0, limit_max_delay=90.0)
    first = [policy.limit_wait(1) for _ in range(100)]
    assert all(7.5 <= w <= 15.0 for w in first)
    # Longer than an ordinary first retry, every time.
    assert min(first) > max(policy.delay(1) for _ in range(100))
    assert all(45.0 <= policy.limit_wait(n) <= 90.0 for n in (4, 5, 50))


def test_defaults_match_alpaca_py() -> None:
    """alpaca-py 0.44: from 1 s, capped at 30 s, equal jitter."""
    policy = ReconnectPolicy()
    assert (policy.base_delay, policy.max_delay) == (1.0, 30.0)
    assert policy.limit_delay >= 15.0


@given(
    base=st.floats(0.001, 10.0),
    cap=st.floats(0.001, 100.0),
    attempt=st.integers(-5, 5000),
    seed=st.integers(0, 2**32),
)
def test_every_delay_lies_in_its_jitter_window(
    base: float, cap: float, attempt: int, seed: int
) -> None:
    policy = ReconnectPolicy(base_delay=base, max_delay=cap, rng=random.Random(seed))
    ceiling = min(cap, base * 2.0 ** min(max(0, attempt - 1), 64))
    delay = policy.delay(attempt)
    assert ceiling / 2 <= delay <= ceiling
    assert delay <= cap


@pytest.mark.parametrize("attempts", [range(1, 8)])
def test_ceilings_never_shrink(attempts: range) -> None:
    policy = ReconnectPolicy(base_delay=0.1, max_delay=3.0)
    values = ceilings(policy, attempts)
    assert values == sorted(values)
    assert values[-1] == 3.0
