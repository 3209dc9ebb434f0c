"""Orders and their intents, and the broker events applied to them."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, func, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from pulsetrader.domain.enums import OrderStatus
from pulsetrader.domain.events import OrderUpdate
from pulsetrader.domain.intents import OrderIntent
from pulsetrader.domain.money import ZERO
from pulsetrader.domain.orders import Order
from pulsetrader.persistence import codec
from pulsetrader.persistence.audit import INSERT_DECISION, decision_row
from pulsetrader.persistence.base import JournalCore
from pulsetrader.persistence.db import precompiled
from pulsetrader.persistence.errors import DuplicateClientOrderId
from pulsetrader.persistence.schema import fills, order_events, orders

OPEN_STATUSES: tuple[str, ...] = tuple(s.value for s in OrderStatus if s.is_open)
_CHUNK = 500  # ids per IN (...) clause, far below SQLite's limit on bound variables

_INSERT_ORDER = precompiled(
    sqlite_insert(orders).on_conflict_do_nothing(index_elements=[orders.c.client_order_id])
)
# What an order's later states may change. The intent, symbol, side, type, strategy and
# created_at are fixed when the row is first written (no Order method changes them); leaving
# them out of the SET also spares SQLite rewriting three indexes on every update.
_MUTABLE = (
    "broker_order_id",
    "status",
    "qty",
    "notional",
    "filled_qty",
    "filled_avg_price",
    "updated_at",
    "submitted_at",
    "order_json",
)
_upsert = sqlite_insert(orders)
_UPSERT_ORDER = precompiled(
    _upsert.on_conflict_do_update(
        index_elements=[orders.c.client_order_id],
        set_={name: _upsert.excluded[name] for name in _MUTABLE},
    )
)
_INSERT_EVENT = precompiled(
    sqlite_insert(order_events)
    .values({c.name: bindparam(c.name) for c in order_events.columns if c.name != "id"})
    .on_conflict_do_nothing(index_elements=[order_events.c.event_key])
)

StatusFilter = OrderStatus | str | Collection[OrderStatus | str] | None


def order_row(order: Order, intent: OrderIntent | None = None) -> dict[str, Any]:
    """The ``orders`` row for ``order`` (and the intent that created it, if given)."""
    return {
        "client_order_id": order.client_order_id,
        "broker_order_id": order.broker_order_id,
        "status": order.status.value,
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.type.value,
        "qty": codec.opt_dec(order.qty),
        "notional": codec.opt_dec(order.notional),
        "filled_qty": codec.dec(order.filled_qty),
        "filled_avg_price": codec.opt_dec(order.filled_avg_price),
        "strategy": order.strategy,
        "created_at": codec.ts(order.created_at),
        "updated_at": codec.ts(order.updated_at),
        "submitted_at": codec.opt_ts(order.submitted_at),
        "intent_json": None if intent is None else codec.dumps(intent.to_dict()),
        "order_json": codec.dumps(order.to_dict()),
    }


def _statuses(status: StatusFilter) -> list[str] | None:
    if status is None:
        return None
    if isinstance(status, str):  # OrderStatus is a StrEnum, so this covers both
        return [OrderStatus(status).value]
    return [OrderStatus(s).value for s in status]


def _order_filters(
    *,
    open_only: bool,
    status: StatusFilter,
    symbol: str | None,
    strategy: str | None,
    since: datetime | None,
    until: datetime | None,
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if open_only:
        where.append(orders.c.status.in_(OPEN_STATUSES))
    statuses = _statuses(status)
    if statuses is not None:
        where.append(orders.c.status.in_(statuses))
    if symbol is not None:
        where.append(orders.c.symbol == symbol)
    if strategy is not None:
        where.append(orders.c.strategy == strategy)
    if since is not None:
        where.append(orders.c.created_at >= codec.ts(since))
    if until is not None:
        where.append(orders.c.created_at < codec.ts(until))
    return where


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def restore_executions(connection: Connection, loaded: Sequence[Order]) -> None:
    """Tell each order which journaled fills it had counted, so replays stay de-duplicated.

    Fills are matched by client order id, or by broker order id for fills journaled with an
    empty client order id (REST account activities carry only the broker's). If the journaled
    quantity exceeds the order's (a fill journaled but refused by the order), only the ids are
    restored; ``filled_qty`` came back with the order, so nothing is lost.
    """
    if not loaded:
        return
    by_coid = {order.client_order_id: order for order in loaded}
    by_broker = {o.broker_order_id: o for o in loaded if o.broker_order_id}
    found: dict[str, dict[str, tuple[Decimal, Decimal]]] = {}
    coids, broker_ids = list(by_coid), list(by_broker)
    queries: list[ColumnElement[bool]] = [fills.c.client_order_id.in_(c) for c in _chunks(coids)]
    queries += [
        and_(fills.c.client_order_id == "", fills.c.order_id.in_(c)) for c in _chunks(broker_ids)
    ]
    columns = (fills.c.execution_id, fills.c.client_order_id, fills.c.order_id)
    for where in queries:
        rows = connection.execute(select(*columns, fills.c.qty, fills.c.price).where(where))
        for execution_id, coid, broker_id, qty, price in rows:
            order = by_coid.get(coid) or by_broker.get(broker_id)
            if order is not None:
                amounts = (codec.to_dec(qty), codec.to_dec(price))
                found.setdefault(order.client_order_id, {})[execution_id] = amounts
    for coid, executions in found.items():
        order = by_coid[coid]
        qty = sum((q for q, _ in executions.values()), ZERO)
        notional = sum((q * p for q, p in executions.values()), ZERO)
        if order.qty is not None and qty > order.qty:
            order.restore_executions(executions)
        else:
            order.restore_executions(executions, qty, notional)


class OrderStore(JournalCore):
    """The ``orders`` and ``order_events`` tables."""

    def record_intent(
        self,
        order: Order,
        intent: OrderIntent,
        *,
        approved_at: datetime | None = None,
    ) -> None:
        """Journal a new order and the intent it came from, before the broker is called.

        One short transaction (committed, hence durable across a process kill, on return). With
        ``approved_at``, the risk manager's approval (reason ``approved``) is written in
        the same transaction: the order path commits once before it calls the broker, not twice.
        Raises DuplicateClientOrderId, writing nothing, when the client_order_id is known, and
        ValueError when the intent names another client_order_id.
        """
        if intent.client_order_id and intent.client_order_id != order.client_order_id:
            raise ValueError(
                f"intent for {intent.client_order_id!r} recorded with order "
                f"{order.client_order_id!r}"
            )
        row = order_row(order, intent)
        coid = order.client_order_id
        with self._write_sql() as connection:
            if connection.execute(_INSERT_ORDER.text, row).rowcount != 1:
                raise DuplicateClientOrderId(coid)  # rolled back: nothing written
            if approved_at is not None:
                decision = decision_row(intent, True, "approved", None, approved_at, coid)
                connection.execute(INSERT_DECISION.text, decision)

    def record_order(self, order: Order) -> None:
        """Write the order's current state: update its row, or insert one (intent NULL) for an
        order the journal never saw, e.g. one adopted from the broker by reconciliation.

        The stored ``to_dict`` JSON is replaced whole; the query columns an order never changes
        (symbol, side, type, strategy, created_at) keep the values first written.
        """
        row = order_row(order)
        with self._write_sql() as connection:
            connection.execute(_UPSERT_ORDER.text, row)

    def record_event(self, update: OrderUpdate, order: Order | None = None) -> bool:
        """Append a broker event to the order's history and write the order, in one transaction.

        ``order`` is the order after the event was applied (default: the broker's view in the
        update). Returns False when this event (same :attr:`OrderUpdate.key`) is already
        journaled; the order row is written either way.
        """
        current = update.order if order is None else order
        event = {
            "event_key": codec.dumps(list(update.key)),
            "client_order_id": current.client_order_id,
            "event": update.event,
            "at": codec.ts(update.timestamp),
            "status": update.order.status.value,
            "update_json": codec.dumps(update.to_dict()),
        }
        row = order_row(current)
        with self._write_sql() as connection:
            # The order first: order_events.client_order_id is a foreign key to orders.
            connection.execute(_UPSERT_ORDER.text, row)
            inserted = connection.execute(_INSERT_EVENT.text, event).rowcount
        return bool(inserted == 1)

    def order_events(self, client_order_id: str) -> list[dict[str, Any]]:
        """The journaled broker events of one order, oldest first: ``at`` (aware UTC),
        ``event``, ``status`` and ``update`` (the OrderUpdate's ``to_dict``)."""
        query = (
            select(order_events.c.at, order_events.c.event, order_events.c.status)
            .add_columns(order_events.c.update_json)
            .where(order_events.c.client_order_id == client_order_id)
            .order_by(order_events.c.id)
        )
        with self._read() as connection:
            rows = connection.execute(query).all()
        return [
            {"at": codec.to_ts(at), "event": event, "status": status, "update": codec.loads(data)}
            for at, event, status, data in rows
        ]

    def get_order(self, client_order_id: str) -> Order | None:
        """The order as last journaled, with its applied executions restored; None if unknown."""
        query = select(orders.c.order_json).where(orders.c.client_order_id == client_order_id)
        with self._read() as connection:
            data = connection.execute(query).scalar()
            if data is None:
                return None
            order = codec.order_from_dict(codec.loads(data))
            restore_executions(connection, [order])
        return order

    def get_order_by_broker_id(self, broker_order_id: str) -> Order | None:
        """The order with this broker (Alpaca) order id, or None."""
        query = select(orders.c.client_order_id).where(orders.c.broker_order_id == broker_order_id)
        with self._read() as connection:
            coid = connection.execute(query.limit(1)).scalar()
        return None if coid is None else self.get_order(coid)

    def load_orders(
        self,
        *,
        open_only: bool = False,
        status: StatusFilter = None,
        symbol: str | None = None,
        strategy: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        offset: int = 0,
        newest_first: bool = True,
    ) -> list[Order]:
        """Orders matching every filter given, by ``created_at`` (newest first by default).

        ``status`` is one status or several; ``open_only`` keeps non-terminal orders (the
        engine's restart set); ``since``/``until`` bound ``created_at`` (inclusive/exclusive);
        ``limit``/``offset`` paginate. Executions are restored as in :meth:`get_order`.
        """
        where = _order_filters(
            open_only=open_only,
            status=status,
            symbol=symbol,
            strategy=strategy,
            since=since,
            until=until,
        )
        keys = (orders.c.created_at, orders.c.client_order_id)
        query: Select[tuple[str]] = (
            select(orders.c.order_json)
            .where(and_(True, *where))
            .order_by(*(k.desc() if newest_first else k.asc() for k in keys))
        )
        if limit is not None or offset:
            query = query.limit(-1 if limit is None else limit).offset(offset)
        with self._read() as connection:
            loaded = [
                codec.order_from_dict(codec.loads(data))
                for data in connection.execute(query).scalars()
            ]
            restore_executions(connection, loaded)
        return loaded

    def count_orders(
        self,
        *,
        open_only: bool = False,
        status: StatusFilter = None,
        symbol: str | None = None,
        strategy: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        """How many orders :meth:`load_orders` would return with these filters and no limit."""
        where = _order_filters(
            open_only=open_only,
            status=status,
            symbol=symbol,
            strategy=strategy,
            since=since,
            until=until,
        )
        query = select(func.count()).select_from(orders).where(and_(True, *where))
        with self._read() as connection:
            return int(connection.execute(query).scalar_one())

    def intent_of(self, client_order_id: str) -> OrderIntent | None:
        """The intent recorded with the order; None for an unknown or adopted order."""
        query = select(orders.c.intent_json).where(orders.c.client_order_id == client_order_id)
        with self._read() as connection:
            data = connection.execute(query).scalar()
        return None if data is None else codec.intent_from_dict(codec.loads(data))


__all__ = ["OPEN_STATUSES", "OrderStore", "order_row", "restore_executions"]
