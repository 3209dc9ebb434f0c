"""Risk check and order path overhead per order (target: under 1 ms p99 excluding the broker
round trip).

(a) ``RiskManager.validate_trade`` alone, on a realistic book: a $100k margin account, 10 open
positions (9 stocks and a crypto pair), 3 working orders, asset rules for every symbol, and a
rotating mix of four intents (a market buy adding to a held stock, a limit buy opening a new
one, a market sell reducing a long, a crypto market buy). Every call is approved, so every rule
runs (an early denial would flatter the figure). The runaway guard sees one order every 2.5 s.

(b) ``OrderManager.submit_order`` end to end, as the engine wires it: the real RiskManager, the
real :class:`Journal` on a temporary *file* (WAL; the intent and the decision are committed
before the broker is called, the broker's answer after: three commits per order, part of the
path), the real AccountManager and MarketDataFeed with warm caches (before each order, outside
the timing, the account and positions are read once and the symbol's price arrives as a
streamed trade, as the engine's refresh task and streams keep them), and logging as the engine
configures it at INFO, to its file sink in the temporary directory. The broker round trip is
excluded: the client's ``submit_order`` returns a canned ``new`` order at once, and
``get_asset`` (asked once per symbol) answers from a table; every other broker read is a cache
hit. Each order is then filled (c)
so that working orders stay a few, as in a live engine; the order cache keeps every finished
order, so the last quarter's figures show whether the path grows with the day's orders.

(c) The fill path: ``OrderManager.on_order_update`` for each order's ``fill`` event (book,
fill, positions snapshot, watermark, order and event journaled). Reported, no target.

Figures are wall time per call (``time.perf_counter_ns``) and, for (b) and (c), this thread's
CPU time (``time.thread_time_ns``), garbage collector on. The last line says how much CPU
other processes took meanwhile: on a shared two-core machine they, not the code, can dominate
sub-millisecond tails.

    .venv/bin/python benchmarks/bench_order_path.py [--checks 20000] [--orders 2000]
        [--warmup 200] [--log file|off]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from loguru import logger

from pulsetrader.account import AccountManager
from pulsetrader.domain import Account, Order, OrderIntent, OrderSide, OrderStatus
from pulsetrader.domain.enums import AssetClass, OrderType, PositionSide, TimeInForce
from pulsetrader.domain.events import OrderUpdate
from pulsetrader.domain.market import Trade
from pulsetrader.domain.snapshots import AssetInfo, PositionSnapshot
from pulsetrader.domain.symbols import asset_class_of
from pulsetrader.execution import OrderManager
from pulsetrader.logging import setup_logging
from pulsetrader.market_data.feed import MarketDataFeed
from pulsetrader.persistence import Journal
from pulsetrader.risk import Approved, MemoryStateStore, RiskLimits, RiskManager

TARGET_MS = 1.0
#: Wednesday 2024-01-03, 10:30 New York: mid-session.
T0 = datetime(2024, 1, 3, 15, 30, tzinfo=UTC)
HELD = {  # symbol: (signed qty, price)
    "AAPL": ("40", "185.20"),
    "MSFT": ("50", "370.60"),
    "NVDA": ("12", "480.10"),
    "AMZN": ("30", "151.90"),
    "GOOGL": ("-25", "139.40"),
    "META": ("8", "346.30"),
    "TSLA": ("-10", "238.50"),
    "SPY": ("15", "468.30"),
    "QQQ": ("9", "402.80"),
    "BTC/USD": ("0.05", "42500"),
}
NEW_SYMBOL, NEW_PRICE = "AMD", Decimal("138.60")
LIMITS = RiskLimits(max_open_positions=20, max_open_stock_positions=16)


# -- the book the checks run against ----------------------------------------------------------


def account() -> Account:
    return Account(
        account_id="bench",
        status="ACTIVE",
        currency="USD",
        cash=Decimal("60000"),
        equity=Decimal("100000"),
        buying_power=Decimal("180000"),
        last_equity=Decimal("99500"),
        long_market_value=Decimal("52000"),
        short_market_value=Decimal("-5900"),
        portfolio_value=Decimal("100000"),
        multiplier=Decimal(2),
        shorting_enabled=True,
        trading_blocked=False,
        as_of=T0,
    )


def positions() -> list[PositionSnapshot]:
    result = []
    for symbol, (qty_text, price_text) in HELD.items():
        qty, price = Decimal(qty_text), Decimal(price_text)
        result.append(
            PositionSnapshot(
                symbol=symbol,
                qty=qty,
                side=PositionSide.LONG if qty > 0 else PositionSide.SHORT,
                avg_entry_price=price,
                market_value=qty * price,
                cost_basis=qty * price,
                unrealized_pl=Decimal(0),
                unrealized_plpc=Decimal(0),
                current_price=price,
                lastday_price=price,
                asset_class=asset_class_of(symbol),
                qty_available=qty,
            )
        )
    return result


def assets() -> dict[str, AssetInfo]:
    result = {}
    for symbol in (*HELD, NEW_SYMBOL):
        crypto = asset_class_of(symbol) is AssetClass.CRYPTO
        result[symbol] = AssetInfo(
            symbol=symbol,
            asset_id=f"id-{symbol}",
            asset_class=asset_class_of(symbol),
            exchange="CRYPTO" if crypto else "NASDAQ",
            name=symbol,
            status="active",
            tradable=True,
            marginable=not crypto,
            shortable=not crypto,
            easy_to_borrow=not crypto,
            fractionable=True,
        )
    return result


def working_orders() -> list[Order]:
    """Three resting orders: a limit buy adding to NVDA, a stop protecting MSFT, a limit cover."""
    specs = [
        ("NVDA", OrderSide.BUY, "5", OrderType.LIMIT, {"limit_price": Decimal("470")}),
        ("MSFT", OrderSide.SELL, "20", OrderType.STOP, {"stop_price": Decimal("360")}),
        ("TSLA", OrderSide.BUY, "10", OrderType.LIMIT, {"limit_price": Decimal("230")}),
    ]
    return [
        Order(
            client_order_id=f"working-{n}",
            broker_order_id=f"broker-working-{n}",
            symbol=symbol,
            side=side,
            type=kind,
            time_in_force=TimeInForce.GTC,
            created_at=T0 - timedelta(minutes=30),
            updated_at=T0 - timedelta(minutes=30),
            qty=Decimal(qty),
            status=OrderStatus.NEW,
            **prices,
        )
        for n, (symbol, side, qty, kind, prices) in enumerate(specs)
    ]


def intents() -> list[tuple[OrderIntent, Decimal]]:
    """The rotating mix, each with the market price it is checked at."""
    price = {s: Decimal(p) for s, (_, p) in HELD.items()}
    return [
        (OrderIntent(symbol="AAPL", side="buy", qty=Decimal(10), strategy="momo"), price["AAPL"]),
        (
            OrderIntent(
                symbol=NEW_SYMBOL,
                side="buy",
                qty=Decimal(20),
                type="limit",
                limit_price=Decimal("138.50"),
                strategy="breakout",
            ),
            NEW_PRICE,
        ),
        (OrderIntent(symbol="MSFT", side="sell", qty=Decimal(5), strategy="momo"), price["MSFT"]),
        (
            OrderIntent(
                symbol="BTC/USD",
                side="buy",
                qty=Decimal("0.01"),
                time_in_force="gtc",
                strategy="crypto",
            ),
            price["BTC/USD"],
        ),
    ]


def stepping(step: float) -> Callable[[], float]:
    """A monotonic clock advancing ``step`` seconds per reading (the runaway guard's view)."""
    ticks = itertools.count(1000.0, step)
    return lambda: next(ticks)


# -- the broker, minus its round trip ---------------------------------------------------------


class CannedBroker:
    """The AlpacaClient calls the order path makes, answered at once from canned values."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.account = account()
        self.positions = positions()
        self.assets = assets()
        self.submitted = 0

    async def get_account(self) -> Account:
        return self.account

    async def get_positions(self) -> list[PositionSnapshot]:
        return self.positions

    async def get_asset(self, symbol: str) -> AssetInfo:
        return self.assets[symbol]

    async def submit_order(self, intent: OrderIntent, client_order_id: str) -> Order:
        """The broker's acknowledgement: the order, ``new``, with a broker id."""
        self.submitted += 1
        now = self.clock()
        return Order(
            client_order_id=client_order_id,
            broker_order_id=f"broker-{self.submitted}",
            symbol=intent.symbol,
            side=intent.side,
            type=intent.type,
            time_in_force=intent.time_in_force,
            created_at=now,
            updated_at=now,
            submitted_at=now,
            qty=intent.qty,
            limit_price=intent.limit_price,
            status=OrderStatus.NEW,
        )


def fill_event(order: Order, price: Decimal, n: int, at: datetime) -> OrderUpdate:
    """The ``fill`` event of ``order``, at ``price``."""
    assert order.qty is not None
    snapshot = Order(
        client_order_id=order.client_order_id,
        broker_order_id=order.broker_order_id,
        symbol=order.symbol,
        side=order.side,
        type=order.type,
        time_in_force=order.time_in_force,
        created_at=order.created_at,
        updated_at=at,
        submitted_at=order.submitted_at,
        filled_at=at,
        qty=order.qty,
        limit_price=order.limit_price,
        status=OrderStatus.FILLED,
        filled_qty=order.qty,
        filled_avg_price=price,
    )
    return OrderUpdate(
        event="fill",
        order=snapshot,
        timestamp=at,
        execution_id=f"exec-{n}",
        price=price,
        qty=order.qty,
        position_qty=None,
    )


# -- measuring --------------------------------------------------------------------------------


def quantile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(
    name: str,
    samples_ns: Sequence[int],
    *,
    target: bool,
    cpu_ns: Sequence[int] = (),
    note: str = "",
) -> str:
    """One figure: wall p50/p99/max (and this thread's CPU time p50/p99 when measured)."""
    us = [s / 1e3 for s in samples_ns]
    p50, p99, worst = statistics.median(us), quantile(us, 0.99), max(us)
    line = f"order path: {name:<37} p50 {p50:7.1f} us  p99 {p99:7.1f} us  max {worst:8.1f} us"
    if cpu_ns:
        cpu = [s / 1e3 for s in cpu_ns]
        line += f"  (cpu p50 {statistics.median(cpu):6.1f} p99 {quantile(cpu, 0.99):6.1f} us)"
    line += f"  [{len(us):,} calls{note}]"
    if target:
        line += f"; target p99 < {TARGET_MS:g} ms: {'MET' if p99 / 1e3 < TARGET_MS else 'MISSED'}"
    return line


def bench_validate(calls: int) -> list[int]:
    """(a): validate_trade alone, approvals only."""
    risk = RiskManager(LIMITS, store=MemoryStateStore(), clock=lambda: T0, monotonic=stepping(1.25))
    risk.assets.update(assets())
    acct, held, working = account(), positions(), working_orders()
    mix = intents()
    for intent, price in mix:
        decision = risk.validate_trade(intent, acct, held, price=price, open_orders=working)
        if not isinstance(decision, Approved):
            raise SystemExit(f"benchmark set-up denied {intent.symbol}: {decision}")
    samples = []
    clock = time.perf_counter_ns
    for n in range(calls):
        intent, price = mix[n % len(mix)]
        started = clock()
        risk.validate_trade(intent, acct, held, price=price, open_orders=working)
        samples.append(clock() - started)
    return samples


@dataclass
class OrderPathSamples:
    """Per-call wall and CPU (this thread) times of (b) and (c), in ns."""

    submit_wall: list[int] = field(default_factory=list)
    submit_cpu: list[int] = field(default_factory=list)
    fill_wall: list[int] = field(default_factory=list)
    fill_cpu: list[int] = field(default_factory=list)
    cached_orders: int = 0


async def bench_order_path(orders: int, warmup: int, directory: Path) -> OrderPathSamples:
    """(b) and (c): submit_order then the order's fill event, ``warmup + orders`` times."""
    began = time.perf_counter()

    def clock() -> datetime:
        return T0 + timedelta(seconds=time.perf_counter() - began)

    broker = CannedBroker(clock)
    journal = Journal(directory / "journal.db")
    for order in working_orders():
        journal.record_order(order)
    client = cast(Any, broker)  # the AlpacaClient surface the order path uses
    accounts = AccountManager(client)
    feed = MarketDataFeed(client)
    risk = RiskManager(LIMITS, store=journal, clock=clock, monotonic=stepping(1.25))
    manager = OrderManager(client, accounts, feed, risk, journal)
    manager.book.adopt(broker.positions)
    manager.reconciled = True
    mix = intents()
    out = OrderPathSamples()
    wall, cpu = time.perf_counter_ns, time.thread_time_ns
    for n in range(warmup + orders):
        intent, price = mix[n % len(mix)]
        # Warm caches, as the engine's refresh task and market-data stream keep them.
        await accounts.get_account()
        await accounts.get_positions()
        feed.on_trade(Trade(intent.symbol, price, Decimal(100), clock()))
        cpu0, wall0 = cpu(), wall()
        placed = await manager.submit_order(intent)
        wall1, cpu1 = wall(), cpu()
        if not isinstance(placed, Order) or placed.status is not OrderStatus.NEW:
            raise SystemExit(f"order {n} not placed: {placed}")
        event = fill_event(placed, price, n, clock())
        cpu2, wall2 = cpu(), wall()
        await manager.on_order_update(event)
        wall3, cpu3 = wall(), cpu()
        if placed.status is not OrderStatus.FILLED:
            raise SystemExit(f"order {n} not filled: {placed.status}")
        if n >= warmup:
            out.submit_wall.append(wall1 - wall0)
            out.submit_cpu.append(cpu1 - cpu0)
            out.fill_wall.append(wall3 - wall2)
            out.fill_cpu.append(cpu3 - cpu2)
    out.cached_orders = len(manager.orders)
    journal.close()
    return out


def machine_busy() -> tuple[int, int] | None:
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return None
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def main() -> int:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").splitlines()[:2]))
    parser.add_argument("--checks", type=int, default=20_000, help="validate_trade calls (a)")
    parser.add_argument("--orders", type=int, default=2_000, help="orders submitted (b, c)")
    parser.add_argument("--warmup", type=int, default=200, help="orders before timing")
    parser.add_argument(
        "--log", choices=("file", "off"), default="file", help="INFO logging to a file, or none"
    )
    args = parser.parse_args()
    before = machine_busy()
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-order-path-") as tmp:
        if args.log == "file":
            setup_logging("INFO", log_dir=Path(tmp) / "logs", console=False)
        else:
            logger.remove()
        checks = bench_validate(args.checks)
        path = asyncio.run(bench_order_path(args.orders, args.warmup, Path(tmp)))
        logger.remove()
    wall = time.perf_counter() - wall_before
    cpu = time.process_time() - cpu_before
    q = max(1, len(path.submit_wall) // 4)
    print(summary("(a) RiskManager.validate_trade", checks, target=True))
    print(
        summary(
            "(b) OrderManager.submit_order",
            path.submit_wall,
            cpu_ns=path.submit_cpu,
            target=True,
            note=", file journal, broker round trip excluded",
        )
    )
    print(summary("(b)   first quarter of the orders", path.submit_wall[:q], target=False))
    print(
        summary(
            "(b)   last quarter of the orders",
            path.submit_wall[-q:],
            target=False,
            note=f", {path.cached_orders:,} orders in the cache by then",
        )
    )
    print(
        summary(
            "(c) OrderManager.on_order_update (fill)",
            path.fill_wall,
            cpu_ns=path.fill_cpu,
            target=False,
        )
    )
    after = machine_busy()
    if before is not None and after is not None:
        busy, total = after[0] - before[0], after[1] - before[1]
        cores = os.cpu_count() or 1
        others = max(0.0, busy / total - cpu / (wall * cores)) if total else 0.0
        print(
            f"order path: {others:.0%} of the machine's CPU time went to other processes "
            f"meanwhile ({cores} cores, {wall:.1f} s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
