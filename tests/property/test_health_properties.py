"""Property 10: error threshold preservation mode.

For any sequence of broker call successes, health failures (timeouts, 5xx, 429, ...), refusals
of a request (4xx: not health faults), stream faults, stream (re)connections and time steps:

(a) the monitor is in preservation mode exactly when a reference model of the documented rule
    says so. The model here is written from the history, not incrementally: preservation mode
    holds at step k when some step j <= k had ``consecutive_errors >= error_threshold`` and no
    step in (j, k] met the leave condition (no fault since the last success, and
    ``healthy_period`` seconds since the last fault), j being the latest such step;
(b) no entry order passes while it is: a real RiskManager fed by the monitor denies an entry
    with rule ``reducing`` exactly then (and approves it otherwise), and approves an exit always;
(c) every change of the trading state is journaled, with actor ``health``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from itertools import count

from hypothesis import event, given, note
from hypothesis import strategies as st

from pulsetrader.broker.errors import (
    AuthenticationError,
    BrokerError,
    BrokerTimeout,
    BrokerUnavailable,
    InsufficientBuyingPower,
    InvalidRequest,
    NotFound,
    OrderRejected,
    OrderStatusUnknown,
    RateLimitError,
)
from pulsetrader.broker.hooks import CallOutcome
from pulsetrader.domain import OrderIntent, OrderSide, TradingState
from pulsetrader.monitoring import ConnectionHealthMonitor, HealthPolicy
from pulsetrader.persistence import Journal
from pulsetrader.risk import Approved, Denied, MemoryStateStore, RiskManager
from pulsetrader.streaming.events import StreamEvent, StreamEventKind
from tests.unit.monitoring.builders import FakeTime
from tests.unit.risk.builders import account, position

HEALTH_FAULTS = (
    lambda: BrokerTimeout("get_account: no answer in time"),
    lambda: BrokerUnavailable("get_account: the broker failed (503)", status=503),
    lambda: BrokerUnavailable("get_account: cannot reach the broker"),
    lambda: RateLimitError("get_account: rate limit reached", status=429),
    lambda: OrderStatusUnknown("submit_order: fate unknown", client_order_id="c-1"),
    lambda: AuthenticationError("get_account: key refused", status=401),
    lambda: BrokerError("get_account: unreadable response"),
    lambda: None,  # a failure that carries no error
)
REFUSALS = (
    lambda: InvalidRequest("get_bars: bad limit", status=422),
    lambda: OrderRejected("qty must be > 0", status=422),
    lambda: InsufficientBuyingPower("insufficient buying power", status=403),
    lambda: NotFound("get_order: not found", status=404),
)
STREAM_FAULTS = (
    StreamEventKind.DISCONNECTED,
    StreamEventKind.SILENCE,
    StreamEventKind.AUTH_FAILED,
    StreamEventKind.CONNECTION_LIMIT,
    StreamEventKind.ERROR,
)
STREAMS = ("iex", "crypto")


@dataclass(frozen=True)
class Step:
    kind: str  # ok, fault, refusal, stream_fault, connect, reconnect, gap, wait
    index: int = 0
    stream: str = "iex"
    seconds: float = 0.0


# Any step at all, weighted towards successes, faults and time.
KINDS = (
    ["ok"] * 4
    + ["fault"] * 3
    + ["refusal", "stream_fault", "connect", "gap"]
    + ["reconnect"] * 2
    + ["wait"] * 4
)
waits = st.one_of(st.integers(0, 5), st.integers(0, 90), st.sampled_from([5, 30, 59, 60])).map(
    float
)


@st.composite
def steps(draw: st.DrawFn, kinds: list[str] = KINDS) -> Step:
    kind = draw(st.sampled_from(kinds))
    stream = draw(st.sampled_from(STREAMS))
    if kind == "ok":
        return Step(kind, seconds=draw(st.sampled_from([0.01, 0.2, 3.0])))
    if kind == "fault":
        return Step(kind, draw(st.integers(0, len(HEALTH_FAULTS) - 1)))
    if kind == "refusal":
        return Step(kind, draw(st.integers(0, len(REFUSALS) - 1)))
    if kind == "stream_fault":
        return Step(kind, draw(st.integers(0, len(STREAM_FAULTS) - 1)), stream)
    if kind == "wait":
        return Step(kind, seconds=draw(waits))
    return Step(kind, stream=stream)


# Runs are stretches, so that they enter, wait out the healthy period, leave and enter again:
# outages (faults, with refusals and a little time in between), healthy stretches (successes
# and time), reconnect bursts of one stream, and single arbitrary steps.
outage = st.lists(steps(["fault"] * 3 + ["stream_fault", "refusal", "gap"]), min_size=1, max_size=7)
healthy = st.builds(
    lambda first, rest: [first, *rest],
    steps(["ok"]),
    st.lists(
        steps(["ok", "refusal", "connect"])
        | st.sampled_from([1, 5, 29, 30, 31, 59, 60, 61, 90]).map(
            lambda seconds: Step("wait", seconds=float(seconds))
        ),
        max_size=5,
    ),
)
burst = st.builds(
    lambda stream, n, gap: [
        step
        for _ in range(n)
        for step in (Step("reconnect", stream=stream), Step("wait", seconds=gap))
    ],
    st.sampled_from(STREAMS),
    st.integers(1, 5),
    st.sampled_from([0.0, 2.0, 10.0, 30.0]),
)
stretches = st.one_of(outage, healthy, burst, steps().map(lambda step: [step]))
programs = st.lists(stretches, min_size=1, max_size=12).map(
    lambda parts: [step for part in parts for step in part]
)


policies = st.builds(
    HealthPolicy,
    error_threshold=st.integers(1, 5),
    healthy_period=st.sampled_from([0.0, 5.0, 30.0, 60.0]),
    slow_call_seconds=st.just(2.0),
    reconnect_storm=st.integers(1, 4),
    reconnect_window=st.sampled_from([5.0, 30.0, 60.0]),
)


# -- the reference model ------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One input as the model sees it: when, and whether it was a success or a fault."""

    at: float
    success: bool = False
    fault: bool = False


