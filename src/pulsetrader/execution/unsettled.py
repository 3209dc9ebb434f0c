"""What the broker's last account snapshot cannot show yet: the engine's own changes since.

The risk check judges an order on the account (buying power, cash) and the positions. Every
accepted order and every fill changes both at the broker, and the account manager reloads them
after each change; but an order arriving before that reload lands used to wait for it: one REST
round trip per order in a burst (about 1 ms against the simulator, 50 ms or more against
Alpaca), and the slowest of the tick-to-order figures.

Instead, the order manager notes each change here with the account manager's change count, and
the risk check takes the newest snapshot as it is, with the changes it may not include applied
on top (:meth:`Unsettled.apply`). Changes made before the snapshot's request was sent are in it
(the broker had them before we learnt of them), so only later ones are applied:

* a fill moves its position (average entry as :class:`~pulsetrader.domain.position.Position`
  computes it) and the cash;
* an accepted order that opens or adds exposure takes its value from the buying power, as
  Alpaca reserves it. A fill changes nothing more there: the order's reservation became the
  position's cost.

The estimate errs on the side of caution. A change the snapshot did include after all (the
broker answered the reload after it had the change but before we heard of it) counts twice,
and buying power that a cancel or a closing sale frees is not given back, until the next
snapshot replaces the estimate, which the change itself scheduled.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Mapping
from decimal import Decimal

from pulsetrader.domain.account import Account
from pulsetrader.domain.enums import PositionSide
from pulsetrader.domain.fills import Fill
from pulsetrader.domain.money import ZERO
from pulsetrader.domain.position import Position
from pulsetrader.domain.snapshots import PositionSnapshot
from pulsetrader.domain.symbols import asset_class_of


def position_after(held: PositionSnapshot | None, fill: Fill) -> PositionSnapshot | None:
    """``held`` (None when flat) with ``fill`` applied, valued at the fill's price; None when
    the fill closes it."""
    position = Position(
        fill.symbol,
        qty=held.qty if held is not None else ZERO,
        avg_entry_price=held.avg_entry_price if held is not None else None,
    )
    position.apply(fill)
    if position.is_flat:
        return None
    assert position.avg_entry_price is not None
    price = fill.price
    market_value = position.qty * price
    cost_basis = position.qty * position.avg_entry_price
    unrealized = market_value - cost_basis
    return PositionSnapshot(
        symbol=fill.symbol,
        qty=position.qty,
        side=PositionSide.LONG if position.qty > 0 else PositionSide.SHORT,
        avg_entry_price=position.avg_entry_price,
        market_value=market_value,
        cost_basis=cost_basis,
        unrealized_pl=unrealized,
        unrealized_plpc=unrealized / abs(cost_basis) if cost_basis else None,
        current_price=price,
        lastday_price=held.lastday_price if held is not None else None,
        asset_class=asset_class_of(fill.symbol),
        asset_id=held.asset_id if held is not None else None,
    )


class Unsettled:
    """The engine's own changes, each with the change count it was noted at."""

    def __init__(self) -> None:
        self._fills: deque[tuple[int, Fill]] = deque()
        self._reserved: deque[tuple[int, Decimal]] = deque()

    def __len__(self) -> int:
        return len(self._fills) + len(self._reserved)

    def accepted(self, seq: int, value: Decimal) -> None:
        """An order the broker accepted took ``value`` of buying power (change ``seq``)."""
        if value > 0:
            self._reserved.append((seq, value))

    def filled(self, seq: int, fill: Fill) -> None:
        """An execution was booked (change ``seq``)."""
        self._fills.append((seq, fill))

    def apply(
        self, account: Account, positions: Mapping[str, PositionSnapshot], seen: int
    ) -> tuple[Account, dict[str, PositionSnapshot]]:
        """``account`` and ``positions``, a snapshot whose request went out after change
        ``seen``, with every later change applied. Changes up to ``seen`` are forgotten: no
        snapshot older than this one will be asked about again."""
        for entries in (self._fills, self._reserved):
            while entries and entries[0][0] <= seen:
                entries.popleft()
        held = {p.symbol: p for p in positions.values()}
        if not self:
            return account, held
        cash, buying_power = account.cash, account.buying_power
        for _, fill in self._fills:
            after = position_after(held.get(fill.symbol), fill)
            if after is None:
                held.pop(fill.symbol, None)
            else:
                held[fill.symbol] = after
            cash -= fill.signed_qty * fill.price
        for _, value in self._reserved:
            buying_power -= value
        return dataclasses.replace(account, cash=cash, buying_power=buying_power), held
