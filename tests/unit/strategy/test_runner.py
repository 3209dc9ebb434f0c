"""The runner: start-up and warm-up, dispatch, failure isolation, pause/resume, shutdown."""

from __future__ import annotations

import asyncio
import textwrap
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pulsetrader.broker.errors import BrokerUnavailable
from pulsetrader.domain import Bar, Order, OrderIntent, OrderSide, OrderStatus, Quote, Trade
from pulsetrader.execution.book import BookedFill
from pulsetrader.strategy import (
    SmaCrossover,
    Strategy,
    StrategyContext,
    StrategyEvent,
    StrategyNotFound,
    StrategyParams,
    StrategyRunner,
    StrategyState,
    StrategyStateError,
)
from tests.helpers import eventually
from tests.unit.strategy.fakes import MINUTE, T0, Env, bar, series

D = Decimal


class Recorder(Strategy[StrategyParams]):
    """Records every hook; optionally buys on every bar, raises, or blocks."""

    name = "recorder"

    def __init__(
        self,
        params: StrategyParams,
        *,
        warmup: int = 0,
        buy: bool = False,
        fail_in: str | None = None,
        fail_with: Exception | None = None,
    ) -> None:
        super().__init__(params)
        self.warmup = warmup
        self.buy = buy
        self.fail_in = fail_in
        self.fail_with = fail_with or ZeroDivisionError("division by zero")
        self.calls: list[tuple[str, Any, bool]] = []
        self.gate: asyncio.Event | None = None

    @property
    def warmup_bars(self) -> int:
        return self.warmup

    def _record(self, hook: str, ctx: StrategyContext, item: Any = None) -> None:
        self.calls.append((hook, item, ctx.warming_up))
        if hook == self.fail_in:
            raise self.fail_with

    def bars(self) -> list[Bar]:
        return [item for hook, item, _ in self.calls if hook == "on_bar"]

    async def on_start(self, ctx: StrategyContext) -> None:
        self._record("on_start", ctx)

    async def on_bar(self, ctx: StrategyContext, bar: Bar) -> None:
        self._record("on_bar", ctx, bar)
        if self.gate is not None:
            await self.gate.wait()
        if self.buy:
            await ctx.buy(bar.symbol, qty=1)

    async def on_order_update(self, ctx: StrategyContext, order: Order) -> None:
        self._record("on_order_update", ctx, order)

    async def on_fill(self, ctx: StrategyContext, fill: BookedFill) -> None:
        self._record("on_fill", ctx, fill)

    async def on_stop(self, ctx: StrategyContext) -> None:
        self._record("on_stop", ctx)


class Ticker(Recorder):
    """A recorder that also takes trades and quotes."""

    async def on_trade(self, ctx: StrategyContext, trade: Trade) -> None:
        self._record("on_trade", ctx, trade)

    async def on_quote(self, ctx: StrategyContext, quote: Quote) -> None:
        self._record("on_quote", ctx, quote)


def recorder(
    *symbols: str, timeframe: str = "1Min", cls: type[Recorder] = Recorder, **kw: Any
) -> Recorder:
    return cls(StrategyParams(symbols=symbols, timeframe=timeframe), **kw)


@pytest.fixture
def env() -> Env:
    return Env()


def runner_with(env: Env, **strategies: Strategy[Any]) -> StrategyRunner:
    runner = StrategyRunner(**env.runner_deps())
    for name, strategy in strategies.items():
        runner.add(name, strategy)
    return runner


async def push(env: Env, runner: StrategyRunner, *items: Bar | Trade | Quote) -> None:
    for item in items:
        env.stream.push(item)
    await runner.drain()


async def test_bars_reach_only_the_strategies_trading_their_symbol(env: Env) -> None:
    a, b = recorder("AAPL"), recorder("MSFT", "AAPL")
    runner = runner_with(env, a=a, b=b)
    await runner.start()
    assert env.stream.subscribed["bars"] == {"AAPL", "MSFT"}
    assert env.stream.subscribed["trades"] == set()  # nobody overrides on_trade
    await push(env, runner, bar("AAPL", 0, 10), bar("MSFT", 0, 20), bar("TSLA", 0, 30))
    assert [x.symbol for x in a.bars()] == ["AAPL"]
    assert [x.symbol for x in b.bars()] == ["AAPL", "MSFT"]
    assert [s["state"] for s in runner.status()] == ["RUNNING", "RUNNING"]


