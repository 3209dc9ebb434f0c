"""A position in one symbol, built from fills, with realized P/L by weighted-average cost.

Cost convention (the one Alpaca reports as ``avg_entry_price``, so our figures reconcile with the
broker's without a translation step):

* A fill on the side of the position (or opening a flat one) re-averages the entry price:
  ``avg = (|qty| * avg + fill_qty * fill_price) / |qty + signed_fill_qty|``. Nothing is realized.
* A fill against the position realizes ``(exit - avg) * closed_qty`` for a long and
  ``(avg - exit) * closed_qty`` for a short, and leaves ``avg`` unchanged.
* A fill that crosses zero closes the whole position (realizing as above) and opens the remainder
  on the other side at the fill price.
* No fees or commissions (Alpaca charges none on the products we trade).

Averaging divides, so ``avg_entry_price`` is exact only to the Decimal context's 28 significant
digits; every other figure is exact arithmetic on it. Amounts are not rounded to cents: rounding
is a presentation concern and would make realized P/L drift from the fills.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pulsetrader.domain.enums import PositionSide
from pulsetrader.domain.errors import DomainError
from pulsetrader.domain.fills import Fill
from pulsetrader.domain.money import ZERO, Number, decimal_str, optional_decimal, to_decimal
from pulsetrader.domain.symbols import order_symbol


@dataclass(slots=True)
class Position:
    """Signed quantity (positive long, negative short), average entry and realized P/L.

    Keyed by the order spelling of the symbol (``BTC/USD``), so fills reported as ``BTCUSD`` and
    ``BTC/USD`` accumulate in one position. Fills are counted once per ``execution_id``.
    A position may start from a broker snapshot by passing ``qty`` and ``avg_entry_price``.
    """

    symbol: str
    qty: Decimal = ZERO
    avg_entry_price: Decimal | None = None
    realized_pl: Decimal = ZERO
    _executions: set[str] = field(default_factory=set, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.symbol = order_symbol(self.symbol)
        self.qty = to_decimal(self.qty)
        self.avg_entry_price = optional_decimal(self.avg_entry_price)
        self.realized_pl = to_decimal(self.realized_pl)
        if self.qty == 0:
            # A flat position has no entry price; a stale one would leak into the next entry.
            self.avg_entry_price = None
        elif self.avg_entry_price is None or self.avg_entry_price <= 0:
            raise ValueError(f"an open position needs a positive avg_entry_price ({self.symbol})")

    @property
    def is_flat(self) -> bool:
        """True when no quantity is held either way."""
        return self.qty == 0

    @property
    def side(self) -> PositionSide | None:
        """LONG, SHORT, or None when flat."""
        if self.qty > 0:
            return PositionSide.LONG
        if self.qty < 0:
            return PositionSide.SHORT
        return None

    @property
    def cost_basis(self) -> Decimal:
        """``|qty| * avg_entry_price``: what the open quantity cost (or raised, for a short)."""
        if self.avg_entry_price is None:
            return ZERO
        return abs(self.qty) * self.avg_entry_price

    @property
    def applied_execution_ids(self) -> frozenset[str]:
        """Execution ids already counted by :meth:`apply`."""
        return frozenset(self._executions)

    def market_value(self, price: Number) -> Decimal:
        """``qty * price``; negative for a short, as Alpaca reports it."""
        return self.qty * to_decimal(price)

    def unrealized_pl(self, price: Number) -> Decimal:
        """Profit or loss of the open quantity if closed at ``price``; zero when flat."""
        if self.avg_entry_price is None:
            return ZERO
        return self.qty * (to_decimal(price) - self.avg_entry_price)

    def apply(self, fill: Fill) -> Decimal:
        """Add ``fill`` to the position and return the P/L it realized (zero when it only adds).

        A fill whose ``execution_id`` was applied before changes nothing and returns zero.
        Raises DomainError for a fill in another symbol.
        """
        if fill.symbol != self.symbol:
            raise DomainError(f"fill for {fill.symbol} applied to the {self.symbol} position")
        if fill.execution_id in self._executions:
            return ZERO
        self._executions.add(fill.execution_id)
        delta = fill.signed_qty
        price = fill.price
        avg = self.avg_entry_price
        if avg is None or (self.qty > 0) == (delta > 0):
            # Opening or adding: re-average over the combined quantity.
            new_qty = self.qty + delta
            held_cost = abs(self.qty) * avg if avg is not None else ZERO
            self.avg_entry_price = (held_cost + abs(delta) * price) / abs(new_qty)
            self.qty = new_qty
            return ZERO
        # Reducing, closing or crossing: realize on the part that offsets the position.
        closed = min(abs(delta), abs(self.qty))
        per_unit = price - avg if self.qty > 0 else avg - price
        realized = per_unit * closed
        self.realized_pl += realized
        new_qty = self.qty + delta
        if new_qty == 0:
            self.avg_entry_price = None
        elif (new_qty > 0) != (self.qty > 0):
            # Crossed zero: the remainder is a fresh position opened at this fill's price.
            self.avg_entry_price = price
        self.qty = new_qty
        return realized

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form: Decimals as text, the side as its value (None when flat)."""
        side = self.side
        return {
            "symbol": self.symbol,
            "qty": decimal_str(self.qty),
            "side": None if side is None else side.value,
            "avg_entry_price": (
                None if self.avg_entry_price is None else decimal_str(self.avg_entry_price)
            ),
            "cost_basis": decimal_str(self.cost_basis),
            "realized_pl": decimal_str(self.realized_pl),
        }
