"""Builders for the health tests: call outcomes, stream events and a settable clock pair."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pulsetrader.broker.errors import BrokerError, BrokerUnavailable
from pulsetrader.broker.hooks import CallOutcome
from pulsetrader.streaming.events import StreamEvent, StreamEventKind

T0 = datetime(2024, 3, 4, 15, 0, tzinfo=UTC)


class FakeTime:
    """A monotonic clock and a wall clock (aware UTC) that move together, only when told."""

    def __init__(self, mono: float = 1000.0, wall: datetime = T0) -> None:
        self.mono = mono
        self.wall = wall

    def monotonic(self) -> float:
        return self.mono

    def clock(self) -> datetime:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += timedelta(seconds=seconds)


def ok(
    endpoint: str = "get_account", seconds: float = 0.05, at: datetime = T0, status: int = 200
) -> CallOutcome:
    return CallOutcome(endpoint, True, seconds, at, status)


def failed(
    error: BrokerError | None = None,
    endpoint: str = "get_account",
    seconds: float = 0.05,
    at: datetime = T0,
    status: int | None = None,
) -> CallOutcome:
    if error is None:
        error = BrokerUnavailable(f"{endpoint}: the broker failed (503)", status=503)
    if status is None:
        status = error.status
    return CallOutcome(endpoint, False, seconds, at, status, error)


def stream_event(
    kind: StreamEventKind,
    stream: str = "iex",
    *,
    downtime: float | None = None,
    at: datetime = T0,
    detail: str = "",
) -> StreamEvent:
    return StreamEvent(stream, kind, at, detail, downtime_seconds=downtime)


def reconnected(stream: str = "iex", downtime: float = 1.0, at: datetime = T0) -> StreamEvent:
    return stream_event(StreamEventKind.CONNECTED, stream, downtime=downtime, at=at)
