"""StrategyContext: what a strategy sees of the engine, and its only way to trade.

Reads (account, positions, prices, bars) go to the cached account manager and market-data feed.
Orders become an :class:`~pulsetrader.domain.intents.OrderIntent` carrying the strategy's
instance name and go to the order manager's ``submit_order``, so every one is risk-checked,
journaled and sent exactly once; the context never talks to the broker. While the strategy warms
up on historical bars, orders are refused (logged, ``None`` returned): a signal computed on old
data must not trade now.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from loguru import logger

from pulsetrader.domain.account import Account
from pulsetrader.domain.enums import OrderSide, TimeInForce
from pulsetrader.domain.intents import OrderIntent
from pulsetrader.domain.market import Bar, Timeframe
from pulsetrader.domain.money import Number, optional_decimal, utcnow
from pulsetrader.domain.orders import Order
from pulsetrader.domain.snapshots import PositionSnapshot
from pulsetrader.domain.symbols import is_crypto, order_symbol
from pulsetrader.risk.decisions import Denied
from pulsetrader.strategy.bars import bars_from_frame
from pulsetrader.strategy.ports import AccountPort, MarketDataPort, OrderPort

if TYPE_CHECKING:
    from loguru import Logger

#: What an order request returns: the order (possibly ``rejected`` by the broker), the risk
#: manager's denial, or None when the context refused it (warming up).
OrderResult = Order | Denied | None


class StrategyContext:
    """One strategy instance's window on the engine.

    ``name`` is the instance name from the strategies file; it is stamped on every order, which
    is how fills and order updates find their way back here. ``state`` is the strategy's own
    scratch space, ``log`` a logger bound with ``strategy=name``. ``timeframe`` is the default
    for :meth:`bars`.
    """

    def __init__(
        self,
        name: str,
        orders: OrderPort,
        accounts: AccountPort,
        feed: MarketDataPort,
        *,
        clock: Callable[[], datetime] = utcnow,
        timeframe: Timeframe | str = "1Min",
    ) -> None:
        self.name = name
        self._orders = orders
        self._accounts = accounts
        self._feed = feed
        self._clock = clock
        self.timeframe = Timeframe.parse(timeframe) if isinstance(timeframe, str) else timeframe
        self.warming_up = False
        self.state: dict[str, Any] = {}
        self.log: Logger = logger.bind(strategy=name)
        self.submitted = 0
        self.denied = 0
        self.refused = 0

    # -- reads ------------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The broker's time (aware UTC)."""
        return self._clock()

    async def account(self) -> Account:
        """The account snapshot (cached for a few seconds)."""
        return await self._accounts.get_account()

    async def positions(self) -> list[PositionSnapshot]:
        """Every open position of the account (the broker's view)."""
        return await self._accounts.get_positions()

    async def position(self, symbol: str) -> PositionSnapshot | None:
        """The position in ``symbol`` (any spelling), or None when flat.

        Alpaca keeps one position per symbol per account: strategies trading the same symbol
        share it.
        """
        return await self._accounts.get_position(symbol)

    async def price(self, symbol: str) -> Decimal | None:
        """The latest trade price (or quote midpoint); None when unknown."""
        return await self._feed.get_current_price(symbol)

    async def bars(
        self, symbol: str, timeframe: Timeframe | str | None = None, limit: int = 100
    ) -> list[Bar]:
        """The latest ``limit`` bars, oldest first; empty when there are none or the broker
        cannot be reached (the feed logs which)."""
        frame = await self._feed.get_bars(symbol, timeframe or self.timeframe, limit=limit)
        return [] if frame is None else bars_from_frame(symbol, frame)

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """This strategy's orders that may still fill, newest first."""
        return [o for o in self._orders.open_orders(symbol) if o.strategy == self.name]

    # -- orders -----------------------------------------------------------------------------------

    async def buy(
        self,
        symbol: str,
        qty: Number | None = None,
        notional: Number | None = None,
        **fields: Any,
    ) -> OrderResult:
        """Buy ``qty`` units or ``notional`` dollars of ``symbol``.

        ``fields`` are further :class:`OrderIntent` fields (``type``, ``limit_price``,
        ``time_in_force``...). Market orders by default; time in force ``gtc`` for crypto
        (Alpaca's crypto accepts only gtc and ioc) and ``day`` for stocks.
        """
        return await self._order(OrderSide.BUY, symbol, qty, notional, fields)

    async def sell(
        self,
        symbol: str,
        qty: Number | None = None,
        notional: Number | None = None,
        **fields: Any,
    ) -> OrderResult:
        """Sell ``qty`` units or ``notional`` dollars of ``symbol`` (see :meth:`buy`)."""
        return await self._order(OrderSide.SELL, symbol, qty, notional, fields)

    async def _order(
        self,
        side: OrderSide,
        symbol: str,
        qty: Number | None,
        notional: Number | None,
        fields: dict[str, Any],
    ) -> OrderResult:
        fields.setdefault(
            "time_in_force", TimeInForce.GTC if is_crypto(symbol) else TimeInForce.DAY
        )
        # An invalid request raises ValueError here: a bug in the strategy, which pauses it.
        intent = OrderIntent(
            symbol=symbol,
            side=side,
            qty=optional_decimal(qty),
            notional=optional_decimal(notional),
            **fields,
        )
        return await self.submit(intent)

    async def submit(self, intent: OrderIntent) -> OrderResult:
        """Send ``intent`` through the order manager (and so the risk manager), as this strategy.

        The intent's ``strategy`` is set to this instance's name whatever it was.
        """
        if intent.strategy != self.name:
            intent = dataclasses.replace(intent, strategy=self.name)
        if self._refuse(f"{intent.side.value} {intent.symbol}"):
            return None
        return self._count(await self._orders.submit_order(intent))

    async def close(
        self, symbol: str, *, qty: Number | None = None, percentage: Number | None = None
    ) -> OrderResult:
        """Close the position in ``symbol`` (all, ``qty`` of it, or ``percentage``) with a
        market order, after cancelling the symbol's open orders. None when flat (or warming up).
        """
        if self._refuse(f"close {order_symbol(symbol)}"):
            return None
        result = await self._orders.close_position(
            symbol, qty=qty, percentage=percentage, strategy=self.name
        )
        return None if result is None else self._count(result)

    async def cancel(self, client_order_id: str) -> bool:
        """Ask to cancel one of this strategy's open orders; False if it is not one (any more)."""
        if not any(o.client_order_id == client_order_id for o in self.open_orders()):
            return False
        return await self._orders.cancel_order(client_order_id)

    async def cancel_all(self, symbol: str | None = None) -> int:
        """Ask to cancel every open order of this strategy (in ``symbol``); how many were asked."""
        count = 0
        for order in self.open_orders(symbol):
            if await self._orders.cancel_order(order.client_order_id):
                count += 1
        return count

    def _refuse(self, what: str) -> bool:
        if not self.warming_up:
            return False
        self.refused += 1
        self.log.info("order refused while warming up: {} ({})", what, self.name)
        return True

    def _count(self, result: Order | Denied) -> Order | Denied:
        if isinstance(result, Denied):
            self.denied += 1
        else:
            self.submitted += 1
        return result

    def __repr__(self) -> str:
        return f"StrategyContext({self.name!r}, warming_up={self.warming_up})"
