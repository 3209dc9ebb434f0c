"""Memory of a demo run over one simulated trading day at high speed (target: flat, no growth).

What ``pulsetrader demo`` runs, in one process: the simulator (in-process, a free loopback port,
fresh keys) and :class:`~pulsetrader.engine.Engine` with the built-in strategies of the example
strategies file, built from settings the way :func:`pulsetrader.demo.run_demo` builds them,
except that the journal and the logs go to a temporary directory (not ``data/demo``) and
logging has no console sink (so the figures are readable). The simulator starts at the open of
the regular session of ``--date`` (checked against its calendar: it must be a full trading
session) and runs at ``--speed`` simulated seconds per real second; the run ends when the
simulated clock reaches the close. At the default 400x the 6.5-hour session takes about a
minute of wall time, with a minute bar per symbol every 0.15 s.

Every ``--interval`` seconds the process's resident set (``VmRSS`` from ``/proc/self/status``)
is sampled with the simulated time. Reported: RSS after warm-up (the first ``--warmup`` of the
session: strategies' history, first price units of the simulator, the journal's first pages),
at the end, the peak, and the growth slope in MiB per simulated hour by least squares over the
second half of the session (and over all of it after warm-up). Flat means under
:data:`FLAT_MIB_PER_HOUR` over the second half. The share of the growth that is the stream
decoder's number cache (``pulsetrader.streaming.protocol``: every wire number it converted, up
to a fixed count, then cleared; bar fields such as vwap rarely repeat, so in the demo it fills
steadily) is reported on its own line. The orders and fills of the day show it traded; the
simulator's lag shows it kept up. ``--tracemalloc`` also traces Python allocations from the end
of warm-up and lists the sites besides that cache that grew most between the middle and the
end; it makes the run many times slower (use ``--speed 200`` or less, and do not take the RSS
figures of such a run as the headline ones).

    .venv/bin/python benchmarks/bench_demo_memory.py [--speed 400] [--date 2024-01-03]
        [--interval 1] [--warmup 0.1] [--tracemalloc]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from machine import machine_busy_seconds, own_cpu_seconds, report_machine

#: Growth over the second half of the session below this counts as flat.
FLAT_MIB_PER_HOUR = 1.0
MIB = 1024 * 1024


def rss_bytes() -> int:
    """This process's resident set size (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class Sample:
    wall: float  # seconds since the engine started
    sim_hours: float  # simulated hours since the session opened
    rss: int
    traced: int = 0
    cached_numbers: int = 0  # entries in the stream decoder's number cache


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    session: Any = None
    speed: float = 0.0
    orders: Counter[str] = field(default_factory=Counter)
    by_strategy: Counter[str] = field(default_factory=Counter)
    fills: int = 0
    bars: int = 0
    stream_messages: int = 0
    strategies: dict[str, str] = field(default_factory=dict)
    sim_stats: dict[str, Any] = field(default_factory=dict)
    sim_end: datetime | None = None
    grown: list[str] = field(default_factory=list)  # tracemalloc's top growth sites
    cache_traced: int = 0  # what tracemalloc saw the decoder cache grow by, middle to end
    bytes_per_number: float = 0.0
    cache_cap: int = 0  # the decoder cache's footprint per entry, at the end


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of y over x (0 for fewer than two distinct x)."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def footprint(cache: dict[Any, Any]) -> int:
    """Bytes of a dict and of its keys and values (shallow: numbers have no parts)."""
    return sys.getsizeof(cache) + sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in cache.items())


def where(traceback: tracemalloc.Traceback) -> str:
    """The allocating line, and the innermost PulseTrader frame that led to it."""
    frames = list(traceback)  # oldest first
    inner = frames[-1]
    text = f"{'/'.join(inner.filename.rsplit('/', 2)[-2:])}:{inner.lineno}"
    ours = [f for f in frames if "/pulsetrader/" in f.filename]
    if ours and ours[-1] is not inner:
        text += f" via {ours[-1].filename.split('/pulsetrader/')[-1]}:{ours[-1].lineno}"
    return text


def growth(
    middle: tracemalloc.Snapshot, end: tracemalloc.Snapshot, decoder: Any
) -> tuple[int, list[str]]:
    """What the decoder's number cache grew by, and the other sites that grew most."""
    # The cache is reported on its own (it is bounded); list what else grew.
    cache = [tracemalloc.Filter(True, decoder.__file__)]
    mine = end.filter_traces(cache).compare_to(middle.filter_traces(cache), "filename")
    others = [tracemalloc.Filter(False, decoder.__file__)]
    rest = end.filter_traces(others).compare_to(middle.filter_traces(others), "traceback")
    sites = [
        f"{stat.size_diff / 1024:+8.1f} KiB {stat.count_diff:+7d} blocks  {where(stat.traceback)}"
        for stat in rest[:10]
    ]
    return sum(stat.size_diff for stat in mine), sites


