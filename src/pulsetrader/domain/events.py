"""Order updates: what the broker's ``trade_updates`` stream says happened to an order.

An :class:`OrderUpdate` carries Alpaca's event name (``new``, ``fill``, ``partial_fill``,
``canceled``, ``expired``, ``replaced``, ``rejected``, ...), the order as the broker sees it after
the event, and for executions the execution's own price and quantity. The order manager applies
updates to its orders; the stream client only decodes and de-duplicates them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from pulsetrader.domain.fills import Fill
from pulsetrader.domain.money import decimal_str, isoformat_z
from pulsetrader.domain.orders import Order

#: The events that report an execution (and carry ``execution_id``, ``price`` and ``qty``).
FILL_EVENTS = frozenset({"fill", "partial_fill"})


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """One ``trade_updates`` event. ``position_qty`` is the position after a fill (negative for
    shorts), as Alpaca reports it."""

    event: str
    order: Order
    timestamp: datetime
    execution_id: str | None = None
    price: Decimal | None = None
    qty: Decimal | None = None
    position_qty: Decimal | None = None

    @property
    def is_fill(self) -> bool:
        """True for ``fill`` and ``partial_fill``."""
        return self.event in FILL_EVENTS

    @property
    def key(self) -> tuple[str, ...]:
        """What makes this update distinct: its execution for fills, else the order's event and
        time. A re-sent duplicate has the same key."""
        order_id = self.order.broker_order_id or self.order.client_order_id
        if self.execution_id:
            return (order_id, self.event, self.execution_id)
        return (order_id, self.event, isoformat_z(self.timestamp))

    def fill(self) -> Fill | None:
        """The execution as a :class:`Fill`, or None when this update is not one (or lacks the
        execution id, price or quantity a fill needs)."""
        if not self.is_fill or not self.execution_id or not self.qty or not self.price:
            return None
        return Fill(
            execution_id=self.execution_id,
            order_id=self.order.broker_order_id or "",
            client_order_id=self.order.client_order_id,
            symbol=self.order.symbol,
            side=self.order.side,
            qty=self.qty,
            price=self.price,
            timestamp=self.timestamp,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "event": self.event,
            "timestamp": isoformat_z(self.timestamp),
            "execution_id": self.execution_id,
            "price": None if self.price is None else decimal_str(self.price),
            "qty": None if self.qty is None else decimal_str(self.qty),
            "position_qty": None if self.position_qty is None else decimal_str(self.position_qty),
            "order": self.order.to_dict(),
        }
