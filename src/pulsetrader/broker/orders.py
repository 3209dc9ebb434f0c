"""The JSON body of ``POST /v2/orders`` for an :class:`~pulsetrader.domain.intents.OrderIntent`.

Amounts go as decimal strings, the form Alpaca's documentation gives them in: exact, where a float
(what alpaca-py's float-typed request models send) would round a Decimal with more than about 15
significant digits.
"""

from __future__ import annotations

import uuid
from typing import Any

from pulsetrader.domain.enums import OrderClass, OrderType
from pulsetrader.domain.intents import MAX_CLIENT_ORDER_ID, OrderIntent
from pulsetrader.domain.money import decimal_str


def new_client_order_id(prefix: str = "pt") -> str:
    """A fresh, unique client order id: ``pt-`` and 32 hex digits (Alpaca allows 48 chars)."""
    coid = f"{prefix}-{uuid.uuid4().hex}"
    return coid[:MAX_CLIENT_ORDER_ID]


def order_payload(intent: OrderIntent, client_order_id: str) -> dict[str, Any]:
    """The request body for ``intent``. Every field Alpaca needs is set explicitly, nothing else.

    Raises ValueError when the intent lacks a price its type needs (the intent's own checks
    normally make that impossible).
    """
    body: dict[str, Any] = {
        "symbol": intent.symbol,
        "side": intent.side.value,
        "type": intent.type.value,
        "time_in_force": intent.time_in_force.value,
        "client_order_id": client_order_id,
    }
    if intent.qty is not None:
        body["qty"] = decimal_str(intent.qty)
    elif intent.notional is not None:
        body["notional"] = decimal_str(intent.notional)
    else:
        raise ValueError("an order needs qty or notional")
    if intent.extended_hours:
        body["extended_hours"] = True
    for name, needed in (
        ("limit_price", intent.type.needs_limit_price),
        ("stop_price", intent.type.needs_stop_price),
    ):
        value = getattr(intent, name)
        if needed and value is None:
            raise ValueError(f"a {intent.type.value} order needs {name}")
        if needed:
            body[name] = decimal_str(value)
    if intent.type is OrderType.TRAILING_STOP:
        if intent.trail_price is not None:
            body["trail_price"] = decimal_str(intent.trail_price)
        elif intent.trail_percent is not None:
            body["trail_percent"] = decimal_str(intent.trail_percent)
        else:
            raise ValueError("a trailing_stop order needs trail_price or trail_percent")
    if intent.order_class is not OrderClass.SIMPLE:
        body["order_class"] = intent.order_class.value
        if intent.take_profit_limit_price is not None:
            body["take_profit"] = {"limit_price": decimal_str(intent.take_profit_limit_price)}
        if intent.stop_loss_stop_price is not None:
            stop_loss = {"stop_price": decimal_str(intent.stop_loss_stop_price)}
            if intent.stop_loss_limit_price is not None:
                stop_loss["limit_price"] = decimal_str(intent.stop_loss_limit_price)
            body["stop_loss"] = stop_loss
    return body


def is_duplicate_client_order_id(message: str) -> bool:
    """Alpaca's 422 for a reused client_order_id ("client_order_id must be unique")."""
    text = message.lower()
    return "client_order_id" in text and ("unique" in text or "duplicate" in text)
