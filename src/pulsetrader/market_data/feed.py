"""MarketDataFeed: bars, current prices and previous closes, cached, for strategies and risk.

Prices come from three places, freshest first: the live streams (:meth:`MarketDataFeed.on_trade`
and :meth:`on_quote`, fed by the WebSocket client), the price cache, and the broker's latest
trade (falling back to the quote midpoint when there is no trade). Reads never raise for a
broker failure: they log it and return ``None``, because a strategy asking for a price must
decide what to do without one, not crash (the seed's "handle errors gracefully").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from decimal import Decimal

import pandas as pd
from loguru import logger

from pulsetrader.broker.client import AlpacaClient
from pulsetrader.broker.convert import NEW_YORK
from pulsetrader.broker.errors import BrokerError, NotFound
from pulsetrader.caching import TtlCache
from pulsetrader.domain.market import Quote, Timeframe, Trade
from pulsetrader.domain.symbols import order_symbol
from pulsetrader.periodic import PeriodicTask

BarsKey = tuple[str, str, int | None, datetime | None, datetime | None]


class MarketDataFeed:
    """Cached market data over :class:`AlpacaClient`.

    ``price_ttl`` bounds how old a price may be before the broker is asked again;
    ``bars_ttl`` the same for bar frames; ``refresh_interval`` is the period of the background
    task that keeps the prices of :attr:`watched` symbols fresh.
    """

    def __init__(
        self,
        client: AlpacaClient,
        *,
        price_ttl: float = 2.0,
        bars_ttl: float = 30.0,
        refresh_interval: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self._prices: TtlCache[str, Decimal] = TtlCache(price_ttl, monotonic=monotonic)
        self._bars: TtlCache[BarsKey, pd.DataFrame] = TtlCache(
            bars_ttl, max_entries=2_000, monotonic=monotonic
        )
        self._closes: TtlCache[tuple[str, date], Decimal | None] = TtlCache(
            6 * 3600, monotonic=monotonic
        )
        self._quotes: dict[str, Quote] = {}
        self.watched: set[str] = set()
        self._refresher = PeriodicTask(
            "market-data-refresh", refresh_interval, self.refresh, immediately=False
        )

    # -- bars -------------------------------------------------------------------------------

    async def get_bars(
        self,
        symbol: str,
        timeframe: Timeframe | str = "1Min",
        *,
        limit: int | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pd.DataFrame | None:
        """Bars as the documented frame, or None (logged) when the broker fails.

        An empty frame means the broker has no bars in the range (a holiday, say): a valid
        answer, unlike None.
        """
        tf = Timeframe.parse(timeframe) if isinstance(timeframe, str) else timeframe
        key: BarsKey = (order_symbol(symbol), str(tf), limit, start, end)
        try:
            frame = await self._bars.get_or_load(
                key, lambda: self.client.get_bars(key[0], tf, start=start, end=end, limit=limit)
            )
        except BrokerError as exc:
            logger.warning("bars for {} {} unavailable: {}", symbol, tf, exc)
            return None
        return frame.copy()  # callers may add indicator columns; the cached frame stays clean

    # -- prices -------------------------------------------------------------------------------

    async def get_current_price(
        self, symbol: str, *, max_age: float | None = None
    ) -> Decimal | None:
        """The latest trade price (or quote midpoint), cached for ``price_ttl``; None if unknown.

        With ``max_age``, a cached price up to that many seconds old is returned without waiting
        for the broker, and renewed in the background (the risk check's way: the watched
        symbols' prices are refreshed every ``refresh_interval`` anyway).
        """
        symbol = order_symbol(symbol)
        self.watched.add(symbol)

        def load() -> Awaitable[Decimal]:
            return self._fetch_price(symbol)

        try:
            if max_age is not None:
                return await self._prices.get_or_refresh(symbol, load, max_age)
            return await self._prices.get_or_load(symbol, load)
        except BrokerError as exc:
            logger.warning("price of {} unavailable: {}", symbol, exc)
            return None

    async def _fetch_price(self, symbol: str) -> Decimal:
        try:
            return (await self.client.get_latest_trade(symbol)).price
        except NotFound:
            pass
        # No trade (a thin crypto pair, a halted stock): the quote midpoint is the next best.
        midpoint = (await self.client.get_latest_quote(symbol)).midpoint
        if midpoint is None:
            raise NotFound(f"no price for {symbol}: no trade and a one-sided quote")
        return midpoint

    def latest_quote(self, symbol: str) -> Quote | None:
        """The last quote the streams delivered for ``symbol``, if any."""
        return self._quotes.get(order_symbol(symbol))

    async def get_previous_close(self, symbol: str) -> Decimal | None:
        """The previous session's close (see :meth:`AlpacaClient.get_previous_close`), cached
        for the New York day; None (logged) when unknown."""
        symbol = order_symbol(symbol)
        today = self.client.clock().astimezone(NEW_YORK).date()
        try:
            return await self._closes.get_or_load(
                (symbol, today), lambda: self.client.get_previous_close(symbol)
            )
        except BrokerError as exc:
            logger.warning("previous close of {} unavailable: {}", symbol, exc)
            return None

    # -- stream input -------------------------------------------------------------------------

    def on_trade(self, trade: Trade) -> None:
        """A streamed trade: the freshest price there is."""
        self._prices.put(trade.symbol, trade.price)

    def on_quote(self, quote: Quote) -> None:
        """A streamed quote: remembered, and its midpoint used when no trade price is fresh."""
        self._quotes[quote.symbol] = quote
        if self._prices.get(quote.symbol) is None and quote.midpoint is not None:
            self._prices.put(quote.symbol, quote.midpoint)

    # -- background refresh -----------------------------------------------------------------

    @property
    def requests_saved(self) -> int:
        """Reads answered without a broker request."""
        caches = (self._prices, self._bars, self._closes)
        return sum(c.stats.saved for c in caches)

    @property
    def broker_requests(self) -> int:
        caches = (self._prices, self._bars, self._closes)
        return sum(c.stats.loads for c in caches)

    async def refresh(self) -> None:
        """Re-fetch the price of every watched symbol whose cached price is stale."""
        stale = [s for s in sorted(self.watched) if self._prices.get(s) is None]
        await asyncio.gather(*(self.get_current_price(s) for s in stale))

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
