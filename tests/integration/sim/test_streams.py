"""The simulator's WebSocket streams, driven by the real alpaca-py clients and by raw clients.

A minimal aiohttp app mounts only :class:`StreamHub`'s handlers, so these tests don't depend on
the REST server. Fault schedules run on a fake monotonic clock: tests move time instead of
sleeping.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgpack
import pytest
from aiohttp import web
from alpaca.data.enums import DataFeed
from alpaca.data.live import CryptoDataStream, StockDataStream
from alpaca.data.models import Bar as SdkBar
from alpaca.data.models import Quote as SdkQuote
from alpaca.data.models import Trade as SdkTrade
from alpaca.trading.models import TradeUpdate as SdkTradeUpdate
from alpaca.trading.stream import TradingStream
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from pulsetrader.domain.market import Bar, Quote, Trade
from pulsetrader.sim.faults import FaultInjector, FaultProfile
from pulsetrader.sim.server.streams import StreamHub
from tests.helpers import eventually

KEY, SECRET = "PKSIMKEY", "sim-secret"
T0 = datetime(2024, 1, 2, 15, 0, 0, 123456, tzinfo=UTC)
ROUTES = {"iex": "/v2/iex", "sip": "/v2/sip", "test": "/v2/test", "crypto": "/v1beta3/crypto/us"}
ORDER = {
    "id": "61e69015-8549-4bfd-b9c3-01e75843f47d",
    "client_order_id": "my-1",
    "created_at": "2024-01-02T15:00:00.123456789Z",
    "updated_at": "2024-01-02T15:00:00Z",
    "submitted_at": "2024-01-02T15:00:00Z",
    "filled_at": "2024-01-02T15:00:01Z",
    "asset_id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415",
    "symbol": "AAPL",
    "asset_class": "us_equity",
    "qty": "10",
    "filled_qty": "10",
    "filled_avg_price": "190.5",
    "order_class": "simple",
    "order_type": "market",
    "type": "market",
    "side": "buy",
    "time_in_force": "day",
    "status": "filled",
    "extended_hours": False,
}


class FakeMonotonic:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeUpdate:
    """Stands in for sim.exchange.TradeUpdate: only ``to_alpaca`` is used by the hub."""

    event: str = "fill"
    n: int = 0

    def to_alpaca(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "execution_id": "3f1c7a3e-6a2b-4f61-9f0e-3c4c3d7e9a01",
            "order": ORDER,
            "timestamp": "2024-01-02T15:00:01.000000001Z",
            "price": "190.5",
            "qty": str(10 + self.n),
            "position_qty": "10",
        }


@dataclass
class Sim:
    hub: StreamHub
    faults: FaultInjector
    time: FakeMonotonic
    port: int
    clients: list[ClientConnection] = field(default_factory=list)

    def url(self, feed_or_path: str) -> str:
        path = ROUTES.get(feed_or_path, feed_or_path)
        return f"ws://127.0.0.1:{self.port}{path}"

    def load_faults(self, *rules: dict[str, Any]) -> None:
        self.faults.load(FaultProfile.parse({"seed": 1, "rules": list(rules)}))

    async def raw(self, feed: str, *, use_msgpack: bool = False, auth: bool = True) -> Client:
        """A raw client on ``feed``, past the ``connected`` greeting (and auth unless told)."""
        headers = {"Content-Type": "application/msgpack"} if use_msgpack else {}
        ws = await connect(self.url(feed), additional_headers=headers, max_size=None)
        self.clients.append(ws)
        client = Client(ws, use_msgpack)
        assert await client.recv() == [{"T": "success", "msg": "connected"}]
        if auth:
            await client.send({"action": "auth", "key": KEY, "secret": SECRET})
            assert await client.recv() == [{"T": "success", "msg": "authenticated"}]
        return client

    async def trade_client(self) -> Client:
        ws = await connect(self.url("/stream"), max_size=None)
        self.clients.append(ws)
        return Client(ws, use_msgpack=False)


@dataclass
class Client:
    ws: ClientConnection
    use_msgpack: bool
    frames: list[bytes | str] = field(default_factory=list)

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(msgpack.packb(message) if self.use_msgpack else json.dumps(message))

    async def recv(self, wait: float = 5.0) -> Any:
        frame = await asyncio.wait_for(self.ws.recv(), wait)
        self.frames.append(frame)
        if isinstance(frame, bytes) and self.use_msgpack:
            return msgpack.unpackb(frame)
        return json.loads(frame)

    async def data(self, count: int) -> list[dict[str, Any]]:
        """The next ``count`` data messages, across however many frames they arrive in."""
        out: list[dict[str, Any]] = []
        while len(out) < count:
            out.extend(await self.recv())
        return out

    async def last_before_close(self) -> Any:
        """Read until the server closes; return the last message received."""
        last: Any = None
        try:
            while True:
                last = await self.recv()
        except ConnectionClosed:
            return last

    async def subscribe(self, **channels: list[str]) -> dict[str, Any]:
        await self.send({"action": "subscribe", **channels})
        (ack,) = await self.recv()
        assert ack["T"] == "subscription"
        return ack  # type: ignore[no-any-return]


@pytest.fixture
async def sim_factory() -> AsyncIterator[Callable[..., Awaitable[Sim]]]:
    made: list[tuple[Sim, web.AppRunner]] = []

    async def make(**hub_kwargs: Any) -> Sim:
        fake = FakeMonotonic()
        faults = FaultInjector(monotonic=fake)
        hub = StreamHub(
            keys={KEY: SECRET}, faults=faults, clock=object(), monotonic=fake, **hub_kwargs
        )
        app = web.Application()
        for feed, path in ROUTES.items():
            app.router.add_get(path, _data_handler(hub, feed))
        app.router.add_get("/stream", hub.handle_trade_stream)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        sim = Sim(hub, faults, fake, runner.addresses[0][1])
        made.append((sim, runner))
        return sim

    yield make
    for sim, runner in made:
        for ws in sim.clients:
            await ws.close()
        await sim.hub.close_all()
        await runner.cleanup()


@pytest.fixture
async def sim(sim_factory: Callable[..., Awaitable[Sim]]) -> Sim:
    return await sim_factory()


def _data_handler(hub: StreamHub, feed: str) -> Any:
    async def handler(request: web.Request) -> web.WebSocketResponse:
        return await hub.handle_data_stream(request, feed)

    return handler


def trade(symbol: str = "AAPL", n: int = 0, price: str = "190.25") -> Trade:
    return Trade(symbol, Decimal(price), Decimal(100 + n), T0 + timedelta(seconds=n), "V", 1000 + n)


def quote(symbol: str = "AAPL", n: int = 0) -> Quote:
    return Quote(symbol, Decimal("190.2"), Decimal(3), Decimal("190.3"), Decimal(5), T0)


def bar(symbol: str = "AAPL") -> Bar:
    return Bar(symbol, T0, Decimal(190), Decimal(191), Decimal(189), Decimal("190.5"), 1200, 17)


# --- the real alpaca-py clients ---------------------------------------------------------------


class SdkThread:
    """Runs an alpaca-py stream's blocking ``run()`` (it calls asyncio.run) in a thread."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.thread = threading.Thread(target=stream.run, daemon=True)
        self.thread.start()

    async def stop(self, hub: StreamHub) -> None:
        await eventually(lambda: self.stream._loop is not None, message="SDK loop started")
        await asyncio.to_thread(self.stream.stop)
        # The SDK only notices a stop between frames; closing its socket wakes it at once.
        await hub.close_all()
        await asyncio.to_thread(self.thread.join, 10)
        assert not self.thread.is_alive()


