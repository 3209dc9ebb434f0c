"""The login throttle: free mistakes, then growing delays, then a lockout, per user and per
client; time is a fake clock."""

from __future__ import annotations

import pytest

from pulsetrader.api.throttle import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def throttle(clock: Clock) -> LoginThrottle:
    return LoginThrottle(
        free_failures=2,
        base_delay=1.0,
        max_delay=4.0,
        lockout_after=5,
        lockout_base=30.0,
        max_lockout=100.0,
        forget_after=600.0,
        clock=clock,
    )


def test_delays_grow_after_the_free_failures(throttle: LoginThrottle) -> None:
    delays = [throttle.record_failure("alice", "10.0.0.1") for _ in range(6)]
    assert delays == [0, 0, 1.0, 2.0, 4.0, 4.0]  # doubling, capped at max_delay


def test_lockout_past_the_limit_then_expiry(throttle: LoginThrottle, clock: Clock) -> None:
    for _ in range(4):
        throttle.record_failure("alice", "10.0.0.1")
    assert throttle.retry_after("alice", "10.0.0.1") is None
    throttle.record_failure("alice", "10.0.0.1")
    assert throttle.retry_after("alice", "10.0.0.1") == 30.0
    clock.now += 10
    assert throttle.retry_after("alice", "10.0.0.1") == 20.0
    clock.now += 20
    assert throttle.retry_after("alice", "10.0.0.1") is None
    throttle.record_failure("alice", "10.0.0.1")  # the sixth: the lockout doubles
    assert throttle.retry_after("alice", "10.0.0.1") == 60.0
    for _ in range(3):
        throttle.record_failure("alice", "10.0.0.1")
    assert throttle.retry_after("alice", "10.0.0.1") == 100.0  # capped at max_lockout


def test_the_user_name_is_locked_from_every_address(throttle: LoginThrottle) -> None:
    for n in range(5):
        throttle.record_failure("alice", f"10.0.0.{n}")
    assert throttle.retry_after("alice", "192.0.2.1") == 30.0
    assert throttle.retry_after("ALICE ", "192.0.2.1") == 30.0  # case and spaces fold
    assert throttle.retry_after("bob", "192.0.2.1") is None


def test_the_address_is_locked_for_every_user_name(throttle: LoginThrottle) -> None:
    for n in range(5):
        throttle.record_failure(f"user{n}", "10.0.0.1")
    assert throttle.retry_after("someone-else", "10.0.0.1") == 30.0
    assert throttle.retry_after("someone-else", "10.0.0.2") is None
    assert throttle.failures("someone-else", "10.0.0.1") == 5


def test_a_success_clears_both_keys(throttle: LoginThrottle) -> None:
    for _ in range(4):
        throttle.record_failure("alice", "10.0.0.1")
    throttle.record_success("alice", "10.0.0.1")
    assert throttle.failures("alice", "10.0.0.1") == 0
    assert throttle.record_failure("alice", "10.0.0.1") == 0


def test_failures_are_forgotten_after_a_quiet_period(throttle: LoginThrottle, clock: Clock) -> None:
    for _ in range(5):
        throttle.record_failure("alice", "10.0.0.1")
    clock.now += 600
    assert throttle.retry_after("alice", "10.0.0.1") is None
    assert throttle.failures("alice", "10.0.0.1") == 0


def test_memory_is_bounded(clock: Clock) -> None:
    throttle = LoginThrottle(max_keys=10, clock=clock)
    for n in range(100):
        throttle.record_failure(f"user{n}", f"10.0.{n}.1")
    assert len(throttle) == 10


async def test_fail_waits_out_the_delay_with_the_injected_sleep(clock: Clock) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    throttle = LoginThrottle(free_failures=1, base_delay=0.25, clock=clock, sleep=sleep)
    for _ in range(3):
        await throttle.fail("alice", "10.0.0.1")
    assert slept == [0.25, 0.5]


def test_the_limits_must_make_sense() -> None:
    with pytest.raises(ValueError, match="free_failures"):
        LoginThrottle(free_failures=5, lockout_after=5)