async def test_trades_and_quotes_are_subscribed_only_for_strategies_that_take_them(
    env: Env,
) -> None:
    plain, ticker = recorder("AAPL"), recorder("MSFT", cls=Ticker)
    runner = runner_with(env, plain=plain, ticker=ticker)
    await runner.start()
    assert env.stream.subscribed["trades"] == {"MSFT"}
    assert env.stream.subscribed["quotes"] == {"MSFT"}
    trade = Trade("MSFT", D(20), D(1), T0)
    quote = Quote("MSFT", D(19), D(1), D(21), D(1), T0)
    await push(env, runner, trade, quote)
    assert [(h, i) for h, i, _ in ticker.calls[1:]] == [("on_trade", trade), ("on_quote", quote)]


async def test_warm_up_feeds_history_without_letting_the_strategy_trade(env: Env) -> None:
    env.feed.history["AAPL"] = series("AAPL", [1, 2, 3, 4, 5])
    env.feed.prices["AAPL"] = D(5)
    strategy = recorder("AAPL", warmup=3, buy=True)
    runner = runner_with(env, warm=strategy)
    await runner.start()
    assert env.feed.bar_calls == [("AAPL", "1Min", 3)]
    assert [(b.close, warming) for _, b, warming in strategy.calls[1:]] == [
        (D(3), True),
        (D(4), True),
        (D(5), True),
    ]
    assert env.orders.intents == []
    assert runner.context("warm").refused == 3
    await push(env, runner, bar("AAPL", 5, 6))
    (intent,) = env.orders.intents
    assert (intent.symbol, intent.strategy) == ("AAPL", "warm")
    assert strategy.calls[-2][2] is False  # the live bar is not a warm-up bar


async def test_warm_up_interleaves_symbols_in_time_and_drops_a_bar_still_forming(
    env: Env,
) -> None:
    env.clock.now = T0 + 3 * MINUTE + timedelta(seconds=30)  # the 14:03 bar is not done
    env.feed.history["AAPL"] = series("AAPL", [1, 2, 3, 4])
    env.feed.history["MSFT"] = series("MSFT", [10, 20, 30, 40])
    strategy = recorder("AAPL", "MSFT", warmup=10)
    await runner_with(env, s=strategy).start()
    assert [(b.symbol, b.close) for b in strategy.bars()] == [
        ("AAPL", D(1)),
        ("MSFT", D(10)),
        ("AAPL", D(2)),
        ("MSFT", D(20)),
        ("AAPL", D(3)),
        ("MSFT", D(30)),
    ]


async def test_live_bars_during_warm_up_are_delivered_after_it_without_repeats(
    env: Env,
) -> None:
    env.feed.history["AAPL"] = series("AAPL", [1, 2, 3])
    env.feed.gate = asyncio.Event()
    strategy = recorder("AAPL", warmup=3)
    runner = runner_with(env, s=strategy)
    starting = asyncio.create_task(runner.start())
    await eventually(lambda: "AAPL" in env.stream.subscribed["bars"], message="subscribed")
    assert runner.state("s") is StrategyState.STARTING
    env.stream.push(bar("AAPL", 2, 3))  # the history's last bar, again
    env.stream.push(bar("AAPL", 3, 4))  # the first live bar
    env.feed.gate.set()
    await starting
    await runner.drain()
    assert [(b.close, warming) for _, b, warming in strategy.calls[1:]] == [
        (D(1), True),
        (D(2), True),
        (D(3), True),
        (D(4), False),
    ]


async def test_a_strategy_without_history_starts_cold(env: Env) -> None:
    strategy = recorder("AAPL", warmup=5)
    runner = runner_with(env, s=strategy)
    await runner.start()
    assert runner.state("s") is StrategyState.RUNNING
    assert strategy.bars() == []


async def test_larger_timeframes_get_bars_aggregated_from_the_minute_stream(env: Env) -> None:
    strategy = recorder("AAPL", timeframe="5Min")
    runner = runner_with(env, s=strategy)
    await runner.start()
    await push(env, runner, *series("AAPL", [1, 2, 3, 4, 5, 6, 7]))
    (five,) = strategy.bars()
    assert (five.timestamp, five.open, five.close, five.high) == (T0, D(1), D(5), D(5))


async def test_a_strategy_that_raises_is_paused_and_reported_while_the_others_go_on(
    env: Env,
) -> None:
    bad, good = recorder("AAPL", fail_in="on_bar"), recorder("AAPL")
    events: list[StrategyEvent] = []
    runner = runner_with(env, bad=bad, good=good)
    runner.on_state_change(events.append)
    await runner.start()
    await push(env, runner, bar("AAPL", 0, 10), bar("AAPL", 1, 11))
    assert runner.state("bad") is StrategyState.PAUSED
    assert len(bad.bars()) == 1  # nothing after the failure
    assert len(good.bars()) == 2
    status = {s["name"]: s for s in runner.status()}
    assert status["bad"]["reason"] == "on_bar raised ZeroDivisionError: division by zero"
    assert "ZeroDivisionError" in status["bad"]["error"]
    paused = [e for e in events if e.state is StrategyState.PAUSED]
    assert [(e.name, e.reason) for e in paused] == [
        ("bad", "on_bar raised ZeroDivisionError: division by zero")
    ]
    assert paused[0].error is not None
    assert "Traceback" in paused[0].error