async def test_sdk_stock_stream_receives_typed_trades_quotes_and_bars(sim: Sim) -> None:
    received: list[Any] = []

    async def handler(item: Any) -> None:
        received.append(item)

    stream = StockDataStream(KEY, SECRET, feed=DataFeed.IEX, url_override=sim.url("iex"))
    stream.subscribe_trades(handler, "AAPL")
    stream.subscribe_quotes(handler, "AAPL")
    stream.subscribe_bars(handler, "AAPL")
    runner = SdkThread(stream)
    try:
        await eventually(lambda: sim.hub.subscribed_symbols("stocks") == {"AAPL"})
        sim.hub.publish_trades("stocks", [trade(), trade("MSFT")])
        sim.hub.publish_quotes("stocks", [quote()])
        sim.hub.publish_bars("stocks", [bar()])
        await eventually(lambda: len(received) == 3, message="three typed messages")
    finally:
        await runner.stop(sim.hub)
    got_trade, got_quote, got_bar = received
    assert isinstance(got_trade, SdkTrade)
    assert (got_trade.symbol, got_trade.price, got_trade.size, got_trade.id) == (
        "AAPL",
        190.25,
        100,
        1000,
    )
    assert got_trade.timestamp == T0
    assert got_trade.exchange == "V"
    assert isinstance(got_quote, SdkQuote)
    assert (got_quote.bid_price, got_quote.ask_price, got_quote.ask_size) == (190.2, 190.3, 5)
    assert isinstance(got_bar, SdkBar)
    assert (got_bar.open, got_bar.close, got_bar.volume, got_bar.trade_count) == (
        190,
        190.5,
        1200,
        17,
    )
    assert got_bar.timestamp == T0


