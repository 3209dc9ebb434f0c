"""The monitor: trading-state changes, who may lift what, the journal, logs and the ping loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from loguru import logger

from pulsetrader.broker.errors import (
    BrokerError,
    BrokerTimeout,
    BrokerUnavailable,
    InvalidRequest,
)
from pulsetrader.broker.hooks import CallOutcome
from pulsetrader.domain import OrderIntent, OrderSide, TradingState
from pulsetrader.monitoring import ConnectionHealthMonitor, HealthPolicy, HealthTransition
from pulsetrader.persistence import TRADING_STATE_KEY, Journal
from pulsetrader.risk import Approved, Denied, MemoryStateStore, RiskManager
from pulsetrader.streaming.events import StreamEventKind
from tests.helpers import eventually
from tests.unit.monitoring.builders import FakeTime, failed, ok, stream_event
from tests.unit.risk.builders import account, position

POLICY = HealthPolicy(error_threshold=3, healthy_period=60.0, slow_call_seconds=1.0)


async def never_called() -> float:
    raise AssertionError("the ping loop was not started in this test")


@pytest.fixture
def journal() -> Iterator[Journal]:
    with Journal(":memory:") as j:
        yield j


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def risk(time: FakeTime) -> RiskManager:
    return RiskManager(store=MemoryStateStore(), clock=time.clock, monotonic=time.monotonic)


def build(
    risk: RiskManager,
    time: FakeTime,
    journal: Journal | None = None,
    ping: Callable[[], Any] = never_called,
    policy: HealthPolicy = POLICY,
    **kw: Any,
) -> ConnectionHealthMonitor:
    return ConnectionHealthMonitor(
        ping,
        risk,
        journal=journal,
        policy=policy,
        clock=time.clock,
        monotonic=time.monotonic,
        **kw,
    )


def break_it(monitor: ConnectionHealthMonitor, n: int = 3) -> None:
    for _ in range(n):
        monitor.on_call(failed())


def recover(monitor: ConnectionHealthMonitor, time: FakeTime) -> None:
    monitor.on_call(ok())
    time.advance(monitor.policy.healthy_period)
    monitor.tick()


def health_rows(journal: Journal) -> list[dict[str, Any]]:
    return list(reversed(journal.actions(actor="health")))


# -- entering and leaving -----------------------------------------------------------------------


def test_threshold_sets_reducing_and_recovery_sets_active(
    risk: RiskManager, time: FakeTime, journal: Journal
) -> None:
    monitor = build(risk, time, journal)
    break_it(monitor, 2)
    assert risk.state is TradingState.ACTIVE
    monitor.on_call(failed())
    assert risk.state is TradingState.REDUCING
    assert monitor.preservation
    assert monitor.managed
    assert "3 consecutive errors" in risk.state_reason
    time.advance(30)
    monitor.on_call(ok())
    assert risk.state is TradingState.REDUCING  # too soon
    time.advance(29)
    monitor.tick()
    assert risk.state is TradingState.REDUCING
    time.advance(1)
    monitor.tick()
    assert risk.state is TradingState.ACTIVE
    assert not monitor.managed
    rows = health_rows(journal)
    assert [(r["action"], r["detail"]["from"], r["detail"]["to"]) for r in rows] == [
        ("trading_state", "ACTIVE", "REDUCING"),
        ("trading_state", "REDUCING", "ACTIVE"),
    ]
    assert "3 consecutive errors" in rows[0]["detail"]["reason"]
    assert "healthy again" in rows[1]["detail"]["reason"]
    assert rows[1]["at"] == time.clock()
    assert journal.get_state(TRADING_STATE_KEY) == "ACTIVE"


def test_preservation_mode_lets_exits_through_and_stops_entries(
    risk: RiskManager, time: FakeTime
) -> None:
    monitor = build(risk, time)
    break_it(monitor)
    entry = OrderIntent(symbol="AAPL", side=OrderSide.BUY, qty=Decimal(1), strategy="momo")
    exit_ = OrderIntent(symbol="AAPL", side=OrderSide.SELL, qty=Decimal(5), strategy="momo")
    held = [position("AAPL", 10)]
    denied = risk.validate_trade(entry, account(), held, price=Decimal(100))
    assert isinstance(denied, Denied)
    assert denied.rule == "reducing"
    assert isinstance(risk.validate_trade(exit_, account(), held, price=Decimal(100)), Approved)


def test_non_health_refusals_never_enter(risk: RiskManager, time: FakeTime) -> None:
    monitor = build(risk, time)
    for _ in range(20):
        monitor.on_call(failed(InvalidRequest("qty must be > 0", status=422)))
    assert risk.state is TradingState.ACTIVE
    assert monitor.snapshot()["refusals"] == 20


def test_stream_faults_enter_preservation_mode(risk: RiskManager, time: FakeTime) -> None:
    monitor = build(risk, time)
    monitor.on_stream_event(stream_event(StreamEventKind.SILENCE, detail="no data for 30s"))
    monitor.on_stream_event(stream_event(StreamEventKind.DISCONNECTED))
    monitor.on_stream_event(stream_event(StreamEventKind.SILENCE))
    assert risk.state is TradingState.REDUCING
    assert "stream iex silence" in risk.state_reason


# -- who may lift what --------------------------------------------------------------------------


def test_an_operator_halt_is_never_lifted(
    risk: RiskManager, time: FakeTime, journal: Journal
) -> None:
    monitor = build(risk, time, journal)
    break_it(monitor)
    assert risk.state is TradingState.REDUCING
    risk.set_state(TradingState.HALTED, "kill switch")
    assert not monitor.managed
    recover(monitor, time)
    assert not monitor.preservation
    assert risk.state is TradingState.HALTED
    # Unhealthy and healthy again while halted: still halted, both journaled as notes.
    break_it(monitor)
    recover(monitor, time)
    assert risk.state is TradingState.HALTED
    actions = [(r["action"], r["detail"].get("applied")) for r in health_rows(journal)]
    assert actions == [
        ("trading_state", None),
        ("health_left", False),
        ("health_entered", False),
        ("health_left", False),
    ]
    assert "halt" in health_rows(journal)[1]["detail"]["why"]


def test_halted_before_the_fault_stays_halted(risk: RiskManager, time: FakeTime) -> None:
    risk.set_state(TradingState.HALTED, "operator")
    monitor = build(risk, time)
    break_it(monitor)
    assert monitor.preservation
    assert risk.state is TradingState.HALTED
    recover(monitor, time)
    assert risk.state is TradingState.HALTED


def test_a_reducing_someone_else_set_is_not_lifted(
    risk: RiskManager, time: FakeTime, journal: Journal
) -> None:
    monitor = build(risk, time, journal)
    risk.set_state(TradingState.REDUCING, "operator: wind down")
    break_it(monitor)
    assert not monitor.managed
    recover(monitor, time)
    assert risk.state is TradingState.REDUCING
    assert risk.state_reason == "operator: wind down"
    assert [r["action"] for r in health_rows(journal)] == ["health_entered", "health_left"]


def test_reducing_taken_over_by_someone_else_is_not_lifted(
    risk: RiskManager, time: FakeTime
) -> None:
    monitor = build(risk, time)
    break_it(monitor)
    assert monitor.managed
    risk.set_state(TradingState.HALTED, "operator")
    risk.set_state(TradingState.REDUCING, "operator: reduce only")
    recover(monitor, time)
    assert risk.state is TradingState.REDUCING


def test_active_set_while_unhealthy_is_reverted_at_the_next_input(
    risk: RiskManager, time: FakeTime
) -> None:
    monitor = build(risk, time)
    break_it(monitor)
    risk.set_state(TradingState.ACTIVE, "operator resume")  # no event loop: next input applies
    assert risk.state is TradingState.ACTIVE
    monitor.tick()
    assert risk.state is TradingState.REDUCING
    assert monitor.managed
    assert "still unhealthy" in risk.state_reason
    recover(monitor, time)
    assert risk.state is TradingState.ACTIVE


async def test_active_set_while_unhealthy_is_reverted_at_once_with_a_loop(
    risk: RiskManager, time: FakeTime
) -> None:
    monitor = build(risk, time)
    break_it(monitor)
    risk.set_state(TradingState.ACTIVE, "operator resume")
    await eventually(lambda: risk.state is TradingState.REDUCING, message="REDUCING again")
    assert monitor.managed


# -- listeners, logs, snapshot ------------------------------------------------------------------


def test_listeners_see_every_transition(risk: RiskManager, time: FakeTime) -> None:
    monitor = build(risk, time)
    seen: list[HealthTransition] = []
    monitor.add_listener(seen.append)
    monitor.add_listener(lambda t: 1 / 0)  # a broken listener breaks nothing
    break_it(monitor)
    recover(monitor, time)
    assert [t.entered for t in seen] == [True, False]
    assert [t["event"] for t in monitor.snapshot()["transitions"]] == ["left", "entered"]


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lines.append, level="WARNING", format="{level} {message}")
    yield lines
    logger.remove(sink)


def test_slow_calls_are_logged_with_endpoint_and_latency(
    risk: RiskManager, time: FakeTime, warnings: list[str]
) -> None:
    monitor = build(risk, time)
    monitor.on_call(ok("get_positions", seconds=0.2))
    assert not [line for line in warnings if "slow" in line]
    monitor.on_call(ok("get_bars", seconds=2.5))
    slow = [line for line in warnings if "slow" in line]
    assert len(slow) == 1
    assert slow[0].startswith("WARNING")
    assert "get_bars" in slow[0]
    assert "2500 ms" in slow[0]
    assert monitor.snapshot()["latency"]["get_bars"]["slow"] == 1


def test_transitions_are_logged(risk: RiskManager, time: FakeTime, warnings: list[str]) -> None:
    monitor = build(risk, time)
    break_it(monitor)
    assert any("entering preservation mode" in line for line in warnings)


def test_snapshot(risk: RiskManager, time: FakeTime) -> None:
    monitor = build(risk, time)
    monitor.on_call(ok(seconds=0.1))
    break_it(monitor)
    snap = monitor.snapshot()
    json.dumps(snap)
    assert snap["healthy"] is False
    assert snap["state"] == "REDUCING"
    assert snap["managed"] is True
    assert snap["consecutive_errors"] == 3
    assert snap["preservation_since"] == "2024-03-04T15:00:00Z"
    assert snap["last_success"] == "2024-03-04T15:00:00Z"
    assert snap["running"] is False
    assert snap["ping"]["count"] == 0


def test_journal_failures_do_not_break_the_monitor(risk: RiskManager, time: FakeTime) -> None:
    journal = Journal(":memory:")
    journal.close()
    monitor = build(risk, time, journal)
    break_it(monitor)
    assert risk.state is TradingState.REDUCING


# -- the ping ------------------------------------------------------------------------------------


class FakeBroker:
    """A ping that fails ``failures`` times then succeeds, reporting its outcome through the
    monitor's hook as AlpacaClient does, and moving the fake clocks ``step`` seconds each time."""

    def __init__(
        self, time: FakeTime, failures: int, step: float = 20.0, report: bool = True
    ) -> None:
        self.time = time
        self.failures = failures
        self.step = step
        self.report = report
        self.calls = 0
        self.hook: Callable[[CallOutcome], None] | None = None

    async def ping(self) -> float:
        self.calls += 1
        self.time.advance(self.step)
        failing = self.calls <= self.failures
        if failing:
            error: BrokerError | None = BrokerUnavailable(
                "ping: the broker failed (503)", status=503
            )
            outcome = CallOutcome("ping", False, 0.01, self.time.clock(), 503, error)
        else:
            error = None
            outcome = CallOutcome("ping", True, 0.01, self.time.clock(), 200)
        if self.report and self.hook is not None:
            self.hook(outcome)
        if error is not None:
            raise error
        return 0.01