def trading_session(day: date) -> Any:
    """The regular session of ``day`` on the simulator's calendar; exits if there is none."""
    from pulsetrader.sim.calendar import MarketCalendar

    session = MarketCalendar().session(day)
    if session is None:
        raise SystemExit(f"demo memory: {day} is not a trading day (weekend or holiday)")
    if session.is_early_close:
        raise SystemExit(f"demo memory: {day} closes early; choose a full session")
    return session


async def run_day(args: argparse.Namespace, tmp: Path) -> Run:
    """Simulator and engine as the demo wires them, from the open to the close of the session."""
    from loguru import logger
    from pydantic import SecretStr

    from pulsetrader.config import ephemeral_settings, load_settings
    from pulsetrader.engine import Engine
    from pulsetrader.logging import setup_logging
    from pulsetrader.sim.service import Simulator, SimulatorConfig
    from pulsetrader.strategy.examples import STRATEGIES_TOML
    from pulsetrader.streaming import protocol as proto

    run = Run(session=trading_session(args.date), speed=args.speed)
    opened, closed = run.session.open, run.session.close
    config = SimulatorConfig(
        host="127.0.0.1", port=0, seed=args.seed, speed=args.speed, start=opened
    )
    async with Simulator(config) as sim:
        base = load_settings()
        settings = ephemeral_settings(
            base,
            alpaca_paper_api_key=SecretStr(sim.key_id),
            alpaca_paper_api_secret=SecretStr(sim.secret_key),
            alpaca_trading_url=sim.base_url,
            alpaca_data_url=sim.base_url,
            alpaca_stream_url=sim.ws_url,
            alpaca_trade_stream_url=sim.ws_url + "/stream",
            pulsetrader_db=tmp / "demo.db",
            log_dir=tmp / "logs",
            strategies_file=base.strategies_file or STRATEGIES_TOML,
        )
        setup_logging(
            settings.log_level,
            settings.log_dir,
            json_lines=settings.log_json,
            secrets=[sim.secret_key, *settings.secret_values()],
            console=False,
        )
        engine = Engine(settings, now=sim.now)
        began = time.monotonic()
        await engine.start()
        try:
            warm_until = opened + (closed - opened) * args.warmup
            tracing = False
            middle: tracemalloc.Snapshot | None = None
            while True:
                now = sim.now()
                if args.tracemalloc and not tracing and now >= warm_until:
                    tracemalloc.start(25)
                    tracing = True
                sample = Sample(
                    wall=time.monotonic() - began,
                    sim_hours=(now - opened).total_seconds() / 3600,
                    rss=rss_bytes(),
                    traced=tracemalloc.get_traced_memory()[0] if tracing else 0,
                    cached_numbers=len(proto._DECIMALS),
                )
                run.samples.append(sample)
                if tracing and middle is None and now >= opened + (closed - opened) / 2:
                    middle = tracemalloc.take_snapshot()
                if now >= closed:
                    break
                await asyncio.sleep(args.interval)
            if middle is not None:
                run.cache_traced, run.grown = growth(middle, tracemalloc.take_snapshot(), proto)
                tracemalloc.stop()
            for order in engine.orders.orders.values():
                run.orders[order.status.value] += 1
                run.by_strategy[order.strategy or "manual"] += 1
            run.fills = len(engine.journal.fills())
            run.stream_messages = engine.streams.stocks.messages + engine.streams.crypto.messages
            if engine.runner is not None:
                for status in engine.runner.status():
                    run.strategies[status["name"]] = status["state"]
                    run.bars += status["bars"]
            run.bytes_per_number = footprint(proto._DECIMALS) / max(1, len(proto._DECIMALS))
            run.cache_cap = proto._DECIMAL_CACHE_SIZE
            run.sim_stats = sim.stats_snapshot()
            run.sim_end = sim.now()
        finally:
            await engine.stop()
            logger.remove()
    return run