async def test_sdk_crypto_stream_receives_typed_messages(sim: Sim) -> None:
    received: list[Any] = []

    async def handler(item: Any) -> None:
        received.append(item)

    stream = CryptoDataStream(KEY, SECRET, url_override=sim.url("crypto"))
    stream.subscribe_trades(handler, "BTC/USD")
    stream.subscribe_quotes(handler, "BTC/USD")
    stream.subscribe_updated_bars(handler, "BTC/USD")
    runner = SdkThread(stream)
    try:
        await eventually(lambda: sim.hub.subscribed_symbols("crypto") == {"BTC/USD"})
        btc_quote = Quote("BTC/USD", Decimal(42000), Decimal("0.5"), Decimal(42010), 1, T0)
        sim.hub.publish_quotes("crypto", [btc_quote])
        sim.hub.publish_trades("crypto", [trade("BTC/USD", price="41990.5")])
        sim.hub.publish_bars("crypto", [bar("BTC/USD")], kind="u")
        await eventually(lambda: len(received) == 3, message="three typed crypto messages")
    finally:
        await runner.stop(sim.hub)
    got_quote, got_trade, got_bar = received
    assert isinstance(got_quote, SdkQuote)
    assert got_quote.bid_size == 0.5
    assert isinstance(got_trade, SdkTrade)
    assert got_trade.price == 41990.5
    assert isinstance(got_bar, SdkBar)
    assert got_bar.symbol == "BTC/USD"


async def test_sdk_trading_stream_and_single_connection_limit(sim: Sim) -> None:
    received: list[Any] = []

    async def handler(item: Any) -> None:
        received.append(item)

    stream = TradingStream(KEY, SECRET, url_override=sim.url("/stream"))
    stream.subscribe_trade_updates(handler)
    runner = SdkThread(stream)
    try:
        await eventually(lambda: sim.hub.stats()["listening"] == 1, message="SDK listening")
        # Alpaca allows one trade_updates connection per account: extras get 429 at upgrade.
        with pytest.raises(InvalidStatus) as refused:
            await connect(sim.url("/stream"))
        assert refused.value.response.status_code == 429
        sim.hub.publish_trade_updates([FakeUpdate("new"), FakeUpdate("fill")])
        await eventually(lambda: len(received) == 2, message="two trade updates")
    finally:
        await runner.stop(sim.hub)
    assert all(isinstance(update, SdkTradeUpdate) for update in received)
    assert [u.event for u in received] == ["new", "fill"]
    assert received[1].order.symbol == "AAPL"
    assert received[1].qty == 10
    # Once the old socket is gone, a reconnect is accepted.
    client = await sim.trade_client()
    await client.send({"action": "auth", "key": KEY, "secret": SECRET})
    assert (await client.recv())["data"]["status"] == "authorized"


