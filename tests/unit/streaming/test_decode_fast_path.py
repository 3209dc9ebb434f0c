"""The market-data hot path: raw msgpack decoding straight to domain values, and dispatch.

Frames go through ``MarketDataStream.on_frame`` of a ``WebSocketClient`` that is not connected,
so what is checked is decoding and dispatch alone: the raw (bytes) fast path must give exactly
what the general path gives, and everything else in a frame must still reach its handler.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgpack
import pytest
from loguru import logger

from pulsetrader.domain.market import Bar, Quote, Trade
from pulsetrader.streaming import StreamEvent, StreamEventKind, WebSocketClient
from pulsetrader.streaming import protocol as proto

T0 = datetime(2024, 1, 3, 14, 30, 5, 250000, tzinfo=UTC)
STAMP = msgpack.Timestamp.from_unix_nano(int(T0.timestamp()) * 10**9 + 250_000_123)


def trade_msg(symbol: str = "AAPL", price: float = 190.1, size: float = 3, **extra: Any) -> Any:
    return {"T": "t", "S": symbol, "i": 7, "x": "V", "p": price, "s": size, "c": ["@"],
            "z": "C", "t": STAMP, **extra}  # fmt: skip


def quote_msg(symbol: str = "AAPL", bid: float = 190.05, ask: float = 190.15) -> Any:
    return {"T": "q", "S": symbol, "bx": "V", "bp": bid, "bs": 2, "ax": "Q", "ap": ask, "as": 4,
            "c": ["R"], "z": "C", "t": STAMP}  # fmt: skip


def bar_msg(symbol: str = "AAPL") -> Any:
    opened = msgpack.Timestamp.from_unix_nano(int(T0.timestamp()) * 10**9)
    return {"T": "b", "S": symbol, "o": 1.1, "h": 1.3, "l": 1.0, "c": 1.2, "v": 5, "n": 3,
            "vw": 1.15, "t": opened}  # fmt: skip


class Got:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def __call__(self, event: Any) -> None:
        self.events.append(event)


async def client_with(got: Got, symbols: tuple[str, ...] = ("AAPL", "MSFT")) -> WebSocketClient:
    client = WebSocketClient("key", "secret", stream_url="ws://127.0.0.1:9", feed="sip")
    await client.subscribe_trades(symbols, got)
    await client.subscribe_quotes(symbols, got)
    await client.subscribe_bars(symbols, got)
    return client


def test_the_raw_path_decodes_exactly_what_the_general_path_does() -> None:
    frame = msgpack.packb(
        [
            trade_msg(),
            quote_msg(),
            trade_msg("BTC/USD", 43000.5, 0.0125),
            trade_msg(price="190.10", x=None),  # type: ignore[arg-type]  # a number as text
        ]
    )
    general = proto.unpack(frame)
    raw = proto.unpack_raw(frame)
    assert proto.raw_trade(raw[0]) == proto.to_trade(general[0])
    as_text = proto.raw_trade(raw[3])
    assert as_text == proto.to_trade(general[3])
    assert (str(as_text.price), as_text.exchange) == ("190.10", None)
    assert proto.raw_quote(raw[1]) == proto.to_quote(general[1])
    crypto = proto.raw_trade(raw[2])
    assert crypto == proto.to_trade(general[2])
    assert (crypto.symbol, crypto.price, crypto.size) == (
        "BTC/USD",
        Decimal("43000.5"),
        Decimal("0.0125"),
    )
    assert crypto.timestamp == T0
    assert crypto.timestamp.tzinfo is not None
    assert proto.text(raw[1]) == general[1]


def test_trusted_values_are_genuine_frozen_domain_values() -> None:
    trade = Trade.trusted("AAPL", Decimal("190.1"), Decimal(3), T0, "V", 7)
    checked = Trade("AAPL", Decimal("190.1"), 3, T0, "V", 7)
    assert type(trade) is Trade
    assert trade == checked
    assert hash(trade) == hash(checked)
    quote = Quote.trusted("AAPL", Decimal(1), Decimal(2), Decimal(3), Decimal(4), T0)
    assert type(quote) is Quote
    assert quote == Quote("AAPL", 1, 2, 3, 4, T0)
    with pytest.raises(FrozenInstanceError):
        trade.price = Decimal(1)  # type: ignore[misc]


def test_wire_numbers_become_exact_decimals_whatever_was_cached_first() -> None:
    assert proto.wire_decimal(0.1 + 0.2) == Decimal("0.30000000000000004")
    assert str(proto.wire_decimal(190.15)) == "190.15"  # from the repr, never Decimal(float)
    assert str(proto.wire_decimal(7)) == "7"
    # 250.0 and 250 are one cache key: both spellings give the same Decimal, in either order.
    assert str(proto.wire_decimal(250.0)) == str(proto.wire_decimal(250)) == "250"
    assert str(proto.wire_decimal(251)) == str(proto.wire_decimal(251.0)) == "251"
    assert proto.wire_decimal("1.50") == Decimal("1.50")
    with pytest.raises(TypeError):
        proto.wire_decimal(None)  # type: ignore[arg-type]


def test_the_caches_start_over_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(proto, "_DECIMAL_CACHE_SIZE", 3)
    monkeypatch.setattr(proto, "_TEXT_CACHE_SIZE", 2)
    proto._DECIMALS.clear()
    proto._TEXTS.clear()
    for i in range(10):
        assert proto.wire_decimal(i + 0.5) == Decimal(f"{i}.5")
        assert proto.wire_text(f"S{i}".encode()) == f"S{i}"
    assert len(proto._DECIMALS) <= 3
    assert len(proto._TEXTS) <= 2


async def test_a_frame_of_every_kind_reaches_every_handler() -> None:
    got = Got()
    client = await client_with(got)
    events: list[StreamEvent] = []
    client.add_hook(events.append)
    frame = msgpack.packb(
        [
            quote_msg(),
            trade_msg("MSFT", 410.25, 100),
            bar_msg(),
            {"T": "subscription", "trades": ["AAPL"], "quotes": [], "bars": []},
            {"T": "error", "code": 405, "msg": "symbol limit exceeded"},
            trade_msg("NVDA"),  # not subscribed: nobody is called
            {"msg": "no type at all"},
        ]
    )
    await client.stocks.on_frame(frame)
    kinds = [type(e) for e in got.events]
    assert kinds == [Quote, Trade, Bar]
    quote, trade, bar = got.events
    assert (quote.bid_price, quote.ask_size) == (Decimal("190.05"), Decimal(4))
    assert (trade.symbol, trade.price, trade.size, trade.exchange, trade.trade_id) == (
        "MSFT",
        Decimal("410.25"),
        Decimal(100),
        "V",
        7,
    )
    assert (bar.open, bar.vwap, bar.trade_count) == (Decimal("1.1"), Decimal("1.15"), 3)
    assert client.stocks.server_subscriptions["trades"] == {"AAPL"}
    assert [e.kind for e in events] == [StreamEventKind.ERROR]
    assert client.stocks.messages == 4  # quote, two trades and the bar; not the control ones


async def test_unreadable_messages_are_skipped_and_the_rest_delivered() -> None:
    got = Got()
    client = await client_with(got)
    logged: list[str] = []
    sink = logger.add(lambda m: logged.append(str(m)), level="WARNING", format="{message}")
    try:
        frame = msgpack.packb(
            [
                {k: v for k, v in quote_msg().items() if k != "ap"},  # a field missing
                trade_msg(price="not a number"),  # type: ignore[arg-type]
                trade_msg(symbol=b"\xff\xfe"),  # type: ignore[arg-type]  # not UTF-8
                {**quote_msg(), "S": 42},  # a symbol that is not a string
                {"T": b"\xff", "S": "AAPL"},  # an undecodable control message
                quote_msg(bid=10.5, ask=10.75),
            ]
        )
        await client.stocks.on_frame(frame)
    finally:
        logger.remove(sink)
    assert [(q.bid_price, q.ask_price) for q in got.events] == [(Decimal("10.5"), Decimal("10.75"))]
    assert sum("unreadable message" in line for line in logged) == 5


async def test_a_failing_callback_is_isolated_and_async_ones_are_awaited_in_order() -> None:
    order: list[str] = []

    def broken(event: Any) -> None:
        raise RuntimeError("strategy bug")

    async def first(event: Any) -> None:
        order.append(f"first {event.price}")

    async def failing(event: Any) -> None:
        raise ValueError("async bug")

    def last(event: Any) -> None:
        order.append(f"last {event.price}")

    client = WebSocketClient("key", "secret", stream_url="ws://127.0.0.1:9", feed="sip")
    for callback in (broken, first, failing, last):
        await client.subscribe_trades("AAPL", callback)
    await client.stocks.on_frame(msgpack.packb([trade_msg(price=1.5), trade_msg(price=2.5)]))
    # Per trade: every callback is called, then the async ones are awaited, in order.
    assert order == ["last 1.5", "first 1.5", "last 2.5", "first 2.5"]
    assert client.callback_errors == 4


async def test_json_text_frames_take_the_general_path() -> None:
    got = Got()
    client = await client_with(got)
    await client.stocks.on_frame('[{"T":"subscription","trades":["MSFT"],"quotes":[]}]')
    assert client.stocks.server_subscriptions["trades"] == {"MSFT"}
    assert got.events == []
