"""What every broker call reports when it ends, for the health monitor and the metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pulsetrader.broker.errors import BrokerError


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """One attempt of one broker call.

    ``endpoint`` is the client method (``get_account``, ``submit_order``), a small fixed set
    suitable as a metric label. ``status`` is the last HTTP status seen (None when no response
    arrived). ``error`` is the mapped error when the attempt failed.
    """

    endpoint: str
    ok: bool
    seconds: float
    at: datetime
    status: int | None = None
    error: BrokerError | None = None
    waited_seconds: float = 0.0

    @property
    def error_type(self) -> str | None:
        return type(self.error).__name__ if self.error is not None else None


CallHook = Callable[[CallOutcome], None]