async def test_a_broker_error_in_a_hook_skips_the_event_without_pausing(env: Env) -> None:
    strategy = recorder("AAPL", fail_in="on_bar", fail_with=BrokerUnavailable("503"))
    runner = runner_with(env, s=strategy)
    await runner.start()
    await push(env, runner, bar("AAPL", 0, 10), bar("AAPL", 1, 11))
    assert runner.state("s") is StrategyState.RUNNING
    assert len(strategy.bars()) == 2
    assert runner.status()[0]["broker_errors"] == 2


async def test_a_strategy_whose_on_start_raises_fails_and_the_others_start(env: Env) -> None:
    bad, good = recorder("AAPL", fail_in="on_start"), recorder("MSFT")
    runner = runner_with(env, bad=bad, good=good)
    await runner.start()
    assert runner.state("bad") is StrategyState.FAILED
    assert runner.state("good") is StrategyState.RUNNING
    assert env.stream.subscribed["bars"] == {"MSFT"}
    assert runner.status()[0]["reason"] == "on_start raised ZeroDivisionError: division by zero"
    with pytest.raises(StrategyStateError, match="only a PAUSED strategy can be resumed"):
        runner.resume("bad")
    await runner.stop()
    assert [c[0] for c in bad.calls] == ["on_start"]  # never started: no on_stop
    assert runner.state("bad") is StrategyState.FAILED


async def test_a_strategy_that_raises_during_warm_up_fails_to_start(env: Env) -> None:
    env.feed.history["AAPL"] = series("AAPL", [1, 2])
    strategy = recorder("AAPL", warmup=2, fail_in="on_bar")
    runner = runner_with(env, s=strategy)
    await runner.start()
    assert runner.state("s") is StrategyState.FAILED
    assert runner.status()[0]["reason"] == "warm-up raised ZeroDivisionError: division by zero"
    assert runner.context("s").warming_up is False


async def test_pause_stops_delivery_and_resume_restarts_it_clearing_the_error(
    env: Env,
) -> None:
    strategy = recorder("AAPL")
    runner = runner_with(env, s=strategy)
    await runner.start()
    runner.pause("s")
    runner.pause("s")  # already paused: nothing happens
    assert runner.status()[0]["reason"] == "paused by the operator"
    await push(env, runner, bar("AAPL", 0, 10))
    assert strategy.bars() == []
    runner.resume("s")
    runner.resume("s")  # already running: nothing happens
    await push(env, runner, bar("AAPL", 1, 11))
    assert [b.close for b in strategy.bars()] == [D(11)]

    strategy.fail_in = "on_bar"
    await push(env, runner, bar("AAPL", 2, 12))
    assert runner.state("s") is StrategyState.PAUSED
    strategy.fail_in = None
    runner.resume("s")
    status = runner.status()[0]
    assert (status["state"], status["reason"], status["error"]) == ("RUNNING", None, None)
    await push(env, runner, bar("AAPL", 3, 13))
    assert [b.close for b in strategy.bars()] == [D(11), D(12), D(13)]


async def test_unknown_names_are_refused_listing_the_known_ones(env: Env) -> None:
    runner = runner_with(env, s=recorder("AAPL"))
    with pytest.raises(StrategyNotFound, match="no strategy named 'x'; strategies: s"):
        runner.pause("x")
    with pytest.raises(StrategyStateError, match="is STOPPED, not RUNNING"):
        runner.pause("s")


async def test_fills_and_order_updates_reach_the_strategy_that_placed_the_order(
    env: Env,
) -> None:
    env.orders.auto_fill = False
    a, b = recorder("AAPL", buy=True), recorder("MSFT")
    runner = runner_with(env, a=a, b=b)
    await runner.start()
    await push(env, runner, bar("AAPL", 0, 10))
    order = next(iter(env.orders.orders.values()))
    assert order.strategy == "a"
    env.orders.emit_order(order)  # saved again, unchanged: not a new update
    order.status = OrderStatus.PARTIALLY_FILLED
    order.filled_qty = D("0.5")
    env.orders.emit_order(order)
    booked = env.orders.emit_fill(order, "0.5", 10)
    await runner.drain()
    updates = [item for hook, item, _ in a.calls if hook == "on_order_update"]
    assert [u.status for u in updates] == [OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED]
    assert updates[0] is not order  # a snapshot, not the manager's live object
    assert [item for hook, item, _ in a.calls if hook == "on_fill"] == [booked]
    assert [c[0] for c in b.calls] == ["on_start"]


