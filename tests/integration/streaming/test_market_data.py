"""Market data from the simulator through WebSocketClient: run-time subscriptions for stocks and
crypto, per-symbol callbacks, isolated callback failures, and the client's lifecycle on the
running loop. ``speed=60`` makes a simulated minute (one bar) pass per wall second.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import pytest
from loguru import logger

from pulsetrader.domain.market import Bar, Quote, Trade
from pulsetrader.sim.service import Simulator
from pulsetrader.streaming import StreamEvent, StreamEventKind
from tests.helpers import eventually

from .conftest import MakeWs, kinds, of_kind, server_subscriptions, wanted

pytestmark = pytest.mark.sim_config(speed=60)


class Recorder:
    """One callback per (type, symbol): remembers what it got."""

    def __init__(self) -> None:
        self.got: defaultdict[tuple[str, str], list[Any]] = defaultdict(list)

    def __call__(self, kind: str, symbol: str) -> Any:
        def callback(item: Any) -> None:
            self.got[(kind, symbol)].append(item)

        return callback

    def count(self, kind: str, symbol: str) -> int:
        return len(self.got[(kind, symbol)])


def minutes(bars: list[Bar]) -> list[int]:
    return [int(b.timestamp.timestamp()) // 60 for b in bars]


async def test_trades_quotes_and_bars_reach_their_own_callbacks(
    simulator: Simulator, make_ws: MakeWs
) -> None:
    ws = await make_ws()
    rec = Recorder()
    for symbol in ("AAPL", "MSFT", "BTC/USD"):
        await ws.subscribe_trades(symbol, rec("trade", symbol))
        await ws.subscribe_quotes(symbol, rec("quote", symbol))
        await ws.subscribe_bars(symbol, rec("bar", symbol))

    await eventually(
        lambda: all(
            rec.count(kind, symbol) >= (2 if kind == "bar" else 3)
            for kind in ("trade", "quote", "bar")
            for symbol in ("AAPL", "MSFT", "BTC/USD")
        ),
        message="trades, quotes and two bars of every symbol",
    )
    types = {"trade": Trade, "quote": Quote, "bar": Bar}
    for (kind, symbol), items in rec.got.items():
        assert all(isinstance(item, types[kind]) for item in items), (kind, symbol)
        assert {item.symbol for item in items} == {symbol}, (kind, symbol)
    for symbol in ("AAPL", "MSFT", "BTC/USD"):
        bars = rec.got[("bar", symbol)]
        got = minutes(bars)
        assert got == list(range(got[0], got[0] + len(got))), "minute bars in order, none missed"
        trades = rec.got[("trade", symbol)]
        assert [t.timestamp for t in trades] == sorted(t.timestamp for t in trades)

    # Split by asset class: stocks on the stock feed, crypto on the crypto stream.
    expected_stocks = {
        "trades": {"AAPL", "MSFT"},
        "quotes": {"AAPL", "MSFT"},
        "bars": {"AAPL", "MSFT"},
    }
    expected_crypto = {"trades": {"BTC/USD"}, "quotes": {"BTC/USD"}, "bars": {"BTC/USD"}}
    assert wanted(ws.stocks) == expected_stocks
    assert wanted(ws.crypto) == expected_crypto
    assert ws.stocks.url.endswith("/v2/iex")
    assert ws.crypto.url.endswith("/v1beta3/crypto/us")
    assert server_subscriptions(simulator, "iex") == [expected_stocks]
    assert server_subscriptions(simulator, "crypto") == [expected_crypto]
    assert {c: s for c, s in ws.stocks.server_subscriptions.items() if s} == expected_stocks
    assert not ws.trade_updates.running, "no order handler, no order stream"


async def test_compact_crypto_symbols_are_routed_to_the_crypto_stream(
    simulator: Simulator, make_ws: MakeWs
) -> None:
    ws = await make_ws()
    trades: list[Trade] = []
    await ws.subscribe_trades(["BTCUSD", "aapl"], trades.append)
    await eventually(
        lambda: {"BTC/USD", "AAPL"} <= {t.symbol for t in trades}, message="both symbols"
    )
    assert ws.crypto.wanted["trades"] == {"BTC/USD"}
    assert ws.stocks.wanted["trades"] == {"AAPL"}
    assert ws.subscribed("trades") == {"BTC/USD", "AAPL"}


async def test_subscriptions_change_at_run_time(simulator: Simulator, make_ws: MakeWs) -> None:
    ws = await make_ws()
    rec = Recorder()
    await ws.subscribe_trades(["AAPL", "MSFT"], rec("trade", "stock"))
    await ws.subscribe_quotes("ETH/USD", rec("quote", "crypto"))
    await eventually(
        lambda: {t.symbol for t in rec.got[("trade", "stock")]} == {"AAPL", "MSFT"},
        message="trades of both stocks",
    )

    await ws.unsubscribe_trades("MSFT")
    await ws.subscribe_trades("SPY", rec("trade", "stock"))
    await ws.unsubscribe_quotes("ETH/USD")
    await ws.subscribe_bars("ETH/USD", rec("bar", "crypto"))
    # The server confirms the new set on both streams.
    await eventually(
        lambda: (
            ws.stocks.server_subscriptions["trades"] == {"AAPL", "SPY"}
            and ws.crypto.server_subscriptions["quotes"] == set()
            and ws.crypto.server_subscriptions["bars"] == {"ETH/USD"}
        ),
        message="the server's acknowledgement of the changes",
    )
    assert server_subscriptions(simulator, "iex") == [{"trades": {"AAPL", "SPY"}}]
    assert server_subscriptions(simulator, "crypto") == [{"bars": {"ETH/USD"}}]
    msft_before = sum(t.symbol == "MSFT" for t in rec.got[("trade", "stock")])
    quotes_before = rec.count("quote", "crypto")
    await eventually(
        lambda: (
            sum(t.symbol == "SPY" for t in rec.got[("trade", "stock")]) >= 3
            and rec.count("bar", "crypto") >= 1
        ),
        message="SPY trades and an ETH/USD bar",
    )
    assert sum(t.symbol == "MSFT" for t in rec.got[("trade", "stock")]) == msft_before
    assert rec.count("quote", "crypto") == quotes_before
    assert ws.stocks.connects == 1, "changes go over the open socket, no reconnect"


async def test_unsubscribing_one_callback_keeps_the_others(
    simulator: Simulator, make_ws: MakeWs
) -> None:
    ws = await make_ws()
    first: list[Trade] = []
    second: list[Trade] = []
    await ws.subscribe_trades("AAPL", first.append)
    await ws.subscribe_trades("AAPL", second.append)
    await eventually(lambda: first and second, message="both callbacks")
    await ws.unsubscribe_trades("AAPL", first.append)
    assert ws.stocks.wanted["trades"] == {"AAPL"}, "still wanted by the second callback"
    n_first, n_second = len(first), len(second)
    await eventually(lambda: len(second) >= n_second + 3, message="more trades")
    assert len(first) == n_first
    await ws.unsubscribe_trades("AAPL", second.append)
    await eventually(
        lambda: ws.stocks.server_subscriptions["trades"] == set(), message="the unsubscribe ack"
    )
    assert ws.subscribed("trades") == set()


async def test_a_failing_callback_is_isolated_and_logged(
    simulator: Simulator, make_ws: MakeWs
) -> None:
    logged: list[str] = []
    sink = logger.add(lambda m: logged.append(str(m)), level="ERROR", format="{message}")
    try:
        ws = await make_ws()
        good: list[Trade] = []
        good_async: list[Trade] = []
        msft: list[Trade] = []

        def broken(trade: Trade) -> None:
            raise RuntimeError("strategy bug")

        async def broken_async(trade: Trade) -> None:
            await asyncio.sleep(0)
            raise ValueError("async strategy bug")

        async def fine_async(trade: Trade) -> None:
            await asyncio.sleep(0)
            good_async.append(trade)

        await ws.subscribe_trades("AAPL", broken)
        await ws.subscribe_trades("AAPL", broken_async)
        await ws.subscribe_trades("AAPL", good.append)
        await ws.subscribe_trades("AAPL", fine_async)
        await ws.subscribe_trades("MSFT", msft.append)
        await eventually(
            lambda: len(good) >= 3 and len(good_async) >= 3 and len(msft) >= 3,
            message="the healthy callbacks' trades",
        )
        n = min(len(good), len(good_async))
        assert good[:n] == good_async[:n], "every healthy callback saw the same trades"
        assert ws.callback_errors >= 2 * 3
        assert any("strategy bug" in line for line in logged)
        assert any("async strategy bug" in line for line in logged)
        assert ws.stocks.connects == 1
        assert ws.stocks.disconnects == 0, "a callback's failure never costs the connection"
    finally:
        logger.remove(sink)


async def test_run_connect_and_disconnect_on_the_running_loop(
    simulator: Simulator, make_ws: MakeWs, events: list[StreamEvent]
) -> None:
    ws = await make_ws(connect=False)
    trades: list[Trade] = []
    # Subscribed before connecting: nothing connects yet, then the first connect sends it.
    await ws.subscribe_trades("AAPL", trades.append)
    assert not ws.stocks.running

    runner = asyncio.create_task(ws.run())
    await eventually(lambda: trades, message="trades once running")
    # From inside the loop, while running: a plain await, no deadlock, no second loop.
    btc: list[Trade] = []
    await ws.subscribe_trades("BTC/USD", btc.append)
    await eventually(lambda: btc, message="crypto trades subscribed at run time")
    assert not runner.done(), "run() lasts until disconnect()"

    await ws.disconnect()
    await asyncio.wait_for(runner, 5)
    assert runner.result() is None, "run() returns normally after disconnect()"
    assert not ws.stocks.running
    assert not ws.crypto.running
    assert server_subscriptions(simulator, "iex") == []

    # And it can be connected again; the wanted subscriptions come back with it.
    n = len(trades)
    await ws.connect()
    await eventually(lambda: len(trades) > n + 2, message="trades after connecting again")
    assert kinds(events, "iex").count(StreamEventKind.CONNECTED) == 2


async def test_run_waits_with_nothing_subscribed_and_cancelling_it_disconnects(
    simulator: Simulator, make_ws: MakeWs
) -> None:
    ws = await make_ws(connect=False)
    runner = asyncio.create_task(ws.run())
    for _ in range(3):
        await asyncio.sleep(0)  # let run() get going with nothing to stream
    assert not runner.done(), "run() waits for disconnect(), even with nothing subscribed"
    trades: list[Trade] = []
    await ws.subscribe_trades("AAPL", trades.append)  # the stream starts on demand
    await eventually(lambda: trades, message="trades")
    assert not runner.done()
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    assert not ws.stocks.running
    await eventually(
        lambda: server_subscriptions(simulator, "iex") == [], message="the socket closed"
    )


@pytest.mark.sim_config(speed=0)
async def test_an_error_frame_is_reported_and_the_stream_stays_up(
    simulator: Simulator, make_ws: MakeWs, events: list[StreamEvent]
) -> None:
    """The free iex plan allows 30 symbols: the 31st is refused with 405 and the server's
    subscription stays as it was, which the acknowledgements keep showing."""
    ws = await make_ws()
    first = [f"AB{chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(30)]
    await ws.subscribe_trades(first, lambda t: None)
    await eventually(
        lambda: ws.stocks.server_subscriptions["trades"] == set(first), message="30 symbols"
    )
    await ws.subscribe_trades("ZZZZ", lambda t: None)
    await eventually(lambda: of_kind(events, StreamEventKind.ERROR, "iex"), message="the refusal")
    (error,) = of_kind(events, StreamEventKind.ERROR, "iex")
    assert error.code == 405
    assert "symbol limit" in error.detail
    assert ws.stocks.server_subscriptions["trades"] == set(first)
    assert ws.stocks.connected
    assert ws.stocks.disconnects == 0