async def test_sdk_clients_reconnect_after_a_fault_disconnect(sim: Sim) -> None:
    """A dropped socket frees its slot at once: the SDKs' reconnects get no 406 and no 429."""
    sim.load_faults({"stream": "*", "effect": "disconnect", "at_seconds": [1]})
    trades: list[Any] = []
    updates: list[Any] = []

    async def on_trade(item: Any) -> None:
        trades.append(item)

    async def on_update(item: Any) -> None:
        updates.append(item)

    data = StockDataStream(KEY, SECRET, feed=DataFeed.SIP, url_override=sim.url("sip"))
    data.subscribe_trades(on_trade, "AAPL")
    trading = TradingStream(KEY, SECRET, url_override=sim.url("/stream"))
    trading.subscribe_trade_updates(on_update)
    runners = [SdkThread(data), SdkThread(trading)]

    def both_ready() -> bool:
        stats = sim.hub.stats()
        return stats["listening"] == 1 and bool(sim.hub.subscribed_symbols("stocks"))

    try:
        await eventually(both_ready, message="both SDK streams up")
        sim.time.advance(1)
        await eventually(lambda: sim.hub.stats()["fault_disconnects"] == 2)
        # The SDK backs off 0.5-1 s before reconnecting.
        await eventually(both_ready, timeout=8, message="both SDK streams back")
        sim.hub.publish_trades("stocks", [trade()])
        sim.hub.publish_trade_updates([FakeUpdate()])
        await eventually(lambda: trades and updates, message="data after the reconnect")
    finally:
        for runner in runners:
            await runner.stop(sim.hub)


# --- market-data protocol details (raw clients) -----------------------------------------------


async def test_json_mode_text_frames_and_rfc3339_timestamps(sim: Sim) -> None:
    client = await sim.raw("sip")
    ack = await client.subscribe(trades=["AAPL"], quotes=["AAPL"], dailyBars=["AAPL"])
    assert ack == {
        "T": "subscription",
        "trades": ["AAPL"],
        "quotes": ["AAPL"],
        "bars": [],
        "updatedBars": [],
        "dailyBars": ["AAPL"],
        "statuses": [],
        "lulds": [],
        "corrections": ["AAPL"],
        "cancelErrors": ["AAPL"],
    }
    sim.hub.publish_trades("stocks", [trade(), trade("MSFT")])
    sim.hub.publish_bars("stocks", [bar()], kind="d")
    (message,) = await client.recv()
    assert isinstance(client.frames[-1], str)  # JSON clients get text frames
    assert message == {
        "T": "t",
        "S": "AAPL",
        "i": 1000,
        "x": "V",
        "p": 190.25,
        "s": 100,
        "c": ["@"],
        "z": "C",
        "t": "2024-01-02T15:00:00.123456000Z",
    }
    (daily,) = await client.recv()
    assert daily["T"] == "d"
    assert daily["n"] == 17
    assert daily["vw"] == pytest.approx(190.1666, 1e-4)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", daily["t"])


async def test_msgpack_timestamps_are_timestamp_extensions(sim: Sim) -> None:
    client = await sim.raw("iex", use_msgpack=True)
    await client.subscribe(trades=["AAPL"])
    sim.hub.publish_trades("stocks", [trade(n=i) for i in range(3)])
    messages = await client.data(3)
    assert isinstance(client.frames[-1], bytes)
    assert len(client.frames) == 4  # connected, authenticated, ack and ONE batched frame
    assert [m["s"] for m in messages] == [100, 101, 102]
    assert all(isinstance(m["t"], msgpack.Timestamp) for m in messages)
    assert messages[0]["t"].to_datetime() == T0


