"""Property 7, order cache consistency.

After any sequence of submissions (market and limit, buys and sells within the risk limits),
cancels, market time passing (resting orders fill, in parts when the simulator says so) and
order-stream drops, with the trade_updates stream duplicating and reordering messages (seeded
faults), the order
manager's cache (status and filled quantity of every order), its book's positions and the
journal all equal the broker's, each execution is journaled exactly once, and nothing was
sent twice.

Each example runs a fresh simulator on its own event loop (its partial-fill rate is part of the
example) and a fresh order stack with a file journal.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pulsetrader.domain.enums import OrderStatus
from pulsetrader.domain.intents import OrderIntent
from pulsetrader.domain.orders import Order
from pulsetrader.sim.faults import FaultProfile
from pulsetrader.sim.service import Simulator
from tests.helpers import eventually
from tests.integration.execution.conftest import Stack, build_stack
from tests.integration.execution.support import (
    broker_orders,
    cache_matches_broker,
    fills_are_unique,
)
from tests.simulator import sim_config

SYMBOLS = ("AAPL", "MSFT")
SIDES = ("buy", "sell")

#: A limit's distance from the midpoint, as a fraction: negative crosses the spread (fills at
#: once), small positive rests a while, large positive rests until cancelled.
OFFSETS = (-0.01, 0.0005, 0.002, 0.1)

OPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("market"), st.sampled_from(SYMBOLS), st.sampled_from(SIDES), st.integers(1, 12)
        ),
        st.tuples(
            st.just("limit"),
            st.sampled_from(SYMBOLS),
            st.sampled_from(SIDES),
            st.integers(1, 12),
            st.sampled_from(OFFSETS),
        ),
        st.tuples(st.just("cancel"), st.integers(0, 7)),
        st.tuples(st.just("advance"), st.integers(5, 90)),
        st.tuples(st.just("drop")),
    ),
    min_size=1,
    max_size=8,
)

#: A small number of examples (each runs a simulator), never more than the profile allows.
EXAMPLES = settings(
    max_examples=min(12, settings.default.max_examples),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@EXAMPLES
@example(  # executions booked from the FILL activities once left their order unjournaled
    ops=[
        ("market", "AAPL", "buy", 8),
        ("drop",),
        ("limit", "AAPL", "sell", 10, 0.002),
        ("drop",),
        ("advance", 44),
        ("cancel", 1),
    ],
    duplicate=1.0,
    reorder=1.0,
    partial_fill_rate=0.5,
    seed=65536,
)
@given(
    ops=OPS,
    duplicate=st.sampled_from([0.0, 0.3, 1.0]),
    reorder=st.sampled_from([0.0, 0.3, 1.0]),
    partial_fill_rate=st.sampled_from([0.0, 0.5, 1.0]),
    seed=st.integers(0, 2**16),
)
def test_property_7_the_order_cache_equals_the_broker(
    ops: list[tuple[Any, ...]],
    duplicate: float,
    reorder: float,
    partial_fill_rate: float,
    seed: int,
) -> None:
    rules = [
        {"stream": "trade_updates", "effect": "duplicate", "probability": duplicate},
        {"stream": "trade_updates", "effect": "reorder", "probability": reorder},
    ]
    profile = FaultProfile.parse({"seed": seed, "rules": rules})
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(_scenario(ops, profile, partial_fill_rate, seed, Path(folder)))


async def _scenario(
    ops: list[tuple[Any, ...]],
    profile: FaultProfile,
    partial_fill_rate: float,
    seed: int,
    folder: Path,
) -> None:
    config = sim_config(seed=seed, partial_fill_rate=partial_fill_rate)
    async with Simulator(config) as sim:
        stack = build_stack(sim, folder / "journal.db")
        await stack.start()
        try:
            sim.faults.load(profile)
            placed: list[Order] = []
            for op in ops:
                await _apply(stack, sim, op, placed)
            await _check(stack, placed)
        finally:
            await stack.stop()


async def _apply(stack: Stack, sim: Simulator, op: tuple[Any, ...], placed: list[Order]) -> None:
    kind = op[0]
    if kind == "advance":
        await sim.advance(timedelta(seconds=op[1]))
        return
    if kind == "drop":
        # The order stream drops and reconnects (updates sent meanwhile are lost); the
        # reconnect's reconciliation runs alongside whatever comes next.
        await stack.streams.trade_updates.drop()
        return
    if kind == "cancel":
        working = [o for o in placed if o.is_open]
        if working:
            await stack.orders.cancel_order(working[op[1] % len(working)].client_order_id)
        return
    _, symbol, side, qty = op[:4]
    if side == "sell":
        # Sell only what is held and not already on its way out: exits, not short sales.
        held = stack.orders.book.position_qty(symbol)
        selling = sum(
            (o.remaining_qty or Decimal(0))
            for o in stack.orders.open_orders(symbol)
            if o.side.value == "sell"
        )
        qty = min(Decimal(qty), held - selling)
        if qty <= 0:
            return
    fields: dict[str, Any] = {}
    if kind == "limit":
        quote = await stack.client.get_latest_quote(symbol)
        mid = (quote.bid_price + quote.ask_price) / 2
        offset = Decimal(str(op[4]))
        price = mid * (1 - offset) if side == "buy" else mid * (1 + offset)
        fields = {"type": "limit", "limit_price": price.quantize(Decimal("0.01"))}
    result = await stack.orders.submit_order(
        OrderIntent(symbol=symbol, side=side, qty=Decimal(qty), **fields)
    )
    if isinstance(result, Order):
        placed.append(result)


async def _check(stack: Stack, placed: list[Order]) -> None:
    # A held-back message goes out after the next one or within a second: wait for the state
    # to settle rather than for any particular message.
    await stack.settled(timeout=15)
    await eventually(lambda: cache_matches_broker(stack), timeout=10, message="cache == broker")
    assert fills_are_unique(stack)
    activities = await stack.client.get_fill_activities(stack.sim.start_time)
    assert sorted(r.fill.execution_id for r in stack.journal.fills()) == sorted(
        a.fill.execution_id for a in activities
    )
    at_broker = await broker_orders(stack)
    coids = [o.client_order_id for o in at_broker]
    assert len(coids) == len(set(coids)), "an order was sent twice"
    accepted = {o.client_order_id for o in placed if o.status is not OrderStatus.REJECTED}
    assert accepted <= set(coids)
    for order in placed:
        cached = stack.orders.orders[order.client_order_id]
        assert cached is order  # the manager never swapped its order object
        journaled = stack.journal.get_order(order.client_order_id)
        assert journaled is not None
        assert (journaled.status, journaled.filled_qty) == (order.status, order.filled_qty)
    book = {p.symbol: p.qty for p in stack.orders.positions()}
    assert book == {p.symbol: p.qty for p in await stack.client.get_positions()}
