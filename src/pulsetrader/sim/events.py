"""What the exchange reports: trade updates (for the trade_updates stream) and fill activities."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from pulsetrader.domain.money import decimal_str, ensure_utc, isoformat_z
from pulsetrader.sim.orders import SimOrder

FILL_EVENTS = frozenset({"fill", "partial_fill"})


@dataclass(frozen=True, slots=True)
class TradeUpdate:
    """One trade_updates event. ``order`` is a snapshot taken when the event happened, so later
    changes to the order do not rewrite history."""

    event: str
    order: dict[str, Any] = field(hash=False)
    timestamp: datetime
    execution_id: str | None = None
    price: Decimal | None = None
    qty: Decimal | None = None
    position_qty: Decimal | None = None

    @property
    def is_fill(self) -> bool:
        return self.event in FILL_EVENTS

    def to_alpaca(self) -> dict[str, Any]:
        """The ``data`` object of a ``trade_updates`` message, numbers as strings.

        Fill events carry ``execution_id``, ``price``, ``qty`` and ``position_qty`` (the signed
        position after the fill); other events leave them out, as Alpaca does.
        """
        data: dict[str, Any] = {
            "event": self.event,
            "order": self.order,
            "timestamp": isoformat_z(self.timestamp),
        }
        if self.is_fill:
            data["execution_id"] = self.execution_id
            data["price"] = decimal_str(self.price) if self.price is not None else None
            data["qty"] = decimal_str(self.qty) if self.qty is not None else None
            data["position_qty"] = (
                decimal_str(self.position_qty) if self.position_qty is not None else None
            )
        return data


def fill_activity(
    order: SimOrder,
    execution_id: str,
    price: Decimal,
    qty: Decimal,
    at: datetime,
    symbol: str,
) -> dict[str, Any]:
    """An ``activity_type: FILL`` row as ``GET /v2/account/activities`` returns it.

    Alpaca's activity ids are ``<YYYYMMDDhhmmssmmm>::<uuid>``, which also sort by time.
    """
    utc = ensure_utc(at)
    stamp = utc.strftime("%Y%m%d%H%M%S") + f"{utc.microsecond // 1000:03d}"
    remaining = order.remaining_qty
    return {
        "id": f"{stamp}::{execution_id}",
        "activity_type": "FILL",
        "transaction_time": isoformat_z(at),
        "type": "fill" if order.status.value == "filled" else "partial_fill",
        "price": decimal_str(price),
        "qty": decimal_str(qty),
        "side": order.side.value,
        "symbol": symbol,
        "leaves_qty": decimal_str(remaining) if remaining is not None else "0",
        "order_id": order.id,
        "cum_qty": decimal_str(order.filled_qty),
        "order_status": order.status.value,
    }
