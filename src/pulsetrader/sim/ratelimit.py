"""Per-key request rate limiting, the way Alpaca meters its APIs (200 requests/minute per key).

A fixed one-minute window per key: the first request opens a window, every request in it counts,
and the window closes 60 s after it opened. That is what Alpaca's ``X-Ratelimit-Reset`` header
describes (the unix second at which the budget refills), and what clients that honour the headers
expect. The clock is injectable so tests can cross window boundaries without sleeping.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_LIMIT_PER_MINUTE = 200
RATE_LIMIT_CODE = 42910000
RATE_LIMIT_MESSAGE = "rate limit exceeded"


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The outcome of one request against its key's budget."""

    allowed: bool
    limit: int | None
    remaining: int
    reset_at: float
    retry_after: int

    def headers(self) -> dict[str, str]:
        """``X-Ratelimit-*`` headers (plus ``Retry-After`` when refused); none when unlimited."""
        if self.limit is None:
            return {}
        out = {
            "X-Ratelimit-Limit": str(self.limit),
            "X-Ratelimit-Remaining": str(self.remaining),
            "X-Ratelimit-Reset": str(math.ceil(self.reset_at)),
        }
        if not self.allowed:
            out["Retry-After"] = str(self.retry_after)
        return out


class RateLimiter:
    """Fixed one-minute windows per key; ``limit_per_minute=None`` admits everything.

    ``clock`` returns unix seconds (the reset header is an absolute unix time).
    """

    def __init__(
        self,
        limit_per_minute: int | None = DEFAULT_LIMIT_PER_MINUTE,
        *,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if limit_per_minute is not None and limit_per_minute < 1:
            raise ValueError("limit_per_minute must be at least 1, or None for unlimited")
        self.limit = limit_per_minute
        self.window_seconds = window_seconds
        self._clock = clock
        # key -> (window start, requests counted in the window)
        self._windows: dict[str, tuple[float, int]] = {}
        self.refused = 0

    def hit(self, key: str) -> RateDecision:
        """Count one request for ``key`` and say whether it is within the budget.

        Refused requests do not consume budget (Alpaca does not count its own 429s).
        """
        now = self._clock()
        if self.limit is None:
            return RateDecision(True, None, 0, now, 0)
        start, used = self._windows.get(key, (now, 0))
        if now - start >= self.window_seconds:
            start, used = now, 0
        reset_at = start + self.window_seconds
        if used >= self.limit:
            self.refused += 1
            self._windows[key] = (start, used)
            retry_after = max(1, math.ceil(reset_at - now))
            return RateDecision(False, self.limit, 0, reset_at, retry_after)
        used += 1
        self._windows[key] = (start, used)
        # Windows of idle keys are dropped lazily so a long run with many keys stays small.
        if len(self._windows) > 10_000:
            self._prune(now)
        return RateDecision(True, self.limit, self.limit - used, reset_at, 0)

    def _prune(self, now: float) -> None:
        self._windows = {
            key: (start, used)
            for key, (start, used) in self._windows.items()
            if now - start < self.window_seconds
        }

    def reset(self) -> None:
        """Forget every window (``POST /sim/reset``)."""
        self._windows.clear()
        self.refused = 0