async def test_ping_loop_enters_then_recovers(
    risk: RiskManager, time: FakeTime, journal: Journal
) -> None:
    broker = FakeBroker(time, failures=4)
    monitor = build(risk, time, journal, ping=broker.ping, ping_interval=0.001)
    broker.hook = monitor.on_call
    states: list[TradingState] = []
    risk.on_state_change(lambda old, new, reason: states.append(new))
    monitor.start()
    try:
        assert monitor.running
        # 4 failures (in preservation mode from the 3rd), then successes 20 s apart: healthy
        # 60 s after the last failure. The listener sees both changes, however fast they come.
        await eventually(lambda: len(states) >= 2, message="REDUCING, then ACTIVE again")
        assert risk.state is TradingState.ACTIVE
        assert not monitor.preservation
    finally:
        await monitor.stop()
    assert not monitor.running
    assert states[:2] == [TradingState.REDUCING, TradingState.ACTIVE]
    snap = monitor.snapshot()
    assert snap["ping"]["failures"] == 4
    assert snap["total_errors"] == 4  # each failed ping counted once, not twice
    assert snap["latency"]["ping"]["count"] >= 3
    assert [r["detail"]["to"] for r in health_rows(journal)][:2] == ["REDUCING", "ACTIVE"]


async def test_a_raising_ping_counts_even_without_an_outcome(
    risk: RiskManager, time: FakeTime
) -> None:
    broker = FakeBroker(time, failures=1, report=False)
    monitor = build(risk, time, ping=broker.ping)
    assert await monitor.check() is False
    assert monitor.core.consecutive_errors == 1
    assert monitor.core.last_error_text is not None
    assert "503" in monitor.core.last_error_text
    assert await monitor.check() is True  # success synthesised from the returned latency
    assert monitor.core.consecutive_errors == 0
    assert monitor.core.latency()["ping"].last == 0.01  # the latency the ping returned


