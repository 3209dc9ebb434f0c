"""StrategyRunner: starts the strategies, feeds them events, keeps one's failure its own.

Life of the runner (:meth:`StrategyRunner.start`, then :meth:`StrategyRunner.stop`)::

    on_start for each instance          raises -> FAILED (the others start)
    subscribe bars (trades, quotes)     for the instances that started, one callback per symbol
    warm-up: warmup_bars history bars   through on_bar with ctx.warming_up (orders refused);
                                        raises -> FAILED
    RUNNING: live events in order       bars (aggregated to each timeframe), trades, quotes,
                                        order updates and fills of the instance's own orders
                                        a hook raises -> PAUSED, reason and traceback kept,
                                        listeners told; the others go on
    stop: on_stop for each started one  then STOPPED (FAILED ones stay FAILED, with the reason)

Live events queue up during warm-up and are delivered after it, so nothing is missed between
the history and the stream; bars no later than the last warm-up bar are dropped as repeats.
A :class:`~pulsetrader.broker.errors.BrokerError` from a hook (the broker unreachable while the
strategy read its position, say) is not the strategy's fault: the event is skipped and logged,
and the strategy keeps running. Fills and order updates reach the instance named by the order's
``strategy`` field, which its context stamps on every order.
"""

from __future__ import annotations

import asyncio
import copy
import traceback
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from loguru import logger

from pulsetrader.broker.errors import BrokerError
from pulsetrader.domain.market import Bar, Quote, Trade
from pulsetrader.domain.money import utcnow
from pulsetrader.domain.orders import Order
from pulsetrader.execution.book import BookedFill
from pulsetrader.strategy.bars import warmup_history
from pulsetrader.strategy.base import Strategy
from pulsetrader.strategy.config import StrategySpec, load_strategies
from pulsetrader.strategy.context import StrategyContext
from pulsetrader.strategy.errors import StrategyNotFound, StrategyStateError
from pulsetrader.strategy.ports import (
    AccountPort,
    MarketDataPort,
    MarketStream,
    OrderEvents,
    OrderPort,
)
from pulsetrader.strategy.slot import Item, Slot, StrategyEvent, StrategyState

StateListener = Callable[[StrategyEvent], None]


class RunnerOrders(OrderPort, OrderEvents, Protocol):
    """The order manager as the runner uses it: the order path and its listeners."""


