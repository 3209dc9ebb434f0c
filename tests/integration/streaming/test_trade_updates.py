"""Order events from the simulator's ``trade_updates`` stream as domain OrderUpdate values:
each delivered once, through duplicates, reordering, disconnects and the one-connection limit.
"""

from __future__ import annotations

from decimal import Decimal

from pulsetrader.broker import AlpacaClient
from pulsetrader.domain import OrderIntent
from pulsetrader.domain.events import OrderUpdate
from pulsetrader.domain.money import isoformat_z
from pulsetrader.sim.events import TradeUpdate as SimUpdate
from pulsetrader.sim.service import Simulator
from pulsetrader.streaming import StreamEvent, StreamEventKind, WebSocketClient
from tests.helpers import eventually

from .conftest import MakeWs, fast_policy, load_faults, of_kind


def sim_key(update: SimUpdate) -> tuple[str, ...]:
    """The simulator's event keyed as OrderUpdate.key keys it."""
    order_id = str(update.order["id"])
    if update.execution_id:
        return (order_id, update.event, update.execution_id)
    return (order_id, update.event, isoformat_z(update.timestamp))


async def listening(ws: WebSocketClient) -> None:
    await ws.trade_updates.wait_connected(5)


async def test_order_events_arrive_as_order_updates(
    simulator: Simulator, make_ws: MakeWs, rest: AlpacaClient
) -> None:
    ws = await make_ws()
    updates: list[OrderUpdate] = []
    ws.on_order_update(updates.append)
    await listening(ws)

    order = await rest.submit_order(OrderIntent(symbol="AAPL", side="buy", qty=Decimal(5)))
    await eventually(
        lambda: [u.event for u in updates] == ["new", "fill"], message="new, then fill"
    )
    new, fill = updates
    assert all(isinstance(u, OrderUpdate) for u in updates)
    assert {u.order.broker_order_id for u in updates} == {order.broker_order_id}
    assert {u.order.client_order_id for u in updates} == {order.client_order_id}
    assert not new.is_fill
    assert new.fill() is None
    assert fill.is_fill
    assert fill.qty == Decimal(5)
    assert fill.position_qty == Decimal(5)
    assert fill.price is not None
    assert fill.price > 0
    execution = fill.fill()
    assert execution is not None
    assert (execution.symbol, execution.qty, execution.price) == ("AAPL", Decimal(5), fill.price)
    assert fill.order.status.value == "filled"
    assert fill.timestamp.tzinfo is not None

    limit = await rest.submit_order(
        OrderIntent(symbol="MSFT", side="buy", qty=Decimal(1), type="limit", limit_price=Decimal(1))
    )
    await rest.cancel_order(limit.broker_order_id or "")
    await eventually(
        lambda: (
            [u.event for u in updates if u.order.broker_order_id == limit.broker_order_id]
            == ["new", "canceled"]
        ),
        message="the limit order's new and canceled",
    )


async def test_duplicated_and_reordered_updates_are_each_delivered_once(
    simulator: Simulator, make_ws: MakeWs, rest: AlpacaClient
) -> None:
    emitted: list[SimUpdate] = []
    simulator.exchange.add_listener(emitted.append)
    ws = await make_ws()
    updates: list[OrderUpdate] = []
    ws.on_order_update(updates.append)
    await listening(ws)
    load_faults(
        simulator,
        {"stream": "trade_updates", "effect": "duplicate", "probability": 0.5},
        {"stream": "trade_updates", "effect": "reorder", "probability": 0.3},
        seed=3,
    )
    for n in range(4):
        await rest.submit_order(OrderIntent(symbol="AAPL", side="buy", qty=Decimal(n + 1)))
    for n in range(2):
        limit = await rest.submit_order(
            OrderIntent(
                symbol="SPY", side="buy", qty=Decimal(1), type="limit", limit_price=Decimal(n + 1)
            )
        )
        await rest.cancel_order(limit.broker_order_id or "")

    expected = {sim_key(u) for u in emitted}
    assert len(expected) == len(emitted) == 4 * 2 + 2 * 2
    await eventually(
        lambda: {u.key for u in updates} == expected, message="every update the sim emitted"
    )
    keys = [u.key for u in updates]
    assert len(keys) == len(set(keys)), "an update was delivered twice"
    assert ws.trade_updates.duplicates >= 1, "the duplicate fault never fired"
    fired = {rule["effect"]: rule["fired"] for rule in simulator.faults.snapshot()["rules"]}
    assert fired["duplicate"] >= 1
    assert fired["reorder"] >= 1
    assert len(updates) == len(emitted)


async def test_the_order_stream_reconnects_after_a_disconnect(
    simulator: Simulator, make_ws: MakeWs, rest: AlpacaClient, events: list[StreamEvent]
) -> None:
    ws = await make_ws()
    updates: list[OrderUpdate] = []
    ws.on_order_update(updates.append)
    await listening(ws)
    load_faults(
        simulator,
        {"stream": "trade_updates", "effect": "disconnect", "at_seconds": [0], "count": 1},
    )
    await eventually(
        lambda: [e for e in of_kind(events, StreamEventKind.CONNECTED, "trade_updates")
                 if e.is_reconnect],
        message="a reconnect of the order stream",
    )  # fmt: skip
    assert of_kind(events, StreamEventKind.DISCONNECTED, "trade_updates")
    await listening(ws)
    order = await rest.submit_order(OrderIntent(symbol="AAPL", side="buy", qty=Decimal(1)))
    await eventually(
        lambda: (
            {u.event for u in updates if u.order.broker_order_id == order.broker_order_id}
            == {"new", "fill"}
        ),
        message="updates after the reconnect",
    )


async def test_a_second_order_stream_waits_out_the_connection_limit(
    simulator: Simulator, make_ws: MakeWs, rest: AlpacaClient
) -> None:
    """Alpaca allows one trade_updates connection per account and answers HTTP 429."""
    first = await make_ws()
    first.on_order_update(lambda u: None)
    await listening(first)

    second_events: list[StreamEvent] = []
    policy = fast_policy(base_delay=0.01, max_delay=0.02, limit_delay=0.3, limit_max_delay=0.6)
    second = await make_ws(hooks=[second_events.append], policy=policy)
    got: list[OrderUpdate] = []
    second.on_order_update(got.append)
    await eventually(
        lambda: len(of_kind(second_events, StreamEventKind.CONNECTION_LIMIT)) >= 2,
        message="two refusals",
    )
    refusals = of_kind(second_events, StreamEventKind.CONNECTION_LIMIT)
    assert all(e.code == 429 and e.stream == "trade_updates" for e in refusals)
    gap = (refusals[1].at - refusals[0].at).total_seconds()
    # A limit wait is [0.15, 0.3] s here; an ordinary retry would be at most 0.02 s.
    assert gap >= 0.14, gap
    assert not second.trade_updates.connected

    await first.disconnect()
    await listening(second)
    order = await rest.submit_order(OrderIntent(symbol="AAPL", side="buy", qty=Decimal(1)))
    await eventually(
        lambda: {u.order.broker_order_id for u in got} == {order.broker_order_id},
        message="the second stream's updates",
    )
