"""The engine: the composition root that builds and wires every part, starts and stops them.

One code path for the simulator, paper and live trading: only the URLs and the keys in
:class:`~pulsetrader.config.Settings` differ (and, for the simulator, the broker's clock passed
as ``now``). Nothing outside this module asks which broker it talks to.

Start-up order (:meth:`Engine.start`)::

    AlpacaClient -> Journal -> AccountManager, MarketDataFeed, MarketHours -> RiskManager
    -> OrderManager -> WebSocketClient -> ConnectionHealthMonitor (hooks wired)
    -> streams connected, trade_updates awaited (polling covers it if it does not come)
    -> reconciliation ("start-up")  <- before any strategy can trade
    -> periodic tasks (accounts, hours, monitor, order polling, equity curve)
    -> StrategyRunner (when a strategies file is configured)

Shutdown (:meth:`Engine.stop`) runs every step even when one fails, logging each: strategies,
open orders cancelled and positions closed (as configured), a short wait for those to settle,
streams, periodic tasks, the broker client, the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from loguru import logger

from pulsetrader.account import AccountManager
from pulsetrader.broker.client import AlpacaClient, BrokerConfig
from pulsetrader.broker.errors import BrokerError
from pulsetrader.broker.retry import RetryStrategy
from pulsetrader.config import Settings
from pulsetrader.control import EngineControl
from pulsetrader.domain.enums import TradingState
from pulsetrader.domain.money import utcnow
from pulsetrader.execution.order_manager import OrderManager
from pulsetrader.market_data.feed import MarketDataFeed
from pulsetrader.market_data.hours import MarketHours
from pulsetrader.monitoring.health import ConnectionHealthMonitor, HealthPolicy
from pulsetrader.periodic import PeriodicTask
from pulsetrader.persistence.commands import ENGINE_HEARTBEAT_KEY
from pulsetrader.persistence.journal import Journal
from pulsetrader.risk.limits import RiskLimits
from pulsetrader.risk.manager import RiskManager
from pulsetrader.strategy.runner import StrategyRunner
from pulsetrader.streaming.client import WebSocketClient
from pulsetrader.streaming.connection import ReconnectPolicy

#: The actor of the engine's own audit actions.
ENGINE_ACTOR = "engine"


class EngineError(RuntimeError):
    """The engine was used out of order (e.g. a part read before :meth:`Engine.start`)."""


class Engine:
    """Every part of PulseTrader, built from ``settings`` and run together.

    ``now`` is the broker's clock (the simulator's ``now`` in sim mode; the wall clock
    otherwise). ``strategies_file`` overrides ``settings.strategies_file``. The remaining
    arguments tune the periodic work; the defaults suit a real broker.

    The parts are attributes once :meth:`start` has built them: :attr:`client`,
    :attr:`journal`, :attr:`accounts`, :attr:`feed`, :attr:`hours`, :attr:`risk`,
    :attr:`orders`, :attr:`streams`, :attr:`monitor` and :attr:`runner` (None without a
    strategies file).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        now: Callable[[], datetime] | None = None,
        strategies_file: Path | str | None = None,
        health_policy: HealthPolicy | None = None,
        ping_interval: float | None = None,
        account_refresh_interval: float = 30.0,
        order_poll_interval: float = 2.0,
        equity_interval: float = 5.0,
        command_interval: float = 0.5,
        stream_wait_timeout: float = 10.0,
        settle_timeout: float = 10.0,
        reconnect_policy: ReconnectPolicy | None = None,
        retry: RetryStrategy | None = None,
    ) -> None:
        self.settings = settings
        self.now: Callable[[], datetime] = now or utcnow
        file = strategies_file if strategies_file is not None else settings.strategies_file
        self.strategies_file: Path | None = None if file is None else Path(file)
        self.health_policy = health_policy
        self.ping_interval = ping_interval
        self.account_refresh_interval = account_refresh_interval
        self.order_poll_interval = order_poll_interval
        self.equity_interval = equity_interval
        self.command_interval = command_interval
        self.stream_wait_timeout = stream_wait_timeout
        self.settle_timeout = settle_timeout
        self.reconnect_policy = reconnect_policy
        self.retry = retry

        self._client: AlpacaClient | None = None
        self._journal: Journal | None = None
        self._accounts: AccountManager | None = None
        self._feed: MarketDataFeed | None = None
        self._hours: MarketHours | None = None
        self._risk: RiskManager | None = None
        self._orders: OrderManager | None = None
        self._streams: WebSocketClient | None = None
        self._monitor: ConnectionHealthMonitor | None = None
        self.runner: StrategyRunner | None = None
        self._equity_task: asyncio.Task[None] | None = None
        #: The operator's actions (API, CLI commands, terminal): see :mod:`pulsetrader.control`.
        self.control = EngineControl(self)
        self._commands = PeriodicTask("operator-commands", command_interval, self._take_commands)
        self.started = False
        self.stopped = False

    # -- the parts ------------------------------------------------------------------------------

    @staticmethod
    def _built(part: Any, name: str) -> Any:
        if part is None:
            raise EngineError(f"engine.{name} is built by Engine.start()")
        return part

    @property
    def client(self) -> AlpacaClient:
        return self._built(self._client, "client")  # type: ignore[no-any-return]

    @property
    def journal(self) -> Journal:
        return self._built(self._journal, "journal")  # type: ignore[no-any-return]

    @property
    def accounts(self) -> AccountManager:
        return self._built(self._accounts, "accounts")  # type: ignore[no-any-return]

    @property
    def feed(self) -> MarketDataFeed:
        return self._built(self._feed, "feed")  # type: ignore[no-any-return]

    @property
    def hours(self) -> MarketHours:
        return self._built(self._hours, "hours")  # type: ignore[no-any-return]

    @property
    def risk(self) -> RiskManager:
        return self._built(self._risk, "risk")  # type: ignore[no-any-return]

    @property
    def orders(self) -> OrderManager:
        return self._built(self._orders, "orders")  # type: ignore[no-any-return]

    @property
    def streams(self) -> WebSocketClient:
        return self._built(self._streams, "streams")  # type: ignore[no-any-return]

    @property
    def monitor(self) -> ConnectionHealthMonitor:
        return self._built(self._monitor, "monitor")  # type: ignore[no-any-return]

    # -- building -------------------------------------------------------------------------------

    def _build(self) -> None:
        """Construct and wire every part (no I/O yet beyond opening the journal)."""
        settings, now = self.settings, self.now
        config = BrokerConfig.from_settings(settings)  # ConfigError when keys are missing
        client = self._client = AlpacaClient(config, retry=self.retry, clock=now)
        journal = self._journal = Journal(settings.pulsetrader_db)
        accounts = self._accounts = AccountManager(
            client, refresh_interval=self.account_refresh_interval
        )
        feed = self._feed = MarketDataFeed(client)
        hours = self._hours = MarketHours(client, now=now)
        limits = RiskLimits.from_settings(settings)
        risk = self._risk = RiskManager(limits, store=journal, clock=now)
        risk.on_state_change(self._journal_state_change)
        orders = self._orders = OrderManager(
            client, accounts, feed, risk, journal, clock=now, poll_interval=self.order_poll_interval
        )
        streams = self._streams = WebSocketClient(
            config.key_id,
            config.secret_key,
            stream_url=settings.alpaca_stream_url,
            trade_stream_url=settings.alpaca_trade_stream_url,
            feed=settings.alpaca_data_feed,
            paper=config.paper,
            backfill_stocks=client.get_bar_history,
            backfill_crypto=client.get_bar_history,
            now=now,
            is_market_open=hours.is_open,
            policy=self.reconnect_policy,
        )
        monitor = self._monitor = ConnectionHealthMonitor(
            client.ping,
            risk,
            journal=journal,
            policy=self.health_policy or HealthPolicy.from_settings(settings),
            ping_interval=self.ping_interval or settings.health_ping_interval,
            clock=now,
        )
        client.add_hook(monitor.on_call)
        streams.add_hook(monitor.on_stream_event)
        streams.add_hook(orders.on_stream_event)
        streams.on_order_update(orders.on_order_update)
        # Streamed prices keep the feed's cache warm: the risk check values orders from them.
        streams.tap_trades(feed.on_trade)
        streams.tap_quotes(feed.on_quote)

    def _journal_state_change(self, old: TradingState, new: TradingState, reason: str) -> None:
        """Journal a trading-state transition (the monitor journals its own, as ``health``)."""
        monitor, journal = self._monitor, self._journal
        if journal is None or journal.closed:
            return
        if monitor is not None and monitor.setting_state is new:  # the monitor's change: its row
            return
        actor = self.control.acting or "system"  # an operator's halt/resume names the operator
        try:
            journal.record_trading_state(old, new, reason, actor=actor, at=self.now())
        except Exception:
            logger.exception("could not journal the trading state {}", new.value)

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Build everything, connect, reconcile, then start the periodic work and strategies.

        On a failure the parts already started are stopped again before the error propagates.
        """
        if self.started:
            return
        self.started = True
        mode = self.settings.mode.value
        logger.info("engine starting ({} mode)", mode)
        try:
            self._build()
            await self._connect()
            logger.info("reconciling with the broker before anything trades")
            await self.orders.reconcile("start-up")
            self._start_periodic()
            await self._start_strategies()
        except BaseException:
            logger.exception("engine start-up failed; shutting down what was started")
            with contextlib.suppress(Exception):
                await self.stop()
            raise
        self.journal.record_action(ENGINE_ACTOR, "started", {"mode": mode}, self.now())
        # What start-up built (modules, the object graph, caches) lives as long as the engine.
        # Frozen, the cyclic collector stops re-scanning it: a full collection then costs what
        # the objects made since cost, not a pause of tens of milliseconds on the loop while a
        # tick waits. Unfrozen at stop, so nothing stays exempt after the engine is gone.
        gc.collect()
        gc.freeze()
        logger.info("engine started ({} mode)", mode)

    async def _connect(self) -> None:
        streams = self.streams
        await self.hours.refresh()
        await streams.connect()
        try:
            await streams.trade_updates.wait_connected(self.stream_wait_timeout)
            logger.info("trade_updates stream connected")
        except TimeoutError:
            logger.warning(
                "trade_updates stream not connected after {:g}s: polling orders until it is",
                self.stream_wait_timeout,
            )

    def _start_periodic(self) -> None:
        self.accounts.start()
        self.feed.start()
        self.hours.start()
        self.monitor.start()
        self.orders.start()
        self._equity_task = asyncio.get_running_loop().create_task(
            self._equity_loop(), name="equity-recorder"
        )
        self._equity_task.add_done_callback(_log_task_end)
        self._commands.start()

    async def _start_strategies(self) -> None:
        if self.strategies_file is None:
            logger.info("no strategies file configured: no strategies run")
            return
        self.runner = StrategyRunner.from_file(
            self.strategies_file,
            orders=self.orders,
            accounts=self.accounts,
            feed=self.feed,
            stream=self.streams,
            clock=self.now,
        )
        await self.runner.start()
        detail = {"file": str(self.strategies_file), "strategies": self.runner.names}
        self.journal.record_action(ENGINE_ACTOR, "strategies_started", detail, self.now())

    async def record_equity(self) -> bool:
        """One sample of the equity curve from the (cached) account; False if none written."""
        account = await self.accounts.get_account()
        self.risk.observe_account(account)
        return self.journal.record_equity(self.now(), account.equity, account.cash)

    async def _stop_commands(self) -> None:
        await self._commands.stop()
        if self._journal is not None and not self._journal.closed:
            self._journal.delete_state(ENGINE_HEARTBEAT_KEY)  # the CLI now acts offline

    async def _take_commands(self) -> None:
        await self.control.process_commands()

    async def _equity_loop(self) -> None:
        while True:
            try:
                await self.record_equity()
            except BrokerError as exc:  # the health monitor counts it; one line is enough
                logger.warning("equity not recorded: {}", exc)
            except Exception:  # the curve must keep going; the failure is logged
                logger.exception("recording equity failed")
            await asyncio.sleep(self.equity_interval)

    async def stop(self) -> None:
        """Shut down gracefully: every step runs (and is logged) even if one before it failed."""
        if self.stopped or not self.started:
            return
        self.stopped = True
        gc.unfreeze()
        logger.info("engine stopping")
        settings = self.settings
        if self.runner is not None:
            await _step("stop strategies", self.runner.stop)
        if self._orders is not None and self._client is not None:
            orders = self._orders
            if settings.cancel_orders_on_shutdown:
                await _step("cancel open orders", orders.cancel_all_orders)
            if settings.close_positions_on_shutdown:
                await _step("close positions", orders.close_all_positions)
            if settings.cancel_orders_on_shutdown or settings.close_positions_on_shutdown:
                await _step("wait for orders to settle", self._settle)
        if self._streams is not None:
            await _step("disconnect streams", self._streams.disconnect)
        await _step("stop taking operator commands", self._stop_commands)
        if self._equity_task is not None:
            await _step("stop equity recorder", self._stop_equity)
        for name, part in (
            ("monitor", self._monitor),
            ("order polling", self._orders),
            ("account refresh", self._accounts),
            ("market data refresh", self._feed),
            ("market hours", self._hours),
        ):
            if part is not None:
                await _step(f"stop {name}", part.stop)
        if self._journal is not None and not self._journal.closed:
            journal = self._journal
            await _step(
                "journal shutdown",
                lambda: _sync(
                    journal.record_action, ENGINE_ACTOR, "stopped", {"mode": settings.mode.value}
                ),
            )
        if self._client is not None:
            await _step("close broker client", self._client.close)
        if self._journal is not None:
            journal = self._journal
            await _step("close journal", lambda: _sync(journal.close))
        logger.info("engine stopped")

    async def _settle(self) -> None:
        """Wait (up to ``settle_timeout``) for open orders to end and, when closing, positions."""
        orders, client = self.orders, self.client
        closing = self.settings.close_positions_on_shutdown
        deadline = time.monotonic() + self.settle_timeout
        while True:
            pending = orders.open_orders()
            flat = not closing or not await client.get_positions()
            if not pending and flat:
                return
            if time.monotonic() >= deadline:
                logger.warning(
                    "shutdown: {} order(s) still open{} after {:g}s",
                    len(pending),
                    "" if flat else ", positions still open",
                    self.settle_timeout,
                )
                return
            await asyncio.sleep(0.1)

    async def _stop_equity(self) -> None:
        task, self._equity_task = self._equity_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self, stop: asyncio.Event) -> None:
        """Start, run until ``stop`` is set, then stop (also when cancelled)."""
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()


async def _sync(fn: Callable[..., Any], *args: Any) -> None:
    fn(*args)


async def _step(name: str, action: Callable[[], Awaitable[Any]]) -> bool:
    """Run one shutdown step; log it, and log (never raise) its failure."""
    logger.info("shutdown: {}", name)
    try:
        await action()
    except Exception:
        logger.exception("shutdown: {} failed (continuing)", name)
        return False
    return True


def _log_task_end(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        logger.opt(exception=exc).error("task {} ended with an error", task.get_name())


def install_signal_handlers(loop: asyncio.AbstractEventLoop, stop_event: asyncio.Event) -> None:
    """Set ``stop_event`` on SIGINT and SIGTERM (a graceful stop); no-op where unsupported."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, _on_signal, sig, stop_event)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, non-main thread
            logger.debug("cannot install a handler for {}", sig.name)


def _on_signal(sig: signal.Signals, stop_event: asyncio.Event) -> None:
    if stop_event.is_set():
        logger.warning("{} again: already stopping", sig.name)
        return
    logger.info("{} received: stopping", sig.name)
    stop_event.set()
