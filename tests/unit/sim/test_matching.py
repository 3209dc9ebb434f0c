"""The pure matching rules: marketability, fill prices, triggers, trailing stops, partial sizes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pulsetrader.domain.enums import (
    AssetClass,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from pulsetrader.sim import matching
from pulsetrader.sim.assets import make_asset
from pulsetrader.sim.orders import SimOrder
from tests.unit.sim.simkit import IN_SESSION, quote

AAPL = make_asset("AAPL")
BTC = make_asset("BTC/USD")


def sim_order(
    side: str = "buy",
    kind: str = "market",
    limit: str | None = None,
    stop: str | None = None,
    **extra: object,
) -> SimOrder:
    fields: dict[str, object] = {
        "id": "00000000-0000-4000-8000-000000000001",
        "client_order_id": "c1",
        "created_at": IN_SESSION,
        "updated_at": IN_SESSION,
        "submitted_at": IN_SESSION,
        "asset_id": AAPL.id,
        "symbol": "AAPL",
        "asset_class": AssetClass.US_EQUITY,
        "side": OrderSide(side),
        "type": OrderType(kind),
        "time_in_force": TimeInForce.DAY,
        "status": OrderStatus.NEW,
        "qty": Decimal(10),
        "limit_price": Decimal(limit) if limit else None,
        "stop_price": Decimal(stop) if stop else None,
    }
    fields.update(extra)
    return SimOrder(**fields)  # type: ignore[arg-type]


def test_market_buy_fills_at_ask_and_sell_at_bid() -> None:
    q = quote("AAPL", "99.98", "100.02")
    assert matching.fill_price(sim_order("buy"), q) == Decimal("100.02")
    assert matching.fill_price(sim_order("sell"), q) == Decimal("99.98")


def test_market_order_cannot_fill_against_an_empty_side() -> None:
    q = quote("AAPL", "0", "100.02")
    assert matching.fill_price(sim_order("sell"), q) is None
    assert matching.quote_price(OrderSide.BUY, q) == Decimal("100.02")


@pytest.mark.parametrize(
    ("side", "limit", "bid", "ask", "expected"),
    [
        ("buy", "100.00", "99.98", "100.02", None),  # ask above the limit: rests
        ("buy", "100.05", "99.98", "100.02", "100.02"),  # fills at the ask, not the limit
        ("buy", "100.02", "99.98", "100.02", "100.02"),  # ask equal to the limit
        ("sell", "100.00", "99.98", "100.02", None),  # bid below the limit: rests
        ("sell", "99.90", "99.98", "100.02", "99.98"),  # fills at the bid, above the limit
    ],
)
def test_limit_orders_fill_only_when_marketable_at_the_quote(
    side: str, limit: str, bid: str, ask: str, expected: str | None
) -> None:
    price = matching.fill_price(sim_order(side, "limit", limit=limit), quote("AAPL", bid, ask))
    assert price == (Decimal(expected) if expected else None)
    assert matching.is_marketable(
        sim_order(side, "limit", limit=limit), quote("AAPL", bid, ask)
    ) == (expected is not None)


def test_untriggered_stop_never_fills() -> None:
    stop = sim_order("sell", "stop", stop="95")
    assert matching.fill_price(stop, quote("AAPL", "99", "99.1")) is None
    assert not matching.check_trigger(stop, quote("AAPL", "95.01", "95.1"))


def test_sell_stop_triggers_when_bid_reaches_stop_then_fills_at_bid() -> None:
    stop = sim_order("sell", "stop", stop="95")
    q = quote("AAPL", "95.00", "95.10")
    assert matching.check_trigger(stop, q)
    stop.triggered = True
    assert matching.fill_price(stop, q) == Decimal("95.00")


def test_buy_stop_triggers_on_the_ask() -> None:
    stop = sim_order("buy", "stop", stop="105")
    assert not matching.check_trigger(stop, quote("AAPL", "104.98", "104.99"))
    assert matching.check_trigger(stop, quote("AAPL", "104.99", "105.00"))


def test_triggered_stop_limit_behaves_as_a_limit() -> None:
    stop_limit = sim_order("sell", "stop_limit", limit="94.50", stop="95")
    stop_limit.triggered = True
    assert matching.fill_price(stop_limit, quote("AAPL", "94.40", "94.60")) is None
    assert matching.fill_price(stop_limit, quote("AAPL", "94.80", "94.90")) == Decimal("94.80")


def test_sell_trailing_percent_follows_the_highest_bid_and_never_moves_down() -> None:
    trail = sim_order("sell", "trailing_stop", trail_percent=Decimal(2))
    assert matching.update_trailing(trail, quote("AAPL", "100", "100.1"), AAPL)
    assert (trail.hwm, trail.stop_price) == (Decimal(100), Decimal("98.00"))
    assert matching.update_trailing(trail, quote("AAPL", "110", "110.1"), AAPL)
    assert (trail.hwm, trail.stop_price) == (Decimal(110), Decimal("107.80"))
    assert not matching.update_trailing(trail, quote("AAPL", "108", "108.1"), AAPL)
    assert trail.stop_price == Decimal("107.80")
    assert matching.check_trigger(trail, quote("AAPL", "107.80", "107.9"))


def test_buy_trailing_price_follows_the_lowest_ask() -> None:
    trail = sim_order("buy", "trailing_stop", trail_price=Decimal("1.5"))
    matching.update_trailing(trail, quote("AAPL", "99.9", "100"), AAPL)
    matching.update_trailing(trail, quote("AAPL", "94.9", "95"), AAPL)
    matching.update_trailing(trail, quote("AAPL", "95.9", "96"), AAPL)
    assert (trail.hwm, trail.stop_price) == (Decimal(95), Decimal("96.5"))
    assert not matching.check_trigger(trail, quote("AAPL", "96.3", "96.4"))
    assert matching.check_trigger(trail, quote("AAPL", "96.5", "96.6"))


def test_trailing_stop_is_rounded_to_the_tick() -> None:
    trail = sim_order("sell", "trailing_stop", trail_percent=Decimal("3.3"))
    matching.update_trailing(trail, quote("AAPL", "123.45", "123.5"), AAPL)
    assert trail.stop_price == Decimal("119.38")  # 119.37615 to the cent


@pytest.mark.parametrize(
    ("remaining", "fraction", "whole", "expected"),
    [
        ("10", "0.37", True, "3"),
        ("10", "0.05", True, "10"),  # rounds to nothing: fill it all
        ("1", "0.5", True, "1"),  # one share cannot be split
        ("0.5", "0.333", False, "0.1665"),
        ("2", "0.999999", False, "1.999998"),
    ],
)
def test_partial_qty_respects_increments_and_never_fills_nothing(
    remaining: str, fraction: str, whole: bool, expected: str
) -> None:
    qty = matching.partial_qty(Decimal(remaining), Decimal(fraction), whole, Decimal("0.000000001"))
    assert qty == Decimal(expected)
    assert 0 < qty <= Decimal(remaining)


def test_notional_qty_rounds_down_to_the_increment() -> None:
    assert matching.notional_qty(Decimal(100), Decimal(3), Decimal("0.000000001")) == Decimal(
        "33.333333333"
    )


def test_tick_sizes() -> None:
    assert matching.tick_size(AAPL, Decimal("12.5")) == Decimal("0.01")
    assert matching.tick_size(AAPL, Decimal("0.5")) == Decimal("0.0001")
    assert matching.tick_size(BTC, Decimal(40000)) == Decimal("0.000000001")
