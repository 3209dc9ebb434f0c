"""Executions: the facts that move orders and positions.

A :class:`Fill` is one execution reported by the broker. Its ``execution_id`` is unique, which is
what lets :class:`~pulsetrader.domain.orders.Order` and
:class:`~pulsetrader.domain.position.Position` ignore the duplicates that reconnecting streams and
REST back-fills inevitably deliver.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from pulsetrader.domain.enums import OrderSide
from pulsetrader.domain.money import decimal_str, ensure_utc, isoformat_z, to_decimal
from pulsetrader.domain.symbols import order_symbol


@dataclass(frozen=True, slots=True)
class Fill:
    """``qty`` units of ``symbol`` bought or sold at ``price`` by one execution of an order.

    ``order_id`` is the broker's order id and ``client_order_id`` ours. The symbol is kept in the
    order spelling (``BTC/USD``) so fills reported as ``BTCUSD`` land in the same position.
    """

    execution_id: str
    order_id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    qty: Decimal
    price: Decimal
    timestamp: datetime
    strategy: str | None = None

    def __post_init__(self) -> None:
        # Frozen dataclass: normalising fields in place needs object.__setattr__.
        object.__setattr__(self, "symbol", order_symbol(self.symbol))
        object.__setattr__(self, "side", OrderSide(self.side))
        object.__setattr__(self, "qty", to_decimal(self.qty))
        object.__setattr__(self, "price", to_decimal(self.price))
        object.__setattr__(self, "timestamp", ensure_utc(self.timestamp))
        if not self.execution_id:
            raise ValueError("a fill needs an execution_id: duplicates are detected by it")
        if self.qty <= 0:
            raise ValueError(f"fill qty must be positive, got {self.qty}")
        if self.price <= 0:
            raise ValueError(f"fill price must be positive, got {self.price}")

    @property
    def signed_qty(self) -> Decimal:
        """``qty`` for buys and ``-qty`` for sells: the change this fill makes to a position."""
        return self.qty * self.side.sign

    @property
    def notional(self) -> Decimal:
        """``qty * price``, the cash value of the execution (always positive)."""
        return self.qty * self.price

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form: Decimals as text, the timestamp as RFC 3339 with ``Z``."""
        return {
            "execution_id": self.execution_id,
            "order_id": self.order_id,
            "client_order_id": self.client_order_id,
            "symbol": self.symbol,
            "side": self.side.value,
            "qty": decimal_str(self.qty),
            "price": decimal_str(self.price),
            "timestamp": isoformat_z(self.timestamp),
            "strategy": self.strategy,
        }
