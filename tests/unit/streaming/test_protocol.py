"""The pure protocol layer: subscription batching, refusal classification, decoding, events."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import msgpack
import pytest
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.http11 import Response

from pulsetrader.streaming import StreamEvent, StreamEventKind
from pulsetrader.streaming import protocol as proto
from pulsetrader.streaming.connection import classify_refusal
from pulsetrader.streaming.trade_updates import parse_trade_update

T0 = datetime(2024, 1, 3, 14, 30, 5, 250000, tzinfo=UTC)


def symbols_in(messages: list[dict[str, object]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for message in messages:
        for key, value in message.items():
            if key != "action":
                assert isinstance(value, list)
                out.setdefault(key, []).extend(value)
    return out


def test_a_small_change_is_one_message_with_only_the_non_empty_channels() -> None:
    messages = proto.subscription_messages(
        "subscribe", {"trades": ["MSFT", "AAPL"], "quotes": [], "bars": {"AAPL"}}
    )
    assert messages == [{"action": "subscribe", "bars": ["AAPL"], "trades": ["AAPL", "MSFT"]}]


def test_nothing_to_change_is_no_message() -> None:
    assert proto.subscription_messages("unsubscribe", {"trades": [], "quotes": set()}) == []


def test_batches_respect_the_symbol_count() -> None:
    names = [f"S{i:05d}" for i in range(2500)]
    messages = proto.subscription_messages("subscribe", {"trades": names, "quotes": names})
    assert all(
        sum(len(v) for k, v in m.items() if k != "action") <= proto.MAX_SUBSCRIBE_SYMBOLS
        for m in messages
    )
    assert len(messages) == 5
    got = symbols_in(messages)
    assert got == {"quotes": sorted(names), "trades": sorted(names)}


def test_batches_respect_the_byte_limit() -> None:
    names = [f"{'X' * 25}{i:04d}" for i in range(3000)]
    messages = proto.subscription_messages("subscribe", {"bars": names}, max_symbols=10_000)
    assert len(messages) > 1
    assert all(len(proto.pack(m)) <= proto.MAX_SUBSCRIBE_BYTES for m in messages)
    assert symbols_in(messages) == {"bars": sorted(names)}


def test_the_same_change_gives_the_same_messages() -> None:
    change = {"trades": {"B", "A", "C"}, "bars": ["C", "A"]}
    assert proto.subscription_messages("subscribe", change) == proto.subscription_messages(
        "subscribe", {"bars": ["A", "C", "C"], "trades": ["C", "B", "A"]}
    )


def test_unknown_actions_are_refused() -> None:
    with pytest.raises(ValueError, match="subscribe or unsubscribe"):
        proto.subscription_messages("listen", {"trades": ["AAPL"]})


def _status(code: int) -> InvalidStatus:
    return InvalidStatus(Response(code, "refused", Headers()))


@pytest.mark.parametrize(
    ("exc", "kind", "code"),
    [
        (_status(429), StreamEventKind.CONNECTION_LIMIT, 429),
        (proto.StreamProtocolError("connection limit exceeded", 406),
         StreamEventKind.CONNECTION_LIMIT, 406),
        (proto.StreamProtocolError("auth failed", 402), StreamEventKind.AUTH_FAILED, 402),
    ],
)  # fmt: skip
def test_refusals_that_need_a_long_wait_are_recognised(
    exc: Exception, kind: StreamEventKind, code: int
) -> None:
    refusal = classify_refusal(exc)
    assert refusal is not None
    assert (refusal.kind, refusal.code) == (kind, code)


@pytest.mark.parametrize(
    "exc",
    [_status(500), proto.StreamProtocolError("invalid syntax", 400), OSError("reset"), None],
)
def test_ordinary_failures_are_not_refusals(exc: Exception | None) -> None:
    assert classify_refusal(exc or TimeoutError()) is None


def test_error_frames_become_exceptions_with_alpaca_codes() -> None:
    error = proto.error_of({"T": "error", "code": 405, "msg": "symbol limit exceeded"})
    assert error.code == 405
    assert "symbol limit exceeded" in str(error)


def test_msgpack_frames_decode_to_domain_values_with_exact_decimals() -> None:
    stamp = msgpack.Timestamp.from_unix_nano(int(T0.timestamp()) * 10**9 + 250_000_000)
    frame = msgpack.packb(
        [
            {"T": "t", "S": "AAPL", "i": 7, "x": "V", "p": 190.1, "s": 3, "t": stamp},
            {"T": "q", "S": "AAPL", "bp": 190.05, "bs": 2, "ap": 190.15, "as": 4, "t": stamp},
            {"T": "b", "S": "BTC/USD", "o": 1.1, "h": 1.3, "l": 1.0, "c": 1.2, "v": 0.5,
             "n": 3, "vw": 1.15, "t": stamp},
        ]
    )  # fmt: skip
    trade_msg, quote_msg, bar_msg = proto.unpack(frame)
    trade = proto.to_trade(trade_msg)
    assert (trade.symbol, trade.price, trade.size, trade.timestamp) == (
        "AAPL",
        Decimal("190.1"),
        Decimal(3),
        T0,
    )
    quote = proto.to_quote(quote_msg)
    assert (quote.bid_price, quote.ask_price) == (Decimal("190.05"), Decimal("190.15"))
    bar = proto.to_bar(bar_msg)
    assert (bar.symbol, bar.open, bar.close, bar.volume, bar.trade_count, bar.vwap) == (
        "BTC/USD",
        Decimal("1.1"),
        Decimal("1.2"),
        Decimal("0.5"),
        3,
        Decimal("1.15"),
    )


def test_a_control_message_alone_decodes_to_a_list() -> None:
    assert proto.unpack(b'{"T":"success","msg":"connected"}'.decode()) == [
        {"T": "success", "msg": "connected"}
    ]


ORDER = {
    "id": "61e69015-8549-4bfd-b9c3-01e75843f47d",
    "client_order_id": "pt-1",
    "created_at": "2024-01-03T14:30:00Z",
    "updated_at": "2024-01-03T14:30:01Z",
    "submitted_at": "2024-01-03T14:30:00Z",
    "filled_at": "2024-01-03T14:30:01Z",
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


def test_a_fill_becomes_an_order_update_with_its_execution() -> None:
    update = parse_trade_update(
        {
            "event": "fill",
            "execution_id": "3f1c7a3e-6a2b-4f61-9f0e-3c4c3d7e9a01",
            "order": ORDER,
            "timestamp": "2024-01-03T14:30:01.000000001Z",
            "price": "190.5",
            "qty": "10",
            "position_qty": "10",
        }
    )
    assert update.event == "fill"
    assert update.is_fill
    assert update.order.broker_order_id == ORDER["id"]
    assert (update.price, update.qty, update.position_qty) == (
        Decimal("190.5"),
        Decimal(10),
        Decimal(10),
    )
    fill = update.fill()
    assert fill is not None
    assert (fill.execution_id, fill.qty, fill.symbol) == (update.execution_id, Decimal(10), "AAPL")
    assert update.key == (ORDER["id"], "fill", "3f1c7a3e-6a2b-4f61-9f0e-3c4c3d7e9a01")


def test_a_non_fill_update_is_keyed_by_its_time() -> None:
    update = parse_trade_update(
        {"event": "new", "order": ORDER, "timestamp": "2024-01-03T14:30:00Z"}
    )
    assert not update.is_fill
    assert update.fill() is None
    assert update.key[:2] == (ORDER["id"], "new")


def test_stream_events_know_faults_and_reconnects() -> None:
    up = StreamEvent("iex", StreamEventKind.CONNECTED, T0, downtime_seconds=1.5, attempt=1)
    first = StreamEvent("iex", StreamEventKind.CONNECTED, T0)
    down = StreamEvent("iex", StreamEventKind.DISCONNECTED, T0)
    assert up.is_reconnect
    assert not first.is_reconnect
    assert down.is_fault
    assert not up.is_fault
    assert StreamEvent("iex", StreamEventKind.SILENCE, T0).is_fault
    assert not StreamEvent("iex", StreamEventKind.GAP_FILLED, T0, count=3).is_fault