def classify(history: list[tuple[float, Step]], policy: HealthPolicy) -> list[Seen]:
    """Each input in the history as a success, a fault, or neither (the documented rule)."""
    seen = []
    for i, (at, step) in enumerate(history):
        fault = step.kind in ("fault", "stream_fault")
        if step.kind == "reconnect":
            recent = [
                t
                for t, s in history[: i + 1]
                if s.kind == "reconnect"
                and s.stream == step.stream
                and at - t <= policy.reconnect_window
            ]
            fault = len(recent) >= policy.reconnect_storm
        seen.append(Seen(at, success=step.kind == "ok", fault=fault))
    return seen


def expected_preservation(seen: list[Seen], policy: HealthPolicy) -> bool:
    """Preservation mode after the last input of ``seen``, from the whole history."""

    def errors_at(k: int) -> int:  # faults since the last success, through input k
        n = 0
        for item in seen[: k + 1]:
            if item.success:
                n = 0
            elif item.fault:
                n += 1
        return n

    def leaves_at(k: int) -> bool:
        faults = [item.at for item in seen[: k + 1] if item.fault]
        if errors_at(k) != 0:
            return False
        return not faults or seen[k].at - faults[-1] >= policy.healthy_period

    entered = [k for k in range(len(seen)) if errors_at(k) >= policy.error_threshold]
    if not entered:
        return False
    j = entered[-1]
    return not any(leaves_at(k) for k in range(j + 1, len(seen)))


# -- the property -------------------------------------------------------------------------------


@given(policy=policies, program=programs)
def test_preservation_mode_follows_the_threshold_rule(
    policy: HealthPolicy, program: list[Step]
) -> None:
    time = FakeTime()
    ticks = count()
    risk = RiskManager(
        store=MemoryStateStore(),
        clock=time.clock,
        monotonic=lambda: 10_000.0 + 100.0 * next(ticks),  # the runaway guard never trips
    )

    async def unused_ping() -> float:
        raise AssertionError("no ping loop in this test")

    held = [position("AAPL", 10)]
    entry = OrderIntent(symbol="AAPL", side=OrderSide.BUY, qty=Decimal(1), strategy="momo")
    exit_ = OrderIntent(symbol="AAPL", side=OrderSide.SELL, qty=Decimal(2), strategy="momo")
    history: list[tuple[float, Step]] = []
    flips = 0
    previous = False
    with Journal(":memory:") as journal:
        monitor = ConnectionHealthMonitor(
            unused_ping,
            risk,
            journal=journal,
            policy=policy,
            clock=time.clock,
            monotonic=time.monotonic,
        )
        for step in program:
            if step.kind == "wait":
                time.advance(step.seconds)
            feed(monitor, step, time)
            history.append((time.monotonic(), step))

            expected = expected_preservation(classify(history, policy), policy)
            note(f"{step} -> expected {expected}, core errors {monitor.core.consecutive_errors}")
            # (a) the rule
            assert monitor.preservation is expected
            # (b) no entry passes while in preservation mode; exits always pass
            assert risk.state is (TradingState.REDUCING if expected else TradingState.ACTIVE)
            decision = risk.validate_trade(entry, account(), held, price=Decimal(100))
            if expected:
                assert isinstance(decision, Denied), decision
                assert decision.rule == "reducing"
            else:
                assert isinstance(decision, Approved), decision
            assert isinstance(
                risk.validate_trade(exit_, account(), held, price=Decimal(100)), Approved
            )
            flips += expected is not previous
            previous = expected
        event(f"trading-state changes: {min(flips, 3)}{'+' if flips > 3 else ''}")
        event(f"reconnect storms: {bool(sum(s.storms for s in monitor.core.streams.values()))}")
        # (c) every change of the trading state journaled, by the health monitor
        rows = journal.actions(limit=1000)
        assert len(rows) == flips
        assert all(r["actor"] == "health" and r["action"] == "trading_state" for r in rows)


def feed(monitor: ConnectionHealthMonitor, step: Step, time: FakeTime) -> None:
    """Give one step to the monitor the way the client hooks and the ping loop would."""
    at = time.clock()
    if step.kind == "ok":
        monitor.on_call(CallOutcome("get_account", True, step.seconds, at, 200))
    elif step.kind == "fault":
        error = HEALTH_FAULTS[step.index]()
        status = error.status if error is not None else None
        monitor.on_call(CallOutcome("get_account", False, 0.05, at, status, error))
    elif step.kind == "refusal":
        error = REFUSALS[step.index]()
        monitor.on_call(CallOutcome("submit_order", False, 0.05, at, error.status, error))
    elif step.kind == "stream_fault":
        monitor.on_stream_event(StreamEvent(step.stream, STREAM_FAULTS[step.index], at, "down"))
    elif step.kind in ("connect", "reconnect"):
        downtime = 1.5 if step.kind == "reconnect" else None
        event = StreamEvent(step.stream, StreamEventKind.CONNECTED, at, downtime_seconds=downtime)
        monitor.on_stream_event(event)
    elif step.kind == "gap":
        monitor.on_stream_event(StreamEvent(step.stream, StreamEventKind.GAP_FILLED, at, count=3))
    else:
        monitor.tick()
