"""The seed's final checkpoint, as one run of the whole engine against the simulator.

"The engine runs a built-in strategy for a bounded simulated time; bars arrive, signals become
orders, the risk manager denies what it must, fills update positions and P/L, a fault burst puts
the engine into preservation mode and out again, and at shutdown the journal equals the broker
and what was configured to close is closed."
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pulsetrader.broker.client import AlpacaClient
from pulsetrader.broker.retry import RetryStrategy
from pulsetrader.domain.enums import OrderSide, OrderStatus, OrderType, TradingState
from pulsetrader.domain.intents import OrderIntent
from pulsetrader.domain.orders import Order
from pulsetrader.engine import Engine
from pulsetrader.execution.order_manager import OrderManager
from pulsetrader.monitoring.health import HealthPolicy
from pulsetrader.persistence.journal import Journal
from pulsetrader.persistence.records import JournalFill
from pulsetrader.risk.decisions import Denied
from pulsetrader.sim.faults import FaultProfile
from pulsetrader.sim.service import Simulator
from pulsetrader.streaming import ReconnectPolicy
from tests.helpers import eventually
from tests.integration.broker.conftest import make_client
from tests.integration.engine.conftest import sim_settings
from tests.integration.execution.conftest import matches_broker

STRATEGY = "e2e_sma"
TRADED = "AAPL"  # on the allow list: the strategy's signals here become orders
DENIED = "MSFT"  # traded by the strategy too, but not on the allow list: every entry is denied
MANUAL = "SPY"  # the operator's own orders, left for shutdown to cancel and close
STRATEGIES_TOML = f"""
[[strategy]]
name = "{STRATEGY}"
kind = "sma_crossover"
[strategy.params]
symbols = ["{TRADED}", "{DENIED}"]
timeframe = "1Min"
fast = 2
slow = 3
qty = "1"
"""

#: Generous for a loaded 2-core CI box; each wait normally ends in well under a second or two.
WAIT = 20.0
#: Long enough that an entry tried right after the faults stop still meets preservation mode.
HEALTHY_PERIOD = 3.0
#: Every REST call (trading, market data, the health ping) answers 503 while loaded.
BURST = FaultProfile.parse(
    {"seed": 1, "rules": [{"effect": "status", "status": 503, "match": {"path_prefix": "/v2/"}}]}
)


def e2e_engine(sim: Simulator, tmp_path: Path) -> Engine:
    strategies = tmp_path / "e2e_strategies.toml"
    strategies.write_text(STRATEGIES_TOML)
    settings = sim_settings(
        sim,
        tmp_path,
        strategies_file=strategies,
        risk_symbol_allowlist=f"{TRADED},{MANUAL}",
        risk_max_orders_per_minute=500,  # the runaway guard is not what this run is about
        cancel_orders_on_shutdown=True,
        close_positions_on_shutdown=True,
    )
    return Engine(
        settings,
        now=sim.now,
        health_policy=HealthPolicy(error_threshold=3, healthy_period=HEALTHY_PERIOD),
        ping_interval=0.3,
        account_refresh_interval=1.0,
        order_poll_interval=0.2,
        equity_interval=0.3,
        stream_wait_timeout=5.0,
        settle_timeout=10.0,
        reconnect_policy=ReconnectPolicy(base_delay=0.05, max_delay=0.2),
        retry=RetryStrategy(max_attempts=2, base_delay=0.01, rng=random.Random(0)),
    )


@dataclass
class AfterShutdown:
    """What :func:`matches_broker` reads, once the engine's own client and journal are closed:
    a fresh client, the journal reopened from disk, and the engine's order book."""

    client: AlpacaClient
    journal: Journal
    orders: OrderManager


def oldest_first(journal: Journal, **kw: Any) -> list[dict[str, Any]]:
    return list(reversed(journal.actions(limit=1000, **kw)))


def trading_states(journal: Journal) -> list[tuple[str, str]]:
    return [
        (a["actor"], a["detail"]["to"])
        for a in oldest_first(journal)
        if a["action"] == "trading_state"
    ]


async def broker_orders(engine: Engine) -> list[Order]:
    return await engine.client.list_orders("all", nested=False, limit=500)


