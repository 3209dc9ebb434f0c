"""What AlpacaClient costs per call over the raw alpaca-py SDK, and what the caches save.

(a) Overhead per call. The simulator runs in its own process (``pulsetrader sim`` on a free
loopback port, fixed keys, rate limit off, a fixed session-open start), so it does not compete for
this process's GIL. The same five calls go through the raw SDK (``TradingClient`` and
``StockHistoricalDataClient`` with ``raw_data=True`` and ``url_override``, called directly and
synchronously: the leanest way to reach the same endpoints from Python, though one that blocks an
event loop) and through :class:`AlpacaClient` (its own aiohttp transport on the event loop,
client-side limiter, error mapping, one call hook, logging, conversion to domain types).
AlpacaClient's limiter is off (``requests_per_minute=None``) so the figure is the wrapper, not a
wait for budget; logging is configured as the engine does it, at INFO (the per-call DEBUG lines are
filtered, not formatted). Calls are sequential, the same number for each variant, in rounds whose
order rotates so drift in the machine or the simulator cancels out. A third variant is the raw SDK
call run through ``loop.run_in_executor`` (the thread handoff any asyncio caller of a blocking SDK
pays), a fourth the SDK with its own models on a worker thread (how an asyncio program would use
it). The conversion to domain types is timed where it runs ("in place") and alone on a captured
payload ("hot"). Reported: median and p99 wall time per call, the median overhead against the
target, and the process's CPU time per call (all threads).

(b) REST calls saved by the caches in a typical engine minute. A few strategies tick together
several times a second; each asks :class:`AccountManager` for equity, buying power and positions
and :class:`MarketDataFeed` for the current price of its symbols. The periodic refreshes run as
the engine runs them (account every ``refresh_interval`` = 30 s, prices every 10 s) and a fill
invalidates the account cache now and then. Time is simulated: the caches' clocks and the
schedule are driven by the benchmark (each broker call is real, against the simulator), so
several engine minutes take a few seconds. Run twice: without streams (every price from REST),
then with a streamed trade per symbol each second (``MarketDataFeed.on_trade``, as the stream
client feeds it). ``--real-seconds N`` also runs the stream-less callers in real time with the
managers' own refresh tasks, extrapolated to a minute.

The last line says how much CPU other processes took meanwhile: on a shared two-core machine
they, not the code, can dominate sub-millisecond figures.

    .venv/bin/python benchmarks/bench_broker_overhead.py [--calls 200] [--round 20]
        [--minutes 5] [--strategies 4] [--rate 2] [--real-seconds 0] [--part a|b|both]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import requests
from machine import machine_busy_seconds, own_cpu_seconds, report_machine

TARGET_OVERHEAD = 0.10
KEY, SECRET = "PKBENCHKEY000000000B", "bench-secret-00000000000000000000000000"
#: Wednesday 2024-01-03, 09:30 New York (the tests' session open).
SESSION_OPEN = datetime(2024, 1, 3, 14, 30, tzinfo=UTC)
#: Bars of the previous session, for get_bars.
BARS_START = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
BARS_END = datetime(2024, 1, 2, 21, 0, tzinfo=UTC)
POSITIONS = ("AAPL", "MSFT", "SPY")
SYMBOLS = ("AAPL", "MSFT", "SPY", "TSLA", "NVDA", "AMZN")


# -- the simulator, in a process of its own -------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def simulator_process() -> Iterator[str]:
    """``pulsetrader sim`` on a free port; yields its base URL once ``/sim/health`` is 200."""
    port = free_port()
    command = [
        sys.executable, "-c", "from pulsetrader.cli import main; main()", "sim",
        "--port", str(port), "--key-id", KEY, "--secret-key", SECRET, "--rate-limit", "0",
        "--partial-fill-rate", "0", "--seed", "1", "--start", SESSION_OPEN.isoformat(),
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"the simulator exited with {proc.returncode}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{base}/sim/health", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit("the simulator did not become healthy within 30 s")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- (a) overhead per call --------------------------------------------------------------------
def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def median_seconds(fn: Callable[[], Any], repeat: int = 200) -> float:
    """Median wall time of ``fn()`` (for the in-process conversion cost)."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


