"""One strategy instance inside the runner: its state, its mailbox, its bookkeeping.

Each instance has its own queue and worker task, so its hooks run one at a time and in order
(a fill never overtakes the bar that caused it), a slow strategy delays only itself, and the
stream callbacks that feed the queues never wait. Market data beyond ``queue_size`` waiting
events is dropped and counted: a strategy that cannot keep up must not make the engine's memory
grow. Fills and order updates are never dropped (they are few, and a strategy that missed one
would be wrong about its own orders).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from loguru import logger

from pulsetrader.domain.market import Bar, Quote, Timeframe, TimeframeUnit, Trade
from pulsetrader.domain.money import isoformat_z
from pulsetrader.domain.orders import Order
from pulsetrader.execution.book import BookedFill
from pulsetrader.strategy.bars import BarAggregator
from pulsetrader.strategy.base import Strategy
from pulsetrader.strategy.context import StrategyContext

#: What a strategy's mailbox carries; None tells the worker to finish.
Item = Bar | Trade | Quote | Order | BookedFill
_REMEMBERED_ORDERS = 5_000  # order states remembered to drop repeated updates
_DROP_LOG_EVERY = 1_000


class StrategyState(StrEnum):
    """Where a strategy instance is in its life.

    STOPPED before start and after stop; STARTING during ``on_start`` and warm-up; RUNNING;
    PAUSED after a hook raised (or on request), until resumed; FAILED when it could not start.
    """

    STOPPED = "STOPPED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class StrategyEvent:
    """A strategy instance changed state. ``error`` is the traceback when a hook raised."""

    name: str
    state: StrategyState
    reason: str | None
    at: datetime
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "name": self.name,
            "state": self.state.value,
            "reason": self.reason,
            "at": isoformat_z(self.at),
            "error": self.error,
        }


class Slot:
    """A strategy instance and everything the runner keeps for it."""

    def __init__(
        self,
        name: str,
        kind: str,
        strategy: Strategy[Any],
        ctx: StrategyContext,
        *,
        queue_size: int,
        now: datetime,
    ) -> None:
        self.name = name
        self.kind = kind
        self.strategy = strategy
        self.ctx = ctx
        self.state = StrategyState.STOPPED
        self.reason: str | None = "not started"
        self.error: str | None = None
        self.since = now
        self.started = False  # on_start returned: on_stop is owed at shutdown
        self.queue: asyncio.Queue[Item | None] = asyncio.Queue()
        self.queue_size = queue_size
        self.task: asyncio.Task[None] | None = None
        timeframe = strategy.timeframe
        self.aggregator = None if _is_one_minute(timeframe) else BarAggregator(timeframe)
        self.last_bar: dict[str, datetime] = {}
        self._order_states: dict[str, tuple[object, ...]] = {}
        self.bars = 0
        self.dropped = 0
        self.broker_errors = 0

    @property
    def accepting(self) -> bool:
        """Whether new events are queued (while starting they wait for the end of warm-up)."""
        return self.state in (StrategyState.STARTING, StrategyState.RUNNING)

    def offer(self, item: Item) -> None:
        """Queue ``item`` unless the strategy is not taking events, or it is market data and
        ``queue_size`` events are already waiting."""
        if not self.accepting:
            return
        if self.queue.qsize() < self.queue_size or isinstance(item, Order | BookedFill):
            self.queue.put_nowait(item)
        else:
            self.dropped += 1
            if self.dropped % _DROP_LOG_EVERY == 1:
                logger.warning(
                    "strategy {} cannot keep up: its queue is full, {} events dropped so far",
                    self.name,
                    self.dropped,
                )

    def offer_minute_bar(self, bar: Bar) -> None:
        """A live minute bar, aggregated to the strategy's timeframe first if it is larger."""
        if self.aggregator is None:
            self.offer(bar)
            return
        for done in self.aggregator.add(bar):  # aggregate even while paused: bars stay whole
            self.offer(done)

    def is_new_order_state(self, order: Order) -> bool:
        """False when ``order`` looks as it did at its last update (the manager saves often)."""
        key = (order.status, order.filled_qty, order.reject_reason, order.broker_order_id)
        if self._order_states.get(order.client_order_id) == key:
            return False
        self._order_states.pop(order.client_order_id, None)
        self._order_states[order.client_order_id] = key
        while len(self._order_states) > _REMEMBERED_ORDERS:
            del self._order_states[next(iter(self._order_states))]
        return True

    def is_new_bar(self, bar: Bar) -> bool:
        """True for a bar later than the last one delivered in its symbol (warm-up included)."""
        last = self.last_bar.get(bar.symbol)
        if last is not None and bar.timestamp <= last:
            return False
        self.last_bar[bar.symbol] = bar.timestamp
        return True

    def status(self) -> dict[str, Any]:
        """The instance as the API and CLI show it."""
        cls = type(self.strategy)
        return {
            "name": self.name,
            "kind": self.kind,
            "class": f"{cls.__module__}.{cls.__qualname__}",
            "state": self.state.value,
            "reason": self.reason,
            "error": self.error,
            "since": isoformat_z(self.since),
            "symbols": list(self.strategy.symbols),
            "timeframe": str(self.strategy.timeframe),
            "params": self.strategy.params.model_dump(mode="json"),
            "warming_up": self.ctx.warming_up,
            "bars": self.bars,
            "queued": self.queue.qsize(),
            "dropped": self.dropped,
            "broker_errors": self.broker_errors,
            "orders": {
                "submitted": self.ctx.submitted,
                "denied": self.ctx.denied,
                "refused": self.ctx.refused,
            },
        }


def _is_one_minute(timeframe: Timeframe) -> bool:
    return timeframe.unit is TimeframeUnit.MINUTE and timeframe.amount == 1