def report(args: argparse.Namespace, run: Run) -> None:
    samples = run.samples
    session_hours = (run.session.close - run.session.open).total_seconds() / 3600
    warm = session_hours * args.warmup
    after = [s for s in samples if s.sim_hours >= warm]
    if len(after) < 4:
        raise SystemExit(f"demo memory: only {len(after)} samples after warm-up; lower --speed")
    second = [s for s in after if s.sim_hours >= session_hours / 2]
    start, end = after[0].rss / MIB, samples[-1].rss / MIB
    peak = max(s.rss for s in samples) / MIB
    late = slope([(s.sim_hours, s.rss / MIB) for s in second])
    overall = slope([(s.sim_hours, s.rss / MIB) for s in after])
    wall = samples[-1].wall
    print(
        f"demo memory: simulator + engine + built-in strategies in one process, session of "
        f"{run.session.date} {run.session.open:%H:%M}-{run.session.close:%H:%M} UTC "
        f"({session_hours:g} h) at {run.speed:g}x: {wall:.0f} s wall, {len(samples)} RSS samples "
        f"every {args.interval:g} s{', tracemalloc on' if args.tracemalloc else ''}"
    )
    print(
        f"demo memory: RSS after warm-up ({warm * 60:.0f} simulated min) {start:.1f} MiB, "
        f"end {end:.1f} MiB ({end - start:+.1f}), peak {peak:.1f} MiB"
    )
    print(
        f"demo memory: growth {late:+.2f} MiB per simulated hour over the second half "
        f"({len(second)} samples), {overall:+.2f} MiB/h over the whole session after warm-up"
    )
    # The stream decoder keeps every wire number it has converted (bounded, cleared when full):
    # bar fields such as vwap rarely repeat, so in the demo it fills steadily.
    per = run.bytes_per_number / MIB
    cache_late = slope([(s.sim_hours, s.cached_numbers * per) for s in second])
    per_hour = slope([(s.sim_hours, float(s.cached_numbers)) for s in second])
    full = (run.cache_cap - samples[-1].cached_numbers) / per_hour if per_hour > 0 else 0.0
    print(
        f"demo memory: of that, the stream decoder's number cache (streaming.protocol._DECIMALS, "
        f"at most {run.cache_cap:,} entries, cleared when full): "
        f"{after[0].cached_numbers:,} -> {samples[-1].cached_numbers:,} entries "
        f"(~{samples[-1].cached_numbers * per:.1f} MiB, {run.bytes_per_number:.0f} B each), "
        f"{cache_late:+.2f} MiB/h over the second half, full in ~{full:,.0f} more simulated "
        f"hours at this rate; RSS growth less the cache's {late - cache_late:+.2f} MiB/h"
    )
    if args.tracemalloc and after[-1].traced:
        traced = slope([(s.sim_hours, s.traced / MIB) for s in second])
        print(
            f"demo memory: traced Python allocations {after[0].traced / MIB:.1f} -> "
            f"{after[-1].traced / MIB:.1f} MiB since warm-up, {traced:+.2f} MiB/h over the "
            f"second half; from the middle to the end the decoder cache grew "
            f"{run.cache_traced / 1024:+.1f} KiB, and the sites that grew most besides:"
        )
        for line in run.grown:
            print(f"demo memory:   {line}")
    loop = run.sim_stats.get("market_loop", {})
    print(
        f"demo memory: traded: {sum(run.orders.values()):,} orders {dict(run.orders)} "
        f"(by strategy {dict(run.by_strategy)}), {run.fills:,} fills; strategies "
        f"{run.strategies}, {run.bars:,} bars delivered; {run.stream_messages:,} stream "
        f"messages; simulator {loop.get('ticks', 0):,} ticks, ended at "
        f"{run.sim_end:%H:%M:%S} UTC, lag {run.sim_stats.get('lag_seconds', 0):.1f} s"
    )
    flat = late < FLAT_MIB_PER_HOUR
    share = f", {cache_late / late:.0%} of it the bounded decoder cache" if late > 0 else ""
    print(
        f"demo memory: {late:+.2f} MiB per simulated hour over the second half{share}; "
        f"target flat (< {FLAT_MIB_PER_HOUR:g} MiB/h): {'MET' if flat else 'MISSED'}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--speed", type=float, default=400.0, help="simulated s per real s")
    parser.add_argument(
        "--date", type=date.fromisoformat, default=date(2024, 1, 3), help="a full trading day"
    )
    parser.add_argument("--seed", type=int, default=0, help="the simulator's seed")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    parser.add_argument(
        "--warmup", type=float, default=0.1, help="fraction of the session not counted"
    )
    parser.add_argument(
        "--tracemalloc", action="store_true", help="trace allocations, list the growth sites"
    )
    args = parser.parse_args()
    busy, own, began = machine_busy_seconds(), own_cpu_seconds(), time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-demo-memory-") as tmp:
        run = asyncio.run(run_day(args, Path(tmp)))
    report(args, run)
    report_machine("demo memory", busy, own, time.monotonic() - began)
    return 0


if __name__ == "__main__":
    sys.exit(main())
