"""The order path against the simulator: risk, journal, broker, stream, book."""

from __future__ import annotations

from decimal import Decimal

from pulsetrader.domain.enums import OrderStatus
from pulsetrader.domain.intents import OrderIntent
from pulsetrader.domain.orders import Order
from pulsetrader.risk import Denied
from tests.helpers import eventually

from .conftest import Stack


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