async def test_error_codes(sim_factory: Callable[..., Awaitable[Sim]]) -> None:
    sim = await sim_factory(symbol_limits={"iex": 3})
    # 401: subscribe before auth; the connection stays usable.
    client = await sim.raw("iex", auth=False)
    await client.send({"action": "subscribe", "trades": ["AAPL"]})
    assert await client.recv() == [{"T": "error", "code": 401, "msg": "not authenticated"}]
    # 400: not JSON, and an unknown action.
    await client.ws.send("{nope")
    assert await client.recv() == [{"T": "error", "code": 400, "msg": "invalid syntax"}]
    await client.send({"action": "dance"})
    assert (await client.recv())[0]["code"] == 400
    await client.send({"action": "auth", "key": KEY, "secret": SECRET})
    assert await client.recv() == [{"T": "success", "msg": "authenticated"}]
    # 403: authenticating twice.
    await client.send({"action": "auth", "key": KEY, "secret": SECRET})
    assert await client.recv() == [{"T": "error", "code": 403, "msg": "already authenticated"}]
    # 410: order books are a crypto channel.
    await client.send({"action": "subscribe", "orderbooks": ["AAPL"]})
    assert (await client.recv())[0] == {
        "T": "error",
        "code": 410,
        "msg": "invalid subscribe action for this feed",
    }
    # 405: over the symbol limit (trades + quotes union), and the subscription is unchanged.
    assert (await client.subscribe(trades=["A", "B"], quotes=["B", "C"]))["trades"] == ["A", "B"]
    await client.send({"action": "subscribe", "quotes": ["D"]})
    assert await client.recv() == [{"T": "error", "code": 405, "msg": "symbol limit exceeded"}]
    assert (await client.subscribe(bars=["Z"]))["quotes"] == ["B", "C"]
    # 406: a second authenticated connection with the same key on the same feed.
    second = await sim.raw("iex", auth=False)
    await second.send({"action": "auth", "key": KEY, "secret": SECRET})
    assert await second.recv() == [{"T": "error", "code": 406, "msg": "connection limit exceeded"}]
    with pytest.raises(ConnectionClosed):
        await second.recv()
    # ...but another feed is another endpoint.
    await sim.raw("sip")
    # 402: wrong secret, then the server closes.
    bad = await sim.raw("sip", auth=False)
    await bad.send({"action": "auth", "key": KEY, "secret": "wrong"})
    assert await bad.recv() == [{"T": "error", "code": 402, "msg": "auth failed"}]
    with pytest.raises(ConnectionClosed):
        await bad.recv()


async def test_auth_timeout(sim_factory: Callable[..., Awaitable[Sim]]) -> None:
    sim = await sim_factory(auth_timeout=0.2)
    client = await sim.raw("test", auth=False)
    assert await client.recv() == [{"T": "error", "code": 404, "msg": "auth timeout"}]
    with pytest.raises(ConnectionClosed):
        await client.recv()


async def test_fragmented_subscription_of_5000_symbols(sim: Sim) -> None:
    client = await sim.raw("sip", use_msgpack=True)
    symbols = [f"S{i:04d}" for i in range(5000)]
    payload = msgpack.packb({"action": "subscribe", "trades": symbols, "quotes": symbols})
    chunks = [payload[i : i + 32768] for i in range(0, len(payload), 32768)]
    assert len(chunks) > 1
    await client.ws.send(chunks)  # an iterable is sent as one fragmented message
    (ack,) = await client.recv()
    assert ack["trades"] == symbols
    assert ack["quotes"] == symbols
    assert ack["corrections"] == symbols
    assert sim.hub.subscribed_symbols("stocks") == set(symbols)


async def test_unsubscribe_and_wildcard(sim: Sim) -> None:
    client = await sim.raw("iex")
    await client.subscribe(trades=["AAPL", "MSFT"], quotes=["AAPL"])
    await client.send({"action": "unsubscribe", "trades": ["AAPL"]})
    (ack,) = await client.recv()
    assert (ack["trades"], ack["quotes"], ack["corrections"]) == (["MSFT"], ["AAPL"], ["MSFT"])
    sim.hub.publish_trades("stocks", [trade("AAPL"), trade("MSFT")])
    assert [m["S"] for m in await client.recv()] == ["MSFT"]
    await client.subscribe(bars=["*"])
    assert "*" in sim.hub.subscribed_symbols("stocks")
    sim.hub.publish_bars("stocks", [bar("AAPL"), bar("TSLA")])
    assert [m["S"] for m in await client.recv()] == ["AAPL", "TSLA"]


