"""One market-data stream (stocks on ``/v2/{feed}`` or crypto on ``/v1beta3/crypto/us``).

:class:`MarketDataStream` keeps the *wanted* subscriptions per channel and makes the server's
match them: changes are sent as they are asked for (in batches within the protocol's limits),
and after every reconnect the whole set is sent again. What this connection has asked the server
for is tracked too, and every send is the difference between that and the wanted set, under one
lock: a change made while a handshake is resubscribing is sent right after it, never lost.
Frames are decoded into domain :class:`Trade`/:class:`Quote`/:class:`Bar` values and handed to a
:class:`MarketDataSink`.

Minute bars survive gaps: the stream remembers the last bar it delivered per symbol, and after a
reconnect it fetches the bars missed meanwhile over REST (``backfill``) and delivers them, in
order, before any live bar of that symbol; a bar is never delivered twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from loguru import logger
from websockets.asyncio.client import ClientConnection

from pulsetrader.domain.market import Bar, Quote, Trade
from pulsetrader.domain.money import utcnow
from pulsetrader.streaming import protocol as proto
from pulsetrader.streaming.connection import StreamConnection, classify_refusal
from pulsetrader.streaming.events import StreamEventKind

MINUTE = timedelta(minutes=1)

#: Fetches minute bars ``start <= t < end`` for symbols over REST, oldest first per symbol.
Backfill = Callable[[Sequence[str], datetime, datetime], Awaitable[Mapping[str, Sequence[Bar]]]]


class MarketDataSink(Protocol):
    """Where decoded market data goes. Each returns None, or an awaitable to wait for."""

    def on_trade(self, trade: Trade) -> Awaitable[None] | None: ...

    def on_quote(self, quote: Quote) -> Awaitable[None] | None: ...

    def on_bar(self, bar: Bar) -> Awaitable[None] | None: ...

    def on_updated_bar(self, bar: Bar) -> Awaitable[None] | None: ...


class MarketDataStream(StreamConnection):
    """A self-healing market-data stream with run-time subscriptions and bar gap filling.

    ``now`` is the broker's time (the simulator's clock in sim mode), used to decide which bars
    of a gap are complete. ``silence_timeout`` defaults to 90 s: Alpaca sends at least minute
    bars for liquid symbols, and a socket quiet for that long while the market is open has
    almost always died without closing.
    """

    def __init__(
        self,
        name: str,
        url: str,
        key_id: str,
        secret_key: str,
        sink: MarketDataSink,
        *,
        backfill: Backfill | None = None,
        now: Callable[[], datetime] = utcnow,
        silence_timeout: float | None = 90.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            name,
            url,
            silence_timeout=silence_timeout,
            headers=dict(proto.MSGPACK_HEADERS),
            **kwargs,
        )
        self._key_id = key_id
        self._secret_key = secret_key
        self.sink = sink
        self.backfill = backfill
        self.now = now
        self.wanted: dict[str, set[str]] = {channel: set() for channel in proto.CHANNELS}
        #: The subscription the server last confirmed (its ``subscription`` message).
        self.server_subscriptions: dict[str, set[str]] = {c: set() for c in proto.CHANNELS}
        self.sent_messages: list[dict[str, Any]] = []  # every subscription message, for tests
        self.keep_sent = False
        # What the current socket has been asked for (valid while ``_told_ws is self._ws``),
        # and the lock that keeps the messages of two changes from interleaving.
        self._told: dict[str, set[str]] = {c: set() for c in proto.CHANNELS}
        self._told_ws: ClientConnection | None = None
        self._sync_lock = asyncio.Lock()
        self.last_bar: dict[str, datetime] = {}
        self._held_bars: dict[str, list[Bar]] = {}  # live bars waiting behind a backfill
        self._backfill_task: asyncio.Task[None] | None = None
        self._emitting: asyncio.Future[None] | None = None  # a back-filled bar's callbacks
        self.messages = 0
        self.errors: list[proto.StreamProtocolError] = []

    # -- subscriptions ------------------------------------------------------------------------

    async def subscribe(self, channel: str, symbols: Iterable[str] | str) -> None:
        """Add ``symbols`` to ``channel`` (``trades``, ``quotes``, ``bars``, ``updatedBars``)."""
        self._check_channel(channel)
        new = _symbol_set(symbols) - self.wanted[channel]
        if not new:
            return
        self.wanted[channel] |= new
        await self._sync()

    async def unsubscribe(self, channel: str, symbols: Iterable[str] | str) -> None:
        """Remove ``symbols`` from ``channel``."""
        self._check_channel(channel)
        gone = _symbol_set(symbols) & self.wanted[channel]
        if not gone:
            return
        self.wanted[channel] -= gone
        if channel == "bars":
            for symbol in gone:
                self.last_bar.pop(symbol, None)
        await self._sync()

    @staticmethod
    def _check_channel(channel: str) -> None:
        if channel not in proto.CHANNELS:
            raise ValueError(f"unknown channel {channel!r}; use one of {proto.CHANNELS}")

    async def _sync(self) -> None:
        """Send the socket what it lacks and what it has too much of, if it is past auth."""
        async with self._sync_lock:
            ws = self._ws
            if ws is None or self._told_ws is not ws:
                return  # no socket, or one still shaking hands: the handshake sends it all
            try:
                await self._send_difference(ws)
            except Exception as exc:  # the socket died mid-send: the reconnect resends all
                logger.debug(
                    "stream {}: subscription not sent ({}); resent on reconnect", self.name, exc
                )

    async def _send_difference(self, ws: ClientConnection) -> None:
        told = self._told
        for action in ("unsubscribe", "subscribe"):
            if action == "subscribe":
                changes = {c: self.wanted[c] - told[c] for c in proto.CHANNELS}
            else:
                changes = {c: told[c] - self.wanted[c] for c in proto.CHANNELS}
            for message in proto.subscription_messages(action, changes):
                await self._send(ws, message)
                for channel, symbols in message.items():
                    if channel == "action":
                        continue
                    if action == "subscribe":
                        told[channel].update(symbols)
                    else:
                        told[channel].difference_update(symbols)

    async def _send(self, ws: ClientConnection, message: dict[str, Any]) -> None:
        if self.keep_sent:
            self.sent_messages.append(message)
        await ws.send(proto.pack(message))

    def expects_data(self) -> bool:
        return any(self.wanted.values())

    # -- connection ---------------------------------------------------------------------------

    async def handshake(self, ws: ClientConnection) -> None:
        welcome = proto.unpack(await asyncio.wait_for(ws.recv(), 10))
        self._expect(welcome, "connected")
        await ws.send(proto.pack(proto.auth_message(self._key_id, self._secret_key)))
        self._expect(proto.unpack(await asyncio.wait_for(ws.recv(), 10)), "authenticated")
        if self.backfill is not None and self.last_bar:
            # Live bars of these symbols wait until the gap before them is filled.
            for symbol in self.wanted["bars"] & set(self.last_bar):
                self._held_bars.setdefault(symbol, [])
        async with self._sync_lock:
            # A fresh socket has no subscription. Changes asked for while this runs wait on
            # the lock and then send their difference, so none is lost.
            self._told = {c: set() for c in proto.CHANNELS}
            self._told_ws = ws
            await self._send_difference(ws)

    def _expect(self, messages: list[dict[str, Any]], what: str) -> None:
        for message in messages:
            kind = message.get("T")
            if kind == "success" and message.get("msg") == what:
                return
            if kind == "error":
                error = proto.error_of(message)
                raise classify_refusal(error) or error
        raise proto.StreamProtocolError(f"expected {what!r}, got {messages!r:.200}")

    async def on_connected(self, reconnect: bool, down_since: float | None) -> None:
        if self._held_bars and self.backfill is not None:
            if self._backfill_task is not None and not self._backfill_task.done():
                self._backfill_task.cancel()  # the new one covers every held symbol
            self._backfill_task = asyncio.get_running_loop().create_task(
                self._fill_gap(sorted(self._held_bars)), name=f"stream-{self.name}-backfill"
            )

    def on_disconnected(self) -> None:
        self._told_ws = None
        for channel in self.server_subscriptions.values():
            channel.clear()

    async def stop(self) -> None:
        if self._backfill_task is not None:
            self._backfill_task.cancel()
        await super().stop()

    # -- frames -------------------------------------------------------------------------------

    async def on_frame(self, frame: bytes | str) -> None:
        if not isinstance(frame, bytes):  # JSON: only for a client that did not ask for msgpack
            data = 0
            for message in proto.unpack(frame):
                data += await self._on_message(message)
            self._count(data)
            return
        # The hot path: trades and quotes are read from the raw (bytes) form of the frame, and
        # everything looked up per message is bound once per frame.
        messages = proto.unpack_raw(frame)
        sink = self.sink
        on_quote, on_trade = sink.on_quote, sink.on_trade
        raw_quote, raw_trade = proto.raw_quote, proto.raw_trade
        data = 0
        for m in messages:
            kind = m.get(b"T")
            if kind != b"q" and kind != b"t":  # bars and control messages: the general path
                try:
                    message = proto.text(m)
                except ValueError as exc:  # not UTF-8
                    self._unreadable(m, exc)
                    continue
                data += await self._on_message(message)
                continue
            try:  # quotes outnumber trades on every feed
                pending = on_quote(raw_quote(m)) if kind == b"q" else on_trade(raw_trade(m))
            except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
                self._unreadable(m, exc)
                continue
            data += 1
            if pending is not None:
                await pending
        self._count(data)

    async def _on_message(self, m: Mapping[str, Any]) -> int:
        """Deliver one decoded message; 1 if it was market data, 0 if not (or unreadable)."""
        kind = m.get("T")
        sink = self.sink
        try:
            if kind == "q":
                pending = sink.on_quote(proto.to_quote(m))
            elif kind == "t":
                pending = sink.on_trade(proto.to_trade(m))
            elif kind == "b":
                pending = self._live_bar(proto.to_bar(m))
            elif kind == "u":
                pending = sink.on_updated_bar(proto.to_bar(m))
            else:
                self._control(m)
                return 0
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            self._unreadable(m, exc)
            return 0
        if pending is not None:
            await pending
        return 1

    def _unreadable(self, m: Mapping[Any, Any], exc: Exception) -> None:
        logger.warning("stream {}: unreadable message {!r:.200}: {}", self.name, m, exc)

    def _count(self, data: int) -> None:
        if data:
            self.messages += data
            self.mark_data()

    def _control(self, m: Mapping[str, Any]) -> None:
        kind = m.get("T")
        if kind == "subscription":
            for channel in proto.CHANNELS:
                self.server_subscriptions[channel] = set(m.get(channel) or ())
        elif kind == "error":
            error = proto.error_of(m)
            self.errors.append(error)
            self.report(StreamEventKind.ERROR, str(error), code=error.code)

    # -- bars and gaps ------------------------------------------------------------------------

    def _live_bar(self, bar: Bar) -> Awaitable[None] | None:
        held = self._held_bars.get(bar.symbol)
        if held is not None:
            held.append(bar)
            return None
        return self.sink.on_bar(bar) if self._accept_bar(bar) else None

    def _accept_bar(self, bar: Bar) -> bool:
        """Whether ``bar`` is new for a subscribed symbol; records it as the last one if so."""
        if bar.symbol not in self.wanted["bars"]:
            return False
        last = self.last_bar.get(bar.symbol)
        if last is not None and bar.timestamp <= last:
            return False  # delivered already (back-filled, or sent again)
        self.last_bar[bar.symbol] = bar.timestamp
        return True

    async def _emit_bar(self, bar: Bar) -> None:
        pending = self.sink.on_bar(bar)
        if pending is not None:
            # Shielded: a newer reconnect cancels this backfill, but a bar already recorded as
            # delivered must finish reaching its callbacks (the new backfill waits for it).
            self._emitting = asyncio.ensure_future(pending)
            await asyncio.shield(self._emitting)

    async def _fill_gap(self, symbols: list[str]) -> None:
        """Fetch and deliver the bars each symbol missed, then release its held live bars."""
        assert self.backfill is not None
        end = _minute_floor(self.now())
        fetched: Mapping[str, Sequence[Bar]] = {}
        starts = [self.last_bar[s] + MINUTE for s in symbols if s in self.last_bar]
        try:
            if starts and end > min(starts):
                fetched = await self.backfill(symbols, min(starts), end)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # deliver what the live stream has; report the hole
            self.report(StreamEventKind.ERROR, f"bar backfill failed: {exc}")
        previous = self._emitting
        if previous is not None and not previous.done():
            # The backfill this one replaced left a bar with its callbacks: bars go one at a
            # time, in order, as on the live stream.
            await asyncio.wait([previous])
        delivered = 0
        for symbol in symbols:
            for bar in sorted(fetched.get(symbol, ()), key=lambda b: b.timestamp):
                # A bar still forming at ``end`` comes from the live stream when it closes.
                if bar.timestamp + MINUTE <= end and self._accept_bar(bar):
                    delivered += 1
                    await self._emit_bar(bar)
            held = self._held_bars.get(symbol, [])
            while held:  # live bars that arrived meanwhile, in order, after the gap
                bar = held.pop(0)
                if self._accept_bar(bar):
                    await self._emit_bar(bar)
            self._held_bars.pop(symbol, None)  # no await since the loop ended: none is lost
        self.report(
            StreamEventKind.GAP_FILLED,
            f"{delivered} missed bars for {len(symbols)} symbols",
            count=delivered,
        )


def _symbol_set(symbols: Iterable[str] | str) -> set[str]:
    # A lone symbol is a str, which is also an Iterable[str] of its letters.
    return {symbols} if isinstance(symbols, str) else set(symbols)


def _minute_floor(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)
