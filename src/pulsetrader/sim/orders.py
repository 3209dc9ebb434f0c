"""The simulator's order record and its Alpaca JSON form.

A :class:`SimOrder` is mutable: the exchange updates it in place as it fills, triggers or ends.
Anything that must not change afterwards (a trade update, a REST response) takes a
``to_alpaca()`` snapshot, which is a fresh dict of plain strings.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from pulsetrader.domain.enums import (
    AssetClass,
    OrderClass,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from pulsetrader.domain.money import ZERO, decimal_str, isoformat_z

_PRICE_PLACES = Decimal("0.000000001")
_set = object.__setattr__


def random_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from ``rng``, so a seeded run produces the same ids every time."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def num(value: Decimal | None) -> str | None:
    """Alpaca's numeric text (``"1.5"``), or None."""
    return None if value is None else decimal_str(value)


def avg_text(value: Decimal | None) -> str | None:
    """An average price as text, rounded to 9 places (averages need not terminate)."""
    if value is None:
        return None
    return decimal_str(value.quantize(_PRICE_PLACES, rounding=ROUND_HALF_EVEN))


def ts(value: datetime | None) -> str | None:
    return None if value is None else isoformat_z(value)


@dataclass(slots=True, eq=False)
class SimOrder:
    """One order as the exchange keeps it. Field names follow Alpaca's Order JSON.

    Internal fields (not part of the JSON): ``parent_id`` (the bracket/OTO/OCO parent of a leg),
    ``oco_group`` (legs that cancel each other), ``triggered`` (a stop, stop-limit or trailing
    stop whose stop was touched), ``activate_at`` (not eligible before this time: queued
    after-hours, opg and cls orders), ``seq`` (submission order, for stable sorting) and
    ``filled_value`` (sum of qty * price of the fills, for the average price).

    Identity semantics (``eq=False``): two orders are the same order only if they are the same
    object, and orders hash, so they can live in sets.
    """

    id: str
    client_order_id: str
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime
    asset_id: str
    symbol: str
    asset_class: AssetClass
    side: OrderSide
    type: OrderType
    time_in_force: TimeInForce
    status: OrderStatus
    qty: Decimal | None = None
    notional: Decimal | None = None
    filled_qty: Decimal = ZERO
    filled_avg_price: Decimal | None = None
    order_class: OrderClass = OrderClass.SIMPLE
    position_intent: str | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_percent: Decimal | None = None
    trail_price: Decimal | None = None
    hwm: Decimal | None = None
    extended_hours: bool = False
    filled_at: datetime | None = None
    expired_at: datetime | None = None
    expires_at: datetime | None = None
    canceled_at: datetime | None = None
    failed_at: datetime | None = None
    replaced_at: datetime | None = None
    replaced_by: str | None = None
    replaces: str | None = None
    legs: list[SimOrder] = field(default_factory=list)
    # Internal state, not sent on the wire.
    parent_id: str | None = None
    oco_group: str | None = None
    triggered: bool = False
    activate_at: datetime | None = None
    seq: int = 0
    filled_value: Decimal = ZERO
    # The wire form minus the legs, built by the first to_alpaca() and dropped by any assignment
    # (see __setattr__): an open order is listed over and over while it does not change.
    _wire: dict[str, Any] | None = field(default=None, init=False, repr=False)

    def __setattr__(self, name: str, value: Any) -> None:
        _set(self, name, value)
        if name != "_wire":
            _set(self, "_wire", None)

    @property
    def is_open(self) -> bool:
        """True while the order may still fill or be cancelled (``held`` legs included)."""
        return self.status.is_open

    @property
    def is_leg(self) -> bool:
        return self.parent_id is not None

    @property
    def remaining_qty(self) -> Decimal | None:
        """Unfilled quantity; None for a notional order (its quantity is set by the fill price)."""
        if self.qty is None:
            return None
        return self.qty - self.filled_qty

    @property
    def has_stop(self) -> bool:
        """True for the types that wait for a trigger before they can fill."""
        return self.type in (OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP)

    def record_fill(self, qty: Decimal, price: Decimal, at: datetime) -> None:
        """Add one execution: quantities, average price, status and timestamps."""
        self.filled_qty += qty
        self.filled_value += qty * price
        self.filled_avg_price = self.filled_value / self.filled_qty
        done = self.notional is not None or self.filled_qty >= (self.qty or ZERO)
        self.status = OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED
        if done:
            self.filled_at = at
        self.updated_at = at

    def to_alpaca(self, nested: bool = True) -> dict[str, Any]:
        """The order exactly as Alpaca's REST API and trade_updates stream show it.

        Numbers are strings, times RFC 3339 with ``Z``. ``legs`` is null unless ``nested`` and
        the order has legs, in which case it holds the legs' own (non-nested) dicts.
        """
        wire = self._wire
        if wire is None:
            wire = self._wire = self._wire_form()
        fresh = dict(wire)  # the values are immutable, so a shallow copy is a full snapshot
        if nested and self.legs:
            fresh["legs"] = [leg.to_alpaca(nested=False) for leg in self.legs]
        return fresh

    def _wire_form(self) -> dict[str, Any]:
        """Every field of :meth:`to_alpaca`, with ``legs`` null (legs change on their own)."""
        return {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "created_at": isoformat_z(self.created_at),
            "updated_at": isoformat_z(self.updated_at),
            "submitted_at": isoformat_z(self.submitted_at),
            "filled_at": ts(self.filled_at),
            "expired_at": ts(self.expired_at),
            "expires_at": ts(self.expires_at),
            "canceled_at": ts(self.canceled_at),
            "failed_at": ts(self.failed_at),
            "replaced_at": ts(self.replaced_at),
            "replaced_by": self.replaced_by,
            "replaces": self.replaces,
            "asset_id": self.asset_id,
            "symbol": self.symbol,
            "asset_class": self.asset_class.value,
            "notional": num(self.notional),
            "qty": num(self.qty),
            "filled_qty": decimal_str(self.filled_qty),
            "filled_avg_price": avg_text(self.filled_avg_price),
            "order_class": self.order_class.value,
            "order_type": self.type.value,
            "type": self.type.value,
            "side": self.side.value,
            "position_intent": self.position_intent,
            "time_in_force": self.time_in_force.value,
            "limit_price": num(self.limit_price),
            "stop_price": num(self.stop_price),
            "status": self.status.value,
            "extended_hours": bool(self.extended_hours),
            "legs": None,
            "trail_percent": num(self.trail_percent),
            "trail_price": num(self.trail_price),
            "hwm": num(self.hwm),
            "subtag": None,
            "source": None,
        }
