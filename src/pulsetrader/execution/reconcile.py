"""Reconciliation: the one code path that makes our orders, fills and positions the broker's.

It runs at start-up (crash-only design: recovering is the normal way to start), after the order
stream reconnects, and after a submission whose fate is unknown. In order:

1. Every order we think is open is looked up at the broker. One the broker never acknowledged
   is looked up by its client_order_id: found, it is adopted as ours; not found, it never
   arrived (the process died before sending, or the send failed) and is marked rejected; it is
   *not* sent again, since the strategy that wanted it may no longer.
2. Open orders at the broker that we do not know are adopted (bracket legs, orders placed in
   another tool), never duplicated; so are the ones that finished since the last execution we
   booked, and the order of any execution step 3 books that we still do not know.
3. Executions we missed are read from the account's FILL activities and booked.
4. Positions on which the book still disagrees with the broker are taken from the broker (read
   before and after step 3 until nothing traded in between); executions from before that read
   are inside the position and are never counted again.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from loguru import logger

from pulsetrader.broker.errors import BrokerError
from pulsetrader.domain.enums import OrderStatus

#: How often the positions are read again when something traded while reconciling.
_POSITION_READS = 3

if TYPE_CHECKING:
    from pulsetrader.domain.orders import Order
    from pulsetrader.domain.snapshots import PositionSnapshot
    from pulsetrader.execution.order_manager import OrderManager


async def reconcile(manager: OrderManager, reason: str) -> dict[str, Any]:
    """Run one reconciliation; a report of what it changed (also logged and journaled)."""
    client, journal = manager.client, manager.journal
    report: dict[str, Any] = {
        "reason": reason,
        "confirmed": [],
        "never_received": [],
        "adopted_orders": [],
        "fills": 0,
        "adopted_positions": [],
        "errors": [],
    }
    logger.info("reconciling with the broker ({})", reason)
    try:
        broker_open = {o.client_order_id: o for o in await client.list_orders("open", nested=False)}
        for order in manager.open_orders():
            if order.client_order_id in manager.in_flight:
                continue  # its submission is still waiting for the broker: that settles it
            snap = broker_open.get(order.client_order_id)
            if snap is None:
                snap = await client.get_order_by_client_id(order.client_order_id)
            if snap is None:
                if order.broker_order_id is None:
                    order.reject_reason = "never received by the broker (not resent)"
                    order.apply_update(OrderStatus.REJECTED, None, None, manager.clock())
                    manager._save(order)
                    report["never_received"].append(order.client_order_id)
                    logger.warning(
                        "order {} was never received by the broker; marked rejected",
                        order.client_order_id,
                    )
                continue
            manager._merge(order, snap)
            manager._save(order)
            report["confirmed"].append(order.client_order_id)
        for snap in broker_open.values():
            _adopt(manager, snap, report)
        # Orders that finished while nobody listened (filled or cancelled in another tool, or
        # while we were down) are adopted as well. Before, only open ones were: the executions
        # of such an order were booked with no order journaled for them, so the journal never
        # again equalled the broker's order list.
        since = manager.fill_window_start()
        for snap in await client.list_orders("closed", after=since, nested=False):
            _adopt(manager, snap, report)
        # The positions are read before and after the executions, until nothing traded in
        # between: only then does a disagreement mean the book is wrong. Before, positions
        # read once after the executions could already hold a fill the activities had not
        # shown; the book took it over, and counted it again when its stream event came.
        # ``read_at`` ends up at the start of a pair of equal reads: nothing traded from there
        # to the second, so the positions are exactly the executions before it.
        read_at = manager.clock()
        broker_positions = await client.get_positions()
        booked = await manager.sync_fills()
        for _ in range(_POSITION_READS):
            again_at = manager.clock()
            again = await client.get_positions()
            if _quantities(again) == _quantities(broker_positions):
                break
            read_at, broker_positions = again_at, again
            booked += await manager.sync_fills()
        manager.accounts.invalidate()
        report["fills"] = len(booked)
        for order_id in dict.fromkeys(b.fill.order_id for b in booked if b.fill.order_id):
            if manager.find(None, order_id) is None:  # submitted before the window, filled in it
                _adopt(manager, await client.get_order(order_id), report)
        for change in manager.book.adopt(broker_positions):
            manager.position_taken(change.symbol, read_at)
            report["adopted_positions"].append(
                {"symbol": change.symbol, "from": str(change.old_qty), "to": str(change.new_qty)}
            )
            logger.warning(
                "position {} taken from the broker: {} -> {}",
                change.symbol,
                change.old_qty,
                change.new_qty,
            )
        journal.save_positions(manager.book.positions.values(), manager.clock())
    except BrokerError as exc:
        report["errors"].append(str(exc))
        logger.opt(exception=exc).error("reconciliation incomplete ({}): {}", reason, exc)
    journal.record_action("engine", "reconcile", report, manager.clock())
    logger.info(
        "reconciled ({}): {} confirmed, {} never received, {} adopted, {} fills, {} positions",
        reason,
        len(report["confirmed"]),
        len(report["never_received"]),
        len(report["adopted_orders"]),
        report["fills"],
        len(report["adopted_positions"]),
    )
    return report


def _quantities(positions: Iterable[PositionSnapshot]) -> dict[str, Decimal]:
    return {p.symbol: p.qty for p in positions}


def _adopt(manager: OrderManager, snap: Order, report: dict[str, Any]) -> None:
    """Take over a broker order we do not know (one we know is left alone)."""
    if manager.find(snap.client_order_id, snap.broker_order_id) is not None:
        return
    manager._remember(snap)
    manager._save(snap)
    report["adopted_orders"].append(snap.client_order_id)
    logger.info(
        "adopted broker order {} ({} {} {})",
        snap.client_order_id,
        snap.side.value,
        snap.symbol,
        snap.status.value,
    )
