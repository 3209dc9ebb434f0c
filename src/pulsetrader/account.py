"""AccountManager: the account and positions from the broker, cached, refreshed in the background.

Reads are served from a TTL cache (concurrent misses share one request); a periodic task keeps
the cache warm so strategies rarely wait on the broker. After anything that changes the account
(a fill, a close), the order manager calls :meth:`AccountManager.invalidate` so the next read is
fresh. Refresh failures are logged and reported, never raised into the refresh loop's caller:
the last good snapshot stays readable through :attr:`last_account` / :attr:`last_positions`.
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
    """Cached account state. ``ttl`` in seconds; ``refresh_interval`` for :meth:`start`."""

    def __init__(
        self,
        client: AlpacaClient,
        *,
        ttl: float = 5.0,
        refresh_interval: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self._accounts: TtlCache[str, Account] = TtlCache(ttl, monotonic=monotonic)
        self._positions: TtlCache[str, dict[str, PositionSnapshot]] = TtlCache(
            ttl, monotonic=monotonic
        )
        self._refresher = PeriodicTask("account-refresh", refresh_interval, self.refresh)
        self.last_account: Account | None = None
        self.last_positions: dict[str, PositionSnapshot] = {}

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

    async def _load_account(self) -> Account:
        account = await self.client.get_account()
        self.last_account = account
        return account

    async def _load_positions(self) -> dict[str, PositionSnapshot]:
        positions = {p.symbol: p for p in await self.client.get_positions()}
        self.last_positions = positions
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
        """Stop the refresh task and wait for it."""
        await self._refresher.stop()
