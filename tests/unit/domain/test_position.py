"""Fills and positions under weighted-average cost."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from pulsetrader.domain import DomainError, Fill, OrderSide, Position, PositionSide

T0 = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)
D = Decimal
_counter = iter(range(1_000_000))


def fill(side: str, qty: str, price: str, symbol: str = "AAPL", execution_id: str = "") -> Fill:
    return Fill(
        execution_id=execution_id or f"x{next(_counter)}",
        order_id="o1",
        client_order_id="c1",
        symbol=symbol,
        side=OrderSide(side),
        qty=D(qty),
        price=D(price),
        timestamp=T0,
    )


# --- Fill ---------------------------------------------------------------------------------


def test_fill_signed_qty_and_notional() -> None:
    buy = fill("buy", "2", "10.5")
    sell = fill("sell", "2", "10.5")
    assert (buy.signed_qty, sell.signed_qty) == (D(2), D(-2))
    assert buy.notional == sell.notional == D(21)


@pytest.mark.parametrize(("qty", "price"), [("0", "1"), ("-1", "1"), ("1", "0"), ("1", "-1")])
def test_fill_with_non_positive_qty_or_price_is_refused(qty: str, price: str) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        fill("buy", qty, price)


def test_fill_without_execution_id_is_refused() -> None:
    with pytest.raises(ValueError, match="execution_id"):
        Fill("", "o1", "c1", "AAPL", OrderSide.BUY, D(1), D(1), T0)


def test_fill_with_naive_timestamp_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        Fill("x", "o1", "c1", "AAPL", OrderSide.BUY, D(1), D(1), datetime(2024, 1, 1))


def test_fill_is_immutable_and_serialisable() -> None:
    f = Fill("x", "o1", "c1", "btcusd", "sell", "0.5", "60000", T0, "sma")  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.qty = D(1)  # type: ignore[misc]
    assert f.to_dict() == {
        "execution_id": "x",
        "order_id": "o1",
        "client_order_id": "c1",
        "symbol": "BTC/USD",
        "side": "sell",
        "qty": "0.5",
        "price": "60000",
        "timestamp": "2024-03-01T14:30:00Z",
        "strategy": "sma",
    }


# --- Position -----------------------------------------------------------------------------


def test_new_position_is_flat() -> None:
    p = Position("AAPL")
    assert p.is_flat
    assert p.side is None
    assert p.avg_entry_price is None
    assert p.cost_basis == 0
    assert p.unrealized_pl(D(100)) == 0
    assert p.market_value(D(100)) == 0


def test_adding_to_a_long_reaverages_and_realizes_nothing() -> None:
    p = Position("AAPL")
    assert p.apply(fill("buy", "10", "100")) == 0
    assert p.apply(fill("buy", "30", "104")) == 0
    assert p.qty == D(40)
    assert p.avg_entry_price == D(103)
    assert p.side is PositionSide.LONG
    assert p.cost_basis == D(4120)
    assert p.realized_pl == 0


def test_reducing_a_long_realizes_against_average_and_keeps_it() -> None:
    p = Position("AAPL")
    p.apply(fill("buy", "10", "100"))
    p.apply(fill("buy", "10", "110"))
    assert p.apply(fill("sell", "5", "120")) == D(75)
    assert p.qty == D(15)
    assert p.avg_entry_price == D(105)
    assert p.realized_pl == D(75)


def test_reducing_a_short_realizes_avg_minus_exit() -> None:
    p = Position("AAPL")
    p.apply(fill("sell", "10", "50"))
    assert p.side is PositionSide.SHORT
    assert p.qty == D(-10)
    assert p.apply(fill("buy", "4", "45")) == D(20)
    assert p.apply(fill("buy", "6", "55")) == D(-30)
    assert p.is_flat
    assert p.avg_entry_price is None
    assert p.realized_pl == D(-10)


def test_fill_crossing_zero_closes_and_opens_the_rest_at_fill_price() -> None:
    p = Position("AAPL")
    p.apply(fill("buy", "10", "100"))
    assert p.apply(fill("sell", "15", "90")) == D(-100)
    assert p.qty == D(-5)
    assert p.side is PositionSide.SHORT
    assert p.avg_entry_price == D(90)
    assert p.apply(fill("buy", "8", "80")) == D(50)
    assert p.qty == D(3)
    assert p.avg_entry_price == D(80)
    assert p.realized_pl == D(-50)


def test_closing_exactly_goes_flat_without_entry_price() -> None:
    p = Position("AAPL")
    p.apply(fill("buy", "0.5", "100"))
    assert p.apply(fill("sell", "0.5", "101.5")) == D("0.75")
    assert p.is_flat
    assert p.avg_entry_price is None
    assert p.cost_basis == 0


def test_fill_seen_twice_counts_once() -> None:
    p = Position("AAPL")
    first = fill("buy", "10", "100", execution_id="dup")
    p.apply(first)
    close = fill("sell", "10", "110", execution_id="close")
    assert p.apply(close) == D(100)
    assert p.apply(close) == 0
    assert p.apply(first) == 0
    assert p.qty == 0
    assert p.realized_pl == D(100)
    assert p.applied_execution_ids == frozenset({"dup", "close"})


def test_both_crypto_spellings_land_in_one_position() -> None:
    p = Position("BTCUSD")
    assert p.symbol == "BTC/USD"
    p.apply(fill("buy", "1", "60000", symbol="BTC/USD"))
    p.apply(fill("buy", "1", "62000", symbol="BTCUSD"))
    assert p.qty == D(2)
    assert p.avg_entry_price == D(61000)


def test_fill_for_another_symbol_is_refused() -> None:
    with pytest.raises(DomainError, match="MSFT"):
        Position("AAPL").apply(fill("buy", "1", "1", symbol="MSFT"))


def test_market_value_and_unrealized_pl_are_signed() -> None:
    long = Position("AAPL")
    long.apply(fill("buy", "10", "100"))
    assert long.market_value(D(110)) == D(1100)
    assert long.unrealized_pl(D(110)) == D(100)
    short = Position("AAPL")
    short.apply(fill("sell", "10", "100"))
    assert short.market_value(D(110)) == D(-1100)
    assert short.unrealized_pl(D(110)) == D(-100)


def test_position_can_start_from_a_broker_snapshot() -> None:
    p = Position("AAPL", qty=D(-3), avg_entry_price=D(50))
    assert p.side is PositionSide.SHORT
    assert p.apply(fill("buy", "3", "40")) == D(30)


def test_open_snapshot_without_entry_price_is_refused() -> None:
    with pytest.raises(ValueError, match="avg_entry_price"):
        Position("AAPL", qty=D(1))


def test_flat_snapshot_drops_a_stale_entry_price() -> None:
    assert Position("AAPL", qty=D(0), avg_entry_price=D(5)).avg_entry_price is None


def test_position_to_dict_is_json_friendly() -> None:
    p = Position("AAPL")
    p.apply(fill("buy", "2", "10.50"))
    assert p.to_dict() == {
        "symbol": "AAPL",
        "qty": "2",
        "side": "long",
        "avg_entry_price": "10.5",
        "cost_basis": "21",
        "realized_pl": "0",
    }
