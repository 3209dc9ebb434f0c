"""The order stack against the simulator under fault injection: lost responses, 429 storms,
duplicate, reordered and late trade_updates, and partial fills. Each ends with the journal
equal to the broker."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest

from pulsetrader.broker import CallOutcome
from pulsetrader.domain.enums import OrderStatus
from pulsetrader.domain.events import OrderUpdate
from pulsetrader.domain.orders import Order
from pulsetrader.sim.service import Simulator
from tests.helpers import eventually

from .conftest import Stack, build_stack
from .support import (
    POST_ORDERS,
    broker_orders,
    buy,
    cache_matches_broker,
    fills_are_unique,
    load_faults,
    market_advancer,
    sell,
)


def submits(outcomes: list[CallOutcome]) -> list[int | None]:
    return [o.status for o in outcomes if o.endpoint == "submit_order"]


# -- an accepted order whose response is lost --------------------------------------------------


async def test_a_lost_response_to_an_accepted_order_gives_exactly_one_order(stack: Stack) -> None:
    load_faults(
        stack.sim, {"match": POST_ORDERS, "effect": "drop_response", "probability": 1, "count": 1}
    )
    placed = await stack.orders.submit_order(buy("AAPL", 3))
    assert isinstance(placed, Order)
    assert stack.sim.faults.snapshot()["rules"][0]["fired"] == 1
    at_broker = await broker_orders(stack)
    assert [o.client_order_id for o in at_broker] == [placed.client_order_id]
    # The lookup by client_order_id found it: it was not sent a second time.
    assert stack.sim.stats.by_route["POST /v2/orders"] == 1
    assert placed.broker_order_id == at_broker[0].broker_order_id
    assert stack.orders.find(broker_order_id=at_broker[0].broker_order_id) is placed
    await eventually(lambda: stack.orders.book.position_qty("AAPL") == 3)
    assert stack.journal.get_order(placed.client_order_id).broker_order_id == (  # type: ignore[union-attr]
        placed.broker_order_id
    )
    await stack.settled()


async def test_every_response_lost_still_gives_one_order_and_the_right_position(
    stack: Stack,
) -> None:
    load_faults(stack.sim, {"match": POST_ORDERS, "effect": "drop_response"})
    first = await stack.orders.submit_order(buy("AAPL", 2))
    second = await stack.orders.submit_order(buy("MSFT", 1))
    assert isinstance(first, Order)
    assert isinstance(second, Order)
    stack.sim.faults.clear()
    at_broker = sorted(o.client_order_id for o in await broker_orders(stack))
    assert at_broker == sorted([first.client_order_id, second.client_order_id])
    assert first.broker_order_id
    assert second.broker_order_id
    await eventually(
        lambda: (
            (stack.orders.book.position_qty("AAPL"), stack.orders.book.position_qty("MSFT"))
            == (2, 1)
        )
    )
    await stack.settled()


# -- 429 storms ---------------------------------------------------------------------------------


async def test_a_429_storm_shorter_than_the_attempts_ends_in_one_order(stack: Stack) -> None:
    seen: list[CallOutcome] = []
    stack.client.add_hook(seen.append)
    attempts = stack.client.retry.max_attempts
    load_faults(
        stack.sim,
        {
            "match": POST_ORDERS,
            "effect": "status",
            "status": 429,
            "retry_after": 0,
            "count": attempts - 1,
        },
    )
    placed = await stack.orders.submit_order(buy("AAPL", 4))
    assert isinstance(placed, Order)
    assert submits(seen) == [429] * (attempts - 1) + [200]
    assert [o.client_order_id for o in await broker_orders(stack)] == [placed.client_order_id]
    await eventually(lambda: stack.orders.book.position_qty("AAPL") == 4)
    await stack.settled()


async def test_a_429_storm_over_the_whole_api_still_ends_in_one_order(stack: Stack) -> None:
    # Reads (account, positions, price) and the submission all meet 429s; every call absorbs
    # its share within its attempts and the order goes through once.
    attempts = stack.client.retry.max_attempts
    load_faults(
        stack.sim,
        {
            "match": {"path_prefix": "/v2/"},
            "effect": "status",
            "status": 429,
            "retry_after": 0,
            "count": attempts - 1,
        },
        {
            "match": POST_ORDERS,
            "effect": "status",
            "status": 429,
            "retry_after": 0,
            "count": attempts - 1,
        },
    )
    stack.accounts.invalidate()
    placed = await stack.orders.submit_order(buy("MSFT", 2))
    assert isinstance(placed, Order), placed
    assert [o.client_order_id for o in await broker_orders(stack)] == [placed.client_order_id]
    await eventually(lambda: stack.orders.book.position_qty("MSFT") == 2)
    await stack.settled()


async def test_a_persistent_429_rejects_the_order_locally_and_nothing_reaches_the_broker(
    stack: Stack,
) -> None:
    seen: list[CallOutcome] = []
    stack.client.add_hook(seen.append)
    load_faults(
        stack.sim, {"match": POST_ORDERS, "effect": "status", "status": 429, "retry_after": 0}
    )
    result = await stack.orders.submit_order(buy("AAPL", 1))
    assert isinstance(result, Order)
    assert result.status is OrderStatus.REJECTED
    assert "rate limit" in (result.reject_reason or "")
    assert submits(seen) == [429] * stack.client.retry.max_attempts  # bounded, then given up
    assert await broker_orders(stack) == []
    journaled = stack.journal.get_order(result.client_order_id)
    assert journaled is not None
    assert journaled.status is OrderStatus.REJECTED
    assert stack.orders.open_orders() == []
    stack.sim.faults.clear()
    await stack.settled()


# -- duplicate, reordered and late trade_updates ------------------------------------------------


async def test_duplicate_trade_updates_give_one_fill_per_execution(stack: Stack) -> None:
    load_faults(stack.sim, {"stream": "trade_updates", "effect": "duplicate", "probability": 1})
    bought = await stack.orders.submit_order(buy("AAPL", 5))
    assert isinstance(bought, Order)
    await eventually(lambda: stack.orders.book.position_qty("AAPL") == 5)
    sold = await stack.orders.submit_order(sell("AAPL", 2))
    assert isinstance(sold, Order)
    await eventually(lambda: stack.orders.book.position_qty("AAPL") == 3)
    await eventually(lambda: stack.streams.trade_updates.duplicates >= 2, message="duplicates")
    assert fills_are_unique(stack)
    activities = await stack.client.get_fill_activities(stack.sim.start_time)
    assert sorted(r.fill.execution_id for r in stack.journal.fills()) == sorted(
        a.fill.execution_id for a in activities
    )
    assert [p.qty for p in await stack.client.get_positions()] == [Decimal(3)]
    await stack.settled()
    assert await cache_matches_broker(stack)


async def test_a_fill_delivered_twice_past_the_stream_is_counted_once(stack: Stack) -> None:
    # The stream drops exact duplicates itself; the manager must not rely on it.
    seen: list[OrderUpdate] = []
    stack.streams.on_order_update(seen.append)
    placed = await stack.orders.submit_order(buy("AAPL", 2))
    assert isinstance(placed, Order)
    await eventually(lambda: any(u.is_fill for u in seen), message="the fill event")
    fill = next(u for u in seen if u.is_fill)
    for _ in range(3):
        await stack.orders.on_order_update(fill)
    # The same execution re-sent later (as around a reconnect): still the same execution id.
    await stack.orders.on_order_update(dataclasses.replace(fill, timestamp=stack.sim.now()))
    assert stack.orders.book.position_qty("AAPL") == 2
    assert fills_are_unique(stack)
    assert len(stack.journal.fills()) == 1
    assert stack.orders.orders[placed.client_order_id].filled_qty == 2
    await stack.settled()


async def test_updates_after_a_terminal_state_are_ignored(stack: Stack) -> None:
    seen: list[OrderUpdate] = []
    stack.streams.on_order_update(seen.append)
    placed = await stack.orders.submit_order(buy("AAPL", 2))
    assert isinstance(placed, Order)
    await eventually(lambda: {"new", "fill"} <= {u.event for u in seen}, message="the updates")
    assert placed.status is OrderStatus.FILLED
    new = next(u for u in seen if u.event == "new")
    # The "new" again, and a made-up cancel, after the order filled: neither moves it.
    await stack.orders.on_order_update(new)
    canceled = dataclasses.replace(
        new,
        event="canceled",
        order=dataclasses.replace(new.order, status=OrderStatus.CANCELED, legs=[]),
        timestamp=stack.sim.now(),
    )
    await stack.orders.on_order_update(canceled)
    assert placed.status is OrderStatus.FILLED
    assert placed.filled_qty == 2
    assert stack.journal.get_order(placed.client_order_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
    await stack.settled()


async def test_reordered_trade_updates_end_in_the_broker_state(stack: Stack) -> None:
    load_faults(stack.sim, {"stream": "trade_updates", "effect": "reorder", "probability": 1})
    seen: list[OrderUpdate] = []
    stack.streams.on_order_update(seen.append)
    first = await stack.orders.submit_order(buy("AAPL", 3))
    second = await stack.orders.submit_order(buy("MSFT", 2))
    assert isinstance(first, Order)
    assert isinstance(second, Order)
    await eventually(
        lambda: (
            (stack.orders.book.position_qty("AAPL"), stack.orders.book.position_qty("MSFT"))
            == (3, 2)
        )
    )
    await eventually(lambda: len(seen) >= 4, message="every update")
    events = [(u.order.client_order_id, u.event) for u in seen]
    # The fault swapped neighbours: some order's fill arrived before its "new".
    assert any(
        events.index((coid, "fill")) < events.index((coid, "new"))
        for coid in (first.client_order_id, second.client_order_id)
    ), events
    assert first.status is OrderStatus.FILLED
    assert second.status is OrderStatus.FILLED
    assert fills_are_unique(stack)
    await stack.settled()
    assert await cache_matches_broker(stack)


# -- partial fills ------------------------------------------------------------------------------


@pytest.mark.sim_config(partial_fill_rate=1.0)
async def test_partial_fills_are_booked_exactly(stack: Stack) -> None:
    placed = await stack.orders.submit_order(buy("AAPL", 20))
    assert isinstance(placed, Order)
    until = market_advancer(stack.sim)
    await eventually(until(lambda: placed.status is OrderStatus.FILLED), timeout=15)
    await eventually(lambda: stack.orders.book.position_qty("AAPL") == 20)
    fills = [
        r.fill for r in stack.journal.fills() if r.fill.client_order_id == placed.client_order_id
    ]
    assert len(fills) > 1, "expected the order to fill in parts"
    assert sum(f.qty for f in fills) == 20
    broker = await stack.client.get_order(placed.broker_order_id or "")
    assert placed.filled_qty == broker.filled_qty == 20
    notional = sum(f.qty * f.price for f in fills)
    assert broker.filled_avg_price is not None
    assert abs(notional / 20 - broker.filled_avg_price) < Decimal("0.01")
    assert fills_are_unique(stack)
    await stack.settled()


@pytest.mark.sim_config(partial_fill_rate=1.0)
async def test_partial_fills_with_duplicated_and_reordered_updates(stack: Stack) -> None:
    load_faults(
        stack.sim,
        {"stream": "trade_updates", "effect": "duplicate", "probability": 0.5},
        {"stream": "trade_updates", "effect": "reorder", "probability": 0.5},
        seed=7,
    )
    bought = await stack.orders.submit_order(buy("AAPL", 15))
    assert isinstance(bought, Order)
    until = market_advancer(stack.sim)
    await eventually(until(lambda: bought.status is OrderStatus.FILLED), timeout=15)
    sold = await stack.orders.submit_order(sell("AAPL", 6))
    assert isinstance(sold, Order)
    await eventually(until(lambda: sold.status is OrderStatus.FILLED), timeout=15)
    await eventually(lambda: stack.orders.book.position_qty("AAPL") == 9)
    assert fills_are_unique(stack)
    for order in (bought, sold):
        mine = [r.fill for r in stack.journal.fills() if r.fill.order_id == order.broker_order_id]
        assert sum(f.qty for f in mine) == order.qty == order.filled_qty
    await stack.settled()
    assert await cache_matches_broker(stack)


@pytest.mark.sim_config(partial_fill_rate=1.0)
async def test_an_execution_the_stream_lost_is_booked_from_the_activities(
    simulator: Simulator, tmp_path: Path
) -> None:
    # The manager is not subscribed: the test hands it the stream's updates itself.
    stack = build_stack(simulator, tmp_path / "journal.db")
    updates: list[OrderUpdate] = []
    stack.streams.on_order_update(updates.append)
    stack.streams.add_hook(stack.orders.on_stream_event)
    await stack.streams.connect()
    await stack.streams.trade_updates.wait_connected()
    await stack.orders.reconcile("start-up")
    try:
        placed = await stack.orders.submit_order(buy("AAPL", 30))
        assert isinstance(placed, Order)
        until = market_advancer(stack.sim)
        await eventually(until(lambda: any(u.event == "fill" for u in updates)), timeout=15)
        fills = [u for u in updates if u.is_fill]
        assert len(fills) >= 3, [u.qty for u in fills]
        first, later = fills[0], fills[1:]
        assert first.qty is not None
        assert sum(u.qty or 0 for u in later) >= first.qty
        # The later executions arrive; the first one is lost (a reordering fault held it back
        # and the connection dropped). The FILL activities must still bring it in.
        for update in reversed(later):
            await stack.orders.on_order_update(update)
        await stack.orders.sync_fills()
        assert stack.orders.book.position_qty("AAPL") == 30
        assert sorted(r.fill.execution_id for r in stack.journal.fills()) == sorted(
            u.execution_id or "" for u in fills
        )
        await stack.settled()
    finally:
        await stack.stop()
