"""A client-side request limiter: stay under the requests-per-minute budget, wait rather than fail.

Alpaca allows 200 requests per minute per account. :class:`RequestLimiter` keeps the start times
of the last ``limit`` requests and lets a request start only when fewer than ``limit`` started in
the trailing ``period``; a sliding window like this guarantees the budget in *every* 60-second
window, so it also holds in whatever window the broker counts in. Callers queue in arrival order.

When the broker answers 429 anyway (another process on the same account, or a different counting
rule), :meth:`pause_for` stops every caller until the advertised reset.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable


class RequestLimiter:
    """Sliding-window limiter. ``limit=None`` disables it. Clock and sleep injectable for tests."""

    def __init__(
        self,
        limit: int | None,
        period: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if limit is not None and limit < 1:
            raise ValueError("limit must be at least 1 (or None for no limit)")
        self.limit = limit
        self.period = period
        self._monotonic = monotonic
        self._sleep = sleep
        self._starts: deque[float] = deque()
        self._lock = asyncio.Lock()
        self._paused_until = 0.0
        self.waited_seconds = 0.0

    def _wait_needed(self, now: float) -> float:
        wait = max(0.0, self._paused_until - now)
        if self.limit is None:
            return wait
        while self._starts and self._starts[0] <= now - self.period:
            self._starts.popleft()
        if len(self._starts) >= self.limit:
            wait = max(wait, self._starts[0] + self.period - now)
        return wait

    async def acquire(self) -> float:
        """Wait for a slot; return how long this caller waited (seconds)."""
        if self.limit is None and self._paused_until == 0.0:
            return 0.0
        waited = 0.0
        async with self._lock:  # FIFO: asyncio.Lock wakes waiters in order
            while True:
                now = self._monotonic()
                wait = self._wait_needed(now)
                if wait <= 0:
                    if self.limit is not None:
                        self._starts.append(now)
                    break
                await self._sleep(wait)
                waited += wait
        self.waited_seconds += waited
        return waited

    def pause_for(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` (the broker said the budget is spent)."""
        self._paused_until = max(self._paused_until, self._monotonic() + max(0.0, seconds))

    @property
    def used(self) -> int:
        """Requests started in the trailing window."""
        self._wait_needed(self._monotonic())
        return len(self._starts)