async def test_trade_stream_protocol_raw(sim: Sim) -> None:
    client = await sim.trade_client()
    await client.send({"action": "listen", "data": {"streams": ["trade_updates"]}})
    assert (await client.recv())["data"]["status"] == "unauthorized"
    await client.send({"action": "auth", "key": KEY, "secret": SECRET})  # the legacy form
    assert await client.recv() == {
        "stream": "authorization",
        "data": {"status": "authorized", "action": "authenticate"},
    }
    await client.send({"action": "listen", "data": {"streams": ["trade_updates", "nope"]}})
    assert await client.recv() == {"stream": "listening", "data": {"streams": ["trade_updates"]}}
    sim.hub.publish_trade_updates([FakeUpdate()])
    message = await client.recv()
    assert isinstance(client.frames[-1], bytes)  # binary JSON, like Alpaca paper
    assert message["stream"] == "trade_updates"
    assert message["data"]["event"] == "fill"
    await client.ws.close()
    # Bad keys: unauthorized, then closed. The old socket is gone, so no 429.
    await eventually(lambda: sim.hub.stats()["connections"]["trade_updates"] == 0)
    bad = await sim.trade_client()
    await bad.send({"action": "authenticate", "data": {"key_id": KEY, "secret_key": "x"}})
    assert (await bad.recv())["data"]["status"] == "unauthorized"
    with pytest.raises(ConnectionClosed):
        await bad.recv()


# --- faults -----------------------------------------------------------------------------------


async def test_disconnect_fault_aborts_the_socket(sim: Sim) -> None:
    sim.load_faults({"stream": "iex", "effect": "disconnect", "every_seconds": 10})
    client = await sim.raw("iex")
    sip = await sim.raw("sip")
    sim.time.advance(10)
    with pytest.raises(ConnectionClosed) as closed:
        await client.recv()
    assert closed.value.rcvd is None  # no close frame: an abrupt 1006
    assert sim.hub.stats()["fault_disconnects"] == 1
    await sip.subscribe(trades=["AAPL"])  # other streams are untouched


async def test_silence_fault_mutes_but_answers_pings(sim: Sim) -> None:
    sim.load_faults(
        {"stream": "data", "effect": "silence", "after_seconds": 5, "duration_seconds": 30}
    )
    client = await sim.raw("iex")
    await client.subscribe(trades=["AAPL"])
    sim.time.advance(5)
    sim.hub.publish_trades("stocks", [trade(n=1)])
    pong = await client.ws.ping()
    await asyncio.wait_for(pong, 2)
    with pytest.raises(TimeoutError):
        await client.recv(wait=0.3)
    sim.time.advance(30)
    sim.hub.publish_trades("stocks", [trade(n=2)])
    assert [m["s"] for m in await client.recv()] == [102]


async def test_duplicate_and_reorder_faults(sim: Sim) -> None:
    sim.load_faults({"stream": "iex", "effect": "duplicate"})
    client = await sim.raw("iex")
    await client.subscribe(trades=["AAPL"])
    sim.hub.publish_trades("stocks", [trade(n=0), trade(n=1)])
    assert [m["s"] for m in await client.data(4)] == [100, 100, 101, 101]

    sim.load_faults({"stream": "trade_updates", "effect": "reorder"})
    trades = await sim.trade_client()
    await trades.send({"action": "authenticate", "data": {"key_id": KEY, "secret_key": SECRET}})
    await trades.recv()
    await trades.send({"action": "listen", "data": {"streams": ["trade_updates"]}})
    await trades.recv()
    sim.hub.publish_trade_updates([FakeUpdate(n=n) for n in range(4)])
    qtys = [(await trades.recv())["data"]["qty"] for _ in range(4)]
    assert qtys == ["11", "10", "13", "12"]
    # A held message with nothing after it still goes out, a moment late.
    sim.hub.publish_trade_updates([FakeUpdate(n=9)])
    assert (await trades.recv())["data"]["qty"] == "19"


async def test_slow_client_is_dropped_with_407(sim_factory: Callable[..., Awaitable[Sim]]) -> None:
    sim = await sim_factory(max_queued_bytes=256 * 1024)
    client = await sim.raw("sip", use_msgpack=True)
    await client.subscribe(trades=["*"])
    batch = [trade(f"S{i}", n=i) for i in range(1000)]
    # The client stops reading; once the kernel buffers are full, the backlog grows.
    for _ in range(2000):
        sim.hub.publish_trades("stocks", batch)
        if sim.hub.stats()["slow_client_disconnects"]:
            break
        await asyncio.sleep(0.001)
    assert sim.hub.stats()["slow_client_disconnects"] == 1
    assert await client.last_before_close() == [{"T": "error", "code": 407, "msg": "slow client"}]