async def test_stop_calls_on_stop_for_running_and_paused_strategies_and_unsubscribes(
    env: Env,
) -> None:
    running, paused = recorder("AAPL"), recorder("MSFT")
    runner = runner_with(env, running=running, paused=paused)
    await runner.start()
    runner.pause("paused")
    await runner.stop()
    assert running.calls[-1][0] == "on_stop"
    assert paused.calls[-1][0] == "on_stop"
    assert [s["state"] for s in runner.status()] == ["STOPPED", "STOPPED"]
    assert env.stream.unsubscribed["bars"] == {"AAPL", "MSFT"}
    env.stream.push(bar("AAPL", 0, 1))
    assert running.bars() == []
    await runner.stop()  # idempotent
    assert [c[0] for c in running.calls].count("on_stop") == 1


async def test_stop_lets_a_running_hook_finish_within_the_timeout_then_cancels_it(
    env: Env,
) -> None:
    stuck = recorder("AAPL")
    stuck.gate = asyncio.Event()
    runner = StrategyRunner(**env.runner_deps(), stop_timeout=0.05)
    runner.add("stuck", stuck)
    await runner.start()
    env.stream.push(bar("AAPL", 0, 1))
    await eventually(stuck.bars, message="the bar delivered")
    await runner.stop()
    assert stuck.calls[-1][0] == "on_stop"
    assert runner.state("stuck") is StrategyState.STOPPED


async def test_an_on_stop_that_raises_is_recorded_and_the_runner_stops(env: Env) -> None:
    strategy = recorder("AAPL", fail_in="on_stop")
    runner = runner_with(env, s=strategy)
    await runner.start()
    await runner.stop()
    assert runner.state("s") is StrategyState.STOPPED
    assert runner.status()[0]["reason"] == "on_stop raised ZeroDivisionError: division by zero"


async def test_a_strategy_that_cannot_keep_up_drops_events_instead_of_growing(
    env: Env,
) -> None:
    slow = recorder("AAPL")
    slow.gate = asyncio.Event()
    runner = StrategyRunner(**env.runner_deps(), queue_size=2)
    runner.add("slow", slow)
    await runner.start()
    env.stream.push(bar("AAPL", 0, 1))
    await eventually(slow.bars, message="the first bar delivered")
    for minute in range(1, 6):
        env.stream.push(bar("AAPL", minute, 1))
    order = env.orders.new_order(
        OrderIntent(symbol="AAPL", side=OrderSide.BUY, qty=D(1), strategy="slow")
    )
    env.orders.emit_order(order)
    booked = env.orders.emit_fill(order, 1, 1)
    slow.gate.set()
    await runner.drain()
    assert runner.status()[0]["dropped"] == 3
    assert len(slow.bars()) == 3
    assert [c[0] for c in slow.calls[-2:]] == ["on_order_update", "on_fill"]  # never dropped
    assert slow.calls[-1][1] is booked


async def test_status_describes_each_instance_for_the_api(env: Env) -> None:
    runner = runner_with(env, sma=SmaCrossover.configure(symbols=["AAPL"], fast=2, slow=3))
    (status,) = runner.status()
    assert status["class"] == "pulsetrader.strategy.builtin.sma_crossover.SmaCrossover"
    assert (status["kind"], status["state"], status["symbols"]) == (
        "sma_crossover",
        "STOPPED",
        ["AAPL"],
    )
    assert status["params"] == {
        "symbols": ["AAPL"],
        "timeframe": "1Min",
        "qty": "1",
        "notional": None,
        "fast": 2,
        "slow": 3,
    }


async def test_names_must_be_unique_and_added_before_start(env: Env) -> None:
    runner = runner_with(env, s=recorder("AAPL"))
    with pytest.raises(ValueError, match="already added"):
        runner.add("s", recorder("MSFT"))
    await runner.start()
    with pytest.raises(StrategyStateError, match="before the runner starts"):
        runner.add("t", recorder("MSFT"))


async def test_from_file_runs_the_enabled_entries(env: Env, tmp_path: Path) -> None:
    path = tmp_path / "strategies.toml"
    path.write_text(
        textwrap.dedent(
            """
            [[strategy]]
            name = "on"
            kind = "sma_crossover"
            params = { symbols = ["AAPL"] }
            [[strategy]]
            name = "off"
            kind = "sma_crossover"
            enabled = false
            params = { symbols = ["MSFT"] }
            """
        )
    )
    runner = StrategyRunner.from_file(path, **env.runner_deps())
    assert runner.names == ["on"]
    assert isinstance(runner.strategy("on"), SmaCrossover)
    await runner.start()
    assert env.feed.bar_calls == [("AAPL", "1Min", 31)]
    await runner.stop()
