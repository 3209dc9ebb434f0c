"""MarketHours: is the stock market open right now, by the broker's clock.

Alpaca's ``GET /v2/clock`` is the truth (holidays, early closes and DST included). One snapshot
says whether the market is open and when that next changes, so between refreshes the answer is
computed locally: open until ``next_close`` if it was open, open from ``next_open`` if it was
not. A background task refreshes the snapshot periodically and once a boundary has passed. When
the broker cannot be asked, the last snapshot keeps answering.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime

from loguru import logger

from pulsetrader.broker.client import AlpacaClient
from pulsetrader.broker.errors import BrokerError
from pulsetrader.domain.snapshots import MarketClock


class MarketHours:
    """The stock market's open/closed state from :meth:`AlpacaClient.get_clock`.

    ``now`` is the broker's time (the simulator's clock in sim mode; defaults to the client's).
    Until the first refresh succeeds, :meth:`is_open` answers ``assume_open``.
    """

    def __init__(
        self,
        client: AlpacaClient,
        *,
        now: Callable[[], datetime] | None = None,
        refresh_interval: float = 300.0,
        assume_open: bool = True,
    ) -> None:
        self.client = client
        self.now = now or client.clock
        self.refresh_interval = refresh_interval
        self.assume_open = assume_open
        self.clock: MarketClock | None = None
        self._task: asyncio.Task[None] | None = None

    def is_open(self, at: datetime | None = None) -> bool:
        """Whether regular trading is on at ``at`` (default: now)."""
        clock = self.clock
        if clock is None:
            return self.assume_open
        t = at or self.now()
        if clock.is_open:
            return t < clock.next_close
        # Closed: the next session runs from next_open to next_close.
        return clock.next_open <= t < clock.next_close

    def stale(self, at: datetime | None = None) -> bool:
        """Whether a boundary of the snapshot has passed (so it should be asked again)."""
        clock = self.clock
        if clock is None:
            return True
        t = at or self.now()
        return t >= (clock.next_close if clock.is_open else clock.next_open)

    async def refresh(self) -> bool:
        """Ask the broker; False (and the old snapshot kept) when it cannot answer."""
        try:
            self.clock = await self.client.get_clock()
        except BrokerError as exc:
            logger.warning("market clock refresh failed: {}", exc)
            return False
        return True

    def start(self) -> None:
        """Refresh in the background every ``refresh_interval`` s and after each boundary."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._loop(), name="market-hours-refresh"
            )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        elapsed = self.refresh_interval
        while True:
            if elapsed >= self.refresh_interval or self.stale():
                await self.refresh()
                elapsed = 0.0
            await asyncio.sleep(1.0)
            elapsed += 1.0
