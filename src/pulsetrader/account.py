"""AccountManager: the account and positions from the broker, cached, refreshed in the background.

Reads are served from a TTL cache (concurrent misses share one request); a periodic task keeps
the cache warm so strategies rarely wait on the broker. After anything that changes the account
(an accepted order, a fill), the order manager calls :meth:`AccountManager.mark_changed`: the
next read is fresh, and a reload starts in the background. Refresh failures are logged and
reported, never raised into the refresh loop's caller: the last good snapshot stays readable
through :attr:`last_account` / :attr:`last_positions`.

The risk check does not wait for those reloads: :meth:`AccountManager.risk_snapshot` hands it the
newest snapshot with the count of changes it may not include, which the order manager applies
itself (:mod:`pulsetrader.execution.unsettled`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal

from loguru import logger

from pulsetrader.broker.client import AlpacaClient
from pulsetrader.broker.errors import BrokerError
from pulsetrader.caching import TtlCache
from pulsetrader.domain.account import Account
from pulsetrader.domain.snapshots import PositionSnapshot
from pulsetrader.domain.symbols import order_symbol
from pulsetrader.periodic import PeriodicTask

_ACCOUNT = "account"
_POSITIONS = "positions"


class AccountManager:
    """Cached account state. ``ttl`` in seconds; ``refresh_interval`` for :meth:`start`;
    ``risk_max_age`` how old a snapshot :meth:`risk_snapshot` takes (default: the refresh
    interval plus the TTL, which the periodic refresh keeps it under);
    ``reload_delay`` seconds between a change and its background reload (:meth:`mark_changed`)."""

    def __init__(
        self,
        client: AlpacaClient,
        *,
        ttl: float = 5.0,
        refresh_interval: float = 30.0,
        risk_max_age: float | None = None,
        reload_delay: float = 0.025,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.ttl = ttl
        self.risk_max_age = risk_max_age if risk_max_age is not None else refresh_interval + ttl
        self._monotonic = monotonic
        self._accounts: TtlCache[str, Account] = TtlCache(ttl, monotonic=monotonic)
        self._positions: TtlCache[str, dict[str, PositionSnapshot]] = TtlCache(
            ttl, monotonic=monotonic
        )
        self._refresher = PeriodicTask("account-refresh", refresh_interval, self.refresh)
        self.last_account: Account | None = None
        self.last_positions: dict[str, PositionSnapshot] = {}
        #: Changes marked so far (:meth:`mark_changed`); a snapshot requested after the n-th
        #: includes the first n.
        self.changes = 0
        # For each of last_account and last_positions: the change count when its request went
        # out, and when (monotonic) it arrived; None before the first.
        self._account_seen, self._positions_seen = 0, 0
        self._account_at: float | None = None
        self._positions_at: float | None = None
        self._reloads: set[asyncio.Task[None]] = set()
        self._reload_scheduled = False
        self.reload_delay = reload_delay

    # -- reads ----------------------------------------------------------------------------------

    async def get_account(self, *, fresh: bool = False) -> Account:
        """The account snapshot (from cache unless stale or ``fresh``)."""
        if fresh:
            self._accounts.invalidate(_ACCOUNT)
        return await self._accounts.get_or_load(_ACCOUNT, self._load_account)

    async def get_equity(self) -> Decimal:
        return (await self.get_account()).equity

    async def get_cash(self) -> Decimal:
        return (await self.get_account()).cash

    async def get_buying_power(self) -> Decimal:
        return (await self.get_account()).buying_power

    async def get_positions(self, *, fresh: bool = False) -> list[PositionSnapshot]:
        """Every open position."""
        if fresh:
            self._positions.invalidate(_POSITIONS)
        by_symbol = await self._positions.get_or_load(_POSITIONS, self._load_positions)
        return list(by_symbol.values())

    async def get_position(self, symbol: str) -> PositionSnapshot | None:
        """The position in ``symbol`` (any spelling), or None when flat."""
        by_symbol = await self._positions.get_or_load(_POSITIONS, self._load_positions)
        return by_symbol.get(order_symbol(symbol))

    async def _ensure_fresh_data(self) -> None:
        """Load whatever is stale, both in parallel."""
        await asyncio.gather(self.get_account(), self.get_positions())

    def invalidate(self) -> None:
        """Forget the cached state (something changed at the broker)."""
        self._accounts.invalidate()
        self._positions.invalidate()

    def mark_changed(self) -> int:
        """Something changed at the broker (an order accepted, a fill): forget the cached state
        and reload it now in the background. Returns the change's number (:attr:`changes`).

        The next read never sees the state from before the change: it waits for the reload
        already under way (loads are shared) instead of starting its own. Reloading at once,
        rather than at the next read, takes the broker's round trips off the strategies' reads
        (the risk check does not wait at all: :meth:`risk_snapshot`).
        """
        self.changes += 1
        self.invalidate()
        if self._reload_scheduled:
            return self.changes  # one reload, after the last of a burst (an accept and its fill)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a synchronous caller): the next read loads
            return self.changes
        self._reload_scheduled = True
        task = loop.create_task(self._reload(), name="account-reload")
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)
        return self.changes

    async def _reload(self) -> None:
        # A short wait lets the changes that come together (a market order's acceptance and
        # its fill a few milliseconds later) share one reload; a read meanwhile loads itself.
        try:
            await asyncio.sleep(self.reload_delay)
        finally:
            self._reload_scheduled = False
        try:
            await self._ensure_fresh_data()
        except BrokerError as exc:  # the next read tries again
            logger.debug("account reload after a change failed: {}", exc)

    async def risk_snapshot(self) -> tuple[Account, dict[str, PositionSnapshot], int]:
        """The newest account and positions, without waiting for a reload after a change, and
        the number of changes they are known to include (later ones may be missing).

        Loads (and waits) only for a part that is missing or older than :attr:`risk_max_age`,
        which the periodic refresh prevents while it runs: the engine's own orders and fills are
        applied by the caller, and the broker's other changes (prices, trades made outside this
        engine) reach the risk check within a refresh interval. Strategies' reads
        (:meth:`get_account`) keep the shorter TTL.
        """
        now = self._monotonic()
        if self._account_at is None or now - self._account_at > self.risk_max_age:
            await self.get_account()
        if self._positions_at is None or now - self._positions_at > self.risk_max_age:
            await self.get_positions()
        assert self.last_account is not None
        seen = min(self._account_seen, self._positions_seen)
        return self.last_account, self.last_positions, seen

    async def _load_account(self) -> Account:
        asked = self.changes
        account = await self.client.get_account()
        # An answer to an earlier request that arrives late must not replace a newer one.
        if self._account_at is None or asked >= self._account_seen:
            self.last_account = account
            self._account_seen, self._account_at = asked, self._monotonic()
        return account

    async def _load_positions(self) -> dict[str, PositionSnapshot]:
        asked = self.changes
        positions = {p.symbol: p for p in await self.client.get_positions()}
        if self._positions_at is None or asked >= self._positions_seen:
            self.last_positions = positions
            self._positions_seen, self._positions_at = asked, self._monotonic()
        return positions

    @property
    def requests_saved(self) -> int:
        """Reads answered without a broker request."""
        return self._accounts.stats.saved + self._positions.stats.saved

    @property
    def broker_requests(self) -> int:
        """Reads that reached the broker."""
        return self._accounts.stats.loads + self._positions.stats.loads

    # -- background refresh -----------------------------------------------------------------

    async def refresh(self) -> bool:
        """Reload account and positions now; False (logged) if the broker failed."""
        self.invalidate()
        try:
            await self._ensure_fresh_data()
        except BrokerError as exc:
            logger.warning("account refresh failed: {}", exc)
            return False
        return True

    @property
    def refresh_interval(self) -> float:
        """Seconds between background refreshes."""
        return self._refresher.interval

    def start(self) -> None:
        """Start the periodic refresh task (idempotent)."""
        self._refresher.start()

    async def stop(self) -> None:
        """Stop the refresh task (and any reload after a change) and wait for them."""
        await self._refresher.stop()
        for task in list(self._reloads):
            task.cancel()
        if self._reloads:
            await asyncio.gather(*self._reloads, return_exceptions=True)
