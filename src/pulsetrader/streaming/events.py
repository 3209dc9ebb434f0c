"""What the stream clients report about their connections, for the health monitor and the log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class StreamEventKind(StrEnum):
    """The kinds of connection event a stream reports."""

    CONNECTED = "connected"  # handshake done (first time, or again after a drop: see attempt)
    DISCONNECTED = "disconnected"  # the connection ended or could not be made
    SILENCE = "silence"  # no data while the market was open: treated as a fault, reconnecting
    GAP_FILLED = "gap_filled"  # minute bars missed while down were fetched over REST
    AUTH_FAILED = "auth_failed"  # the keys were refused
    CONNECTION_LIMIT = "connection_limit"  # Alpaca still holds another connection for the key
    ERROR = "error"  # an error frame (symbol limit, invalid syntax, ...) or a protocol fault


#: Kinds that count as faults for the health monitor.
FAULT_KINDS = frozenset(
    {
        StreamEventKind.DISCONNECTED,
        StreamEventKind.SILENCE,
        StreamEventKind.AUTH_FAILED,
        StreamEventKind.CONNECTION_LIMIT,
        StreamEventKind.ERROR,
    }
)


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One connection event of the stream named ``stream`` (``iex``, ``crypto``,
    ``trade_updates``).

    ``attempt`` is the number of consecutive failed connection attempts before this event (0 on a
    first connect); ``downtime_seconds`` on a reconnect is how long the stream was down;
    ``code`` is Alpaca's error code when there was one; ``count`` is e.g. the bars back-filled.
    """

    stream: str
    kind: StreamEventKind
    at: datetime
    detail: str = ""
    attempt: int = 0
    downtime_seconds: float | None = None
    code: int | None = None
    count: int | None = None

    @property
    def is_fault(self) -> bool:
        """Whether the health monitor should count this against the connection."""
        return self.kind in FAULT_KINDS

    @property
    def is_reconnect(self) -> bool:
        """A successful connection after the stream had been down."""
        return self.kind is StreamEventKind.CONNECTED and self.downtime_seconds is not None


StreamHook = Callable[[StreamEvent], None]
