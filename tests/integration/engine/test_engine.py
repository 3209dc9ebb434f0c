"""The engine against the simulator: start-up order, strategies, orders, health, shutdown."""

from __future__ import annotations

import asyncio
import signal
from decimal import Decimal
from pathlib import Path

import pytest

from pulsetrader.domain.enums import OrderSide, OrderStatus, TradingState
from pulsetrader.domain.intents import OrderIntent
from pulsetrader.domain.orders import Order
from pulsetrader.engine import Engine, install_signal_handlers
from pulsetrader.persistence.journal import Journal
from pulsetrader.sim.faults import FaultProfile
from pulsetrader.sim.service import Simulator
from tests.helpers import eventually
from tests.integration.broker.conftest import make_client
from tests.integration.engine.conftest import ORDER_SYMBOL, STRATEGY, make_engine, sim_settings
from tests.integration.execution.conftest import matches_broker

pytestmark = pytest.mark.sim_config(speed=60)


async def test_start_up_reconciles_before_strategies_and_trades(engine: Engine) -> None:
    actions = list(reversed(engine.journal.actions(limit=500)))  # oldest first
    names = [(a["actor"], a["action"]) for a in actions]
    assert ("engine", "reconcile") in names
    assert ("engine", "strategies_started") in names
    assert names.index(("engine", "reconcile")) < names.index(("engine", "strategies_started"))
    assert engine.orders.reconciled or engine.orders.stream_connected
    assert engine.streams.trade_updates.connected

    runner = engine.runner
    assert runner is not None
    first = runner.status()[0]
    assert first["name"] == STRATEGY
    assert first["state"] == "RUNNING"
    start_bars = first["bars"]
    await eventually(
        lambda: runner.status()[0]["bars"] >= start_bars + 2,
        timeout=8,
        message="live bars delivered to the strategy",
    )

    result = await engine.orders.submit_order(
        OrderIntent(symbol=ORDER_SYMBOL, side=OrderSide.BUY, qty=Decimal(2))
    )
    assert isinstance(result, Order), result
    coid = result.client_order_id

    def filled() -> bool:
        order = engine.orders.find(coid)
        return order is not None and order.status is OrderStatus.FILLED

    await eventually(filled, timeout=5, message="the order filled")
    await eventually(
        lambda: (
            (o := engine.journal.get_order(coid)) is not None
            and o.status is OrderStatus.FILLED
            and o.filled_qty == Decimal(2)
        ),
        timeout=5,
        message="the fill journaled",
    )
    await eventually(
        lambda: sum(r.fill.qty for r in engine.journal.fills(client_order_id=coid)) == 2,
        timeout=5,
        message="the execution journaled as a fill",
    )
    await eventually(lambda: matches_broker(engine), timeout=5, message="journal == broker")
    await eventually(
        lambda: len(engine.journal.equity_curve()) >= 1, timeout=5, message="equity recorded"
    )


async def test_fault_burst_reduces_then_recovers(engine: Engine, simulator: Simulator) -> None:
    assert engine.risk.state is TradingState.ACTIVE
    rule = {"effect": "status", "status": 503, "count": 6, "match": {"path_prefix": "/v2/"}}
    simulator.faults.load(FaultProfile.parse({"seed": 1, "rules": [rule]}))

    async def reducing() -> bool:
        await engine.monitor.check()
        return engine.risk.state is TradingState.REDUCING

    await eventually(reducing, timeout=5, message="preservation mode (REDUCING)")
    assert engine.monitor.managed

    async def active() -> bool:
        await engine.monitor.check()
        return engine.risk.state is TradingState.ACTIVE

    await eventually(active, timeout=5, interval=0.05, message="back to ACTIVE")
    states = [
        a["detail"]["to"]
        for a in reversed(engine.journal.actions(limit=500))
        if a["action"] == "trading_state"
    ]
    assert states == ["REDUCING", "ACTIVE"], states


async def test_stop_closes_positions_and_leaves_journal_equal(
    simulator: Simulator, tmp_path: Path
) -> None:
    settings = sim_settings(simulator, tmp_path, close_positions_on_shutdown=True)
    engine = make_engine(simulator, settings)
    await engine.start()
    try:
        result = await engine.orders.submit_order(
            OrderIntent(symbol=ORDER_SYMBOL, side=OrderSide.BUY, qty=Decimal(3))
        )
        assert isinstance(result, Order), result
        await eventually(
            lambda: any(p.symbol == ORDER_SYMBOL and p.qty == 3 for p in engine.orders.positions()),
            timeout=5,
            message="position opened",
        )
        journal = engine.journal
    finally:
        await engine.stop()
    assert journal.closed

    # The engine's client and journal are closed: look with fresh ones.
    check = make_client(simulator)
    try:
        assert await check.get_positions() == []
        broker_orders = await check.list_orders("all", nested=False, limit=500)
    finally:
        await check.close()
    with Journal(settings.pulsetrader_db) as reopened:
        journaled = {o.client_order_id: o for o in reopened.load_orders()}
        for snap in broker_orders:
            mine = journaled[snap.client_order_id]
            assert (mine.status, mine.filled_qty) == (snap.status, snap.filled_qty)
        assert not [o for o in journaled.values() if o.is_open]
        assert {s: p.qty for s, p in reopened.load_positions().items() if p.qty != 0} == {}
        assert reopened.actions(limit=1)[0]["action"] == "stopped"


async def test_run_until_the_stop_event_and_signals_set_it(
    simulator: Simulator, tmp_path: Path
) -> None:
    engine = make_engine(simulator, sim_settings(simulator, tmp_path, strategies_file=None))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    install_signal_handlers(loop, stop)
    try:
        task = asyncio.create_task(engine.run(stop))
        await eventually(
            lambda: engine.started and engine.journal.actions(limit=1)[0]["action"] == "started",
            timeout=5,
            message="engine running",
        )
        assert engine.runner is None  # no strategies file: nothing runs, nothing fails
        signal.raise_signal(signal.SIGTERM)
        await eventually(stop.is_set, timeout=2, message="SIGTERM sets the stop event")
        await asyncio.wait_for(task, timeout=10)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    assert engine.stopped
    assert engine.journal.closed
