"""The execution book: every execution counted exactly once, into positions and realized P/L.

Executions arrive from three places: the ``trade_updates`` stream (with Alpaca's execution id),
the account's ``FILL`` activities during reconciliation (the same executions, with the same id
after ``::`` in the activity id), and snapshots of orders polled while the stream is down
(which only say how much has filled so far). :class:`ExecutionBook` counts each once:

* by execution id, across restarts (the ids already journaled are loaded at start);
* and by each order's cumulative filled quantity: an execution from the activities that would
  take an order past the quantity the book already holds for it is new, one within it is not.
  That second rule keeps the book right even if a venue's activity ids did not match its stream
  ids, at the cost of trusting ``cum_qty``, which Alpaca sends with every activity.

Positions use :class:`~pulsetrader.domain.position.Position` (weighted-average cost, as Alpaca
reports ``avg_entry_price``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from pulsetrader.domain.fills import Fill
from pulsetrader.domain.money import ZERO
from pulsetrader.domain.position import Position
from pulsetrader.domain.snapshots import PositionSnapshot


@dataclass(frozen=True, slots=True)
class BookedFill:
    """An execution the book counted, with the P/L it realized."""

    fill: Fill
    realized_pl: Decimal
    position_qty: Decimal


@dataclass(frozen=True, slots=True)
class Adoption:
    """A position the book took over from the broker's view during reconciliation."""

    symbol: str
    old_qty: Decimal
    new_qty: Decimal


class ExecutionBook:
    """Positions from fills, each execution once. Pure: no I/O."""

    def __init__(
        self,
        positions: Mapping[str, Position] | None = None,
        executions: Iterable[Fill] = (),
    ) -> None:
        self.positions: dict[str, Position] = dict(positions or {})
        self.execution_ids: set[str] = set()
        self.order_qty: defaultdict[str, Decimal] = defaultdict(lambda: ZERO)
        for fill in executions:
            self.execution_ids.add(fill.execution_id)
            self.order_qty[fill.order_id] += fill.qty

    def knows(self, execution_id: str) -> bool:
        return execution_id in self.execution_ids

    def covered(self, order_id: str, cum_qty: Decimal) -> bool:
        """Whether the book already holds ``cum_qty`` (or more) of order ``order_id``."""
        return self.order_qty[order_id] >= cum_qty

    def apply(self, fill: Fill) -> BookedFill | None:
        """Count ``fill``; None when its execution id was counted before."""
        if fill.execution_id in self.execution_ids:
            return None
        position = self.positions.get(fill.symbol)
        if position is None:
            position = self.positions[fill.symbol] = Position(fill.symbol)
        realized = position.apply(fill)
        self.execution_ids.add(fill.execution_id)
        if fill.order_id:
            self.order_qty[fill.order_id] += fill.qty
        return BookedFill(fill, realized, position.qty)

    def position_qty(self, symbol: str) -> Decimal:
        position = self.positions.get(symbol)
        return position.qty if position is not None else ZERO

    def adopt(self, broker: Iterable[PositionSnapshot]) -> list[Adoption]:
        """Make every position match the broker's quantity and entry (the broker is the truth).

        Positions the broker has and the book lacks are taken over, positions the book holds
        that the broker does not are flattened; realized P/L is kept. Returns what changed.
        """
        seen: set[str] = set()
        changes: list[Adoption] = []
        for snap in broker:
            seen.add(snap.symbol)
            mine = self.positions.get(snap.symbol)
            if mine is not None and mine.qty == snap.qty:
                continue
            old = mine.qty if mine is not None else ZERO
            realized = mine.realized_pl if mine is not None else ZERO
            self.positions[snap.symbol] = Position(
                snap.symbol, snap.qty, snap.avg_entry_price, realized
            )
            changes.append(Adoption(snap.symbol, old, snap.qty))
        for symbol, mine in self.positions.items():
            if symbol not in seen and mine.qty != 0:
                changes.append(Adoption(symbol, mine.qty, ZERO))
                self.positions[symbol] = Position(symbol, ZERO, None, mine.realized_pl)
        return changes

    def open_positions(self) -> list[Position]:
        return [p for p in self.positions.values() if p.qty != 0]
