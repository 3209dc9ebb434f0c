"""Where the exchange keeps its orders: every order ever accepted, and an index of the open ones.

Client order ids stay reserved forever (Alpaca refuses to reuse one even after a cancel), so the
book never forgets an order.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pulsetrader.domain.symbols import order_symbol
from pulsetrader.sim.errors import invalid, order_not_found
from pulsetrader.sim.orders import SimOrder

MAX_ORDERS_PAGE = 500


class OrderBook:
    """All orders by id and client order id, plus the open ones per symbol in submission order."""

    def __init__(self) -> None:
        self._orders: dict[str, SimOrder] = {}
        self._client_ids: dict[str, SimOrder] = {}
        self._open: dict[str, dict[str, SimOrder]] = {}
        self._seq = 0

    def add(self, order: SimOrder) -> None:
        """Register a new order (it gets the next sequence number) as open."""
        self._seq += 1
        order.seq = self._seq
        self._orders[order.id] = order
        self._client_ids[order.client_order_id] = order
        self._open.setdefault(order.symbol, {})[order.id] = order

    def closed(self, order: SimOrder) -> None:
        """Drop a terminal order from the open index (it stays findable)."""
        self._open.get(order.symbol, {}).pop(order.id, None)

    def has_client_id(self, client_order_id: str) -> bool:
        return client_order_id in self._client_ids

    def get(self, order_id: str) -> SimOrder:
        """The order with ``order_id``; :class:`SimError` 404 when there is none."""
        order = self._orders.get(order_id.strip().lower())
        if order is None:
            raise order_not_found()
        return order

    def by_client_id(self, client_order_id: str) -> SimOrder:
        order = self._client_ids.get(client_order_id)
        if order is None:
            raise order_not_found()
        return order

    def open_orders(self, symbol: str | None = None) -> list[SimOrder]:
        """Open orders in submission order (optionally for one symbol); a copy, safe to mutate
        the book while iterating."""
        if symbol is not None:
            return list(self._open.get(symbol, {}).values())
        orders = [o for book in self._open.values() for o in book.values()]
        return sorted(orders, key=lambda o: o.seq)

    def expiring(self, at: datetime) -> list[SimOrder]:
        """Open orders whose ``expires_at`` is at or before ``at``, soonest first."""
        due = [
            o
            for book in self._open.values()
            for o in book.values()
            if o.expires_at is not None and o.expires_at <= at
        ]
        return sorted(due, key=lambda o: (o.expires_at or at, o.seq))

    def oco_siblings(self, order: SimOrder) -> list[SimOrder]:
        """The other open orders of ``order``'s one-cancels-other group."""
        if order.oco_group is None:
            return []
        return [
            o
            for o in self.open_orders(order.symbol)
            if o is not order and o.oco_group == order.oco_group
        ]

    def query(
        self,
        status: str = "open",
        limit: int | None = 50,
        after: datetime | None = None,
        until: datetime | None = None,
        direction: str = "desc",
        nested: bool = False,
        symbols: Iterable[str] | str | None = None,
        side: str | None = None,
    ) -> list[SimOrder]:
        """Alpaca's ``GET /v2/orders`` filters; see :meth:`Exchange.list_orders`."""
        wanted = status.lower()
        if wanted not in ("open", "closed", "all"):
            raise invalid(f"invalid status: {status}")
        if direction.lower() not in ("asc", "desc"):
            raise invalid(f"invalid direction: {direction}")
        if isinstance(symbols, str):
            symbols = [s for s in symbols.split(",") if s.strip()]
        symbol_set = {order_symbol(s) for s in symbols} if symbols else None
        orders = [
            o
            for o in self._orders.values()
            if (not nested or o.parent_id is None)
            and (wanted == "all" or (wanted == "open") == o.is_open)
            and (after is None or o.submitted_at > after)
            and (until is None or o.submitted_at < until)
            and (symbol_set is None or o.symbol in symbol_set)
            and (side is None or o.side.value == side.lower())
        ]
        orders.sort(key=lambda o: (o.submitted_at, o.seq), reverse=direction.lower() == "desc")
        size = MAX_ORDERS_PAGE if limit is None else max(1, min(int(limit), MAX_ORDERS_PAGE))
        return orders[:size]
