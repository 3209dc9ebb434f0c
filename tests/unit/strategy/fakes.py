"""Hand-written fakes of what strategies use: order manager, account manager, feed, stream.

Each is a tiny working implementation that records what it was asked. :class:`FakeOrders`
fills market orders at once at the feed's price (unless ``auto_fill`` is off), moving the fake
account's position, and tells its listeners, as the order manager would.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd

from pulsetrader.domain import (
    Account,
    Bar,
    Fill,
    Order,
    OrderIntent,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionSide,
    Quote,
    TimeInForce,
    Trade,
)
from pulsetrader.domain.money import Number, to_decimal
from pulsetrader.domain.snapshots import PositionSnapshot
from pulsetrader.domain.symbols import asset_class_of, is_crypto, order_symbol
from pulsetrader.execution.book import BookedFill
from pulsetrader.risk.decisions import Denied
from pulsetrader.strategy.context import StrategyContext

T0 = datetime(2024, 6, 3, 14, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


class FakeClock:
    def __init__(self, now: datetime = T0 + timedelta(days=1)) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def bar(
    symbol: str,
    minute: int,
    close: Number,
    *,
    high: Number | None = None,
    low: Number | None = None,
    open: Number | None = None,
    volume: Number = 100,
    start: datetime = T0,
    vwap: Number | None = None,
    trade_count: int | None = 10,
) -> Bar:
    """A bar ``minute`` minutes after ``start``; high/low default to the open/close range."""
    c = to_decimal(close)
    o = to_decimal(open) if open is not None else c
    return Bar(
        symbol=symbol,
        timestamp=start + minute * MINUTE,
        open=o,
        high=to_decimal(high) if high is not None else max(o, c),
        low=to_decimal(low) if low is not None else min(o, c),
        close=c,
        volume=to_decimal(volume),
        trade_count=trade_count,
        vwap=None if vwap is None else to_decimal(vwap),
    )


def series(symbol: str, closes: Sequence[Number], *, first_minute: int = 0) -> list[Bar]:
    return [bar(symbol, first_minute + i, c) for i, c in enumerate(closes)]


def frame_of(bars: Iterable[Bar]) -> pd.DataFrame:
    """Bars as the feed's documented frame (floats, UTC index named ``timestamp``)."""
    rows = list(bars)
    index = pd.DatetimeIndex([b.timestamp for b in rows], tz="UTC", name="timestamp")
    return pd.DataFrame(
        {
            "open": pd.Series([float(b.open) for b in rows], dtype="float64", index=index),
            "high": pd.Series([float(b.high) for b in rows], dtype="float64", index=index),
            "low": pd.Series([float(b.low) for b in rows], dtype="float64", index=index),
            "close": pd.Series([float(b.close) for b in rows], dtype="float64", index=index),
            "volume": pd.Series([float(b.volume) for b in rows], dtype="float64", index=index),
            "trade_count": pd.array([b.trade_count for b in rows], dtype="Int64"),
            "vwap": pd.Series(
                [float(b.vwap) if b.vwap is not None else float("nan") for b in rows],
                dtype="float64",
                index=index,
            ),
        },
        index=index,
    )


def snapshot(symbol: str, qty: Number, avg: Number = 100) -> PositionSnapshot:
    q, a = to_decimal(qty), to_decimal(avg)
    return PositionSnapshot(
        symbol=symbol,
        qty=q,
        side=PositionSide.LONG if q > 0 else PositionSide.SHORT,
        avg_entry_price=a,
        market_value=q * a,
        cost_basis=q * a,
        unrealized_pl=Decimal(0),
        unrealized_plpc=None,
        current_price=a,
        lastday_price=None,
        asset_class=asset_class_of(symbol),
    )


def account() -> Account:
    return Account(
        account_id="acct-1",
        status="ACTIVE",
        currency="USD",
        cash=Decimal(100_000),
        equity=Decimal(100_000),
        buying_power=Decimal(200_000),
        last_equity=Decimal(100_000),
        long_market_value=Decimal(0),
        short_market_value=Decimal(0),
        portfolio_value=Decimal(100_000),
        multiplier=Decimal(2),
        shorting_enabled=True,
        trading_blocked=False,
        as_of=T0,
    )


