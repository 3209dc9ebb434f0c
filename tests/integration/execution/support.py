"""Helpers shared by the order-stack tests under fault injection."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal
from typing import Any

from pulsetrader.domain.intents import OrderIntent
from pulsetrader.domain.orders import Order
from pulsetrader.sim.service import Simulator
from tests.integration.broker.conftest import load_faults

from .conftest import Stack

POST_ORDERS = {"method": "POST", "path": "/v2/orders"}

__all__ = [
    "POST_ORDERS",
    "broker_orders",
    "buy",
    "cache_matches_broker",
    "fills_are_unique",
    "load_faults",
    "market_advancer",
    "sell",
]


def buy(symbol: str = "AAPL", qty: int | str = 1, **kw: Any) -> OrderIntent:
    return OrderIntent(symbol=symbol, side="buy", qty=Decimal(qty), **kw)


def sell(symbol: str = "AAPL", qty: int | str = 1, **kw: Any) -> OrderIntent:
    return OrderIntent(symbol=symbol, side="sell", qty=Decimal(qty), **kw)


async def broker_orders(stack: Stack) -> list[Order]:
    """Every order the broker has (any status), legs as orders of their own."""
    return await stack.client.list_orders("all", nested=False, limit=500)


async def cache_matches_broker(stack: Stack) -> bool:
    """The manager's in-memory cache agrees with the broker: every broker order is cached with
    its status and filled quantity (and broker id), and no cached open order is unknown to it."""
    broker = await broker_orders(stack)
    for snap in broker:
        mine = stack.orders.find(snap.client_order_id, snap.broker_order_id)
        if mine is None or mine.broker_order_id != snap.broker_order_id:
            return False
        if mine.status != snap.status or mine.filled_qty != snap.filled_qty:
            return False
    known = {o.client_order_id for o in broker}
    return not any(
        o.is_open and o.client_order_id not in known for o in stack.orders.orders.values()
    )


def fills_are_unique(stack: Stack) -> bool:
    """Each execution is journaled once."""
    counts = Counter(record.fill.execution_id for record in stack.journal.fills())
    return all(n == 1 for n in counts.values())


def market_advancer(sim: Simulator, step: timedelta = timedelta(seconds=15)) -> Any:
    """A predicate factory for :func:`tests.helpers.eventually`: each poll moves simulated time
    ``step`` forward (the market runs over it, so resting and partially filled orders trade)
    before checking ``condition``."""

    def until(condition: Any) -> Any:
        async def check() -> bool:
            if condition():
                return True
            await sim.advance(step)
            return bool(condition())

        return check

    return until