async def test_a_ping_outcome_through_the_hook_is_not_counted_twice(
    risk: RiskManager, time: FakeTime
) -> None:
    broker = FakeBroker(time, failures=2)
    monitor = build(risk, time, ping=broker.ping)
    broker.hook = monitor.on_call
    await monitor.check()
    await monitor.check()
    assert monitor.core.consecutive_errors == 2
    await monitor.check()
    assert monitor.core.consecutive_errors == 0
    assert monitor.core.calls == 3


async def test_a_ping_that_raises_anything_counts(risk: RiskManager, time: FakeTime) -> None:
    async def broken() -> float:
        raise RuntimeError("socket exploded")

    monitor = build(risk, time, ping=broken)
    assert await monitor.check() is False
    assert monitor.core.consecutive_errors == 1
    assert "RuntimeError: socket exploded" in (monitor.core.last_error_text or "")


async def test_a_hung_ping_times_out_as_a_fault(risk: RiskManager, time: FakeTime) -> None:
    never = asyncio.Event()

    async def hung() -> float:
        await never.wait()
        return 0.0

    monitor = build(risk, time, ping=hung, ping_timeout=0.01)
    assert await monitor.check() is False
    assert "BrokerTimeout" in (monitor.core.last_error_text or "")


async def test_a_ping_after_an_ok_outcome_that_raises_still_counts(
    risk: RiskManager, time: FakeTime
) -> None:
    monitor = build(risk, time)

    async def odd() -> float:
        monitor.on_call(ok("ping"))
        raise BrokerTimeout("ping: gave up")

    monitor._ping = odd
    assert await monitor.check() is False
    assert monitor.core.consecutive_errors == 1