class FakeAccounts:
    def __init__(self) -> None:
        self.acct = account()
        self.positions: dict[str, PositionSnapshot] = {}
        self.fail: Exception | None = None

    def hold(self, symbol: str, qty: Number, avg: Number = 100) -> None:
        symbol = order_symbol(symbol)
        if to_decimal(qty) == 0:
            self.positions.pop(symbol, None)
        else:
            self.positions[symbol] = snapshot(symbol, qty, avg)

    def _check(self) -> None:
        if self.fail is not None:
            raise self.fail

    async def get_account(self, *, fresh: bool = False) -> Account:
        self._check()
        return self.acct

    async def get_positions(self, *, fresh: bool = False) -> list[PositionSnapshot]:
        self._check()
        return list(self.positions.values())

    async def get_position(self, symbol: str) -> PositionSnapshot | None:
        self._check()
        return self.positions.get(order_symbol(symbol))


class FakeFeed:
    """``history`` per symbol for get_bars; ``prices`` for get_current_price."""

    def __init__(self) -> None:
        self.history: dict[str, list[Bar]] = {}
        self.prices: dict[str, Decimal] = {}
        self.bar_calls: list[tuple[str, str, int | None]] = []
        self.gate: asyncio.Event | None = None  # set: get_bars waits for it

    async def get_bars(
        self, symbol: str, timeframe: Any = "1Min", *, limit: int | None = None
    ) -> pd.DataFrame | None:
        self.bar_calls.append((order_symbol(symbol), str(timeframe), limit))
        if self.gate is not None:
            await self.gate.wait()
        bars = self.history.get(order_symbol(symbol))
        if bars is None:
            return None
        return frame_of(bars[-limit:] if limit else bars)

    async def get_current_price(self, symbol: str) -> Decimal | None:
        return self.prices.get(order_symbol(symbol))


class FakeOrders:
    """The order manager: records intents, fills market orders at the feed's price."""

    def __init__(self, accounts: FakeAccounts, feed: FakeFeed, clock: FakeClock) -> None:
        self.accounts = accounts
        self.feed = feed
        self.clock = clock
        self.intents: list[OrderIntent] = []
        self.closes: list[tuple[str, str | None]] = []
        self.cancels: list[str] = []
        self.orders: dict[str, Order] = {}
        self.auto_fill = True
        self.deny: str | None = None
        self._ids = itertools.count(1)
        self.fill_listeners: list[Callable[[BookedFill, Order | None], None]] = []
        self.order_listeners: list[Callable[[Order], None]] = []

    def on_fill(self, listener: Callable[[BookedFill, Order | None], None]) -> None:
        self.fill_listeners.append(listener)

    def on_order(self, listener: Callable[[Order], None]) -> None:
        self.order_listeners.append(listener)

    def new_order(self, intent: OrderIntent, status: OrderStatus = OrderStatus.NEW) -> Order:
        order = Order.from_intent(intent, f"coid-{next(self._ids)}", now=self.clock())
        order.status = status
        order.broker_order_id = f"b-{order.client_order_id}"
        self.orders[order.client_order_id] = order
        return order

    def emit_order(self, order: Order) -> None:
        for listener in self.order_listeners:
            listener(order)

    def emit_fill(self, order: Order, qty: Number, price: Number, n: int = 1) -> BookedFill:
        fill = Fill(
            execution_id=f"x-{order.client_order_id}-{n}",
            order_id=order.broker_order_id or "",
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            qty=to_decimal(qty),
            price=to_decimal(price),
            timestamp=self.clock(),
            strategy=order.strategy,
        )
        booked = BookedFill(fill, Decimal(0), fill.signed_qty)
        for listener in self.fill_listeners:
            listener(booked, order)
        return booked

    async def submit_order(self, intent: OrderIntent) -> Order | Denied:
        self.intents.append(intent)
        if self.deny is not None:
            return Denied(intent, self.clock(), "test_rule", self.deny)
        order = self.new_order(intent)
        price = self.feed.prices.get(intent.symbol)
        if self.auto_fill and intent.type is OrderType.MARKET and price is not None:
            qty = intent.qty if intent.qty is not None else (intent.notional or 0) / price
            held = self.accounts.positions.get(intent.symbol)
            now = (held.qty if held else Decimal(0)) + qty * intent.side.sign
            self.accounts.hold(intent.symbol, now, price)
            order.status = OrderStatus.FILLED
            order.filled_qty = qty
        self.emit_order(order)
        return order

    async def close_position(
        self,
        symbol: str,
        *,
        qty: Number | None = None,
        percentage: Number | None = None,
        cancel_orders: bool = True,
        strategy: str | None = None,
    ) -> Order | Denied | None:
        symbol = order_symbol(symbol)
        self.closes.append((symbol, strategy))
        held = self.accounts.positions.get(symbol)
        if held is None:
            return None
        intent = OrderIntent(
            symbol=symbol,
            side=OrderSide.SELL if held.qty > 0 else OrderSide.BUY,
            qty=abs(held.qty) if qty is None else to_decimal(qty),
            time_in_force=TimeInForce.GTC if is_crypto(symbol) else TimeInForce.DAY,
            reduce_only=True,
            strategy=strategy,
        )
        return await self.submit_order(intent)

    async def cancel_order(self, client_order_id: str) -> bool:
        self.cancels.append(client_order_id)
        order = self.orders.get(client_order_id)
        if order is None or not order.is_open:
            return False
        order.status = OrderStatus.CANCELED
        return True

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        wanted = order_symbol(symbol) if symbol else None
        return [
            o
            for o in reversed(self.orders.values())
            if o.is_open and (wanted is None or o.symbol == wanted)
        ]


