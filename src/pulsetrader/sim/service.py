"""The running simulator: configuration, the components, the market loop and the HTTP server.

:class:`Simulator` wires the market layer (calendar, clock, price model), the matching core
(:class:`~pulsetrader.sim.exchange.Exchange`), fault injection, rate limiting and the stream hub,
and serves them on one aiohttp port (REST, WebSocket and ``/sim`` control).

The market loop wakes every ``tick_interval`` of wall time and processes simulated time up to the
clock's now in bounded chunks: it takes every symbol's ticks in the chunk from the price model,
merges them in time order (the exchange's clock only moves forward, so order across symbols
matters for expiries), feeds them to the exchange, publishes them to the streams, publishes the
minute bar of every minute that completed (from ``price_model.minute_bars``, so streamed bars
equal REST history), lets the exchange advance, and publishes the resulting trade updates. All of
that is synchronous per chunk: one await per chunk, never one per tick, so high speeds keep up.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import secrets
import string
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

from pulsetrader.domain.market import Bar, Quote, Trade
from pulsetrader.domain.money import isoformat_z, utcnow
from pulsetrader.domain.symbols import is_crypto, order_symbol, validate_symbol
from pulsetrader.sim.assets import DEFAULT_SYMBOLS, AssetRegistry
from pulsetrader.sim.calendar import MarketCalendar
from pulsetrader.sim.clock import SimClock, default_start
from pulsetrader.sim.exchange import Exchange, ExchangeConfig
from pulsetrader.sim.faults import FaultInjector, FaultProfile
from pulsetrader.sim.price_replay import CsvBarSource, ReplayPriceModel
from pulsetrader.sim.prices import PriceModel, PriceSource
from pulsetrader.sim.ratelimit import DEFAULT_LIMIT_PER_MINUTE, RateLimiter
from pulsetrader.sim.server.account_routes import new_configurations
from pulsetrader.sim.server.app import create_app
from pulsetrader.sim.server.common import ny_isoformat
from pulsetrader.sim.server.streams import StreamHub
from pulsetrader.sim.stats import LoopStats, RequestStats

log = logging.getLogger(__name__)

TEST_SYMBOL = "FAKEPACA"
#: Longest stretch of simulated time processed without yielding to the event loop.
MAX_CHUNK = timedelta(minutes=5)
#: Wall time the market loop may hold the event loop before letting requests in.
_YIELD_AFTER = 0.02
_MINUTE = timedelta(minutes=1)
_ALPHANUMERIC = string.ascii_uppercase + string.digits


def _generated_key(prefix: str, length: int) -> str:
    return prefix + "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length - len(prefix)))


def floor_minute(ts: datetime) -> datetime:
    """``ts`` truncated to its minute."""
    return ts.replace(second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """How to run the simulator. ``None`` keys are generated; ``start=None`` starts at the open
    of the latest session (so there is always a session of trading ahead)."""

    host: str = "127.0.0.1"
    port: int = 8765
    seed: int = 0
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    speed: float = 1.0
    start: datetime | None = None
    key_id: str | None = None
    secret_key: str | None = None
    rate_limit_per_minute: int | None = DEFAULT_LIMIT_PER_MINUTE
    partial_fill_rate: float = 0.1
    faults_file: Path | None = None
    replay_file: Path | None = None
    tick_interval: float = 0.05


def load_price_source(config: SimulatorConfig, calendar: MarketCalendar) -> PriceSource:
    """The synthetic model, or a replay of ``config.replay_file`` (CSV/Parquet bars)."""
    if config.replay_file is None:
        return PriceModel(config.seed, calendar)
    source = CsvBarSource.load(config.replay_file)
    return ReplayPriceModel(source, calendar, seed=config.seed)


class Simulator:
    """An Alpaca-compatible exchange simulator serving REST and WebSocket on one port."""

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        wall_now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config = config or SimulatorConfig()
        self.key_id = config.key_id or _generated_key("PK", 20)
        self.secret_key = config.secret_key or _generated_key("", 40)
        self.keys = {self.key_id: self.secret_key}
        self.calendar = MarketCalendar()
        self.start_time = config.start or default_start(self.calendar, wall_now())
        self.prices: PriceSource = load_price_source(config, self.calendar)
        self.assets = AssetRegistry(config.symbols)
        self.clock = SimClock(self.start_time, config.speed)
        self.faults = FaultInjector(
            FaultProfile.load(config.faults_file) if config.faults_file else None
        )
        self.ratelimiter = RateLimiter(config.rate_limit_per_minute)
        self.hub = StreamHub(
            keys=self.keys, faults=self.faults, clock=self.clock, known_symbols=self.knows_symbol
        )
        self.stats = RequestStats()
        self.loop_stats = LoopStats()
        self.exchange = self._new_exchange()
        self.account_config = new_configurations()
        self._processed = self.start_time  # market processed over [start, _processed)
        self._latest: dict[str, tuple[Trade, Quote]] = {}
        self._equity_times: list[datetime] = []
        self._equity_values: list[Decimal] = []
        self._lock = asyncio.Lock()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._task: asyncio.Task[None] | None = None
        self._port: int | None = None
        self.ready = False
        self._prime()

    # -- components -----------------------------------------------------------------------------
    def _new_exchange(self) -> Exchange:
        config = ExchangeConfig(
            partial_fill_rate=self.config.partial_fill_rate, seed=self.config.seed
        )
        return Exchange(self.calendar, self.assets, config)

    @property
    def starting_cash(self) -> Decimal:
        """The cash a fresh account opens with."""
        return self.exchange.config.starting_cash

    def knows_symbol(self, symbol: str) -> bool:
        """Whether the price model can produce data for ``symbol``."""
        try:
            validate_symbol(symbol)
        except ValueError:
            return symbol == TEST_SYMBOL
        return True

    def now(self) -> datetime:
        """The current simulated time."""
        return self.clock.now()

    def flush_events(self) -> None:
        """Send the exchange's pending trade updates to the trade stream."""
        events = self.exchange.drain_events()
        if events:
            self.loop_stats.trade_updates += len(events)
            self.hub.publish_trade_updates(events)

    def _prime(self) -> None:
        """Give the exchange the previous close and a current quote for every listed symbol.

        Fed just before the last session close and then at the start, so the exchange runs that
        close (positions get a ``lastday_price``) and the first order already has a price.
        """
        start = self.start_time
        session = self.calendar.latest_session_at_or_before(start)
        if session.close > start:
            session = self.calendar.previous_session(session.date)
        before_close = session.close - timedelta(microseconds=1)
        for at in (before_close, start):
            for asset in self.assets.all():
                try:
                    trade, quote = self.prices.latest_tick(asset.symbol, at)
                except (LookupError, ValueError):
                    continue
                self._latest[asset.symbol] = (trade, quote)
                self.exchange.update_trade(trade, at)
                self.exchange.update_quote(quote, at)
        self.exchange.advance(start)
        self.exchange.drain_events()
        self._record_equity(start)

    # -- the market loop ------------------------------------------------------------------------
    def _active_symbols(self) -> tuple[list[str], dict[str, set[str]]]:
        """Symbols to generate ticks for, and per publish group the symbols somebody wants."""
        listed = [asset.symbol for asset in self.assets.all()]
        wanted: dict[str, set[str]] = {}
        for group in ("stocks", "test", "crypto"):
            subs = self.hub.subscribed_symbols(group)
            if "*" in subs:
                subs = (subs - {"*"}) | {s for s in listed if (group == "crypto") == is_crypto(s)}
            if group == "test":
                subs &= {TEST_SYMBOL}
            elif group == "crypto":
                subs = {order_symbol(s) for s in subs if is_crypto(s)}
            else:
                subs = {s for s in subs if not is_crypto(s)}
            wanted[group] = subs
        symbols = list(dict.fromkeys([*listed, *sorted(set().union(*wanted.values()))]))
        return symbols, wanted

    def _process_chunk(self, start: datetime, end: datetime) -> None:
        """Run the market over ``[start, end)`` (synchronous: no request sees half a chunk)."""
        began = time.perf_counter()
        symbols, wanted = self._active_symbols()
        streams: list[list[tuple[datetime, int, Trade, Quote]]] = []
        for index, symbol in enumerate(symbols):
            try:
                ticks = [
                    (t.timestamp, index, t, q) for t, q in self.prices.ticks(symbol, start, end)
                ]
            except (LookupError, ValueError):
                continue
            if ticks:
                streams.append(ticks)
                self._latest[symbol] = (ticks[-1][2], ticks[-1][3])
        trades: dict[str, list[Trade]] = {"stocks": [], "test": [], "crypto": []}
        quotes: dict[str, list[Quote]] = {"stocks": [], "test": [], "crypto": []}
        count = 0
        exchange = self.exchange
        # Equity is sampled at every minute boundary the chunk crosses (portfolio history has
        # one point per minute), after the ticks before it and the expiries due at it.
        boundary = floor_minute(start) + _MINUTE
        for stamp, _, trade, quote in heapq.merge(*streams):
            while boundary <= stamp:
                self._sample_equity(boundary)
                boundary += _MINUTE
            exchange.update_trade(trade, stamp)
            exchange.update_quote(quote, stamp)
            count += 1
            for group in self._groups(trade.symbol):
                if trade.symbol in wanted[group]:
                    trades[group].append(trade)
                    quotes[group].append(quote)
        for group in trades:
            if trades[group]:
                self.hub.publish_trades(group, trades[group])
                self.hub.publish_quotes(group, quotes[group])
        self._publish_bars(start, end, wanted)
        while boundary < end:
            self._sample_equity(boundary)
            boundary += _MINUTE
        exchange.advance(end)
        self.flush_events()
        self._record_equity(end)
        elapsed = (time.perf_counter() - began) * 1000
        stats = self.loop_stats
        stats.chunks += 1
        stats.ticks += count
        stats.last_chunk_ms = elapsed
        stats.max_chunk_ms = max(stats.max_chunk_ms, elapsed)

    @staticmethod
    def _groups(symbol: str) -> Iterable[str]:
        if is_crypto(symbol):
            return ("crypto",)
        return ("stocks", "test") if symbol == TEST_SYMBOL else ("stocks",)

    def _publish_bars(self, start: datetime, end: datetime, wanted: dict[str, set[str]]) -> None:
        """The minute bars of every minute that completed in ``[start, end)``."""
        first, last = floor_minute(start), floor_minute(end)
        if last <= first:
            return
        for group, symbols in wanted.items():
            bars: list[Bar] = []
            for symbol in sorted(symbols):
                try:
                    bars.extend(self.prices.minute_bars(symbol, first, last))
                except (LookupError, ValueError):
                    continue
            if bars:
                bars.sort(key=lambda bar: bar.timestamp)
                self.loop_stats.bars += len(bars)
                self.hub.publish_bars(group, bars)

    async def catch_up(self, target: datetime | None = None) -> None:
        """Process the market up to ``target`` (default: the clock's now) in bounded chunks."""
        async with self._lock:
            target = target or self.clock.now()
            slice_started = time.perf_counter()
            while self._processed < target:
                edge = min(target, self._processed + MAX_CHUNK)
                # Chunk edges on minute boundaries: each chunk completes whole minutes.
                if edge < target and floor_minute(edge) > self._processed:
                    edge = floor_minute(edge)
                self._process_chunk(self._processed, edge)
                self._processed = edge
                if time.perf_counter() - slice_started > _YIELD_AFTER:
                    await asyncio.sleep(0)  # let requests and stream writers in
                    slice_started = time.perf_counter()

    async def advance(self, delta: timedelta) -> None:
        """Move simulated time forward by ``delta`` and run the market over the skipped span."""
        self.clock.advance(delta)
        await self.catch_up()

    async def _market_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick_interval)
            if self._lock.locked():
                continue  # a clock jump is already catching up
            try:
                await self.catch_up()
            except Exception:
                log.exception("sim: market loop step failed")

    # -- equity snapshots (portfolio history) ---------------------------------------------------
    def _sample_equity(self, at: datetime) -> None:
        """Let the exchange reach ``at`` (expiries, closes), then record the equity there."""
        self.exchange.advance(at)
        self._record_equity(at)

    def _record_equity(self, at: datetime) -> None:
        if self._equity_times and at - self._equity_times[-1] < _MINUTE:
            return
        self._equity_times.append(at)
        self._equity_values.append(self.exchange.account.equity)

    def equity_series(self, now: datetime) -> tuple[list[datetime], list[Decimal]]:
        """Recorded (time, equity) snapshots plus the live value at ``now``."""
        live = self.exchange.account.equity
        if self._equity_times and self._equity_times[-1] >= now:
            return self._equity_times, self._equity_values
        return [*self._equity_times, now], [*self._equity_values, live]

    # -- state for the control API ----------------------------------------------------------------
    def clock_state(self) -> dict[str, Any]:
        """``GET /sim/clock``."""
        now = self.now()
        return {
            "now": isoformat_z(now),
            "now_new_york": ny_isoformat(now),
            "speed": self.clock.speed,
            "paused": self.clock.paused,
            "is_open": self.calendar.is_open(now),
            "next_open": ny_isoformat(self.calendar.next_open(now)),
            "next_close": ny_isoformat(self.calendar.next_close(now)),
            "processed_until": isoformat_z(self._processed),
            "start": isoformat_z(self.start_time),
        }

    def latest_prices(self) -> dict[str, Any]:
        """``GET /sim/prices``: the last processed trade and quote per symbol."""
        return {
            symbol: {"trade": trade.to_dict(), "quote": quote.to_dict()}
            for symbol, (trade, quote) in sorted(self._latest.items())
        }

    def stats_snapshot(self) -> dict[str, Any]:
        """``GET /sim/stats``."""
        return {
            "requests": self.stats.snapshot(),
            "rate_limited": self.ratelimiter.refused,
            "streams": self.hub.stats(),
            "market_loop": self.loop_stats.snapshot(),
            "lag_seconds": max(0.0, (self.now() - self._processed).total_seconds()),
        }

    async def reset(self) -> None:
        """A fresh account and exchange, time back at the start, no faults, no rate windows."""
        async with self._lock:
            self.clock = SimClock(self.start_time, self.clock.speed)
            self.hub.clock = self.clock
            self.exchange = self._new_exchange()
            self.account_config = new_configurations()
            self.faults.clear()
            self.ratelimiter.reset()
            self._processed = self.start_time
            self._latest.clear()
            self._equity_times, self._equity_values = [], []
            self._prime()

    # -- serving ----------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port (the real one when configured with port 0)."""
        if self._port is None:
            raise RuntimeError("the simulator is not listening yet")
        return self._port

    @property
    def host(self) -> str:
        """The host clients should connect to (loopback when bound to every interface)."""
        return "127.0.0.1" if self.config.host in ("0.0.0.0", "::", "") else self.config.host  # noqa: S104

    @property
    def base_url(self) -> str:
        """``http://host:port``: pass it as alpaca-py's ``url_override``."""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """``ws://host:port``: data streams live under it (``/v2/iex``, ``/v1beta3/crypto/us``)."""
        return f"ws://{self.host}:{self.port}"

    def env_lines(self) -> list[str]:
        """``NAME=value`` lines that point PulseTrader (or anything reading them) at this sim."""
        return [
            f"ALPACA_TRADING_URL={self.base_url}",
            f"ALPACA_DATA_URL={self.base_url}",
            f"ALPACA_STREAM_URL={self.ws_url}",
            f"ALPACA_TRADE_STREAM_URL={self.ws_url}/stream",
            f"ALPACA_PAPER_API_KEY={self.key_id}",
            f"ALPACA_PAPER_API_SECRET={self.secret_key}",
        ]

    async def start(self) -> None:
        """Bind the server and start the market loop; returns once it is listening."""
        if self._runner is not None:
            raise RuntimeError("the simulator is already running")
        runner = web.AppRunner(create_app(self), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port, reuse_address=True)
        await site.start()
        self._runner, self._site = runner, site
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self._port = sockets[0].getsockname()[1] if sockets else self.config.port
        self._task = asyncio.create_task(self._market_loop(), name="sim-market-loop")
        self.ready = True
        log.info("sim: listening on %s (simulated time %s)", self.base_url, self.now().isoformat())

    async def stop(self) -> None:
        """Stop the market loop, close every stream and the server."""
        self.ready = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.hub.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = self._site = None

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
