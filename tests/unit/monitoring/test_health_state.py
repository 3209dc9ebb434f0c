"""The pure health core: thresholds, resets, what counts, recovery, storms, latency stats."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

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
from pulsetrader.monitoring import HealthPolicy, HealthState, is_health_failure
from pulsetrader.monitoring.health import percentile
from pulsetrader.streaming.events import StreamEventKind
from tests.unit.monitoring.builders import T0, FakeTime, failed, ok, reconnected, stream_event

HEALTH_FAULTS = [
    BrokerTimeout("get_account: no answer in time"),
    BrokerUnavailable("get_account: the broker failed (503)", status=503),
    RateLimitError("get_account: rate limit reached", status=429, retry_after=1.0),
    OrderStatusUnknown("submit_order: fate unknown", client_order_id="c-1"),
    AuthenticationError("get_account: the broker refused the API key", status=401),
    BrokerError("get_account: unreadable response from the broker"),
]
REFUSALS = [
    InvalidRequest("get_bars: limit must be positive", status=422),
    OrderRejected("qty must be > 0", status=422),
    InsufficientBuyingPower("insufficient buying power", status=403),
    NotFound("get_order: order not found", status=404),
]


def core(time: FakeTime | None = None, **policy: float) -> tuple[HealthState, FakeTime]:
    time = time or FakeTime()
    state = HealthState(HealthPolicy(**policy), clock=time.clock, monotonic=time.monotonic)  # type: ignore[arg-type]
    return state, time


# -- what counts --------------------------------------------------------------------------------


@pytest.mark.parametrize("error", HEALTH_FAULTS, ids=lambda e: type(e).__name__)
def test_health_failures_count(error: BrokerError) -> None:
    assert is_health_failure(failed(error))
    state, _ = core()
    state.record_call(failed(error))
    assert state.consecutive_errors == 1
    assert state.total_errors == 1
    assert type(error).__name__ in (state.last_error_text or "")


def test_a_failure_without_an_error_counts() -> None:
    outcome = CallOutcome("get_account", False, 0.1, T0)
    assert is_health_failure(outcome)


@pytest.mark.parametrize("error", REFUSALS, ids=lambda e: type(e).__name__)
def test_refusals_of_a_request_are_not_health_faults(error: BrokerError) -> None:
    assert not is_health_failure(failed(error, endpoint="submit_order"))
    state, _ = core(error_threshold=2)
    for _ in range(10):
        assert state.record_call(failed(error, endpoint="submit_order")) is None
    assert state.consecutive_errors == 0
    assert state.total_errors == 0
    assert state.refusals == 10
    assert state.last_error is None
    assert not state.preservation


def test_refusals_do_not_reset_the_count_either() -> None:
    state, _ = core(error_threshold=3)
    state.record_call(failed())
    state.record_call(failed())
    state.record_call(failed(REFUSALS[0]))
    assert state.consecutive_errors == 2
    transition = state.record_call(failed())
    assert transition is not None
    assert transition.entered


# -- threshold and reset ------------------------------------------------------------------------


def test_threshold_enters_preservation_mode_on_the_nth_consecutive_error() -> None:
    state, time = core(error_threshold=5)
    for _ in range(4):
        assert state.record_call(failed()) is None
    assert not state.preservation
    assert state.healthy
    time.advance(1)
    transition = state.record_call(failed(BrokerTimeout("get_account: no answer")))
    assert transition is not None
    assert transition.entered
    assert not transition.left
    assert transition.consecutive_errors == 5
    assert transition.at == T0 + timedelta(seconds=1)
    assert "5 consecutive errors (threshold 5)" in transition.reason
    assert "BrokerTimeout" in transition.reason
    assert state.preservation
    assert not state.healthy
    assert state.preservation_since == T0 + timedelta(seconds=1)
    # More errors: still in it, no second transition.
    assert state.record_call(failed()) is None
    assert state.consecutive_errors == 6


def test_success_resets_the_count_and_stamps_last_success() -> None:
    state, _ = core(error_threshold=5)
    for _ in range(4):
        state.record_call(failed())
    at = T0 + timedelta(seconds=3)
    state.record_call(ok("get_positions", at=at))
    assert state.consecutive_errors == 0
    assert state.total_errors == 4
    assert state.last_success == at
    assert state.last_success_endpoint == "get_positions"
    for _ in range(4):
        state.record_call(failed())
    assert not state.preservation
    assert state.total_errors == 8


def test_last_error_is_stamped_with_its_text() -> None:
    state, _ = core()
    at = T0 + timedelta(seconds=7)
    state.record_call(failed(BrokerUnavailable("get_clock: cannot reach", status=None), at=at))
    assert state.last_error == at
    assert state.last_error_text == "get_account: BrokerUnavailable: get_clock: cannot reach"


# -- the way back -------------------------------------------------------------------------------


def enter(state: HealthState, n: int = 3) -> None:
    for _ in range(n):
        state.record_call(failed())
    assert state.preservation


def test_recovery_needs_the_healthy_period_after_the_last_fault() -> None:
    state, time = core(error_threshold=3, healthy_period=60)
    enter(state)
    time.advance(10)
    assert state.record_call(ok()) is None  # a success, but too soon
    assert state.preservation
    assert state.recovers_in() == 50
    time.advance(49.5)
    assert state.tick() is None
    assert state.preservation
    time.advance(0.5)
    transition = state.tick()
    assert transition is not None
    assert transition.left
    assert not state.preservation
    assert state.preservation_since is None
    assert "no fault for 60s" in transition.reason
    assert state.recovers_in() is None


def test_a_fault_during_the_healthy_period_restarts_it() -> None:
    state, time = core(error_threshold=3, healthy_period=60)
    enter(state)
    time.advance(30)
    state.record_call(ok())
    time.advance(20)
    state.record_call(failed())  # 50 s in: the clock starts again
    state.record_call(ok())
    time.advance(59)
    assert state.tick() is None
    time.advance(1)
    transition = state.tick()
    assert transition is not None
    assert transition.left


def test_time_alone_never_ends_preservation_mode_without_a_success() -> None:
    state, time = core(error_threshold=3, healthy_period=60)
    enter(state)
    time.advance(10_000)
    assert state.tick() is None
    assert state.preservation
    assert state.recovers_in() is None  # a success is needed first
    transition = state.record_call(ok())  # the period has long run: leave at once
    assert transition is not None
    assert transition.left


def test_a_stream_connect_is_not_a_success_for_the_rule() -> None:
    state, time = core(error_threshold=3, healthy_period=5)
    enter(state)
    time.advance(100)
    assert state.record_stream(stream_event(StreamEventKind.CONNECTED)) is None
    assert state.preservation
    assert state.consecutive_errors == 3


def test_a_refusal_or_tick_can_end_it_once_a_success_came() -> None:
    state, time = core(error_threshold=3, healthy_period=5)
    enter(state)
    state.record_call(ok())
    time.advance(5)
    transition = state.record_call(failed(REFUSALS[0]))
    assert transition is not None
    assert transition.left


def test_zero_healthy_period_leaves_on_the_first_success() -> None:
    state, _ = core(error_threshold=1, healthy_period=0)
    transition = state.record_call(failed())
    assert transition is not None
    assert transition.entered
    transition = state.record_call(ok())
    assert transition is not None
    assert transition.left


# -- streams ------------------------------------------------------------------------------------


def test_stream_silence_is_a_fault() -> None:
    state, _ = core(error_threshold=3)
    for _ in range(2):
        state.record_stream(stream_event(StreamEventKind.SILENCE, detail="no data for 30.0s"))
    assert state.consecutive_errors == 2
    assert state.last_error_text == "stream iex silence: no data for 30.0s"
    assert not state.streams["iex"].connected
    transition = state.record_stream(stream_event(StreamEventKind.SILENCE))
    assert transition is not None
    assert transition.entered
    assert "stream iex silence" in transition.reason


@pytest.mark.parametrize(
    "kind",
    [
        StreamEventKind.DISCONNECTED,
        StreamEventKind.AUTH_FAILED,
        StreamEventKind.CONNECTION_LIMIT,
        StreamEventKind.ERROR,
    ],
)
def test_every_stream_fault_kind_counts(kind: StreamEventKind) -> None:
    state, _ = core()
    state.record_stream(stream_event(kind))
    assert state.consecutive_errors == 1
    assert state.streams["iex"].faults == 1


def test_gap_filled_is_neutral() -> None:
    state, _ = core()
    state.record_stream(stream_event(StreamEventKind.GAP_FILLED))
    assert state.consecutive_errors == 0
    assert state.total_errors == 0


def test_connected_resets_the_streams_own_state_only() -> None:
    state, _ = core(error_threshold=10)
    state.record_stream(stream_event(StreamEventKind.DISCONNECTED))
    state.record_stream(stream_event(StreamEventKind.DISCONNECTED))
    assert state.streams["iex"].consecutive_faults == 2
    state.record_stream(reconnected(downtime=3.0))
    stream = state.streams["iex"]
    assert stream.connected
    assert stream.consecutive_faults == 0
    assert stream.faults == 2
    assert stream.reconnects == 1
    assert state.consecutive_errors == 2  # not a success


def test_reconnect_storm_is_a_fault() -> None:
    state, time = core(error_threshold=10, reconnect_storm=3, reconnect_window=60)
    state.record_stream(stream_event(StreamEventKind.CONNECTED))  # first connect: not a reconnect
    state.record_stream(reconnected())
    time.advance(20)
    state.record_stream(reconnected())
    assert state.consecutive_errors == 0
    time.advance(40)  # the first reconnect is exactly 60 s old: still inside the window
    state.record_stream(reconnected())
    assert state.consecutive_errors == 1
    assert state.streams["iex"].storms == 1
    assert state.last_error_text == "stream iex reconnect storm: 3 reconnects in 60s"
    time.advance(1)  # the storm goes on: the first one left the window, three remain
    state.record_stream(reconnected())
    assert state.consecutive_errors == 2
    assert state.streams["iex"].storms == 2


def test_spread_out_reconnects_are_no_storm() -> None:
    state, time = core(reconnect_storm=3, reconnect_window=60)
    for _ in range(10):
        state.record_stream(reconnected())
        time.advance(30.5)
    assert state.consecutive_errors == 0
    assert state.streams["iex"].storms == 0
    assert state.streams["iex"].reconnects == 10


def test_reconnect_storms_are_counted_per_stream() -> None:
    state, _ = core(reconnect_storm=3, reconnect_window=60)
    for name in ("iex", "crypto", "trade_updates", "iex", "crypto"):
        state.record_stream(reconnected(name))
    assert state.consecutive_errors == 0
    state.record_stream(reconnected("iex"))
    assert state.consecutive_errors == 1


def test_ticks_age_reconnects_out_of_the_window() -> None:
    state, time = core(reconnect_storm=2, reconnect_window=10)
    state.record_stream(reconnected())
    time.advance(11)
    state.tick()
    assert len(state.streams["iex"].recent_reconnects) == 0
    state.record_stream(reconnected())
    assert state.consecutive_errors == 0


# -- response times -----------------------------------------------------------------------------


def test_latency_statistics_per_endpoint_over_a_bounded_window() -> None:
    state, _ = core(latency_window=10, slow_call_seconds=2.0)
    for i in range(1, 21):  # 1..20 s: the window keeps 11..20
        state.record_call(ok("get_bars", seconds=float(i)))
    state.record_call(ok("ping", seconds=0.2))
    stats = state.latency()
    bars = stats["get_bars"]
    assert bars.count == 20
    assert bars.window == 10
    assert bars.mean == pytest.approx(15.5)
    assert bars.p50 == 15.0
    assert bars.p95 == 20.0
    assert bars.max == 20.0
    assert bars.last == 20.0
    assert bars.slow == 18  # 3..20 s are slower than 2 s
    assert stats["ping"].count == 1
    assert stats["ping"].p95 == 0.2
    assert list(stats) == ["get_bars", "ping"]


def test_failures_with_no_answer_are_not_response_times() -> None:
    state, _ = core()
    state.record_call(failed(BrokerTimeout("no answer"), seconds=31.0))
    state.record_call(failed(BrokerUnavailable("503", status=503), seconds=0.3))
    stats = state.latency()
    assert stats["get_account"].count == 1
    assert stats["get_account"].max == 0.3


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.95) == 95.0
    assert percentile([3.0], 0.95) == 3.0
    assert percentile([1.0, 2.0], 0.5) == 1.0


# -- snapshot and policy ------------------------------------------------------------------------


def test_snapshot_is_json_ready() -> None:
    state, time = core(error_threshold=2)
    state.record_call(ok(seconds=0.1))
    state.record_stream(stream_event(StreamEventKind.DISCONNECTED, "crypto", detail="reset"))
    time.advance(2)
    state.record_call(failed())
    snap = state.snapshot()
    json.dumps(snap)
    assert snap["healthy"] is False
    assert snap["preservation"] is True
    assert snap["preservation_since"] == "2024-03-04T15:00:02Z"
    assert snap["consecutive_errors"] == 2
    assert snap["total_errors"] == 2
    assert snap["last_success"] == "2024-03-04T15:00:00Z"
    assert snap["healthy_for"] == 0.0
    assert snap["latency"]["get_account"]["count"] == 2
    assert snap["streams"]["crypto"]["connected"] is False
    assert snap["streams"]["crypto"]["last_event"] == "disconnected"


@pytest.mark.parametrize(
    "fields",
    [
        {"error_threshold": 0},
        {"healthy_period": -1},
        {"healthy_period": float("nan")},
        {"slow_call_seconds": 0},
        {"reconnect_storm": 0},
        {"reconnect_window": 0},
        {"latency_window": 0},
    ],
)
def test_policy_refuses_nonsense(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(fields))):
        HealthPolicy(**fields)  # type: ignore[arg-type]


def test_policy_defaults() -> None:
    policy = HealthPolicy()
    assert policy.error_threshold == 5
    assert policy.healthy_period == 60.0
    assert policy.slow_call_seconds == 2.0
    assert (policy.reconnect_storm, policy.reconnect_window) == (3, 60.0)
    assert policy.latency_window == 500
    assert policy.is_slow(2.01)
    assert not policy.is_slow(2.0)
