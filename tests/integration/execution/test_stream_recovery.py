"""The order stream goes down: REST polling and the FILL activities keep orders and the book
right meanwhile, and the reconnect is followed by a reconciliation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pulsetrader.domain.enums import OrderStatus
from pulsetrader.domain.orders import Order
from pulsetrader.streaming import StreamEventKind
from tests.helpers import eventually

from .conftest import Stack
from .support import broker_orders, buy, cache_matches_broker, load_faults, market_advancer

#: Nothing listens here: while the stream's URL points at it, every reconnect attempt fails.
DEAD_URL = "ws://127.0.0.1:9/stream"


def reconciles(stack: Stack) -> list[str]:
    """The reasons of every journaled reconciliation, oldest first."""
    return [
        a["detail"]["reason"]
        for a in reversed(stack.journal.actions())
        if a["action"] == "reconcile"
    ]


async def take_the_stream_down(stack: Stack) -> str:
    """The simulator hangs up on the trade_updates client (a ``disconnect`` fault); its
    reconnects fail until :func:`bring_the_stream_back`. Returns the real URL."""
    stream = stack.streams.trade_updates
    url = stream.url
    stream.url = DEAD_URL
    load_faults(
        stack.sim,
        {"stream": "trade_updates", "effect": "disconnect", "at_seconds": [0], "count": 1},
    )
    await eventually(lambda: not stack.orders.stream_connected, message="the stream down")
    return url


async def bring_the_stream_back(stack: Stack, url: str) -> None:
    stack.sim.faults.clear()
    stack.streams.trade_updates.url = url
    await stack.streams.trade_updates.wait_connected()
    await eventually(lambda: stack.orders.stream_connected, message="the stream back")


async def test_while_the_stream_is_down_polling_books_the_fills(stack: Stack) -> None:
    url = await take_the_stream_down(stack)
    assert any(
        e.stream == "trade_updates" and e.kind is StreamEventKind.DISCONNECTED for e in stack.events
    )
    updates_before = stack.streams.trade_updates.updates
    placed = await stack.orders.submit_order(buy("AAPL", 6))
    assert isinstance(placed, Order)
    # A limit order at the midpoint rests, then the market fills it: only polling can see it.
    quote = await stack.client.get_latest_quote("MSFT")
    mid = ((quote.bid_price + quote.ask_price) / 2).quantize(Decimal("0.01"))
    resting = await stack.orders.submit_order(buy("MSFT", 2, type="limit", limit_price=mid))
    assert isinstance(resting, Order)
    await eventually(lambda: stack.orders.book.position_qty("AAPL") == 6, message="AAPL booked")
    assert placed.status is OrderStatus.FILLED
    until = market_advancer(stack.sim)
    await eventually(until(lambda: resting.status is OrderStatus.FILLED), timeout=15)
    await eventually(lambda: stack.orders.book.position_qty("MSFT") == 2, message="MSFT booked")
    # All of it came over REST: the stream delivered nothing meanwhile.
    assert stack.streams.trade_updates.updates == updates_before
    assert not stack.orders.stream_connected
    await stack.settled()
    await bring_the_stream_back(stack, url)
    await eventually(lambda: "order stream reconnected" in reconciles(stack), message="reconcile")
    await stack.settled()
    assert await cache_matches_broker(stack)


async def test_fills_missed_while_down_are_reconciled_after_the_reconnect(stack: Stack) -> None:
    # Polling off: only the reconnect's reconciliation can bring the missed fill in.
    stack.orders.poll_interval = 3600
    await stack.orders.stop()
    stack.orders.start()
    url = await take_the_stream_down(stack)
    placed = await stack.orders.submit_order(buy("AAPL", 4))
    assert isinstance(placed, Order)
    assert stack.orders.book.position_qty("AAPL") == 0
    await bring_the_stream_back(stack, url)
    await eventually(lambda: "order stream reconnected" in reconciles(stack), message="reconcile")
    await eventually(lambda: stack.orders.book.position_qty("AAPL") == 4, message="the fill")
    assert stack.orders.reconciled
    assert [o.client_order_id for o in await broker_orders(stack)] == [placed.client_order_id]
    await stack.settled()


@pytest.mark.sim_config(partial_fill_rate=1.0)
async def test_partial_fills_while_the_stream_is_down(stack: Stack) -> None:
    url = await take_the_stream_down(stack)
    placed = await stack.orders.submit_order(buy("AAPL", 12))
    assert isinstance(placed, Order)
    until = market_advancer(stack.sim)
    await eventually(until(lambda: placed.status is OrderStatus.FILLED), timeout=15)
    await eventually(lambda: stack.orders.book.position_qty("AAPL") == 12, message="booked")
    fills = [r.fill for r in stack.journal.fills()]
    assert sum(f.qty for f in fills) == 12
    assert len({f.execution_id for f in fills}) == len(fills)
    await stack.settled()
    await bring_the_stream_back(stack, url)
    await eventually(lambda: "order stream reconnected" in reconciles(stack), message="reconcile")
    await stack.settled()
