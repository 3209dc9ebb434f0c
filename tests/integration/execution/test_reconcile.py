"""Reconciliation, the one code path for start-up, stream reconnects and ambiguous submissions:
unknown broker orders and positions adopted (never duplicated by opening another), positions
the book disagrees on taken from the broker, new entries refused until it is done."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

from pulsetrader.broker import AlpacaClient
from pulsetrader.domain.enums import OrderStatus
from pulsetrader.domain.orders import Order
from pulsetrader.risk import Denied
from pulsetrader.sim.service import Simulator
from tests.helpers import eventually
from tests.integration.broker.conftest import make_client

from .conftest import Stack, build_stack
from .support import POST_ORDERS, broker_orders, buy, cache_matches_broker, load_faults, sell


def reconcile_reports(stack: Stack) -> list[dict[str, Any]]:
    """The journaled reconciliation reports, newest first."""
    return [a["detail"] for a in stack.journal.actions() if a["action"] == "reconcile"]


async def hold_then_stop(simulator: Simulator, path: Path, symbol: str, qty: int) -> None:
    """Run a stack on ``path`` long enough to buy ``qty`` of ``symbol``, then stop it."""
    first = build_stack(simulator, path)
    await first.start()
    try:
        placed = await first.orders.submit_order(buy(symbol, qty))
        assert isinstance(placed, Order)
        await eventually(lambda: first.orders.book.position_qty(symbol) == qty)
        await first.settled()
    finally:
        await first.stop()


async def low_limit(client: AlpacaClient, symbol: str) -> Decimal:
    """A buy limit far below the market: it rests."""
    quote = await client.get_latest_quote(symbol)
    return (quote.bid_price * Decimal("0.8")).quantize(Decimal("0.01"))


async def test_unknown_broker_orders_and_positions_are_adopted_at_start_up(
    simulator: Simulator, tmp_path: Path
) -> None:
    outsider = make_client(simulator)
    try:
        filled = await outsider.submit_order(buy("AAPL", 5, client_order_id="elsewhere-fill"))
        resting = await outsider.submit_order(
            buy(
                "MSFT",
                1,
                type="limit",
                limit_price=await low_limit(outsider, "MSFT"),
                client_order_id="elsewhere-rest",
            )
        )
        assert resting.status is OrderStatus.NEW
        await eventually(lambda: outsider.get_position("AAPL"), message="the outsider's position")
    finally:
        await outsider.close()

    stack = build_stack(simulator, tmp_path / "journal.db")
    try:
        await stack.start()
        adopted = stack.orders.find("elsewhere-rest")
        assert adopted is not None
        assert adopted.is_open
        assert adopted.broker_order_id == resting.broker_order_id
        assert stack.journal.get_order("elsewhere-rest") is not None
        assert stack.orders.book.position_qty("AAPL") == 5
        assert stack.journal.load_positions()["AAPL"].qty == 5
        done = stack.orders.find("elsewhere-fill")
        assert done is not None
        assert done.broker_order_id == filled.broker_order_id
        assert done.status is OrderStatus.FILLED
        report = reconcile_reports(stack)[0]
        assert report["adopted_orders"] == ["elsewhere-rest", "elsewhere-fill"]
        # Adopted, never re-created: the broker still has exactly the outsider's two orders.
        assert sorted(o.client_order_id for o in await broker_orders(stack)) == [
            "elsewhere-fill",
            "elsewhere-rest",
        ]
        assert [(p.symbol, p.qty) for p in await stack.client.get_positions()] == [
            ("AAPL", Decimal(5))
        ]
        await stack.settled()
        assert await cache_matches_broker(stack)
        # The adopted order is ours now: cancelling it works and is booked.
        assert await stack.orders.cancel_order("elsewhere-rest")
        await eventually(lambda: adopted.status is OrderStatus.CANCELED)
        await stack.settled()
    finally:
        await stack.stop()


async def test_a_restart_takes_positions_that_changed_meanwhile_from_the_broker(
    simulator: Simulator, tmp_path: Path
) -> None:
    path = tmp_path / "journal.db"
    await hold_then_stop(simulator, path, "AAPL", 6)

    # While we are down, somebody sells part of it by hand.
    outsider = make_client(simulator)
    try:
        await outsider.submit_order(sell("AAPL", 2, client_order_id="by-hand"))
    finally:
        await outsider.close()

    second = build_stack(simulator, path)
    try:
        assert second.orders.book.position_qty("AAPL") == 6  # as journaled
        await second.start()
        assert second.orders.book.position_qty("AAPL") == 4
        assert second.orders.find("by-hand") is not None
        assert len(await broker_orders(second)) == 2
        await second.settled()
    finally:
        await second.stop()


async def test_new_entries_wait_until_reconciliation_is_done(stack: Stack) -> None:
    # A slow broker makes the reconciliation last long enough to be caught in the middle.
    load_faults(
        stack.sim,
        {"match": {"method": "GET", "path": "/v2/orders"}, "effect": "latency", "ms": 400},
    )
    running = asyncio.get_running_loop().create_task(stack.orders.reconcile("requested"))
    await eventually(lambda: not stack.orders.reconciled, message="reconciliation under way")
    during = await stack.orders.submit_order(buy("AAPL", 1))
    assert isinstance(during, Denied)
    assert during.rule == "reconciling"
    await running
    stack.sim.faults.clear()
    assert stack.orders.reconciled
    after = await stack.orders.submit_order(buy("AAPL", 1))
    assert isinstance(after, Order)
    assert [o.client_order_id for o in await broker_orders(stack)] == [after.client_order_id]
    await eventually(lambda: stack.orders.book.position_qty("AAPL") == 1)
    await stack.settled()


async def test_an_ambiguous_submission_is_settled_by_reconciliation(stack: Stack) -> None:
    # No order stream (stopped, so the manager still believes it is up and does not poll): only
    # the reconciliation the ambiguous submission schedules can settle the order.
    await stack.streams.trade_updates.stop()
    attempts = stack.client.retry.max_attempts
    load_faults(
        stack.sim,
        {"match": POST_ORDERS, "effect": "drop_response", "count": 1},
        {
            "match": {"method": "GET", "path_prefix": "/v2/orders:"},
            "effect": "status",
            "status": 503,
            "count": attempts,
        },
    )
    placed = await stack.orders.submit_order(buy("AAPL", 2))
    assert isinstance(placed, Order)
    assert placed.broker_order_id is None  # the outcome was unknown when submit returned
    await eventually(
        lambda: any(
            r["reason"] == f"unknown outcome of {placed.client_order_id}"
            for r in reconcile_reports(stack)
        ),
        message="the reconciliation",
    )
    assert placed.broker_order_id is not None
    report = reconcile_reports(stack)[0]
    assert report["confirmed"] == [placed.client_order_id]
    assert stack.sim.stats.by_route["POST /v2/orders"] == 1  # never resent
    assert [o.client_order_id for o in await broker_orders(stack)] == [placed.client_order_id]
    await eventually(lambda: stack.orders.book.position_qty("AAPL") == 2)
    await stack.settled()


async def test_a_reconciliation_during_a_submission_leaves_the_order_alone(stack: Stack) -> None:
    # The broker takes its time with the POST; a reconciliation (a stream reconnect, say) runs
    # meanwhile and must not call the order "never received" while it is still on its way.
    load_faults(stack.sim, {"match": POST_ORDERS, "effect": "latency", "ms": 500, "count": 1})
    sending = asyncio.get_running_loop().create_task(stack.orders.submit_order(buy("AAPL", 2)))
    await eventually(lambda: stack.orders.open_orders(), message="the order journaled")
    (order,) = stack.orders.open_orders()
    assert order.broker_order_id is None
    report = await stack.orders.reconcile("order stream reconnected")
    assert report["never_received"] == []
    placed = await sending
    assert placed is order
    assert order.status is OrderStatus.FILLED, order.reject_reason
    assert [o.client_order_id for o in await broker_orders(stack)] == [order.client_order_id]
    await eventually(lambda: stack.orders.book.position_qty("AAPL") == 2)
    await stack.settled()


async def test_a_reconnect_during_a_reconciliation_is_followed_by_another(stack: Stack) -> None:
    attempts = stack.client.retry.max_attempts
    load_faults(
        stack.sim,
        {"match": POST_ORDERS, "effect": "drop_response", "count": 1},
        {
            "match": {"method": "GET", "path_prefix": "/v2/orders:"},
            "effect": "status",
            "status": 503,
            "count": attempts,
        },
        # The reconciliation the ambiguous submission starts is slow to list the orders.
        {"match": {"method": "GET", "path": "/v2/orders"}, "effect": "latency", "ms": 300},
    )
    placed = await stack.orders.submit_order(buy("AAPL", 1))
    assert isinstance(placed, Order)
    await eventually(lambda: not stack.orders.reconciled, message="the reconciliation running")
    # The order stream drops and comes back while it runs: what it missed may postdate what
    # the running reconciliation already read, so another one must follow.
    await stack.streams.trade_updates.drop()
    await eventually(
        lambda: any(e.is_reconnect for e in stack.events), message="the stream reconnected"
    )
    await eventually(
        lambda: (
            [r["reason"] for r in reconcile_reports(stack)][:2]
            == ["order stream reconnected", f"unknown outcome of {placed.client_order_id}"]
        ),
        message="a second reconciliation",
    )
    stack.sim.faults.clear()
    await eventually(lambda: stack.orders.book.position_qty("AAPL") == 1)
    await stack.settled()


async def test_positions_the_broker_does_not_hold_are_taken_from_the_broker(
    simulator: Simulator, tmp_path: Path
) -> None:
    path = tmp_path / "journal.db"
    await hold_then_stop(simulator, path, "AAPL", 6)
    # The account is replaced while we are down (a fresh paper account): no executions
    # explain the difference, so only the broker's positions can say what is held.
    await simulator.reset()

    second = build_stack(simulator, path)
    try:
        await second.start()
        report = reconcile_reports(second)[0]
        assert report["adopted_positions"] == [{"symbol": "AAPL", "from": "6", "to": "0"}]
        assert second.orders.positions() == []
        assert second.journal.load_positions()["AAPL"].qty == 0
        assert await broker_orders(second) == []  # nothing was opened to "restore" it
        await second.settled()
    finally:
        await second.stop()


async def test_an_adopted_position_is_never_counted_again_from_its_executions(
    simulator: Simulator, tmp_path: Path
) -> None:
    path = tmp_path / "journal.db"
    stack = build_stack(simulator, path)
    await stack.start()
    try:
        # No stream, and the account's activities come back empty: the book cannot learn of
        # the execution, so reconciliation takes the position from the broker.
        await stack.streams.trade_updates.stop()
        load_faults(
            simulator,
            {
                "match": {"path_prefix": "/v2/account/activities"},
                "effect": "status",
                "status": 200,
                "body": {},
            },
        )
        placed = await stack.orders.submit_order(buy("AAPL", 3))
        assert isinstance(placed, Order)
        report = await stack.orders.reconcile("requested")
        assert report["adopted_positions"] == [{"symbol": "AAPL", "from": "0", "to": "3"}]
        simulator.faults.clear()
        # Now the activities show the execution the adopted position already holds.
        assert await stack.orders.sync_fills() == []
        assert stack.orders.book.position_qty("AAPL") == 3
        await stack.settled()
    finally:
        await stack.stop()

    again = build_stack(simulator, path)  # and after a restart, too
    try:
        await again.start()
        assert again.orders.book.position_qty("AAPL") == 3
        await again.settled()
    finally:
        await again.stop()
