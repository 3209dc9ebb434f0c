"""The reconnect loop against small scripted WebSocket servers on loopback.

Each server runs a script per connection (the n-th connection gets ``scripts[n]``, the last one
repeating), so a test can make a server misbehave once and then behave: send a frame the client
cannot read, refuse the keys, stay up without a word, or vanish. The network is real.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import msgpack
from websockets.asyncio.server import Server, ServerConnection, serve

from pulsetrader.domain.events import OrderUpdate
from pulsetrader.domain.market import Bar, Quote, Trade
from pulsetrader.streaming import (
    MarketDataStream,
    ReconnectPolicy,
    StreamEvent,
    StreamEventKind,
    TradeUpdatesStream,
)
from tests.helpers import eventually

Script = Callable[[ServerConnection], Awaitable[None]]
T0 = datetime(2024, 1, 3, 14, 30, tzinfo=UTC)
TRADE = {
    "T": "t",
    "S": "AAPL",
    "i": 1,
    "x": "V",
    "p": 190.5,
    "s": 10,
    "t": msgpack.Timestamp.from_unix_nano(int(T0.timestamp()) * 10**9),
}
ORDER = {
    "id": "61e69015-8549-4bfd-b9c3-01e75843f47d",
    "client_order_id": "pt-1",
    "created_at": "2024-01-03T14:30:00Z",
    "updated_at": "2024-01-03T14:30:00Z",
    "submitted_at": "2024-01-03T14:30:00Z",
    "asset_id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415",
    "symbol": "AAPL",
    "asset_class": "us_equity",
    "qty": "1",
    "filled_qty": "0",
    "order_class": "simple",
    "order_type": "market",
    "type": "market",
    "side": "buy",
    "time_in_force": "day",
    "status": "new",
    "extended_hours": False,
}
NEW_ORDER = {
    "stream": "trade_updates",
    "data": {"event": "new", "order": ORDER, "timestamp": "2024-01-03T14:30:00Z"},
}


def policy(**kw: float) -> ReconnectPolicy:
    values = {"base_delay": 0.01, "max_delay": 1.0, "limit_delay": 0.05, "limit_max_delay": 0.1}
    return ReconnectPolicy(**{**values, **kw})  # type: ignore[arg-type]


class Sink:
    def __init__(self) -> None:
        self.trades: list[Trade] = []

    def on_trade(self, trade: Trade) -> None:
        self.trades.append(trade)

    def on_quote(self, quote: Quote) -> None: ...

    def on_bar(self, bar: Bar) -> None: ...

    def on_updated_bar(self, bar: Bar) -> None: ...


class Scripted:
    def __init__(self, scripts: Sequence[Script]) -> None:
        self.scripts = list(scripts)
        self.connections = 0
        self.server: Server | None = None

    async def handler(self, ws: ServerConnection) -> None:
        script = self.scripts[min(self.connections, len(self.scripts) - 1)]
        self.connections += 1
        await script(ws)

    @property
    def url(self) -> str:
        assert self.server is not None
        port = next(iter(self.server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}"


@asynccontextmanager
async def scripted(*scripts: Script) -> AsyncIterator[Scripted]:
    state = Scripted(scripts)
    async with serve(state.handler, "127.0.0.1", 0) as server:
        state.server = server
        yield state


async def data_handshake(ws: ServerConnection) -> None:
    """Alpaca's market-data greeting, auth and one subscription acknowledgement."""
    await ws.send(msgpack.packb([{"T": "success", "msg": "connected"}]))
    await ws.recv()
    await ws.send(msgpack.packb([{"T": "success", "msg": "authenticated"}]))
    subscribe = msgpack.unpackb(await ws.recv())
    ack = {"T": "subscription", **{k: v for k, v in subscribe.items() if k != "action"}}
    await ws.send(msgpack.packb([ack]))


async def trade_handshake(ws: ServerConnection) -> None:
    await ws.recv()
    await ws.send(json.dumps({"stream": "authorization", "data": {"status": "authorized"}}))
    await ws.recv()
    await ws.send(json.dumps({"stream": "listening", "data": {"streams": ["trade_updates"]}}))


async def serve_trades_forever(ws: ServerConnection) -> None:
    await data_handshake(ws)
    await ws.send(msgpack.packb([TRADE]))
    await ws.wait_closed()


def market_stream(url: str, events: list[StreamEvent], **kw: Any) -> MarketDataStream:
    sink = Sink()
    stream = MarketDataStream(
        "iex", url, "key", "secret", sink, hooks=[events.append], silence_timeout=None, **kw
    )
    return stream


def attempts(events: list[StreamEvent], kind: StreamEventKind) -> list[int]:
    return [e.attempt for e in events if e.kind is kind]


async def test_an_unreadable_frame_ends_the_connection_not_the_stream() -> None:
    async def garbage(ws: ServerConnection) -> None:
        await data_handshake(ws)
        await ws.send(b"\xc1")  # a byte msgpack never uses
        await ws.wait_closed()

    events: list[StreamEvent] = []
    async with scripted(garbage, serve_trades_forever) as server:
        stream = market_stream(server.url, events, policy=policy())
        await stream.subscribe("trades", ["AAPL"])
        stream.start()
        try:
            await eventually(lambda: stream.sink.trades, message="a trade after reconnecting")
            assert stream.running
            assert server.connections == 2
            assert [e.kind for e in events][:3] == [
                StreamEventKind.CONNECTED,
                StreamEventKind.DISCONNECTED,
                StreamEventKind.CONNECTED,
            ]
            assert "FormatError" in events[1].detail or "Error" in events[1].detail
        finally:
            await stream.stop()