class StrategyRunner:
    """Owns the strategy instances and their lifecycle.

    ``stream`` may be None (no live data: a test, or a backtest feeding :meth:`on_bar` itself).
    ``queue_size`` bounds the market data waiting in each instance's mailbox (see
    :mod:`~pulsetrader.strategy.slot`); ``stop_timeout`` is how long :meth:`stop` lets a hook
    that is running finish before cancelling it.
    """

    def __init__(
        self,
        *,
        orders: RunnerOrders,
        accounts: AccountPort,
        feed: MarketDataPort,
        stream: MarketStream | None = None,
        clock: Callable[[], datetime] = utcnow,
        queue_size: int = 10_000,
        stop_timeout: float = 10.0,
    ) -> None:
        self.orders = orders
        self.accounts = accounts
        self.feed = feed
        self.stream = stream
        self.clock = clock
        self.queue_size = queue_size
        self.stop_timeout = stop_timeout
        self._slots: dict[str, Slot] = {}
        self._listeners: list[StateListener] = []
        self._by_channel: dict[str, dict[str, list[Slot]]] = {
            "bars": {},
            "trades": {},
            "quotes": {},
        }
        self._started = False
        self._stopped = False

    @classmethod
    def from_specs(cls, specs: Iterable[StrategySpec], **deps: Any) -> StrategyRunner:
        """A runner with a fresh instance of every enabled spec (``deps``: as the constructor's)."""
        runner = cls(**deps)
        for spec in specs:
            if spec.enabled:
                runner.add(spec.name, spec.build(), kind=spec.kind)
            else:
                logger.info("strategy {} ({}) is disabled in the config", spec.name, spec.kind)
        return runner

    @classmethod
    def from_file(cls, path: str | Path, **deps: Any) -> StrategyRunner:
        """:meth:`from_specs` of the strategies file at ``path`` (StrategyConfigError if bad)."""
        return cls.from_specs(load_strategies(path), **deps)

    # -- instances ------------------------------------------------------------------------------

    def add(self, name: str, strategy: Strategy[Any], *, kind: str | None = None) -> None:
        """Add an instance under a unique ``name`` (before :meth:`start`)."""
        if self._started:
            raise StrategyStateError("strategies are added before the runner starts")
        if name in self._slots:
            raise ValueError(f"a strategy named {name!r} is already added")
        ctx = StrategyContext(
            name,
            self.orders,
            self.accounts,
            self.feed,
            clock=self.clock,
            timeframe=strategy.timeframe,
        )
        self._slots[name] = Slot(
            name,
            kind or type(strategy).name or type(strategy).__qualname__,
            strategy,
            ctx,
            queue_size=self.queue_size,
            now=self.clock(),
        )

    @property
    def names(self) -> list[str]:
        """Instance names, in the order added."""
        return list(self._slots)

    def strategy(self, name: str) -> Strategy[Any]:
        """The instance named ``name``."""
        return self._slot(name).strategy

    def context(self, name: str) -> StrategyContext:
        """The context of the instance named ``name``."""
        return self._slot(name).ctx

    def state(self, name: str) -> StrategyState:
        """The state of the instance named ``name``."""
        return self._slot(name).state

    def status(self) -> list[dict[str, Any]]:
        """Every instance: name, kind, class, state, reason, symbols, params and counters."""
        return [slot.status() for slot in self._slots.values()]

    def on_state_change(self, listener: StateListener) -> None:
        """Call ``listener(event)`` whenever an instance changes state (pauses included)."""
        self._listeners.append(listener)

    def _slot(self, name: str) -> Slot:
        slot = self._slots.get(name)
        if slot is None:
            known = ", ".join(self._slots) or "none"
            raise StrategyNotFound(f"no strategy named {name!r}; strategies: {known}")
        return slot

    def _set_state(
        self, slot: Slot, state: StrategyState, reason: str | None, error: str | None = None
    ) -> None:
        slot.state, slot.reason, slot.error, slot.since = state, reason, error, self.clock()
        event = StrategyEvent(slot.name, state, reason, slot.since, error)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # an observer's bug must not stop the strategies
                logger.exception("strategy state listener {!r} failed", listener)

    # -- pause and resume -------------------------------------------------------------------------

    def pause(self, name: str, reason: str = "paused by the operator") -> None:
        """Stop delivering events to ``name`` (queued ones are dropped); no-op if paused."""
        slot = self._slot(name)
        if slot.state is StrategyState.PAUSED:
            return
        if slot.state is not StrategyState.RUNNING:
            raise StrategyStateError(f"strategy {name!r} is {slot.state.value}, not RUNNING")
        logger.info("strategy {} paused: {}", name, reason)
        self._set_state(slot, StrategyState.PAUSED, reason)

    def resume(self, name: str) -> None:
        """Deliver events to a paused ``name`` again, clearing its error; no-op if running.

        Indicators continue where they were: the bars missed while paused are not replayed.
        """
        slot = self._slot(name)
        if slot.state is StrategyState.RUNNING:
            return
        if slot.state is not StrategyState.PAUSED:
            raise StrategyStateError(
                f"strategy {name!r} is {slot.state.value}: only a PAUSED strategy can be resumed"
            )
        logger.info("strategy {} resumed", name)
        self._set_state(slot, StrategyState.RUNNING, None)

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every instance: on_start, subscriptions, warm-up, then live (see the module)."""
        if self._started:
            return
        self._started = True
        self.orders.on_fill(self.on_fill)
        self.orders.on_order(self.on_order_update)
        slots = list(self._slots.values())
        for slot in slots:
            self._set_state(slot, StrategyState.STARTING, "starting")
            if await self._run_hook(slot, "on_start"):
                slot.started = True
        live = [s for s in slots if s.state is StrategyState.STARTING]
        await self._subscribe(live)
        await asyncio.gather(*(self._warm_up(slot) for slot in live))
        for slot in live:
            if slot.state is StrategyState.STARTING:
                self._set_state(slot, StrategyState.RUNNING, None)
                slot.task = asyncio.create_task(self._work(slot), name=f"strategy-{slot.name}")
                symbols = ", ".join(slot.strategy.symbols)
                logger.info("strategy {} running on {}", slot.name, symbols)

    async def stop(self) -> None:
        """Let running hooks finish, call on_stop for every started instance, unsubscribe."""
        if not self._started or self._stopped:
            return
        self._stopped = True
        slots = list(self._slots.values())
        for slot in slots:
            if slot.state is not StrategyState.FAILED:
                self._set_state(slot, StrategyState.STOPPED, "stopping")
        workers = [slot.task for slot in slots if slot.task is not None]
        for slot in slots:
            if slot.task is not None:
                await slot.queue.put(None)  # the worker skips what is queued, then ends
        if workers:
            _, late = await asyncio.wait(workers, timeout=self.stop_timeout)
            for task in late:
                logger.warning(
                    "{} did not finish within {}s; cancelled", task.get_name(), self.stop_timeout
                )
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for slot in slots:
            stopped = await self._run_hook(slot, "on_stop") if slot.started else True
            if stopped and slot.state is not StrategyState.FAILED:
                self._set_state(slot, StrategyState.STOPPED, "stopped")
        await self._unsubscribe()

    async def drain(self) -> None:
        """Wait until every running instance has handled what is queued (tests, backtests)."""
        await asyncio.gather(
            *(s.queue.join() for s in self._slots.values() if s.task and not s.task.done())
        )

    # -- input: the stream's and the order manager's callbacks ----------------------------------

    def on_bar(self, bar: Bar) -> None:
        """A live minute bar, for every instance trading its symbol."""
        for slot in self._by_channel["bars"].get(bar.symbol, ()):
            slot.offer_minute_bar(bar)

    def on_trade(self, trade: Trade) -> None:
        """A live trade, for the instances that take trades in its symbol."""
        for slot in self._by_channel["trades"].get(trade.symbol, ()):
            slot.offer(trade)

    def on_quote(self, quote: Quote) -> None:
        """A live quote, for the instances that take quotes in its symbol."""
        for slot in self._by_channel["quotes"].get(quote.symbol, ()):
            slot.offer(quote)

    def on_order_update(self, order: Order) -> None:
        """An order changed: a snapshot of it for the instance that placed it."""
        slot = self._slots.get(order.strategy or "")
        if slot is not None and slot.accepting and slot.is_new_order_state(order):
            slot.offer(copy.copy(order))

    def on_fill(self, booked: BookedFill, order: Order | None) -> None:
        """An execution, for the instance whose order it filled."""
        name = booked.fill.strategy or (order.strategy if order is not None else None)
        slot = self._slots.get(name or "")
        if slot is not None:
            slot.offer(booked)

    async def _subscribe(self, slots: Sequence[Slot]) -> None:
        wanted: dict[str, Callable[[Slot], bool]] = {
            "bars": lambda s: True,
            "trades": lambda s: s.strategy.wants_trades,
            "quotes": lambda s: s.strategy.wants_quotes,
        }
        for channel, wants in wanted.items():
            index = self._by_channel[channel]
            for slot in slots:
                if wants(slot):
                    for symbol in slot.strategy.symbols:
                        index.setdefault(symbol, []).append(slot)
        if self.stream is None:
            return
        stream = self.stream
        if symbols := list(self._by_channel["bars"]):
            await stream.subscribe_bars(symbols, self.on_bar)
        if symbols := list(self._by_channel["trades"]):
            await stream.subscribe_trades(symbols, self.on_trade)
        if symbols := list(self._by_channel["quotes"]):
            await stream.subscribe_quotes(symbols, self.on_quote)

    async def _unsubscribe(self) -> None:
        if self.stream is None:
            return
        calls: list[tuple[str, Callable[..., Awaitable[None]], Callable[[Any], None]]] = [
            ("bars", self.stream.unsubscribe_bars, self.on_bar),
            ("trades", self.stream.unsubscribe_trades, self.on_trade),
            ("quotes", self.stream.unsubscribe_quotes, self.on_quote),
        ]
        for channel, unsubscribe, callback in calls:
            symbols = list(self._by_channel[channel])
            if not symbols:
                continue
            try:
                await unsubscribe(symbols, callback)
            except Exception:  # shutting down: the stream may be gone already
                logger.opt(exception=True).warning("unsubscribing strategy {} failed", channel)

    # -- warm-up and delivery ---------------------------------------------------------------------

    async def _warm_up(self, slot: Slot) -> None:
        strategy, ctx = slot.strategy, slot.ctx
        if strategy.warmup_bars <= 0:
            return
        try:
            bars, missing = await warmup_history(
                self.feed, strategy.symbols, strategy.timeframe, strategy.warmup_bars, self.clock()
            )
            for symbol, why in missing.items():
                ctx.log.warning("no warm-up bars for {} ({}): starting cold", symbol, why)
            ctx.warming_up = True
            for bar in bars:
                slot.last_bar[bar.symbol] = bar.timestamp
                await strategy.on_bar(ctx, bar)
        except Exception as exc:
            self._failed(slot, "warm-up", exc, StrategyState.FAILED)
            return
        finally:
            ctx.warming_up = False
        ctx.log.info("strategy {} warmed up on {} bars", slot.name, len(bars))

    async def _work(self, slot: Slot) -> None:
        """The instance's worker: its events, one at a time, while it is RUNNING."""
        while True:
            item = await slot.queue.get()
            try:
                if item is None:
                    return
                if slot.state is StrategyState.RUNNING:
                    await self._deliver(slot, item)
            except Exception as exc:  # the runner's own bug: pause this one, keep the worker
                self._failed(slot, "delivery", exc, StrategyState.PAUSED)
            finally:
                slot.queue.task_done()

    async def _deliver(self, slot: Slot, item: Item) -> None:
        if isinstance(item, Bar):
            if slot.is_new_bar(item):
                slot.bars += 1
                await self._run_hook(slot, "on_bar", item)
        elif isinstance(item, Trade):
            await self._run_hook(slot, "on_trade", item)
        elif isinstance(item, Quote):
            await self._run_hook(slot, "on_quote", item)
        elif isinstance(item, Order):
            await self._run_hook(slot, "on_order_update", item)
        else:
            await self._run_hook(slot, "on_fill", item)

    async def _run_hook(self, slot: Slot, hook: str, *args: object) -> bool:
        """Call and await one hook; on an exception pause (or fail, while starting) the
        instance. True when the hook returned (or only hit a broker error), False if it raised.
        """
        try:
            await getattr(slot.strategy, hook)(slot.ctx, *args)
        except BrokerError as exc:
            if hook == "on_start":
                self._failed(slot, hook, exc, StrategyState.FAILED)
                return False
            slot.broker_errors += 1
            slot.ctx.log.warning(
                "strategy {}: {} skipped, broker unavailable: {}", slot.name, hook, exc
            )
        except Exception as exc:
            target = StrategyState.FAILED if hook == "on_start" else StrategyState.PAUSED
            self._failed(slot, hook, exc, target)
            return False
        return True

    def _failed(self, slot: Slot, hook: str, exc: Exception, state: StrategyState) -> None:
        reason = f"{hook} raised {type(exc).__name__}: {exc}"
        text = "".join(traceback.format_exception(exc))
        if hook == "on_stop":  # shutting down anyway: report what happened, keep the state
            slot.ctx.log.opt(exception=exc).error("strategy {}: {}", slot.name, reason)
            self._set_state(slot, slot.state, reason, text)
            return
        verb = "failed to start" if state is StrategyState.FAILED else "paused"
        slot.ctx.log.opt(exception=exc).error("strategy {} {}: {}", slot.name, verb, reason)
        self._set_state(slot, state, reason, text)