@pytest.mark.sim_config(speed=120)  # two simulated minutes (two 1Min bars) per second
async def test_engine_end_to_end(simulator: Simulator, tmp_path: Path) -> None:
    """The seed's final checkpoint: "the engine runs a built-in strategy for a bounded
    simulated time; bars arrive, signals become orders, the risk manager denies what it must,
    fills update positions and P/L, a fault burst puts the engine into preservation mode and out
    again, and at shutdown the journal equals the broker and what was configured to close is
    closed."

    One run, checked in that order: start-up reconciliation, bars, signals -> orders, allow-list
    denials, fills and P/L, a 503 burst through REDUCING and back to ACTIVE, a clean shutdown.
    """
    engine = e2e_engine(simulator, tmp_path)
    await engine.start()
    stopped = False
    try:
        journal, runner = engine.journal, engine.runner
        assert runner is not None

        # 1. Start-up reconciliation is journaled before the strategies start.
        names = [(a["actor"], a["action"]) for a in oldest_first(journal)]
        assert names.index(("engine", "reconcile")) < names.index(("engine", "strategies_started"))
        assert engine.orders.reconciled
        assert engine.risk.state is TradingState.ACTIVE

        # 2. Minute bars reach the strategy, and its signals become orders at the broker.
        status = runner.status()[0]
        assert (status["name"], status["state"]) == (STRATEGY, "RUNNING")
        first_bars = status["bars"]
        await eventually(
            lambda: runner.status()[0]["bars"] >= first_bars + 4,
            timeout=WAIT,
            message="live minute bars delivered to the strategy",
        )

        async def strategy_order_at_broker() -> bool:
            at_broker = {o.client_order_id for o in await broker_orders(engine)}
            return any(
                d["approved"] and d["strategy"] == STRATEGY and d["client_order_id"] in at_broker
                for d in journal.decisions(limit=1000)
            )

        await eventually(
            strategy_order_at_broker, timeout=WAIT, message="a strategy signal became an order"
        )
        await eventually(
            lambda: matches_broker(engine), timeout=WAIT, message="journal == broker (trading)"
        )

        # 3. The risk manager denies the strategy's entries off the allow list; none reached
        #    the broker.
        def denied_entry() -> list[dict[str, Any]]:
            return [
                d
                for d in journal.decisions(limit=1000, denied_only=True)
                if d["strategy"] == STRATEGY and d["symbol"] == DENIED
            ]

        denials = await eventually(
            denied_entry, timeout=WAIT, message=f"a {DENIED} entry denied by the allow list"
        )
        assert {d["rule"] for d in denials} == {"allowlist"}, denials
        assert runner.status()[0]["orders"]["denied"] >= 1
        assert all(o.symbol != DENIED for o in await broker_orders(engine))
        assert all(o.symbol != DENIED for o in journal.load_orders())

        # 4. Fills update positions and P/L: a round trip of the strategy realizes P/L; the book,
        #    the journal and the broker agree; the equity curve is being sampled.
        def closing_fills() -> list[JournalFill]:
            return [
                f
                for f in journal.fills(strategy=STRATEGY, symbol=TRADED)
                if f.fill.side is OrderSide.SELL and f.realized_pl is not None
            ]

        await eventually(
            closing_fills, timeout=WAIT, message="a strategy round trip realized its P/L"
        )
        await eventually(
            lambda: journal.total_realized_pl() == engine.orders.realized_pl_total(),
            timeout=WAIT,
            message="the book's realized P/L journaled",
        )
        await eventually(
            lambda: matches_broker(engine), timeout=WAIT, message="journal == broker (fills)"
        )
        await eventually(
            lambda: len(journal.equity_curve()) >= 2, timeout=WAIT, message="equity sampled"
        )

        # 5. A fault burst: preservation mode (REDUCING, journaled by "health"); an entry tried in
        #    it is denied; once the faults stop, the engine returns to ACTIVE by itself.
        assert trading_states(journal) == []
        simulator.faults.load(BURST)
        await eventually(
            lambda: engine.risk.state is TradingState.REDUCING,
            timeout=WAIT,
            message="preservation mode (REDUCING)",
        )
        simulator.faults.clear()

        async def broker_answers() -> bool:
            # Loads begun after the burst: an account read still in flight from it would fail
            # the risk check ("broker_unavailable") before the trading state is even looked at.
            await engine.accounts.get_account(fresh=True)
            await engine.accounts.get_positions(fresh=True)
            return True

        await eventually(broker_answers, timeout=WAIT, message="the broker answers again")
        entry = OrderIntent(symbol=TRADED, side=OrderSide.BUY, qty=Decimal(1))
        denied = await engine.orders.submit_order(entry)
        assert isinstance(denied, Denied), denied
        assert denied.rule == "reducing", denied
        assert any(
            d["rule"] == "reducing" and d["strategy"] is None and d["symbol"] == TRADED
            for d in journal.decisions(limit=50, denied_only=True)
        )
        assert engine.risk.state is TradingState.REDUCING  # still within the healthy period
        await eventually(
            lambda: engine.risk.state is TradingState.ACTIVE,
            timeout=WAIT,
            message="back to ACTIVE on its own",
        )
        assert trading_states(journal) == [("health", "REDUCING"), ("health", "ACTIVE")]
        assert not engine.monitor.managed
        await eventually(
            lambda: matches_broker(engine), timeout=WAIT, message="journal == broker (after burst)"
        )

        # 6. Shutdown cancels what is open and closes what is held. Leave it some of each: a
        #    position and a buy limit far below the market that rests.
        bought = await engine.orders.submit_order(
            OrderIntent(symbol=MANUAL, side=OrderSide.BUY, qty=Decimal(2))
        )
        assert isinstance(bought, Order), bought
        price = await engine.feed.get_current_price(MANUAL)
        assert price is not None
        resting = await engine.orders.submit_order(
            OrderIntent(
                symbol=MANUAL,
                side=OrderSide.BUY,
                qty=Decimal(1),
                type=OrderType.LIMIT,
                limit_price=(price / 2).quantize(Decimal("0.01")),
            )
        )
        assert isinstance(resting, Order), resting
        await eventually(
            lambda: any(p.symbol == MANUAL and p.qty == 2 for p in engine.orders.positions()),
            timeout=WAIT,
            message=f"{MANUAL} position opened",
        )
        rests = engine.orders.find(resting.client_order_id)
        assert rests is not None
        assert rests.is_open
        stopped = True
        await engine.stop()
    finally:
        if not stopped:
            await engine.stop()
    assert journal.closed

    # The engine's client and journal are closed now: look with a fresh client and the journal
    # reopened from disk.
    check = make_client(simulator)
    try:
        assert await check.get_positions() == []
        assert await check.list_orders("open", nested=False, limit=500) == []
        with Journal(engine.settings.pulsetrader_db) as reopened:
            assert await matches_broker(AfterShutdown(check, reopened, engine.orders))
            assert not [o for o in reopened.load_orders() if o.is_open]
            cancelled = reopened.get_order(resting.client_order_id)
            assert cancelled is not None
            assert cancelled.status is OrderStatus.CANCELED
            assert reopened.actions(limit=1)[0]["action"] == "stopped"
            assert reopened.total_realized_pl() == engine.orders.realized_pl_total()
    finally:
        await check.close()
