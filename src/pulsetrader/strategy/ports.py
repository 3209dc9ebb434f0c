"""What strategies use from the rest of the engine, as typed protocols.

The real implementations are :class:`~pulsetrader.execution.order_manager.OrderManager`,
:class:`~pulsetrader.account.AccountManager`, :class:`~pulsetrader.market_data.feed.MarketDataFeed`
and :class:`~pulsetrader.streaming.client.WebSocketClient`; tests pass small hand-written fakes.
Orders go through :class:`OrderPort` only, which is the order manager and so the risk manager:
nothing in this package can reach the broker directly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from pulsetrader.domain.account import Account
from pulsetrader.domain.intents import OrderIntent
from pulsetrader.domain.market import Timeframe
from pulsetrader.domain.money import Number
from pulsetrader.domain.orders import Order
from pulsetrader.domain.snapshots import PositionSnapshot
from pulsetrader.execution.book import BookedFill
from pulsetrader.risk.decisions import Denied

#: What a stream callback may return: nothing, or something to await.
StreamCallback = Callable[[Any], Awaitable[None] | None]


class OrderPort(Protocol):
    """The order manager's order path: risk-checked, journaled, exactly once."""

    async def submit_order(self, intent: OrderIntent) -> Order | Denied: ...

    async def close_position(
        self,
        symbol: str,
        *,
        qty: Number | None = None,
        percentage: Number | None = None,
        cancel_orders: bool = True,
        strategy: str | None = None,
    ) -> Order | Denied | None: ...

    async def cancel_order(self, client_order_id: str) -> bool: ...

    def open_orders(self, symbol: str | None = None) -> list[Order]: ...


class OrderEvents(Protocol):
    """The order manager's listeners, through which the runner hears of fills and updates."""

    def on_fill(self, listener: Callable[[BookedFill, Order | None], None]) -> None: ...

    def on_order(self, listener: Callable[[Order], None]) -> None: ...


class AccountPort(Protocol):
    """Cached account and positions (the broker's view)."""

    async def get_account(self, *, fresh: bool = False) -> Account: ...

    async def get_positions(self, *, fresh: bool = False) -> list[PositionSnapshot]: ...

    async def get_position(self, symbol: str) -> PositionSnapshot | None: ...


class MarketDataPort(Protocol):
    """Cached prices and historical bars (the documented bar frame, or None when unavailable)."""

    async def get_bars(
        self,
        symbol: str,
        timeframe: Timeframe | str = ...,
        *,
        limit: int | None = ...,
    ) -> pd.DataFrame | None: ...

    async def get_current_price(self, symbol: str) -> Decimal | None: ...


class MarketStream(Protocol):
    """Live bars, trades and quotes with per-symbol callbacks."""

    async def subscribe_bars(
        self, symbols: Iterable[str] | str, callback: StreamCallback
    ) -> None: ...

    async def subscribe_trades(
        self, symbols: Iterable[str] | str, callback: StreamCallback
    ) -> None: ...

    async def subscribe_quotes(
        self, symbols: Iterable[str] | str, callback: StreamCallback
    ) -> None: ...

    async def unsubscribe_bars(
        self, symbols: Iterable[str] | str, callback: StreamCallback | None = None
    ) -> None: ...

    async def unsubscribe_trades(
        self, symbols: Iterable[str] | str, callback: StreamCallback | None = None
    ) -> None: ...

    async def unsubscribe_quotes(
        self, symbols: Iterable[str] | str, callback: StreamCallback | None = None
    ) -> None: ...


if TYPE_CHECKING:  # mypy checks that the real components still fit; nothing runs
    from pulsetrader.account import AccountManager
    from pulsetrader.execution.order_manager import OrderManager
    from pulsetrader.market_data.feed import MarketDataFeed
    from pulsetrader.streaming.client import WebSocketClient

    def _conforms(
        orders: OrderManager, accounts: AccountManager, feed: MarketDataFeed, ws: WebSocketClient
    ) -> None:
        _orders: OrderPort = orders
        _events: OrderEvents = orders
        _accounts: AccountPort = accounts
        _feed: MarketDataPort = feed
        _stream: MarketStream = ws