async def test_start_is_idempotent_and_stop_without_start_is_fine(
    risk: RiskManager, time: FakeTime
) -> None:
    pinged = asyncio.Event()

    async def ping() -> float:
        pinged.set()
        return 0.001

    monitor = build(risk, time, ping=ping, ping_interval=60)
    await monitor.stop()
    monitor.start()
    task = monitor._task
    monitor.start()
    assert monitor._task is task
    await asyncio.wait_for(pinged.wait(), 5)  # the first ping is immediate
    await monitor.stop()
    assert not monitor.running


async def test_stop_ends_the_loop_even_if_a_ping_swallows_the_cancellation(
    risk: RiskManager, time: FakeTime
) -> None:
    started = asyncio.Event()

    async def stubborn() -> float:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            pass  # a badly behaved ping
        return 0.01

    monitor = build(risk, time, ping=stubborn, ping_interval=0.01)
    monitor.start()
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.wait_for(monitor.stop(), 5)
    assert not monitor.running


async def test_stop_during_a_fast_loop(risk: RiskManager, time: FakeTime) -> None:
    broker = FakeBroker(time, failures=0, step=0.0)
    monitor = build(risk, time, ping=broker.ping, ping_interval=0.0001)
    broker.hook = monitor.on_call
    for _ in range(20):
        monitor.start()
        await eventually(lambda: broker.calls > 0, message="a ping")
        await asyncio.wait_for(monitor.stop(), 5)
    assert not monitor.running


def test_bad_intervals_are_refused(risk: RiskManager, time: FakeTime) -> None:
    with pytest.raises(ValueError, match="ping_interval"):
        build(risk, time, ping_interval=0)
    with pytest.raises(ValueError, match="ping_timeout"):
        build(risk, time, ping_timeout=0)
