"""Building alpaca-py order requests from :class:`~pulsetrader.domain.intents.OrderIntent`."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from alpaca.trading.enums import OrderClass as SdkOrderClass
from alpaca.trading.enums import OrderSide as SdkOrderSide
from alpaca.trading.enums import TimeInForce as SdkTimeInForce
from alpaca.trading.requests import (
    LimitOrderRequest,
    MarketOrderRequest,
    OrderRequest,
    StopLimitOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
    TrailingStopOrderRequest,
)

from pulsetrader.domain.enums import OrderClass, OrderType
from pulsetrader.domain.intents import MAX_CLIENT_ORDER_ID, OrderIntent

_REQUEST_CLASSES: dict[OrderType, type[OrderRequest]] = {
    OrderType.MARKET: MarketOrderRequest,
    OrderType.LIMIT: LimitOrderRequest,
    OrderType.STOP: StopOrderRequest,
    OrderType.STOP_LIMIT: StopLimitOrderRequest,
    OrderType.TRAILING_STOP: TrailingStopOrderRequest,
}


def new_client_order_id(prefix: str = "pt") -> str:
    """A fresh, unique client order id: ``pt-`` and 32 hex digits (Alpaca allows 48 chars)."""
    coid = f"{prefix}-{uuid.uuid4().hex}"
    return coid[:MAX_CLIENT_ORDER_ID]


def _f(value: Decimal | None) -> float | None:
    # alpaca-py's request models are float-typed; str() first keeps the shortest repr exact.
    return None if value is None else float(str(value))


def build_order_request(intent: OrderIntent, client_order_id: str) -> OrderRequest:
    """The SDK request for ``intent``. Every field Alpaca needs is set explicitly."""
    fields: dict[str, Any] = {
        "symbol": intent.symbol,
        "side": SdkOrderSide(intent.side.value),
        "time_in_force": SdkTimeInForce(intent.time_in_force.value),
        "client_order_id": client_order_id,
    }
    if intent.qty is not None:
        fields["qty"] = _f(intent.qty)
    else:
        fields["notional"] = _f(intent.notional)
    if intent.extended_hours:
        fields["extended_hours"] = True
    if intent.type.needs_limit_price:
        fields["limit_price"] = _f(intent.limit_price)
    if intent.type.needs_stop_price:
        fields["stop_price"] = _f(intent.stop_price)
    if intent.type is OrderType.TRAILING_STOP:
        if intent.trail_price is not None:
            fields["trail_price"] = _f(intent.trail_price)
        else:
            fields["trail_percent"] = _f(intent.trail_percent)
    if intent.order_class is not OrderClass.SIMPLE:
        fields["order_class"] = SdkOrderClass(intent.order_class.value)
        if intent.take_profit_limit_price is not None:
            fields["take_profit"] = TakeProfitRequest(
                limit_price=float(str(intent.take_profit_limit_price))
            )
        if intent.stop_loss_stop_price is not None:
            fields["stop_loss"] = StopLossRequest(
                stop_price=float(str(intent.stop_loss_stop_price)),
                limit_price=_f(intent.stop_loss_limit_price),
            )
    return _REQUEST_CLASSES[intent.type](**fields)


def is_duplicate_client_order_id(message: str) -> bool:
    """Alpaca's 422 for a reused client_order_id ("client_order_id must be unique")."""
    text = message.lower()
    return "client_order_id" in text and ("unique" in text or "duplicate" in text)
