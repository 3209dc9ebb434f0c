"""Connection health: error counts, response times, and preservation mode (task 12).

Two layers:

* :class:`HealthState`, a pure core: no I/O, no tasks, clocks injected. It takes what the
  broker client and the streams report (:class:`~pulsetrader.broker.hooks.CallOutcome`,
  :class:`~pulsetrader.streaming.events.StreamEvent`) and the passage of time, keeps the metrics
  (consecutive and total errors, last success, last error, response times per endpoint, per-stream
  connection state) and decides whether the engine should be in *preservation mode*.
* :class:`ConnectionHealthMonitor`, the shell: it pings the broker periodically, feeds the core,
  moves the :class:`~pulsetrader.risk.manager.RiskManager` between ACTIVE and REDUCING (the seed's
  preservation mode: only exits pass) as the core decides, journals and logs every transition
  and gives the API a :meth:`~ConnectionHealthMonitor.snapshot`.

What counts
-----------

A **success** is a call outcome with ``ok``. A **fault** is any of:

* a failed call that is about the broker's health: timeouts, 5xx, connection failures, 429
  (every :class:`~pulsetrader.broker.errors.TransientError`), refused credentials
  (:class:`~pulsetrader.broker.errors.AuthenticationError`: nothing will work until they are
  fixed), an unclassified :class:`~pulsetrader.broker.errors.BrokerError` (unreadable response,
  closed client) and a failure without an error;
* a stream event whose :attr:`~pulsetrader.streaming.events.StreamEvent.is_fault` is true
  (disconnected, silence while the market is open, auth failed, connection limit, error frame);
* a reconnect storm: a reconnect (:attr:`~pulsetrader.streaming.events.StreamEvent.is_reconnect`)
  that makes ``reconnect_storm`` or more reconnects of the same stream within the last
  ``reconnect_window`` seconds (inclusive; the reconnect itself counts). Every reconnect while
  the storm lasts is one more fault.

**Neutral** inputs change no counter of the rule: a refusal of a bad request
(:class:`~pulsetrader.broker.errors.InvalidRequest`, its subclass
:class:`~pulsetrader.broker.errors.OrderRejected`, :class:`~pulsetrader.broker.errors.NotFound`:
the broker answered, the request was wrong), a CONNECTED event (it resets that stream's own
state, but is not a success for the rule), GAP_FILLED, and ticks.

The rule (Property 10)
----------------------

``consecutive_errors`` is the number of faults since the last success (a success sets it to 0,
a fault adds 1, neutral inputs leave it). After every input and every tick, in that order:

* not in preservation mode → **enter** when ``consecutive_errors >= error_threshold``;
* in preservation mode → **leave** when ``consecutive_errors == 0`` (a success came after the
  last fault) **and** ``now - last_fault >= healthy_period`` (monotonic seconds).

Otherwise the mode stays as it was (a latch with hysteresis). A refusal or a tick can therefore
end preservation mode once the healthy period has run, but never a CONNECTED event alone after a
fault, because leaving needs a success.

Applying it (the monitor)
-------------------------

While the core says preservation mode: an ACTIVE engine is set to REDUCING (and marked as the
monitor's own); a HALTED engine stays HALTED (the operator's halt wins, and the monitor never
lifts it); a REDUCING someone else set stays theirs. When the core says healthy, only a REDUCING
the monitor set itself, and that nobody changed since, goes back to ACTIVE. If someone sets
ACTIVE while the core still says preservation mode, the monitor sets REDUCING again (at once when
an event loop runs, otherwise at the next input or tick): the engine is in preservation mode
exactly when the rule says so, unless the operator halted it or reduced it by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from loguru import logger

from pulsetrader.broker.errors import (
    BrokerError,
    BrokerTimeout,
    BrokerUnavailable,
    InvalidRequest,
    NotFound,
)
from pulsetrader.broker.hooks import CallOutcome
from pulsetrader.domain.enums import TradingState
from pulsetrader.domain.money import isoformat_z, utcnow
from pulsetrader.risk.manager import RiskManager
from pulsetrader.streaming.events import StreamEvent, StreamEventKind

if TYPE_CHECKING:
    from pulsetrader.config import Settings

#: The actor the monitor journals its transitions as.
HEALTH_ACTOR = "health"

#: Stream event kinds after which the stream is down until it connects again.
_DOWN_KINDS = frozenset(
    {
        StreamEventKind.DISCONNECTED,
        StreamEventKind.SILENCE,
        StreamEventKind.AUTH_FAILED,
        StreamEventKind.CONNECTION_LIMIT,
    }
)


def is_health_failure(outcome: CallOutcome) -> bool:
    """Whether a call outcome counts against the broker's health (see the module docstring).

    A refusal of the request itself (InvalidRequest, OrderRejected, NotFound) does not: the broker
    answered. Every other failure does, including a failure that carries no error.
    """
    if outcome.ok:
        return False
    return not isinstance(outcome.error, InvalidRequest | NotFound)


def describe_call(outcome: CallOutcome) -> str:
    """A one-line account of a failed call, for reasons and the snapshot."""
    status = f" ({outcome.status})" if outcome.status is not None else ""
    if outcome.error is None:
        return f"{outcome.endpoint} failed{status}"
    return f"{outcome.endpoint}{status}: {outcome.error_type}: {outcome.error}"


def _stamp(value: datetime | None) -> str | None:
    return None if value is None else isoformat_z(value)


# -- policy, transitions, statistics ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    """The thresholds of the rule (see the module docstring).

    ``error_threshold`` consecutive faults enter preservation mode; ``healthy_period`` seconds
    with no fault, and a success after the last one, leave it. Calls slower than
    ``slow_call_seconds`` are logged. ``reconnect_storm`` reconnects of one stream within
    ``reconnect_window`` seconds are a fault. Response-time statistics cover the last
    ``latency_window`` samples of each endpoint.
    """

    error_threshold: int = 5
    healthy_period: float = 60.0
    slow_call_seconds: float = 2.0
    reconnect_storm: int = 3
    reconnect_window: float = 60.0
    latency_window: int = 500

    @classmethod
    def from_settings(cls, settings: Settings) -> HealthPolicy:
        """The policy the ``HEALTH_*`` settings describe."""
        return cls(
            error_threshold=settings.health_error_threshold,
            healthy_period=settings.health_healthy_period,
            slow_call_seconds=settings.health_slow_call_seconds,
            reconnect_storm=settings.health_reconnect_storm,
            reconnect_window=settings.health_reconnect_window,
        )

    def __post_init__(self) -> None:
        if self.error_threshold < 1:
            raise ValueError(f"error_threshold must be at least 1, got {self.error_threshold}")
        if not (math.isfinite(self.healthy_period) and self.healthy_period >= 0):
            raise ValueError(f"healthy_period must be >= 0 seconds, got {self.healthy_period}")
        if not (math.isfinite(self.slow_call_seconds) and self.slow_call_seconds > 0):
            raise ValueError(f"slow_call_seconds must be > 0, got {self.slow_call_seconds}")
        if self.reconnect_storm < 1:
            raise ValueError(f"reconnect_storm must be at least 1, got {self.reconnect_storm}")
        if not (math.isfinite(self.reconnect_window) and self.reconnect_window > 0):
            raise ValueError(f"reconnect_window must be > 0 seconds, got {self.reconnect_window}")
        if self.latency_window < 1:
            raise ValueError(f"latency_window must be at least 1, got {self.latency_window}")

    def is_slow(self, seconds: float) -> bool:
        """Whether a call that took ``seconds`` is slow enough to log."""
        return seconds > self.slow_call_seconds


@dataclass(frozen=True, slots=True)
class HealthTransition:
    """The core entered (``preservation``) or left (not ``preservation``) preservation mode."""

    preservation: bool
    reason: str
    at: datetime
    consecutive_errors: int

    @property
    def entered(self) -> bool:
        return self.preservation

    @property
    def left(self) -> bool:
        return not self.preservation

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": "entered" if self.preservation else "left",
            "reason": self.reason,
            "at": isoformat_z(self.at),
            "consecutive_errors": self.consecutive_errors,
        }


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """Response times of one endpoint, in seconds. ``count`` and ``slow`` are since start; the
    rest cover the last ``window`` samples (p50/p95 by nearest rank)."""

    endpoint: str
    count: int
    window: int
    mean: float
    p50: float
    p95: float
    max: float
    last: float
    slow: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "window": self.window,
            "mean": self.mean,
            "p50": self.p50,
            "p95": self.p95,
            "max": self.max,
            "last": self.last,
            "slow": self.slow,
        }


def percentile(ordered: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0 < q <= 1) of ``ordered`` (sorted, not empty)."""
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class _LatencyTrack:
    __slots__ = ("count", "samples", "slow")

    def __init__(self, window: int) -> None:
        self.samples: deque[float] = deque(maxlen=window)
        self.count = 0
        self.slow = 0

    def add(self, seconds: float, slow: bool) -> None:
        self.samples.append(seconds)
        self.count += 1
        self.slow += slow

    def stats(self, endpoint: str) -> LatencyStats:
        ordered = sorted(self.samples)
        return LatencyStats(
            endpoint=endpoint,
            count=self.count,
            window=len(ordered),
            mean=sum(ordered) / len(ordered),
            p50=percentile(ordered, 0.50),
            p95=percentile(ordered, 0.95),
            max=ordered[-1],
            last=self.samples[-1],
            slow=self.slow,
        )


