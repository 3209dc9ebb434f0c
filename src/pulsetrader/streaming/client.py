"""WebSocketClient: real-time trades, quotes, bars and order updates for the engine.

The seed names alpaca-py's ``StockDataStream``/``CryptoDataStream``; we speak the same protocol
with our own client instead, because the SDK's streams cannot do what this one must:

* their ``run()`` calls ``asyncio.run`` (alpaca-py #618) and ``subscribe_*`` from the stream's own
  loop deadlocks (#491, #476): ours runs as tasks on the engine's loop and subscribes with a
  plain ``await``;
* their reconnect loop offers no hook to resubscribe selectively, back-fill missed bars, wait out
  "connection limit exceeded", or tell a health monitor what happened;
* their pydantic models cost more than the whole message budget at high rates (see
  ``benchmarks/bench_streaming.py``): we decode msgpack straight into the domain types.

Symbols are routed by asset class (``BTC/USD`` and ``BTCUSD`` to the crypto stream, the rest to
the stock feed), each stream connects once something is subscribed on it, and every callback is
isolated: one that raises is logged and counted, and the others still get the event.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from types import CoroutineType as _Coro  # what async callbacks return: checked first
from typing import Any, TypeVar

from loguru import logger

from pulsetrader.domain.events import OrderUpdate
from pulsetrader.domain.market import Bar, Quote, Trade
from pulsetrader.domain.money import utcnow
from pulsetrader.domain.symbols import is_crypto, order_symbol
from pulsetrader.streaming.connection import ReconnectPolicy, StreamConnection
from pulsetrader.streaming.events import StreamHook
from pulsetrader.streaming.market_data import Backfill, MarketDataStream
from pulsetrader.streaming.trade_updates import OrderUpdateHandler, TradeUpdatesStream

E = TypeVar("E")
Callback = Callable[[Any], Awaitable[None] | None]

ALPACA_DATA_STREAM = "wss://stream.data.alpaca.markets"
ALPACA_PAPER_TRADE_STREAM = "wss://paper-api.alpaca.markets/stream"
ALPACA_LIVE_TRADE_STREAM = "wss://api.alpaca.markets/stream"
FEEDS = ("iex", "sip", "test")


class WebSocketClient:
    """Market-data and order-update streams with per-symbol callbacks.

    ``stream_url`` is the base of the market-data streams (``/v2/{feed}`` and
    ``/v1beta3/crypto/us`` are appended), ``trade_stream_url`` the full ``trade_updates`` URL;
    both default to Alpaca's. ``backfill`` fetches missed minute bars after a reconnect (the
    engine passes :meth:`AlpacaClient.get_bar_history`), ``now`` is the broker's time and
    ``is_market_open`` the stock market's state, for the silence watchdog.
    """

    def __init__(
        self,
        key_id: str,
        secret_key: str,
        *,
        stream_url: str | None = None,
        feed: str = "iex",
        trade_stream_url: str | None = None,
        paper: bool = True,
        backfill_stocks: Backfill | None = None,
        backfill_crypto: Backfill | None = None,
        now: Callable[[], datetime] = utcnow,
        is_market_open: Callable[[], bool] = lambda: True,
        hooks: Iterable[StreamHook] = (),
        policy: ReconnectPolicy | None = None,
        silence_timeout: float | None = 90.0,
    ) -> None:
        if feed not in FEEDS:
            raise ValueError(f"feed must be one of {FEEDS}, got {feed!r}")
        base = (stream_url or ALPACA_DATA_STREAM).rstrip("/")
        default_trade = ALPACA_PAPER_TRADE_STREAM if paper else ALPACA_LIVE_TRADE_STREAM
        common: dict[str, Any] = {"hooks": list(hooks), "policy": policy, "now": now}
        self.stocks = MarketDataStream(
            feed,
            f"{base}/v2/{feed}",
            key_id,
            secret_key,
            self,
            backfill=backfill_stocks,
            is_market_open=is_market_open,
            silence_timeout=silence_timeout,
            **common,
        )
        self.crypto = MarketDataStream(
            "crypto",
            f"{base}/v1beta3/crypto/us",
            key_id,
            secret_key,
            self,
            backfill=backfill_crypto,
            silence_timeout=silence_timeout,
            **common,
        )
        self.trade_updates = TradeUpdatesStream(
            trade_stream_url or default_trade,
            key_id,
            secret_key,
            self._on_order_update,
            hooks=common["hooks"],
            policy=policy,
        )
        self._handlers: dict[str, defaultdict[str, list[Callback]]] = {
            channel: defaultdict(list) for channel in ("trades", "quotes", "bars", "updatedBars")
        }
        self._order_handlers: list[OrderUpdateHandler] = []
        # Plain functions that see every trade or quote of every symbol, before the per-symbol
        # callbacks (the market-data feed's price cache: the risk check then values orders at
        # the streamed price instead of asking the broker).
        self._trade_taps: list[Callable[[Trade], None]] = []
        self._quote_taps: list[Callable[[Quote], None]] = []
        self._active = False
        self._stopped = asyncio.Event()
        self.callback_errors = 0

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def streams(self) -> tuple[StreamConnection, ...]:
        return (self.stocks, self.crypto, self.trade_updates)

    def tap_trades(self, tap: Callable[[Trade], None]) -> None:
        """Call ``tap(trade)`` (synchronously; it must not block) for every streamed trade."""
        self._trade_taps.append(tap)

    def tap_quotes(self, tap: Callable[[Quote], None]) -> None:
        """Call ``tap(quote)`` (synchronously; it must not block) for every streamed quote."""
        self._quote_taps.append(tap)

    def add_hook(self, hook: StreamHook) -> None:
        """Receive the connection events of every stream."""
        for stream in self.streams:
            stream.add_hook(hook)

    async def connect(self) -> None:
        """Start every stream that has something to deliver (the others start on demand)."""
        self._active = True
        self._stopped.clear()
        for stream in (self.stocks, self.crypto):
            if any(stream.wanted.values()):
                stream.start()
        if self._order_handlers:
            self.trade_updates.start()

    async def disconnect(self) -> None:
        """Close every stream (and let :meth:`run` return)."""
        self._active = False
        try:
            for stream in self.streams:
                await stream.stop()
        finally:
            self._stopped.set()

    async def run(self) -> None:
        """Connect, then wait until :meth:`disconnect`; cancelling it disconnects.

        Returns normally after :meth:`disconnect`, whether or not anything was subscribed (the
        streams start on demand meanwhile) and however often they reconnected.
        """
        await self.connect()
        try:
            await self._stopped.wait()
        finally:
            if self._active:
                await self.disconnect()

    # -- subscriptions ------------------------------------------------------------------------

    def _split(self, symbols: Iterable[str] | str) -> dict[MarketDataStream, list[str]]:
        if isinstance(symbols, str):
            symbols = [symbols]
        routed: dict[MarketDataStream, list[str]] = {}
        for raw in symbols:
            symbol = order_symbol(raw)
            stream = self.crypto if is_crypto(symbol) else self.stocks
            routed.setdefault(stream, []).append(symbol)
        return routed

    async def _subscribe(
        self, channel: str, symbols: Iterable[str] | str, callback: Callback
    ) -> None:
        for stream, names in self._split(symbols).items():
            handlers = self._handlers[channel]
            for symbol in names:
                if callback not in handlers[symbol]:
                    handlers[symbol].append(callback)
            await stream.subscribe(channel, names)
            if self._active:
                stream.start()

    async def _unsubscribe(
        self, channel: str, symbols: Iterable[str] | str, callback: Callback | None
    ) -> None:
        for stream, names in self._split(symbols).items():
            handlers = self._handlers[channel]
            emptied = []
            for symbol in names:
                if callback is None:
                    handlers.pop(symbol, None)
                elif callback in handlers.get(symbol, ()):
                    handlers[symbol].remove(callback)
                if not handlers.get(symbol):
                    handlers.pop(symbol, None)
                    emptied.append(symbol)
            await stream.unsubscribe(channel, emptied)

    async def subscribe_trades(self, symbols: Iterable[str] | str, callback: Callback) -> None:
        """Call ``callback(trade)`` for every trade of ``symbols``."""
        await self._subscribe("trades", symbols, callback)

    async def subscribe_quotes(self, symbols: Iterable[str] | str, callback: Callback) -> None:
        """Call ``callback(quote)`` for every quote of ``symbols``."""
        await self._subscribe("quotes", symbols, callback)

    async def subscribe_bars(self, symbols: Iterable[str] | str, callback: Callback) -> None:
        """Call ``callback(bar)`` for every minute bar of ``symbols``, in order, none missed."""
        await self._subscribe("bars", symbols, callback)

    async def subscribe_updated_bars(
        self, symbols: Iterable[str] | str, callback: Callback
    ) -> None:
        """Call ``callback(bar)`` when Alpaca corrects a minute bar it already sent."""
        await self._subscribe("updatedBars", symbols, callback)

    async def unsubscribe_trades(
        self, symbols: Iterable[str] | str, callback: Callback | None = None
    ) -> None:
        """Stop ``callback`` (or every callback) for ``symbols``' trades."""
        await self._unsubscribe("trades", symbols, callback)

    async def unsubscribe_quotes(
        self, symbols: Iterable[str] | str, callback: Callback | None = None
    ) -> None:
        """Stop ``callback`` (or every callback) for ``symbols``' quotes."""
        await self._unsubscribe("quotes", symbols, callback)

    async def unsubscribe_bars(
        self, symbols: Iterable[str] | str, callback: Callback | None = None
    ) -> None:
        """Stop ``callback`` (or every callback) for ``symbols``' bars."""
        await self._unsubscribe("bars", symbols, callback)

    async def unsubscribe_updated_bars(
        self, symbols: Iterable[str] | str, callback: Callback | None = None
    ) -> None:
        """Stop ``callback`` (or every callback) for ``symbols``' updated bars."""
        await self._unsubscribe("updatedBars", symbols, callback)

    def subscribed(self, channel: str) -> set[str]:
        """The symbols with a callback on ``channel``."""
        return set(self._handlers[channel])

    def on_order_update(self, handler: OrderUpdateHandler) -> None:
        """Call ``handler(update)`` for every order event of the account (starts the stream)."""
        self._order_handlers.append(handler)
        if self._active:
            self.trade_updates.start()

    # -- dispatch (the sink of both market-data streams) -----------------------------------------

    def _dispatch(self, callbacks: Sequence[Callback], event: Any) -> Awaitable[None] | None:
        """Call every callback with ``event``, isolated; an awaitable for the async ones' ends."""
        pending: list[Awaitable[None]] | None = None
        for callback in callbacks:
            try:
                result = callback(event)
            except Exception:
                self._failed(callback, event)
                continue
            if result is not None and (type(result) is _Coro or inspect.isawaitable(result)):
                if pending is None:
                    pending = []
                pending.append(result)
        return self._await_all(pending, event) if pending else None

    def _failed(self, callback: Callback, event: Any) -> None:
        self.callback_errors += 1
        logger.exception("stream callback {!r} failed on {!r}", callback, event)

    async def _await_all(self, pending: list[Awaitable[None]], event: Any) -> None:
        for awaitable in pending:
            try:
                await awaitable
            except Exception:
                self.callback_errors += 1
                logger.exception("stream callback failed on {!r}", event)

    # on_trade and on_quote are _dispatch written out: they run once per message, and one
    # Python call less per message is worth the repetition (see benchmarks/bench_streaming.py).

    def on_trade(self, trade: Trade) -> Awaitable[None] | None:
        for tap in self._trade_taps:
            tap(trade)
        callbacks = self._handlers["trades"].get(trade.symbol)
        if not callbacks:
            return None
        pending: list[Awaitable[None]] | None = None
        for callback in callbacks:
            try:
                result = callback(trade)
            except Exception:
                self._failed(callback, trade)
                continue
            if result is not None and (type(result) is _Coro or inspect.isawaitable(result)):
                if pending is None:
                    pending = []
                pending.append(result)
        return self._await_all(pending, trade) if pending else None

    def on_quote(self, quote: Quote) -> Awaitable[None] | None:
        for tap in self._quote_taps:
            tap(quote)
        callbacks = self._handlers["quotes"].get(quote.symbol)
        if not callbacks:
            return None
        pending: list[Awaitable[None]] | None = None
        for callback in callbacks:
            try:
                result = callback(quote)
            except Exception:
                self._failed(callback, quote)
                continue
            if result is not None and (type(result) is _Coro or inspect.isawaitable(result)):
                if pending is None:
                    pending = []
                pending.append(result)
        return self._await_all(pending, quote) if pending else None

    def on_bar(self, bar: Bar) -> Awaitable[None] | None:
        callbacks = self._handlers["bars"].get(bar.symbol)
        return self._dispatch(callbacks, bar) if callbacks else None

    def on_updated_bar(self, bar: Bar) -> Awaitable[None] | None:
        callbacks = self._handlers["updatedBars"].get(bar.symbol)
        return self._dispatch(callbacks, bar) if callbacks else None

    def _on_order_update(self, update: OrderUpdate) -> Awaitable[None] | None:
        return self._dispatch(self._order_handlers, update)
