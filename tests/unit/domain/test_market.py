"""Trades, quotes, bars and timeframes."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from pulsetrader.domain import Bar, Quote, Timeframe, TimeframeUnit, Trade

T0 = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)
D = Decimal


def quote(bid: str, ask: str) -> Quote:
    return Quote("AAPL", Decimal(bid), Decimal(1), Decimal(ask), Decimal(1), T0)


def bar(open_: str, high: str, low: str, close: str, volume: str = "100") -> Bar:
    return Bar(
        "AAPL",
        T0,
        Decimal(open_),
        Decimal(high),
        Decimal(low),
        Decimal(close),
        Decimal(volume),
    )


def test_trade_normalises_symbol_amounts_and_time() -> None:
    trade = Trade("btcusd", "65000.5", 0.001, T0, exchange="CBSE", trade_id=7)  # type: ignore[arg-type]
    assert trade.symbol == "BTC/USD"
    assert trade.price == Decimal("65000.5")
    assert trade.size == Decimal("0.001")
    assert trade.to_dict() == {
        "symbol": "BTC/USD",
        "price": "65000.5",
        "size": "0.001",
        "timestamp": "2024-03-01T14:30:00Z",
        "exchange": "CBSE",
        "trade_id": 7,
    }


def test_trade_is_immutable() -> None:
    trade = Trade("AAPL", Decimal(1), Decimal(1), T0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        trade.price = Decimal(2)  # type: ignore[misc]


@pytest.mark.parametrize(("price", "size"), [("0", "1"), ("-1", "1"), ("1", "-1")])
def test_trade_with_non_positive_price_or_negative_size_is_refused(price: str, size: str) -> None:
    with pytest.raises(ValueError, match="trade"):
        Trade("AAPL", Decimal(price), Decimal(size), T0)


def test_trade_with_naive_timestamp_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        Trade("AAPL", Decimal(1), Decimal(1), datetime(2024, 3, 1))


def test_quote_midpoint_of_two_sided_book_is_the_average() -> None:
    assert quote("100.00", "100.03").midpoint == Decimal("100.015")
    assert quote("100.00", "100.03").spread == Decimal("0.03")


@pytest.mark.parametrize(("bid", "ask", "mid"), [("0", "101", "101"), ("99", "0", "99")])
def test_quote_midpoint_with_one_side_empty_is_the_other_side(bid: str, ask: str, mid: str) -> None:
    q = quote(bid, ask)
    assert q.midpoint == Decimal(mid)
    assert q.spread is None


def test_quote_with_both_sides_empty_has_no_midpoint() -> None:
    q = quote("0", "0")
    assert q.midpoint is None
    assert q.spread is None


def test_quote_with_negative_price_is_refused() -> None:
    with pytest.raises(ValueError, match="bid_price"):
        quote("-1", "1")


def test_quote_to_dict_uses_text_amounts() -> None:
    assert quote("1.10", "1.20").to_dict()["bid_price"] == "1.1"


def test_valid_bar_keeps_its_values() -> None:
    b = Bar("AAPL", T0, Decimal(10), Decimal(12), Decimal(9), Decimal(11), Decimal(500), 42, None)
    assert (b.open, b.high, b.low, b.close) == (D(10), D(12), D(9), D(11))
    assert b.to_dict()["vwap"] is None
    assert b.to_dict()["trade_count"] == 42


def test_bar_vwap_is_a_decimal_when_present() -> None:
    b = Bar("AAPL", T0, 10, 12, 9, 11, 500, vwap="10.5")  # type: ignore[arg-type]
    assert b.vwap == Decimal("10.5")
    assert b.to_dict()["vwap"] == "10.5"


@pytest.mark.parametrize(
    ("open_", "high", "low", "close"),
    [("10", "10.5", "9", "11"), ("11", "10.5", "9", "10"), ("10", "12", "10.5", "11")],
)
def test_bar_whose_high_or_low_does_not_bound_open_and_close_is_refused(
    open_: str, high: str, low: str, close: str
) -> None:
    with pytest.raises(ValueError, match="bar"):
        bar(open_, high, low, close)


def test_bar_with_negative_volume_is_refused() -> None:
    with pytest.raises(ValueError, match="volume"):
        bar("10", "12", "9", "11", volume="-1")


def test_flat_bar_with_zero_volume_is_valid() -> None:
    assert bar("10", "10", "10", "10", volume="0").volume == 0


@pytest.mark.parametrize(
    ("text", "amount", "unit"),
    [
        ("1Min", 1, TimeframeUnit.MINUTE),
        ("5Min", 5, TimeframeUnit.MINUTE),
        ("59Min", 59, TimeframeUnit.MINUTE),
        ("1Hour", 1, TimeframeUnit.HOUR),
        ("23Hour", 23, TimeframeUnit.HOUR),
        ("1Day", 1, TimeframeUnit.DAY),
        ("1Week", 1, TimeframeUnit.WEEK),
        ("1Month", 1, TimeframeUnit.MONTH),
        ("12Month", 12, TimeframeUnit.MONTH),
    ],
)
def test_alpaca_timeframe_parses_and_prints_back(
    text: str, amount: int, unit: TimeframeUnit
) -> None:
    tf = Timeframe.parse(text)
    assert (tf.amount, tf.unit) == (amount, unit)
    assert str(tf) == text


@pytest.mark.parametrize("text", ["1T", "1H", "1D", "1min", "Min", "5 Min", "1.5Hour", "-1Min"])
def test_non_alpaca_timeframe_spelling_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="invalid timeframe"):
        Timeframe.parse(text)


@pytest.mark.parametrize("text", ["0Min", "60Min", "24Hour", "2Day", "2Week", "5Month", "7Month"])
def test_timeframe_outside_alpaca_limits_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not an Alpaca timeframe"):
        Timeframe.parse(text)


@pytest.mark.parametrize(
    ("text", "length"),
    [("15Min", timedelta(minutes=15)), ("4Hour", timedelta(hours=4)), ("1Day", timedelta(days=1))],
)
def test_fixed_length_timeframe_has_a_timedelta(text: str, length: timedelta) -> None:
    assert Timeframe.parse(text).timedelta == length


@pytest.mark.parametrize("text", ["1Week", "3Month"])
def test_calendar_timeframe_has_no_timedelta(text: str) -> None:
    with pytest.raises(ValueError, match="no fixed length"):
        _ = Timeframe.parse(text).timedelta


def test_timeframe_is_a_comparable_value() -> None:
    assert Timeframe.parse("5Min") == Timeframe(5, TimeframeUnit.MINUTE)
    assert Timeframe(5, "Min") == Timeframe.parse("5Min")  # type: ignore[arg-type]
    assert Timeframe.parse("5Min").to_dict() == {"amount": 5, "unit": "Min", "text": "5Min"}


def test_timeframe_amount_must_be_an_int() -> None:
    with pytest.raises(TypeError):
        Timeframe(True, TimeframeUnit.DAY)