@dataclass(slots=True)
class StreamHealth:
    """What the core knows about one stream's connection."""

    stream: str
    connected: bool = False
    last_kind: StreamEventKind | None = None
    last_event_at: datetime | None = None
    last_detail: str = ""
    consecutive_faults: int = 0
    faults: int = 0
    reconnects: int = 0
    storms: int = 0
    recent_reconnects: deque[float] = field(default_factory=deque)

    def to_dict(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "last_event": None if self.last_kind is None else self.last_kind.value,
            "last_event_at": _stamp(self.last_event_at),
            "last_detail": self.last_detail,
            "consecutive_faults": self.consecutive_faults,
            "faults": self.faults,
            "reconnects": self.reconnects,
            "recent_reconnects": len(self.recent_reconnects),
            "storms": self.storms,
        }


# -- the pure core ------------------------------------------------------------------------------


class HealthState:
    """The health rule and its metrics, with no I/O (see the module docstring for the rule).

    Feed it :meth:`record_call`, :meth:`record_stream` and :meth:`tick`; each returns the
    :class:`HealthTransition` it caused, if any. ``monotonic`` times the rule (the healthy period,
    reconnect storms); ``clock`` (aware UTC) stamps transitions. Successes and errors are stamped
    with the outcome's or event's own ``at``.
    """

    def __init__(
        self,
        policy: HealthPolicy | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy or HealthPolicy()
        self.clock = clock
        self.monotonic = monotonic
        self.consecutive_errors = 0
        self.total_errors = 0  # every fault since start: calls, stream faults, storms
        self.calls = 0
        self.successes = 0
        self.refusals = 0  # 4xx refusals of a request: not faults
        self.last_success: datetime | None = None
        self.last_success_endpoint: str | None = None
        self.last_error: datetime | None = None
        self.last_error_text: str | None = None
        self.preservation = False
        self.preservation_since: datetime | None = None
        self.preservation_reason = ""
        self.streams: dict[str, StreamHealth] = {}
        self._latency: dict[str, _LatencyTrack] = {}
        self._last_fault: float | None = None  # monotonic
        self._success_since_fault = False

    # -- inputs ---------------------------------------------------------------------------------

    def record_call(
        self, outcome: CallOutcome, now: float | None = None
    ) -> HealthTransition | None:
        """One broker call attempt. A success resets the consecutive errors; a health failure
        adds one; a refusal of the request is counted apart and changes nothing else."""
        now = self.monotonic() if now is None else now
        self.calls += 1
        if outcome.ok or outcome.status is not None:  # an answer came: a response time
            self._track_latency(outcome.endpoint, outcome.seconds)
        if outcome.ok:
            self.successes += 1
            self.consecutive_errors = 0
            self._success_since_fault = True
            self.last_success = outcome.at
            self.last_success_endpoint = outcome.endpoint
        elif is_health_failure(outcome):
            self._fault(describe_call(outcome), outcome.at, now)
        else:
            self.refusals += 1
        return self._evaluate(now)

    def record_stream(
        self, event: StreamEvent, now: float | None = None
    ) -> HealthTransition | None:
        """One stream connection event: faults count as errors, and so does a reconnect storm;
        a CONNECTED event resets the stream's own state but is no success for the rule."""
        now = self.monotonic() if now is None else now
        stream = self.streams.get(event.stream)
        if stream is None:
            stream = self.streams[event.stream] = StreamHealth(event.stream)
        stream.last_kind, stream.last_event_at = event.kind, event.at
        stream.last_detail = event.detail
        self._prune(stream, now)
        if event.is_fault:
            if event.kind in _DOWN_KINDS:
                stream.connected = False
            stream.consecutive_faults += 1
            stream.faults += 1
            detail = f": {event.detail}" if event.detail else ""
            self._fault(f"stream {event.stream} {event.kind.value}{detail}", event.at, now)
        elif event.kind is StreamEventKind.CONNECTED:
            stream.connected = True
            stream.consecutive_faults = 0
            if event.is_reconnect:
                stream.reconnects += 1
                stream.recent_reconnects.append(now)
                recent = len(stream.recent_reconnects)
                if recent >= self.policy.reconnect_storm:
                    stream.storms += 1
                    window = self.policy.reconnect_window
                    text = (
                        f"stream {event.stream} reconnect storm: {recent} reconnects in {window:g}s"
                    )
                    self._fault(text, event.at, now)
        return self._evaluate(now)

    def tick(self, now: float | None = None) -> HealthTransition | None:
        """Let time pass: preservation mode may end once the healthy period has run."""
        now = self.monotonic() if now is None else now
        for stream in self.streams.values():
            self._prune(stream, now)
        return self._evaluate(now)

    # -- the rule -------------------------------------------------------------------------------

    def _fault(self, text: str, at: datetime, now: float) -> None:
        self.consecutive_errors += 1
        self.total_errors += 1
        self.last_error, self.last_error_text = at, text
        self._last_fault = now
        self._success_since_fault = False

    def _prune(self, stream: StreamHealth, now: float) -> None:
        recent, window = stream.recent_reconnects, self.policy.reconnect_window
        while recent and now - recent[0] > window:
            recent.popleft()

    def _track_latency(self, endpoint: str, seconds: float) -> None:
        track = self._latency.get(endpoint)
        if track is None:
            track = self._latency[endpoint] = _LatencyTrack(self.policy.latency_window)
        track.add(seconds, self.policy.is_slow(seconds))

    def healthy_for(self, now: float | None = None) -> float | None:
        """Seconds since the last fault (None when there has been none)."""
        if self._last_fault is None:
            return None
        now = self.monotonic() if now is None else now
        return max(0.0, now - self._last_fault)

    def may_leave(self, now: float | None = None) -> bool:
        """The leave condition: no fault since the last success, and ``healthy_period`` seconds
        since the last fault."""
        if self.consecutive_errors != 0 or not self._success_since_fault:
            return False
        since = self.healthy_for(now)
        return since is None or since >= self.policy.healthy_period

    def recovers_in(self, now: float | None = None) -> float | None:
        """While in preservation mode with a success after the last fault: seconds until the
        healthy period has run (0 when it has). None otherwise (not in it, or a success is
        still needed)."""
        if not self.preservation or self.consecutive_errors != 0:
            return None
        since = self.healthy_for(now) or 0.0
        return max(0.0, self.policy.healthy_period - since)

    def _evaluate(self, now: float) -> HealthTransition | None:
        policy = self.policy
        if not self.preservation:
            if self.consecutive_errors < policy.error_threshold:
                return None
            reason = (
                f"{self.consecutive_errors} consecutive errors (threshold "
                f"{policy.error_threshold}); last: {self.last_error_text}"
            )
            at = self.clock()
            self.preservation, self.preservation_since = True, at
            self.preservation_reason = reason
            return HealthTransition(True, reason, at, self.consecutive_errors)
        if not self.may_leave(now):
            return None
        quiet = self.healthy_for(now)
        reason = (
            f"healthy again: no fault for {quiet:.0f}s (needs {policy.healthy_period:g}s), "
            f"last success {self.last_success_endpoint}"
        )
        at = self.clock()
        self.preservation, self.preservation_since = False, None
        self.preservation_reason = ""
        return HealthTransition(False, reason, at, self.consecutive_errors)

    # -- reading --------------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """Not in preservation mode."""
        return not self.preservation

    def latency(self) -> dict[str, LatencyStats]:
        """Response-time statistics per endpoint."""
        return {name: track.stats(name) for name, track in sorted(self._latency.items())}

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        """The metrics as a JSON-ready dict (times RFC 3339 UTC, durations in seconds)."""
        now = self.monotonic() if now is None else now
        policy = self.policy
        return {
            "healthy": self.healthy,
            "preservation": self.preservation,
            "preservation_since": _stamp(self.preservation_since),
            "preservation_reason": self.preservation_reason or None,
            "recovers_in": self.recovers_in(now),
            "consecutive_errors": self.consecutive_errors,
            "error_threshold": policy.error_threshold,
            "healthy_period": policy.healthy_period,
            "healthy_for": self.healthy_for(now),
            "total_errors": self.total_errors,
            "calls": self.calls,
            "successes": self.successes,
            "refusals": self.refusals,
            "last_success": _stamp(self.last_success),
            "last_success_endpoint": self.last_success_endpoint,
            "last_error": _stamp(self.last_error),
            "last_error_text": self.last_error_text,
            "slow_call_seconds": policy.slow_call_seconds,
            "latency": {name: s.to_dict() for name, s in self.latency().items()},
            "streams": {name: s.to_dict() for name, s in sorted(self.streams.items())},
        }


# -- the monitor --------------------------------------------------------------------------------


class HealthJournal(Protocol):
    """What the monitor writes to (the :class:`~pulsetrader.persistence.Journal` implements it)."""

    def record_trading_state(
        self,
        previous: TradingState | None,
        current: TradingState,
        reason: str,
        *,
        actor: str = ...,
        at: datetime | None = ...,
    ) -> None: ...

    def record_action(
        self,
        actor: str,
        action: str,
        detail: Mapping[str, Any] | None = ...,
        at: datetime | None = ...,
    ) -> None: ...


TransitionListener = Callable[[HealthTransition], None]


class ConnectionHealthMonitor:
    """Pings the broker, watches every call and stream event, and keeps the trading state in
    line with the health rule (see the module docstring).

    The composition root wires the inputs: ``AlpacaClient.add_hook(monitor.on_call)`` and
    ``WebSocketClient.add_hook(monitor.on_stream_event)``. :meth:`start` runs the periodic
    check: ``client_ping`` (``AlpacaClient.ping``) every ``ping_interval`` seconds, bounded by
    ``ping_timeout``, then :meth:`tick`. The ping's own outcome arrives through the hook; when
    none did (or the ping raised after a successful outcome), the monitor records one itself, so
    a raising ping always counts as a failure.

    Transitions are logged, journaled (``actor="health"``: a trading-state row when the monitor
    changed the state, an action ``health_entered``/``health_left`` when it left the state as it
    was) and passed to the listeners of :meth:`add_listener`.
    """

    def __init__(
        self,
        client_ping: Callable[[], Awaitable[float]],
        risk: RiskManager,
        *,
        journal: HealthJournal | None = None,
        policy: HealthPolicy | None = None,
        ping_interval: float = 15.0,
        ping_timeout: float | None = 60.0,
        ping_endpoint: str = "ping",
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (math.isfinite(ping_interval) and ping_interval > 0):
            raise ValueError(f"ping_interval must be > 0 seconds, got {ping_interval}")
        if ping_timeout is not None and not ping_timeout > 0:
            raise ValueError(f"ping_timeout must be > 0 seconds, got {ping_timeout}")
        self.core = HealthState(policy, clock=clock, monotonic=monotonic)
        self.risk = risk
        self.journal = journal
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.ping_endpoint = ping_endpoint
        self.clock = clock
        self.monotonic = monotonic
        self._ping = client_ping
        self._listeners: list[TransitionListener] = []
        self.transitions: deque[HealthTransition] = deque(maxlen=50)
        # REDUCING that the monitor set and nobody changed since: the only state it lifts.
        self._managed = False
        self._setting: TradingState | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._pinging = False
        self._ping_reported = False
        self._ping_failure_reported = False
        self.pings = 0
        self.ping_failures = 0
        self.last_ping_at: datetime | None = None
        self.last_ping_ok: bool | None = None
        self.last_ping_seconds: float | None = None
        risk.on_state_change(self._on_risk_state)

    # -- reading --------------------------------------------------------------------------------

    @property
    def policy(self) -> HealthPolicy:
        return self.core.policy

    @property
    def preservation(self) -> bool:
        """Whether the rule says preservation mode."""
        return self.core.preservation

    @property
    def healthy(self) -> bool:
        return self.core.healthy

    @property
    def managed(self) -> bool:
        """Whether the engine is in a REDUCING state the monitor set (and will lift)."""
        return self._managed

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def add_listener(self, listener: TransitionListener) -> None:
        """Call ``listener(transition)`` whenever preservation mode is entered or left."""
        self._listeners.append(listener)

    @property
    def setting_state(self) -> TradingState | None:
        """The trading state the monitor is setting right now (inside ``risk.set_state``), else
        None: lets other state listeners tell the monitor's own transitions apart."""
        return self._setting

    def snapshot(self) -> dict[str, Any]:
        """Everything the API shows: the core's metrics, the trading state, the ping loop."""
        data = self.core.snapshot()
        data.update(
            {
                "state": self.risk.state.value,
                "state_reason": self.risk.state_reason or None,
                "managed": self._managed,
                "running": self.running,
                "ping": {
                    "interval": self.ping_interval,
                    "count": self.pings,
                    "failures": self.ping_failures,
                    "last_at": _stamp(self.last_ping_at),
                    "last_ok": self.last_ping_ok,
                    "last_seconds": self.last_ping_seconds,
                },
                "transitions": [t.to_dict() for t in reversed(self.transitions)],
            }
        )
        return data

    # -- inputs (hooks) -------------------------------------------------------------------------

    def on_call(self, outcome: CallOutcome) -> None:
        """The :class:`~pulsetrader.broker.client.AlpacaClient` hook."""
        if self._pinging and outcome.endpoint == self.ping_endpoint:
            self._ping_reported = True
            self._ping_failure_reported |= not outcome.ok
        if (outcome.ok or outcome.status is not None) and self.policy.is_slow(outcome.seconds):
            logger.bind(endpoint=outcome.endpoint, latency_ms=round(outcome.seconds * 1e3)).warning(
                "slow broker response: {} took {:.0f} ms (slow above {:.0f} ms)",
                outcome.endpoint,
                outcome.seconds * 1e3,
                self.policy.slow_call_seconds * 1e3,
            )
        self._after(self.core.record_call(outcome))

    def on_stream_event(self, event: StreamEvent) -> None:
        """The :class:`~pulsetrader.streaming.client.WebSocketClient` hook."""
        self._after(self.core.record_stream(event))

    def tick(self) -> HealthTransition | None:
        """Let time pass (the ping loop calls this after every ping)."""
        transition = self.core.tick()
        self._after(transition)
        return transition

    # -- the ping loop --------------------------------------------------------------------------

    async def check(self) -> bool:
        """One ping of the broker, then :meth:`tick`. Returns whether the ping succeeded."""
        self._pinging, self._ping_reported, self._ping_failure_reported = True, False, False
        started = self.monotonic()
        error: BrokerError | None = None
        latency = 0.0
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancellation that
            # arrives as the ping completes, and stop() would wait for ever.
            async with asyncio.timeout(self.ping_timeout):
                latency = await self._ping()
        except TimeoutError:
            error = BrokerTimeout(
                f"{self.ping_endpoint}: no answer within {self.ping_timeout:g}s",
                endpoint=self.ping_endpoint,
            )
        except BrokerError as exc:
            error = exc
        except Exception as exc:
            error = BrokerUnavailable(
                f"{self.ping_endpoint}: {type(exc).__name__}: {exc}", endpoint=self.ping_endpoint
            )
        finally:
            self._pinging = False
        ok = error is None
        if ok and not self._ping_reported:
            self.on_call(CallOutcome(self.ping_endpoint, True, float(latency), self.clock()))
        elif not ok and not self._ping_failure_reported:
            seconds = max(0.0, self.monotonic() - started)
            status = error.status if error is not None else None
            self.on_call(
                CallOutcome(self.ping_endpoint, False, seconds, self.clock(), status, error)
            )
        self.pings += 1
        self.ping_failures += not ok
        self.last_ping_at, self.last_ping_ok = self.clock(), ok
        self.last_ping_seconds = float(latency) if ok else None
        if not ok:
            logger.warning("health ping failed: {}", error)
        self.tick()
        return ok

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.check()
            except Exception:  # a bug here must not end the monitoring
                logger.exception("health check failed")
            await asyncio.sleep(self.ping_interval)

    def start(self) -> None:
        """Start the periodic check (needs a running event loop); a no-op while it runs."""
        if self.running:
            return
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name="health-monitor")
        logger.info("health monitor started: ping every {:g}s", self.ping_interval)

    async def stop(self) -> None:
        """Stop the periodic check and wait for it to end."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True  # even if a ping swallows the cancellation, the loop ends
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        logger.info("health monitor stopped")

    # -- applying the rule ----------------------------------------------------------------------

    def _after(self, transition: HealthTransition | None) -> None:
        if transition is not None:
            self.transitions.append(transition)
            if transition.entered:
                logger.warning("health: entering preservation mode: {}", transition.reason)
            else:
                logger.info("health: leaving preservation mode: {}", transition.reason)
            for listener in self._listeners:
                try:
                    listener(transition)
                except Exception:
                    logger.exception("health listener {!r} failed", listener)
        self._apply(transition)

    def _apply(self, transition: HealthTransition | None = None) -> None:
        """Bring the trading state in line with the core (see the module docstring)."""
        state = self.risk.state
        if self.core.preservation:
            if state is TradingState.ACTIVE:
                reason = self.core.preservation_reason
                if transition is None:
                    reason = f"still unhealthy: {reason}"
                self._set(TradingState.REDUCING, f"preservation mode: {reason}")
            elif transition is not None:
                why = (
                    "trading is halted: the halt stays"
                    if state is TradingState.HALTED
                    else ("already reducing" if self._managed else "reducing set by someone else")
                )
                self._note(transition, state, why)
        elif state is TradingState.REDUCING and self._managed:
            reason = transition.reason if transition is not None else "healthy"
            self._set(TradingState.ACTIVE, reason)
        elif transition is not None:
            why = (
                "trading is halted: only the operator lifts a halt"
                if state is TradingState.HALTED
                else (
                    "reducing set by someone else: left as it is"
                    if state is TradingState.REDUCING
                    else "already active"
                )
            )
            self._note(transition, state, why)

    def _set(self, state: TradingState, reason: str) -> None:
        previous = self.risk.state
        self._setting = state
        try:
            changed = self.risk.set_state(state, reason)
        finally:
            self._setting = None
        if not changed:
            return
        self._managed = state is TradingState.REDUCING
        if self.journal is not None:
            try:
                self.journal.record_trading_state(
                    previous, state, reason, actor=HEALTH_ACTOR, at=self.clock()
                )
            except Exception:
                logger.exception("could not journal the trading state {}", state.value)

    def _note(self, transition: HealthTransition, state: TradingState, why: str) -> None:
        """A transition of the rule that left the trading state as it was."""
        logger.warning("health: trading state stays {}: {}", state.value, why)
        if self.journal is None:
            return
        action = "health_entered" if transition.entered else "health_left"
        detail = {"reason": transition.reason, "state": state.value, "applied": False, "why": why}
        try:
            self.journal.record_action(HEALTH_ACTOR, action, detail, transition.at)
        except Exception:
            logger.exception("could not journal the health transition")

    def _on_risk_state(self, old: TradingState, new: TradingState, reason: str) -> None:
        if self._setting is new:
            return  # our own change
        self._managed = False
        if new is TradingState.ACTIVE and self.core.preservation:
            logger.warning(
                "trading state set ACTIVE while the connection is unhealthy ({}): "
                "preservation mode again",
                self.core.preservation_reason,
            )
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # the next input or tick applies it
            loop.call_soon(self._apply)
