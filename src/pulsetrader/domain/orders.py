"""Orders: what a strategy asks for (:class:`OrderIntent`) and the order's life (:class:`Order`).

An order's status may only move along :data:`ALLOWED_TRANSITIONS`, which covers all of Alpaca's
statuses. One status event moves along one edge (:meth:`Order.transition`)::

    pending_new          -> accepted, new, pending_review, accepted_for_bidding, held,
                            partially_filled, filled, pending_cancel, canceled, rejected, expired
    accepted             -> new, pending_new, partially_filled, filled, pending_cancel, canceled,
                            pending_replace, replaced, done_for_day, expired, rejected, stopped,
                            suspended, held, calculated
    new                  -> partially_filled, filled, pending_cancel, canceled, pending_replace,
                            replaced, done_for_day, expired, rejected, stopped, suspended, held,
                            calculated
    partially_filled     -> filled, pending_cancel, canceled, pending_replace, replaced,
                            done_for_day, expired, calculated
    pending_cancel       -> canceled, filled, partially_filled, expired, new, accepted, held
    pending_replace      -> replaced, filled, partially_filled, canceled, expired, new, accepted
    done_for_day         -> new, accepted, partially_filled, filled, pending_cancel, canceled,
                            expired, calculated
    accepted_for_bidding -> new, accepted, partially_filled, filled, pending_cancel, canceled,
                            rejected, expired
    pending_review       -> pending_new, accepted, new, pending_cancel, canceled, rejected
    held                 -> pending_new, accepted, new, partially_filled, filled, pending_cancel,
                            canceled, pending_replace, replaced, expired
    stopped              -> partially_filled, filled, canceled, expired
    suspended            -> new, accepted, pending_cancel, canceled, expired
    calculated           -> partially_filled, filled, done_for_day, canceled, expired
    filled, canceled, expired, replaced, rejected: terminal, no way out

Why these edges: ``accepted`` precedes ``pending_new`` when an order arrives outside market hours;
fills race cancels and replaces, so ``pending_cancel``/``pending_replace`` may end in fills; a
rejected cancel or replace returns the order to an open status; ``held`` is a bracket leg waiting
for its parent. Staying in the same status is always allowed and changes nothing.

Snapshots (:meth:`Order.apply_update`, from REST polling and reconciliation) and fills
(:meth:`Order.apply_fill`) may skip events we never saw, so they accept any status *reachable*
through the table (:func:`can_reach`), not only direct edges. Because rejected cancels lead back
to ``accepted`` and ``accepted`` to ``pending_new``, every status is reachable from every open
one: a snapshot is constrained only by terminal statuses and by its filled quantity, which never
goes down. Nothing leaves a terminal status: late snapshots and fills for a finished order are
ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from pulsetrader.domain.enums import (
    TERMINAL_STATUSES,
    OrderClass,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from pulsetrader.domain.errors import DomainError, InvalidTransition, OverfillError
from pulsetrader.domain.fills import Fill
from pulsetrader.domain.intents import (
    PRICE_FIELDS,
    OrderIntent,
    check_client_order_id,
    optional_decimal_str,
)
from pulsetrader.domain.money import (
    ZERO,
    Number,
    decimal_str,
    ensure_utc,
    isoformat_z,
    optional_decimal,
    to_decimal,
    utcnow,
)
from pulsetrader.domain.symbols import order_symbol

__all__ = [
    "ALLOWED_TRANSITIONS",
    "Order",
    "OrderIntent",
    "can_reach",
    "can_transition",
]


def _to(names: str) -> frozenset[OrderStatus]:
    """The statuses named (Alpaca spelling, separated by spaces); a typo fails at import."""
    return frozenset(OrderStatus(name) for name in names.split())


# Mirrors the table in the module docstring; a unit test keeps the two in step.
ALLOWED_TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = MappingProxyType(
    {
        OrderStatus.PENDING_NEW: _to(
            "accepted new pending_review accepted_for_bidding held partially_filled filled"
            " pending_cancel canceled rejected expired"
        ),
        OrderStatus.ACCEPTED: _to(
            "new pending_new partially_filled filled pending_cancel canceled pending_replace"
            " replaced done_for_day expired rejected stopped suspended held calculated"
        ),
        OrderStatus.NEW: _to(
            "partially_filled filled pending_cancel canceled pending_replace replaced"
            " done_for_day expired rejected stopped suspended held calculated"
        ),
        OrderStatus.PARTIALLY_FILLED: _to(
            "filled pending_cancel canceled pending_replace replaced done_for_day expired"
            " calculated"
        ),
        OrderStatus.PENDING_CANCEL: _to(
            "canceled filled partially_filled expired new accepted held"
        ),
        OrderStatus.PENDING_REPLACE: _to(
            "replaced filled partially_filled canceled expired new accepted"
        ),
        OrderStatus.DONE_FOR_DAY: _to(
            "new accepted partially_filled filled pending_cancel canceled expired calculated"
        ),
        OrderStatus.ACCEPTED_FOR_BIDDING: _to(
            "new accepted partially_filled filled pending_cancel canceled rejected expired"
        ),
        OrderStatus.PENDING_REVIEW: _to(
            "pending_new accepted new pending_cancel canceled rejected"
        ),
        OrderStatus.HELD: _to(
            "pending_new accepted new partially_filled filled pending_cancel canceled"
            " pending_replace replaced expired"
        ),
        OrderStatus.STOPPED: _to("partially_filled filled canceled expired"),
        OrderStatus.SUSPENDED: _to("new accepted pending_cancel canceled expired"),
        OrderStatus.CALCULATED: _to("partially_filled filled done_for_day canceled expired"),
        **{status: frozenset() for status in TERMINAL_STATUSES},
    }
)


def _reachable(start: OrderStatus) -> frozenset[OrderStatus]:
    """Every status reachable from ``start`` in one or more steps of the table."""
    seen: set[OrderStatus] = set()
    todo = list(ALLOWED_TRANSITIONS[start])
    while todo:
        status = todo.pop()
        if status not in seen:
            seen.add(status)
            todo.extend(ALLOWED_TRANSITIONS[status])
    return frozenset(seen)


_REACHABLE: Mapping[OrderStatus, frozenset[OrderStatus]] = MappingProxyType(
    {status: _reachable(status) for status in OrderStatus}
)


def can_transition(from_status: OrderStatus, to_status: OrderStatus) -> bool:
    """True when one status event may move an order from ``from_status`` to ``to_status``."""
    return to_status == from_status or to_status in ALLOWED_TRANSITIONS[from_status]


def can_reach(from_status: OrderStatus, to_status: OrderStatus) -> bool:
    """True when some sequence of events leads from ``from_status`` to ``to_status``."""
    return to_status == from_status or to_status in _REACHABLE[from_status]


def _time_or_none(value: datetime | None) -> str | None:
    return None if value is None else isoformat_z(value)


@dataclass(slots=True, kw_only=True)
class Order:
    """One order through its life, from local creation to a terminal status.

    Created locally as ``pending_new`` (:meth:`from_intent`), then moved by status events
    (:meth:`transition`), executions (:meth:`apply_fill`) and broker snapshots
    (:meth:`apply_update`). ``broker_order_id`` is Alpaca's id, known once acknowledged;
    ``replaces``/``replaced_by`` link the client order ids of a replace chain. ``legs`` are the
    exit orders of a bracket/OCO/OTO order as the broker reported them.

    ``filled_qty`` is the larger of two lower bounds on the truth: the sum of the executions
    applied here and the latest snapshot's cumulative quantity. Adding the two instead would count
    an execution twice whenever a poll saw it before its stream event arrived, or when fills are
    replayed after a restart (executions forgotten, ``filled_qty`` restored). The price is that a
    new execution already below the snapshot's quantity is not counted until the next snapshot;
    Alpaca's fill events carry the order's cumulative ``filled_qty``, so handle one with
    :meth:`apply_fill` followed by :meth:`apply_update` and the order is exact.
    """

    client_order_id: str
    symbol: str
    side: OrderSide
    type: OrderType
    time_in_force: TimeInForce
    created_at: datetime
    updated_at: datetime
    qty: Decimal | None = None
    notional: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_price: Decimal | None = None
    trail_percent: Decimal | None = None
    order_class: OrderClass = OrderClass.SIMPLE
    take_profit_limit_price: Decimal | None = None
    stop_loss_stop_price: Decimal | None = None
    stop_loss_limit_price: Decimal | None = None
    status: OrderStatus = OrderStatus.PENDING_NEW
    broker_order_id: str | None = None
    filled_qty: Decimal = ZERO
    filled_avg_price: Decimal | None = None
    submitted_at: datetime | None = None
    filled_at: datetime | None = None
    canceled_at: datetime | None = None
    strategy: str | None = None
    extended_hours: bool = False
    reduce_only: bool = False
    replaces: str | None = None
    replaced_by: str | None = None
    reject_reason: str | None = None
    legs: list[Order] = field(default_factory=list, compare=False)
    _executions: set[str] = field(default_factory=set, init=False, repr=False, compare=False)
    _executed_qty: Decimal = field(default=ZERO, init=False, repr=False, compare=False)
    _executed_notional: Decimal = field(default=ZERO, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_client_order_id(self.client_order_id)
        # order_symbol, not validate_symbol: a broker order for an unusual symbol must still load.
        self.symbol = order_symbol(self.symbol)
        self.side = OrderSide(self.side)
        self.type = OrderType(self.type)
        self.time_in_force = TimeInForce(self.time_in_force)
        self.order_class = OrderClass(self.order_class)
        self.status = OrderStatus(self.status)
        for name in ("qty", "notional", "filled_avg_price", *PRICE_FIELDS):
            setattr(self, name, optional_decimal(getattr(self, name)))
        self.filled_qty = optional_decimal(self.filled_qty) or ZERO
        for name in ("created_at", "updated_at", "submitted_at", "filled_at", "canceled_at"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, ensure_utc(value))
        if self.qty is None and self.notional is None:
            raise ValueError("an order needs qty or notional")
        if self.qty is not None and self.qty <= 0:
            raise ValueError(f"qty must be positive, got {self.qty}")
        if self.filled_qty < 0:
            raise ValueError(f"filled_qty must not be negative, got {self.filled_qty}")
        if self.qty is not None and self.filled_qty > self.qty:
            raise OverfillError(f"filled_qty {self.filled_qty} exceeds qty {self.qty}")

    @classmethod
    def from_intent(
        cls,
        intent: OrderIntent,
        client_order_id: str | None = None,
        now: datetime | None = None,
    ) -> Order:
        """A new local order for ``intent``, ``pending_new`` until the broker acknowledges it.

        ``client_order_id`` defaults to the intent's own; one of the two is required.
        """
        coid = client_order_id or intent.client_order_id
        if not coid:
            raise ValueError("an order needs a client_order_id")
        if intent.client_order_id and coid != intent.client_order_id:
            raise ValueError(
                f"client_order_id {coid!r} contradicts the intent's {intent.client_order_id!r}"
            )
        at = utcnow() if now is None else ensure_utc(now)
        prices = {name: getattr(intent, name) for name in PRICE_FIELDS}
        return cls(
            client_order_id=coid,
            symbol=intent.symbol,
            side=intent.side,
            type=intent.type,
            time_in_force=intent.time_in_force,
            created_at=at,
            updated_at=at,
            qty=intent.qty,
            notional=intent.notional,
            order_class=intent.order_class,
            strategy=intent.strategy,
            extended_hours=intent.extended_hours,
            reduce_only=intent.reduce_only,
            **prices,
        )

    @property
    def is_terminal(self) -> bool:
        """True once nothing can change the order again."""
        return self.status.is_terminal

    @property
    def is_open(self) -> bool:
        """True while the order may still fill or be cancelled."""
        return self.status.is_open

    @property
    def remaining_qty(self) -> Decimal | None:
        """Quantity still to fill; None for notional orders, whose quantity is unknown."""
        return None if self.qty is None else self.qty - self.filled_qty

    @property
    def applied_execution_ids(self) -> frozenset[str]:
        """Execution ids already counted by :meth:`apply_fill`."""
        return frozenset(self._executions)

    def restore_executions(
        self,
        execution_ids: Iterable[str],
        executed_qty: Number = ZERO,
        executed_notional: Number = ZERO,
    ) -> None:
        """Tell an order rebuilt from storage which executions it had already counted.

        For a journal restoring an order after a restart: without this a replayed fill would be
        applied again. Replaces what the order knows of its executions (the ids, their summed
        quantity and their summed ``qty * price``); ``filled_qty``, ``filled_avg_price``, the
        status and the timestamps are not touched, since they were restored with the order.
        Passing only the ids (amounts zero) is the "executions forgotten, ``filled_qty``
        restored" case the class docstring describes, and is always safe.

        Raises ValueError for a negative amount and OverfillError, changing nothing, when
        ``executed_qty`` exceeds ``qty``.
        """
        ids = set(execution_ids)
        qty = to_decimal(executed_qty)
        notional = to_decimal(executed_notional)
        if qty < 0 or notional < 0:
            raise ValueError(f"executed amounts must not be negative, got {qty} and {notional}")
        if self.qty is not None and qty > self.qty:
            raise OverfillError(
                f"restored executions of {qty} exceed order {self.client_order_id} for {self.qty}"
            )
        self._executions = ids
        self._executed_qty = qty
        self._executed_notional = notional

    def transition(self, status: OrderStatus, at: datetime) -> bool:
        """Move to ``status`` on one status event; return whether the status changed.

        Raises InvalidTransition when the table has no edge from the current status.
        """
        status = OrderStatus(status)
        at = ensure_utc(at)
        if status is self.status:
            return False
        if not can_transition(self.status, status):
            raise InvalidTransition(self.status, status, self.client_order_id)
        self._set_status(status, at)
        return True

    def apply_fill(self, fill: Fill) -> bool:
        """Count one execution; return False (changing nothing) for a duplicate or a late fill.

        Moves the order to ``filled`` once ``qty`` is reached, else to ``partially_filled``.
        Raises OverfillError, changing nothing, if the executions would exceed ``qty``; raises
        DomainError for a fill of another order.
        """
        if fill.execution_id in self._executions or self.is_terminal:
            return False
        if (
            fill.client_order_id != self.client_order_id and fill.order_id != self.broker_order_id
        ) or (fill.symbol, fill.side) != (self.symbol, self.side):
            raise DomainError(
                f"fill {fill.execution_id} ({fill.client_order_id} {fill.side.value} "
                f"{fill.symbol}) does not belong to order {self.client_order_id}"
            )
        executed = self._executed_qty + fill.qty
        if self.qty is not None and executed > self.qty:
            raise OverfillError(
                f"fill {fill.execution_id} of {fill.qty} would fill {executed} "
                f"of order {self.client_order_id} for {self.qty}"
            )
        complete = self.qty is not None and max(executed, self.filled_qty) >= self.qty
        target = OrderStatus.FILLED if complete else OrderStatus.PARTIALLY_FILLED
        if not can_reach(self.status, target):
            raise InvalidTransition(self.status, target, self.client_order_id)
        self._executions.add(fill.execution_id)
        self._executed_qty = executed
        self._executed_notional += fill.notional
        if executed > self.filled_qty:
            self.filled_qty = executed
            self.filled_avg_price = self._executed_notional / executed
        if target is not self.status:
            self._set_status(target, fill.timestamp)
        self._touch(fill.timestamp)
        return True

    def apply_update(
        self,
        status: OrderStatus,
        filled_qty: Number | None,
        filled_avg_price: Number | None,
        at: datetime,
    ) -> bool:
        """Apply a broker snapshot of the order; return whether anything changed.

        The broker is the truth, but a snapshot can be older than what we know: one whose
        ``filled_qty`` is below ours is stale and ignored, as is anything once the order is
        terminal. The status may jump to anything reachable through the table (events we never
        saw); an unreachable status raises InvalidTransition, a ``filled_qty`` above ``qty``
        raises OverfillError, and neither changes anything.
        """
        status = OrderStatus(status)
        at = ensure_utc(at)
        qty = optional_decimal(filled_qty)
        price = optional_decimal(filled_avg_price)
        if self.is_terminal:
            return False
        if qty is not None:
            if qty < 0:
                raise ValueError(f"filled_qty must not be negative, got {qty}")
            if qty < self.filled_qty:
                return False
            if self.qty is not None and qty > self.qty:
                raise OverfillError(
                    f"broker reports {qty} filled of order {self.client_order_id} for {self.qty}"
                )
        if not can_reach(self.status, status):
            raise InvalidTransition(self.status, status, self.client_order_id)
        changed = False
        if qty is not None and qty > self.filled_qty:
            self.filled_qty = qty
            changed = True
        if price is not None and qty is not None and qty > 0 and price != self.filled_avg_price:
            self.filled_avg_price = price
            changed = True
        if status is not self.status:
            self._set_status(status, at)
            changed = True
        if changed:
            self._touch(at)
        return changed

    def _set_status(self, status: OrderStatus, at: datetime) -> None:
        self.status = status
        if status is OrderStatus.FILLED and self.filled_at is None:
            self.filled_at = at
        if status is OrderStatus.CANCELED and self.canceled_at is None:
            self.canceled_at = at
        self._touch(at)

    def _touch(self, at: datetime) -> None:
        # Events can arrive out of order; updated_at records the latest one seen.
        self.updated_at = max(self.updated_at, at)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form: Decimals as text, datetimes as RFC 3339, enums as values."""
        data: dict[str, Any] = {
            "client_order_id": self.client_order_id,
            "broker_order_id": self.broker_order_id,
            "symbol": self.symbol,
            "side": self.side.value,
            "type": self.type.value,
            "time_in_force": self.time_in_force.value,
            "order_class": self.order_class.value,
            "status": self.status.value,
            "qty": optional_decimal_str(self.qty),
            "notional": optional_decimal_str(self.notional),
            "filled_qty": decimal_str(self.filled_qty),
            "filled_avg_price": optional_decimal_str(self.filled_avg_price),
            "remaining_qty": optional_decimal_str(self.remaining_qty),
        }
        data.update({name: optional_decimal_str(getattr(self, name)) for name in PRICE_FIELDS})
        for name in ("created_at", "updated_at", "submitted_at", "filled_at", "canceled_at"):
            data[name] = _time_or_none(getattr(self, name))
        data.update(
            strategy=self.strategy,
            extended_hours=self.extended_hours,
            reduce_only=self.reduce_only,
            replaces=self.replaces,
            replaced_by=self.replaced_by,
            reject_reason=self.reject_reason,
            legs=[leg.to_dict() for leg in self.legs],
        )
        return data
