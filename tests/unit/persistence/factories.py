"""Builders for the persistence tests' orders, intents and fills."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pulsetrader.domain import Fill, Order, OrderIntent, OrderSide

T0 = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)
D = Decimal


def make_intent(coid: str | None = "c1", **overrides: Any) -> OrderIntent:
    fields: dict[str, Any] = {
        "symbol": "AAPL",
        "side": OrderSide.BUY,
        "qty": D("10"),
        "client_order_id": coid,
        "strategy": "momentum",
    }
    fields.update(overrides)
    return OrderIntent(**fields)


def make_order(coid: str = "c1", at: datetime = T0, **overrides: Any) -> tuple[Order, OrderIntent]:
    intent = make_intent(coid, **overrides)
    return Order.from_intent(intent, now=at), intent


def make_fill(
    execution_id: str,
    qty: str = "1",
    price: str = "100",
    *,
    coid: str = "c1",
    symbol: str = "AAPL",
    side: OrderSide = OrderSide.BUY,
    at: datetime = T0,
    order_id: str = "b1",
) -> Fill:
    return Fill(execution_id, order_id, coid, symbol, side, D(qty), D(price), at)
