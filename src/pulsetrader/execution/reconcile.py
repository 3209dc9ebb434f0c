"""Reconciliation: the one code path that makes our orders, fills and positions the broker's.

It runs at start-up (crash-only design: recovering is the normal way to start), after the order
stream reconnects, and after a submission whose fate is unknown. In order:

1. Every order we think is open is looked up at the broker. One the broker never acknowledged
   is looked up by its client_order_id: found, it is adopted as ours; not found, it never
   arrived (the process died before sending, or the send failed) and is marked rejected; it is
   *not* sent again, since the strategy that wanted it may no longer.
2. Open orders at the broker that we do not know are adopted (bracket legs, orders placed in
   another tool), never duplicated.
3. Executions we missed are read from the account's FILL activities and booked.
4. Positions on which the book still disagrees with the broker are taken from the broker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loguru import logger

from pulsetrader.broker.errors import BrokerError
from pulsetrader.domain.enums import OrderStatus

if TYPE_CHECKING:
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
        for coid, snap in broker_open.items():
            if manager.find(coid, snap.broker_order_id) is None:
                manager._remember(snap)
                manager._save(snap)
                report["adopted_orders"].append(coid)
                logger.info("adopted broker order {} ({} {})", coid, snap.side.value, snap.symbol)
        report["fills"] = len(await manager.sync_fills())
        broker_positions = await manager.accounts.get_positions(fresh=True)
        for change in manager.book.adopt(broker_positions):
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
        logger.error("reconciliation incomplete ({}): {}", reason, exc)
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
