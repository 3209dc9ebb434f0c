"""The order path against the simulator: risk, journal, broker, stream, book."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from pulsetrader.domain.enums import OrderStatus
from pulsetrader.domain.intents import OrderIntent
from pulsetrader.domain.orders import Order
from pulsetrader.risk import Denied, RiskLimits
from tests.helpers import eventually

from .conftest import Stack
from .support import buy, load_faults


async def test_a_market_buy_fills_and_the_journal_equals_the_broker(stack: Stack) -> None:
    placed = await stack.orders.submit_order(OrderIntent(symbol="AAPL", side="buy", qty=10))
    assert isinstance(placed, Order)
    await eventually(lambda: stack.orders.book.position_qty("AAPL") == 10)
    assert stack.orders.orders[placed.client_order_id].status is OrderStatus.FILLED
    await stack.settled()


async def test_a_denied_order_never_reaches_the_broker(stack: Stack) -> None:
    result = await stack.orders.submit_order(OrderIntent(symbol="AAPL", side="buy", qty=100000))
    assert isinstance(result, Denied)
    assert result.rule == "order_notional"
    assert await stack.client.list_orders("all") == []
    denied = stack.journal.decisions(denied_only=True)
    assert [d["rule"] for d in denied] == ["order_notional"]


async def test_closing_a_position_realizes_its_pl(stack: Stack) -> None:
    placed = await stack.orders.submit_order(
        OrderIntent(symbol="AAPL", side="buy", qty=5, strategy="s1")
    )
    assert isinstance(placed, Order)
    await eventually(lambda: stack.orders.book.position_qty("AAPL") == 5)
    closing = await stack.orders.close_position("AAPL")
    assert isinstance(closing, Order)
    assert closing.side.value == "sell"
    assert closing.qty == 5
    await eventually(lambda: stack.orders.book.position_qty("AAPL") == 0)
    realized = stack.journal.realized_pl(by="symbol")["AAPL"]
    buy, sell = placed, stack.orders.orders[closing.client_order_id]
    assert sell.filled_avg_price is not None
    assert buy.filled_avg_price is not None
    assert realized == (sell.filled_avg_price - buy.filled_avg_price) * Decimal(5)
    await stack.settled()


async def test_the_next_order_counts_the_last_fill_without_waiting_for_a_reload(
    stack: Stack,
) -> None:
    """After an order and its fill the account manager reloads account and positions; here
    those reloads hang for 30 s. The next order's risk check must not wait for them, and must
    still count the fill: a second buy that only the first one pushes over the position limit
    is denied at once."""
    price = await stack.feed.get_current_price("AAPL")
    assert price is not None
    stack.accounts.risk_max_age = 60.0  # the snapshot taken now stays usable; reloads are slow
    await stack.accounts.risk_snapshot()
    stack.risk.limits = RiskLimits(max_position_notional=price * 15)  # room for 10, not 20
    slow = {"effect": "latency", "ms": 30_000}
    load_faults(
        stack.sim,
        {"match": {"path": "/v2/account"}, **slow},
        {"match": {"path": "/v2/positions"}, **slow},
    )
    try:
        first = await asyncio.wait_for(stack.orders.submit_order(buy("AAPL", 10)), 5)
        assert isinstance(first, Order)
        await eventually(lambda: stack.orders.book.position_qty("AAPL") == 10)
        second = await asyncio.wait_for(stack.orders.submit_order(buy("AAPL", 10)), 5)
        assert isinstance(second, Denied)
        assert second.rule == "position_notional"
        assert stack.accounts._reloads  # the reload the fill started is still out
    finally:
        stack.sim.faults.clear()
        await stack.accounts.stop()