async def measure_overhead(base: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    from alpaca.data.enums import DataFeed
    from alpaca.data.historical.stock import StockHistoricalDataClient
    from alpaca.data.requests import StockBarsRequest, StockLatestQuoteRequest
    from alpaca.data.timeframe import TimeFrame
    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
    from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest, MarketOrderRequest

    from pulsetrader.broker import convert
    from pulsetrader.broker.client import AlpacaClient, BrokerConfig

    trading = TradingClient(KEY, SECRET, paper=True, raw_data=True, url_override=base)
    stocks = StockHistoricalDataClient(KEY, SECRET, raw_data=True, url_override=base)
    # The SDK as an asyncio program would use it: its pydantic models (the default), through a
    # worker thread, because its calls block.
    models = TradingClient(KEY, SECRET, paper=True, url_override=base)
    model_stocks = StockHistoricalDataClient(KEY, SECRET, url_override=base)
    # Some state to read: three filled positions and ten resting orders.
    for symbol in POSITIONS:
        trading.submit_order(
            MarketOrderRequest(symbol=symbol, qty=2, side=OrderSide.BUY, time_in_force="day")
        )
    for i in range(10):
        trading.submit_order(
            LimitOrderRequest(
                symbol=SYMBOLS[i % len(SYMBOLS)], qty=1, side=OrderSide.BUY,
                time_in_force=TimeInForce.DAY, limit_price=1.0,
            )
        )  # fmt: skip

    calls = Counter[str]()
    config = BrokerConfig(
        KEY, SECRET, paper=True, trading_url=base, data_url=base, requests_per_minute=None
    )
    client = AlpacaClient(config, hooks=[lambda outcome: calls.update([outcome.endpoint])])
    # Time the conversion to domain types where it really runs (on the loop, right after the
    # answer arrives: colder caches than a tight loop over one payload).
    converting = [0.0]
    convert_in_place = client._convert

    def timed_convert(endpoint: str, fn: Callable[..., Any], *items: Any) -> Any:
        began = time.perf_counter()
        try:
            return convert_in_place(endpoint, fn, *items)
        finally:
            converting[0] += time.perf_counter() - began

    client._convert = timed_convert  # type: ignore[method-assign]
    orders_request = GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=500, nested=True)
    bars_request = StockBarsRequest(
        symbol_or_symbols="AAPL", timeframe=TimeFrame.Minute, start=BARS_START,
        end=BARS_END, limit=args.bars, sort="asc", feed=DataFeed.IEX,
    )  # fmt: skip
    quote_request = StockLatestQuoteRequest(symbol_or_symbols="AAPL", feed=DataFeed.IEX)

    # name: (raw SDK call, the same through AlpacaClient, the conversion alone on a payload,
    # the SDK call returning its models)
    cases: dict[
        str,
        tuple[
            Callable[[], Any], Callable[[], Awaitable[Any]], Callable[[Any], Any], Callable[[], Any]
        ],
    ]
    cases = {
        "get_account": (
            trading.get_account,
            client.get_account,
            convert.account_from_wire,
            models.get_account,
        ),
        "get_positions": (
            trading.get_all_positions,
            client.get_positions,
            lambda raw: [convert.position_from_wire(p) for p in raw],
            models.get_all_positions,
        ),
        "list_orders": (
            lambda: trading.get_orders(orders_request),
            lambda: client.list_orders("open"),
            lambda raw: [convert.order_from_wire(o) for o in raw],
            lambda: models.get_orders(orders_request),
        ),
        "get_latest_quote": (
            lambda: stocks.get_stock_latest_quote(quote_request),
            lambda: client.get_latest_quote("AAPL"),
            lambda raw: convert.quote_from_wire("AAPL", raw["AAPL"]),
            lambda: model_stocks.get_stock_latest_quote(quote_request),
        ),
        "get_bars": (
            lambda: stocks.get_stock_bars(bars_request),
            lambda: client.get_bars("AAPL", start=BARS_START, end=BARS_END, limit=args.bars),
            lambda raw: convert.bars_frame(raw["AAPL"]),
            lambda: model_stocks.get_stock_bars(bars_request).df,
        ),
    }  # fmt: skip
    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(8, thread_name_prefix="hop")
    results = []
    try:
        for name, (raw_call, wrapped_call, conversion, model_call) in cases.items():
            # raw: the SDK called directly; hop: the same call on a worker thread via
            # run_in_executor (the thread handoff alone); wrapped: through AlpacaClient.
            variants: dict[str, Callable[[], Awaitable[Any]]] = {
                "raw": lambda raw_call=raw_call: sync_awaitable(raw_call),
                "hop": lambda raw_call=raw_call: loop.run_in_executor(executor, raw_call),
                "sdk_async": lambda c=model_call: loop.run_in_executor(executor, c),
                "wrapped": wrapped_call,
            }
            times: dict[str, list[float]] = {kind: [] for kind in variants}
            cpu = dict.fromkeys(variants, 0.0)
            for call in variants.values():
                await timed_calls(call, args.warmup)
            converting[0] = 0.0
            order = list(variants)
            for _ in range(max(1, args.calls // args.round)):
                for kind in order:
                    began = time.process_time()  # this process, every thread
                    times[kind] += await timed_calls(variants[kind], args.round)
                    cpu[kind] += time.process_time() - began
                order = order[1:] + order[:1]  # rotate who goes first, to cancel drift
            payload = raw_call()
            result: dict[str, Any] = {"name": name, "calls": len(times["raw"])}
            for kind, values in times.items():
                result[f"{kind}_p50"] = statistics.median(values)
                result[f"{kind}_p99"] = percentile(values, 0.99)
                result[f"{kind}_cpu"] = cpu[kind] / len(values)
            result["convert"] = converting[0] / len(times["wrapped"])
            result["convert_hot"] = median_seconds(lambda c=conversion, p=payload: c(p))
            results.append(result)
    finally:
        executor.shutdown()
        await client.close()
    return results


async def sync_awaitable(call: Callable[[], Any]) -> Any:
    """Run a blocking call right here, on the loop's thread (the raw SDK's way)."""
    return call()


async def timed_calls(call: Callable[[], Awaitable[Any]], count: int) -> list[float]:
    """``count`` sequential calls; the wall time of each."""
    times = []
    for _ in range(count):
        began = time.perf_counter()
        await call()
        times.append(time.perf_counter() - began)
    return times


def report_overhead(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"broker overhead: AlpacaClient vs raw alpaca-py against `pulsetrader sim` in another "
        f"process; {results[0]['calls']} sequential calls per variant, rotating rounds of "
        f"{args.round}; limiter off, INFO logging, one call hook"
    )
    for r in results:
        raw, hop, wrapped = r["raw_p50"], r["hop_p50"], r["wrapped_p50"]
        overhead = (wrapped - raw) / raw
        verdict = "MET" if overhead <= TARGET_OVERHEAD else "MISSED"
        print(
            f"broker overhead: {r['name']:<16} p50/p99 raw {raw * 1e3:5.2f}/"
            f"{r['raw_p99'] * 1e3:5.2f} ms, AlpacaClient {wrapped * 1e3:5.2f}/"
            f"{r['wrapped_p99'] * 1e3:5.2f} ms: {(wrapped - raw) * 1e6:+5.0f} us/call "
            f"(raw SDK via run_in_executor {hop * 1e3:5.2f} ms; conversion "
            f"{r['convert'] * 1e6:3.0f} us in place, {r['convert_hot'] * 1e6:3.0f} us "
            f"hot); client CPU/call raw "
            f"{r['raw_cpu'] * 1e6:4.0f} us, AlpacaClient {r['wrapped_cpu'] * 1e6:4.0f} us; "
            f"overhead {overhead:+6.1%}; target <= {TARGET_OVERHEAD:.0%}: {verdict}"
        )
    for r in results:
        sdk, wrapped = r["sdk_async_p50"], r["wrapped_p50"]
        print(
            f"broker overhead: {r['name']:<16} vs the SDK as an asyncio program uses it (its "
            f"models, on a worker thread): {sdk * 1e3:5.2f} ms -> AlpacaClient "
            f"{wrapped * 1e3:5.2f} ms, {(wrapped - sdk) / sdk:+6.1%}"
        )


# -- (b) what the caches save -----------------------------------------------------------------
class FakeClock:
    """The caches' monotonic clock, moved by the benchmark."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def strategy_symbols(index: int, per_strategy: int) -> list[str]:
    """Overlapping symbol sets, as several strategies on one watch list have."""
    return [SYMBOLS[(index + k) % len(SYMBOLS)] for k in range(per_strategy)]


async def strategy_tick(account: Any, feed: Any, symbols: list[str], served: Counter[str]) -> None:
    """One strategy decision: equity, buying power, positions, then its prices."""
    await account.get_equity()
    await account.get_buying_power()
    served["account"] += 2
    await account.get_positions()
    served["positions"] += 1
    for symbol in symbols:
        await feed.get_current_price(symbol)
        served["price"] += 1


def cache_client(base: str, requests_made: Counter[str]) -> Any:
    from pulsetrader.broker.client import AlpacaClient, BrokerConfig

    config = BrokerConfig(
        KEY, SECRET, paper=True, trading_url=base, data_url=base, requests_per_minute=None
    )
    return AlpacaClient(config, hooks=[lambda outcome: requests_made.update([outcome.endpoint])])


async def simulated_minutes(
    base: str, args: argparse.Namespace, *, streams: bool = False
) -> dict[str, Any]:
    """Drive the caches' clock and the engine's schedule; every broker call is real. With
    ``streams`` a trade of every symbol arrives each second, as the market-data stream sends."""
    from pulsetrader.account import AccountManager
    from pulsetrader.domain.market import Trade
    from pulsetrader.market_data.feed import MarketDataFeed

    requests_made = Counter[str]()
    served = Counter[str]()
    client = cache_client(base, requests_made)
    clock = FakeClock()
    account = AccountManager(client, monotonic=clock)
    feed = MarketDataFeed(client, monotonic=clock)
    step = 1.0 / args.rate
    total = args.minutes * 60.0
    next_account_refresh, next_price_refresh = 0.0, feed.refresh_interval
    fill_every = 60.0 / args.fills_per_minute if args.fills_per_minute else float("inf")
    next_fill = fill_every
    books = [strategy_symbols(i, args.symbols) for i in range(args.strategies)]
    began = time.perf_counter()
    try:
        while clock.now < total:
            if clock.now >= next_account_refresh:  # AccountManager._refresh_loop
                await account.refresh()
                next_account_refresh += account.refresh_interval
            if clock.now >= next_price_refresh:  # MarketDataFeed._refresh_loop
                await feed.refresh()
                next_price_refresh += feed.refresh_interval
            if clock.now >= next_fill:  # the order manager after a fill
                account.invalidate()
                next_fill += fill_every
            if streams and clock.now % 1.0 < step:
                stamp = SESSION_OPEN + timedelta(seconds=clock.now)
                for number, symbol in enumerate(SYMBOLS):
                    feed.on_trade(Trade(symbol, Decimal(100), Decimal(1), stamp, "V", number + 1))
            await asyncio.gather(*(strategy_tick(account, feed, b, served) for b in books))
            clock.now += step
    finally:
        await client.close()
    return {
        "streams": streams,
        "minutes": args.minutes,
        "wall": time.perf_counter() - began,
        "served": served,
        "requests": requests_made,
        "account_saved": account.requests_saved,
        "account_loads": account.broker_requests,
        "feed_saved": feed.requests_saved,
        "feed_loads": feed.broker_requests,
    }


async def real_seconds(base: str, args: argparse.Namespace) -> dict[str, Any]:
    """The same callers in real time, with the managers' own refresh tasks."""
    from pulsetrader.account import AccountManager
    from pulsetrader.market_data.feed import MarketDataFeed

    requests_made = Counter[str]()
    served = Counter[str]()
    client = cache_client(base, requests_made)
    account = AccountManager(client)
    feed = MarketDataFeed(client)
    books = [strategy_symbols(i, args.symbols) for i in range(args.strategies)]
    fill_every = 60.0 / args.fills_per_minute if args.fills_per_minute else float("inf")
    account.start()
    feed.start()
    began = time.monotonic()
    next_tick, next_fill = began, began + fill_every
    try:
        while (now := time.monotonic()) < began + args.real_seconds:
            if now >= next_fill:
                account.invalidate()
                next_fill += fill_every
            await asyncio.gather(*(strategy_tick(account, feed, b, served) for b in books))
            next_tick += 1.0 / args.rate
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
    finally:
        await account.stop()
        await feed.stop()
        await client.close()
    elapsed = time.monotonic() - began
    return {
        "streams": False,
        "minutes": elapsed / 60,
        "wall": elapsed,
        "served": served,
        "requests": requests_made,
        "account_saved": account.requests_saved,
        "account_loads": account.broker_requests,
        "feed_saved": feed.requests_saved,
        "feed_loads": feed.broker_requests,
    }


def report_savings(result: dict[str, Any], label: str, args: argparse.Namespace) -> None:
    minutes = result["minutes"]
    served, made = result["served"], result["requests"]
    reads = sum(served.values())
    sent = sum(made.values())
    print(
        f"cache savings ({label}): {args.strategies} strategies x {args.rate:g} ticks/s, each "
        f"reading equity, buying power, positions and {args.symbols} prices (of "
        f"{len(SYMBOLS)} symbols); account refresh 30 s, price refresh 10 s, "
        f"{args.fills_per_minute} fill invalidations/min; "
        + ("a streamed trade per symbol each second" if result["streams"] else "no streams")
    )
    per_minute = {k: v / minutes for k, v in made.items()}
    print(
        f"cache savings ({label}): {reads / minutes:,.0f} reads/min served with "
        f"{sent / minutes:,.1f} broker requests/min ("
        + ", ".join(f"{k} {v:.1f}" for k, v in sorted(per_minute.items()))
        + f"); {1 - sent / reads:.2%} of reads needed no request "
        f"[{minutes:.2f} engine minutes in {result['wall']:.1f} s wall]"
    )
    account_saved, account_loads = result["account_saved"], result["account_loads"]
    feed_saved, feed_loads = result["feed_saved"], result["feed_loads"]
    print(
        f"cache savings ({label}): per minute AccountManager requests_saved "
        f"{account_saved / minutes:,.0f} broker_requests {account_loads / minutes:,.1f}; "
        f"MarketDataFeed requests_saved {feed_saved / minutes:,.0f} broker_requests "
        f"{feed_loads / minutes:,.1f} (totals {account_saved:,}/{account_loads:,} and "
        f"{feed_saved:,}/{feed_loads:,})"
    )
    budget = 200
    print(
        f"cache savings ({label}): {sent / minutes:,.1f} requests/min of Alpaca's {budget}/min "
        f"budget ({sent / minutes / budget:.1%}); uncached the same reads would need "
        f"{reads / minutes:,.0f}/min"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("a", "b", "both"), default="both")
    parser.add_argument("--calls", type=int, default=200, help="(a) calls per side per endpoint")
    parser.add_argument("--round", type=int, default=20, help="(a) calls per interleaved round")
    parser.add_argument("--warmup", type=int, default=20, help="(a) unmeasured calls per side")
    parser.add_argument("--bars", type=int, default=100, help="(a) bars per get_bars call")
    parser.add_argument("--minutes", type=float, default=5, help="(b) simulated engine minutes")
    parser.add_argument("--strategies", type=int, default=4, help="(b) strategies")
    parser.add_argument("--symbols", type=int, default=3, help="(b) prices per strategy tick")
    parser.add_argument("--rate", type=float, default=2.0, help="(b) strategy ticks per second")
    parser.add_argument("--fills-per-minute", type=int, default=4, help="(b) cache invalidations")
    parser.add_argument(
        "--real-seconds", type=float, default=0.0, help="(b) also run N s in real time (0: skip)"
    )
    args = parser.parse_args()
    if args.calls < 1 or args.round < 1 or args.rate <= 0 or args.minutes <= 0:
        parser.error("--calls, --round, --rate and --minutes must be positive")

    from pulsetrader.logging import setup_logging

    setup_logging("INFO", log_dir=None)
    busy, own, began = machine_busy_seconds(), own_cpu_seconds(), time.monotonic()
    with simulator_process() as base:
        if args.part in ("a", "both"):
            report_overhead(asyncio.run(measure_overhead(base, args)), args)
        if args.part in ("b", "both"):
            report_savings(asyncio.run(simulated_minutes(base, args)), "simulated time", args)
            with_streams = asyncio.run(simulated_minutes(base, args, streams=True))
            report_savings(with_streams, "simulated, streams on", args)
            if args.real_seconds > 0:
                report_savings(asyncio.run(real_seconds(base, args)), "real time", args)
    report_machine("broker overhead", busy, own, time.monotonic() - began)
    return 0


if __name__ == "__main__":
    sys.exit(main())