async def test_an_unreadable_order_update_ends_the_connection_not_the_stream() -> None:
    async def garbage(ws: ServerConnection) -> None:
        await trade_handshake(ws)
        await ws.send("this is not JSON {")
        await ws.wait_closed()

    async def good(ws: ServerConnection) -> None:
        await trade_handshake(ws)
        await ws.send(json.dumps(NEW_ORDER))
        await ws.wait_closed()

    events: list[StreamEvent] = []
    updates: list[OrderUpdate] = []
    async with scripted(garbage, good) as server:
        stream = TradeUpdatesStream(
            server.url, "key", "secret", updates.append, hooks=[events.append], policy=policy()
        )
        stream.start()
        try:
            await eventually(lambda: updates, message="the order update after reconnecting")
            assert updates[0].event == "new"
            assert stream.running
            assert attempts(events, StreamEventKind.DISCONNECTED) == [1]
        finally:
            await stream.stop()


async def test_backoff_keeps_growing_after_a_connection_that_had_data() -> None:
    """Data resets the count once; the failed attempts after it must still back off."""
    events: list[StreamEvent] = []
    async with scripted(serve_trades_forever) as server:
        stream = market_stream(server.url, events, policy=policy(base_delay=0.01))
        await stream.subscribe("trades", ["AAPL"])
        stream.start()
        await eventually(lambda: stream.sink.trades, message="data on the first connection")
        assert server.server is not None
        server.server.close()  # the socket drops and nothing listens any more
        await server.server.wait_closed()
    try:
        await eventually(
            lambda: len(attempts(events, StreamEventKind.DISCONNECTED)) >= 5,
            message="five failed attempts",
        )
        assert attempts(events, StreamEventKind.DISCONNECTED)[:5] == [1, 2, 3, 4, 5]
    finally:
        await stream.stop()


async def test_a_quiet_connection_that_stayed_up_counts_as_healthy() -> None:
    """The order stream may carry nothing for hours: a long life also resets the backoff."""

    async def quiet_for_a_while(ws: ServerConnection) -> None:
        await trade_handshake(ws)
        await _quiet(ws, 0.15)

    events: list[StreamEvent] = []
    async with scripted(quiet_for_a_while) as server:
        healthy = TradeUpdatesStream(
            server.url,
            "key",
            "secret",
            lambda u: None,
            hooks=[events.append],
            policy=policy(base_delay=0.01),
            stable_after=0.1,
        )
        healthy.start()
        try:
            await eventually(
                lambda: len(attempts(events, StreamEventKind.DISCONNECTED)) >= 3,
                message="three drops",
            )
            assert attempts(events, StreamEventKind.DISCONNECTED)[:3] == [1, 1, 1]
        finally:
            await healthy.stop()

    events.clear()
    async with scripted(quiet_for_a_while) as server:
        flaky = TradeUpdatesStream(
            server.url,
            "key",
            "secret",
            lambda u: None,
            hooks=[events.append],
            policy=policy(base_delay=0.01),
            stable_after=60.0,
        )
        flaky.start()
        try:
            await eventually(
                lambda: len(attempts(events, StreamEventKind.DISCONNECTED)) >= 3,
                message="three drops",
            )
            assert attempts(events, StreamEventKind.DISCONNECTED)[:3] == [1, 2, 3]
        finally:
            await flaky.stop()


async def _quiet(ws: ServerConnection, seconds: float) -> None:
    """Say nothing for ``seconds``, then hang up (the scenario, not the test's wait)."""
    try:
        await asyncio.wait_for(ws.wait_closed(), seconds)
    except TimeoutError:
        await ws.close()


async def test_refused_keys_are_reported_as_auth_failures() -> None:
    async def refuse(ws: ServerConnection) -> None:
        await ws.send(msgpack.packb([{"T": "success", "msg": "connected"}]))
        await ws.recv()
        await ws.send(msgpack.packb([{"T": "error", "code": 402, "msg": "auth failed"}]))
        await ws.close()

    events: list[StreamEvent] = []
    async with scripted(refuse) as server:
        stream = market_stream(server.url, events, policy=policy())
        await stream.subscribe("trades", "AAPL")
        assert stream.wanted["trades"] == {"AAPL"}  # one symbol, not its letters
        stream.start()
        try:
            await eventually(
                lambda: [e for e in events if e.kind is StreamEventKind.AUTH_FAILED],
                message="an auth failure",
            )
            failure = next(e for e in events if e.kind is StreamEventKind.AUTH_FAILED)
            assert failure.code == 402
            assert failure.is_fault
            assert not stream.connected
        finally:
            await stream.stop()
        assert not stream.running


async def test_stop_during_a_backoff_wait_returns_at_once_and_start_resumes() -> None:
    events: list[StreamEvent] = []
    async with scripted(serve_trades_forever) as server:
        url = server.url
    # Nothing listens at ``url`` now: the stream waits out a long backoff.
    stream = market_stream(url, events, policy=policy(base_delay=30.0, max_delay=30.0))
    await stream.subscribe("trades", ["AAPL"])
    stream.start()
    await eventually(lambda: events, message="the first failed attempt")
    assert events[0].kind is StreamEventKind.DISCONNECTED
    await stream.stop()
    assert not stream.running