class FakeStream:
    """Records subscriptions; ``push`` calls the subscribed callbacks like the real client."""

    def __init__(self) -> None:
        self.subscribed: dict[str, set[str]] = {"bars": set(), "trades": set(), "quotes": set()}
        self.callbacks: dict[str, list[Callable[[Any], Any]]] = {
            "bars": [],
            "trades": [],
            "quotes": [],
        }
        self.unsubscribed: dict[str, set[str]] = {"bars": set(), "trades": set(), "quotes": set()}

    async def _sub(self, channel: str, symbols: Iterable[str] | str, callback: Any) -> None:
        names = [symbols] if isinstance(symbols, str) else list(symbols)
        self.subscribed[channel].update(order_symbol(s) for s in names)
        if callback not in self.callbacks[channel]:
            self.callbacks[channel].append(callback)

    async def subscribe_bars(self, symbols: Iterable[str] | str, callback: Any) -> None:
        await self._sub("bars", symbols, callback)

    async def subscribe_trades(self, symbols: Iterable[str] | str, callback: Any) -> None:
        await self._sub("trades", symbols, callback)

    async def subscribe_quotes(self, symbols: Iterable[str] | str, callback: Any) -> None:
        await self._sub("quotes", symbols, callback)

    async def _unsub(self, channel: str, symbols: Iterable[str] | str) -> None:
        names = [symbols] if isinstance(symbols, str) else list(symbols)
        self.unsubscribed[channel].update(order_symbol(s) for s in names)

    async def unsubscribe_bars(self, symbols: Iterable[str] | str, callback: Any = None) -> None:
        await self._unsub("bars", symbols)

    async def unsubscribe_trades(self, symbols: Iterable[str] | str, callback: Any = None) -> None:
        await self._unsub("trades", symbols)

    async def unsubscribe_quotes(self, symbols: Iterable[str] | str, callback: Any = None) -> None:
        await self._unsub("quotes", symbols)

    def push(self, item: Bar | Trade | Quote) -> None:
        channel = {Bar: "bars", Trade: "trades", Quote: "quotes"}[type(item)]
        if item.symbol in self.subscribed[channel]:
            for callback in self.callbacks[channel]:
                callback(item)


class Env:
    """A clock, accounts, feed, order manager and stream wired together, and contexts on them."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.accounts = FakeAccounts()
        self.feed = FakeFeed()
        self.orders = FakeOrders(self.accounts, self.feed, self.clock)
        self.stream = FakeStream()

    def context(self, name: str = "test", timeframe: str = "1Min") -> StrategyContext:
        return StrategyContext(
            name, self.orders, self.accounts, self.feed, clock=self.clock, timeframe=timeframe
        )

    def runner_deps(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "accounts": self.accounts,
            "feed": self.feed,
            "stream": self.stream,
            "clock": self.clock,
        }
