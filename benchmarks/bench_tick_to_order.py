"""Tick-to-order latency: a trade frame reaching the stream client -> the order request leaving
the AlpacaClient (target: p99 under 2 ms), with a real strategy on the engine's order path.

Three processes. A loopback market-data server (websockets, msgpack, Alpaca's handshake:
``connected``, ``auth``, ``subscribe`` and its ack) streams trades of nine stocks round-robin,
one message per frame, at ``--rate`` messages/s on an absolute schedule (a late frame goes at
once, so the average rate is exact); a trade's ``i`` is its sequence number, its ``t`` the
wall-clock time of sending. The simulator (``Simulator`` as ``pulsetrader sim`` runs it,
mid-session on Wednesday 2024-01-03 at real-time speed, no rate limit, no partial fills) is the
broker. This process runs :class:`~pulsetrader.engine.Engine` as ``pulsetrader run`` builds it
(client, journal on a temporary file, caches, risk, order manager, streams, health monitor,
periodic tasks; INFO logging to a file), its market-data stream pointed at the server and the
rest at the simulator, plus one strategy in a :class:`~pulsetrader.strategy.runner.StrategyRunner`
as the engine runs configured ones. Risk limits are the defaults except the runaway guard and
position counts (raised so every order is approved), and the client-side limiter is at its
highest (10,000/min) so no order waits for budget.

The strategy sends a 1-share market order on every ``--order-every``-th trade (sequence number
divisible by it), buying then selling each symbol so positions stay small, and awaits it, as a
strategy does: trade -> runner mailbox -> ``on_trade`` -> ``StrategyContext`` ->
``OrderManager.submit_order`` (risk check on the account, positions and price; journal commits)
-> ``AlpacaClient.submit_order`` -> the trading API's HTTP client on the event loop -> the
socket. The default, 1 in 50
(20 orders/s), leaves the strategy idle between orders; at 1 in 10 (100 orders/s) one strategy
awaiting each order cannot keep up (an order takes ~15 ms with the broker's answer), its
mailbox grows and the figure becomes queueing, not latency.

Timestamps are ``time.perf_counter_ns`` (one clock for every thread), taken by wrappers the
benchmark installs, without changing library code:

* frame arrival: the stock stream's ``on_frame``, called as soon as the websocket's ``recv``
  returns (only a ``time.monotonic()`` in between), before the frame is decoded; a trade
  callback added after the runner's ties that time to the trade;
* ``on_trade`` entered (the strategy), ``AlpacaClient.submit_order`` entered;
* request leaving: the bytes of ``POST /v2/orders`` handed to the connection's asyncio
  transport (``write``/``writelines`` of the socket transport, which sends at once when the
  socket can take them), matched to its trade by the client_order_id in the body.

The wrappers cost a few microseconds per frame or order, inside the figures. Trades of the first
``--warmup`` seconds are not counted (first connections and asset lookups). Reported: p50, p90,
p99, max and count of the whole and of each stage; the orders split by whether a broker read
finished during their risk check (the account manager reloads account and positions after every
accepted order and fill; the risk check should never wait for those reloads, so the second group
should stay empty); the order round trip; server send -> ``recv`` (wall clocks: the wait before
the first timestamp); the client's call times; the achieved rate and what became of the orders.
The engine gets core 0, the server and simulator core 1 (when the OS allows); the last line says
how much CPU other processes took meanwhile.

    .venv/bin/python benchmarks/bench_tick_to_order.py [--seconds 20] [--warmup 3]
        [--rate 1000] [--order-every 50]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgpack
from machine import machine_busy_seconds, own_cpu_seconds, report_machine

TARGET_MS = 2.0
KEY, SECRET = "PKBENCHKEY000000000C", "bench-secret-00000000000000000000000000"
#: Wednesday 2024-01-03, 10:00 New York: mid-session, so market orders fill at once.
SESSION = datetime(2024, 1, 3, 15, 0, tzinfo=UTC)
#: Stocks the simulator lists by default (it prices and fills them).
SYMBOLS = ("AAPL", "MSFT", "SPY", "TSLA", "NVDA", "AMZN", "GOOGL", "META", "QQQ")
STRATEGY = "tick_to_order"


# -- the market-data server process -----------------------------------------------------------


async def serve_ticks() -> None:
    """Serve ``/bench/<total>/<rate>/v2/<feed>`` until stdin closes; print the port first."""
    from websockets.asyncio.server import ServerConnection, serve
    from websockets.exceptions import ConnectionClosed

    async def stream(ws: ServerConnection, total: int, rate: float) -> None:
        rng = random.Random(3)
        cents = {s: rng.randrange(5_000, 50_000) for s in SYMBOLS}
        loop = asyncio.get_running_loop()
        began = loop.time()
        for seq in range(total):
            delay = began + seq / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            symbol = SYMBOLS[seq % len(SYMBOLS)]
            cents[symbol] = max(100, cents[symbol] + rng.randint(-3, 3))
            message = {
                "T": "t", "S": symbol, "i": seq, "x": "V", "p": cents[symbol] / 100,
                "s": rng.choice((1, 10, 100, 100, 200)), "c": ["@"], "z": "C",
                "t": msgpack.Timestamp.from_unix_nano(time.time_ns()),
            }  # fmt: skip
            await ws.send(msgpack.packb([message]))

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        parts = ws.request.path.strip("/").split("/")  # bench, total, rate, v2, feed
        total, rate = int(parts[1]), float(parts[2])
        channels = ("trades", "quotes", "bars", "updatedBars")
        subscribed: dict[str, set[str]] = {c: set() for c in channels}
        streaming: asyncio.Task[None] | None = None
        try:
            await ws.send(msgpack.packb([{"T": "success", "msg": "connected"}]))
            async for raw in ws:
                request = msgpack.unpackb(raw)
                action = request.get("action")
                if action == "auth":
                    ok = (request.get("key"), request.get("secret")) == (KEY, SECRET)
                    reply = {"T": "success", "msg": "authenticated"} if ok else {
                        "T": "error", "code": 402, "msg": "auth failed"}  # fmt: skip
                    await ws.send(msgpack.packb([reply]))
                elif action in ("subscribe", "unsubscribe"):
                    for channel, symbols in subscribed.items():
                        change = set(request.get(channel) or ())
                        if action == "subscribe":
                            symbols |= change
                        else:
                            symbols -= change
                    ack = {"T": "subscription", **{c: sorted(s) for c, s in subscribed.items()}}
                    await ws.send(msgpack.packb([ack]))
                    if streaming is None and subscribed["trades"] >= set(SYMBOLS):
                        streaming = asyncio.create_task(stream(ws, total, rate))
        except ConnectionClosed:
            pass
        finally:
            if streaming is not None:
                streaming.cancel()

    async with serve(handler, "127.0.0.1", 0, compression=None, ping_interval=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"READY {port}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


# -- the simulator process ----------------------------------------------------------------------


async def serve_sim() -> None:
    """The simulator on a free port until stdin closes; print port and a clock reading first."""
    from pulsetrader.sim.service import Simulator, SimulatorConfig

    config = SimulatorConfig(
        host="127.0.0.1",
        port=0,
        seed=1,
        speed=1.0,
        start=SESSION,
        key_id=KEY,
        secret_key=SECRET,
        rate_limit_per_minute=None,
        partial_fill_rate=0.0,
    )
    async with Simulator(config) as sim:
        # The simulated clock runs on time.monotonic(), which every process on the host shares:
        # one reading of both lets the engine keep the same clock (the demo passes sim.now).
        print(f"READY {sim.port} {sim.now().isoformat()} {time.monotonic()!r}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


@contextlib.contextmanager
def child(role: str) -> Iterator[list[str]]:
    """This script as ``--serve <role>`` in a subprocess; yields the words of its READY line."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", role], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().split()
        if line[:1] != ["READY"]:
            raise SystemExit(f"the {role} process did not start (exit {proc.poll()})")
        yield line[1:]
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def pin(core: int) -> None:
    with contextlib.suppress(AttributeError, OSError):
        if len(os.sched_getaffinity(0)) > 1:
            os.sched_setaffinity(0, {core})


# -- the engine, its strategy and the clocks ---------------------------------------------------


@dataclass
class Recorder:
    """Every timestamp (ns, ``perf_counter_ns``) the run takes, by trade sequence or order id."""

    every: int
    total: int
    frame_ns: int = 0  # arrival of the frame being decoded now
    frame_wall_ns: int = 0
    ticks: int = 0
    arrival: dict[int, int] = field(default_factory=dict)  # every trade, for the rate
    wire_ns: dict[int, int] = field(default_factory=dict)  # server send -> recv (wall clocks)
    hook: dict[int, int] = field(default_factory=dict)
    returned: dict[int, int] = field(default_factory=dict)
    client: dict[str, int] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)
    reads: int = 0  # broker reads finished so far (account, positions, prices...)
    reads_at_hook: dict[int, int] = field(default_factory=dict)
    reads_at_client: dict[str, int] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    call_ns: dict[str, list[int]] = field(default_factory=dict)  # per endpoint, as timed
    outcomes: Counter[str] = field(default_factory=Counter)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def tap(self, trade: Any) -> None:
        """A trade callback after the runner's: the frame's arrival time for this trade."""
        seq = trade.trade_id
        self.arrival[seq] = self.frame_ns
        if seq % self.every == 0:
            sent_ns = int(trade.timestamp.timestamp() * 1e6) * 1000
            self.wire_ns[seq] = self.frame_wall_ns - sent_ns
        self.ticks += 1
        if seq == self.total - 1:  # the server's last (the first few may precede this tap)
            self.done.set()

    def on_call(self, outcome: Any) -> None:
        """The client's call hook: count broker calls, reads apart."""
        self.calls[outcome.endpoint] += 1
        self.call_ns.setdefault(outcome.endpoint, []).append(int(outcome.seconds * 1e9))
        if outcome.endpoint != "submit_order":
            self.reads += 1


def coid_of(seq: int) -> str:
    return f"t2o-{seq}"


def tick_strategy(recorder: Recorder, symbols: Sequence[str]) -> Any:
    """The benchmark strategy (defined late: importing the engine costs a second)."""
    from pulsetrader.domain.orders import Order
    from pulsetrader.risk.decisions import Denied
    from pulsetrader.strategy import Strategy, StrategyParams

    class TickToOrder(Strategy[StrategyParams]):
        """An order on every ``every``-th trade: buy a symbol, next time sell it."""

        name = STRATEGY

        def __init__(self, params: StrategyParams) -> None:
            super().__init__(params)
            self.long: dict[str, bool] = {}

        async def on_trade(self, ctx: Any, trade: Any) -> None:
            seq = trade.trade_id
            if seq % recorder.every:
                return
            recorder.hook[seq] = time.perf_counter_ns()
            recorder.reads_at_hook[seq] = recorder.reads
            symbol, qty = trade.symbol, self.params.qty
            holding = self.long.get(symbol, False)
            self.long[symbol] = not holding
            side = ctx.sell if holding else ctx.buy
            result = await side(symbol, qty=qty, client_order_id=coid_of(seq))
            recorder.returned[seq] = time.perf_counter_ns()
            if isinstance(result, Order):
                recorder.outcomes[result.status.value] += 1
            elif isinstance(result, Denied):
                recorder.outcomes[f"denied ({result.rule})"] += 1
            else:
                recorder.outcomes["refused"] += 1

    return TickToOrder(StrategyParams(symbols=tuple(symbols), qty=Decimal(1)))


def bench_settings(tmp: Path, sim_port: int, tick_url: str) -> Any:
    """Settings as ``pulsetrader demo`` builds them, with limits loose enough for every order."""
    from pydantic import SecretStr

    from pulsetrader.config import ephemeral_settings, load_settings

    sim = f"http://127.0.0.1:{sim_port}"
    return ephemeral_settings(
        load_settings(env_file=None),
        alpaca_paper_api_key=SecretStr(KEY),
        alpaca_paper_api_secret=SecretStr(SECRET),
        alpaca_trading_url=sim,
        alpaca_data_url=sim,
        alpaca_stream_url=tick_url,
        alpaca_trade_stream_url=f"ws://127.0.0.1:{sim_port}/stream",
        alpaca_data_feed="iex",
        # The client-side limiter's most: at 100 orders/s plus reads the default 200/min
        # would make orders wait for budget instead of measuring the path.
        alpaca_requests_per_minute=10_000,
        pulsetrader_db=tmp / "journal.db",
        log_dir=tmp / "logs",
        log_level="INFO",
        strategies_file=None,
        risk_max_orders_per_minute=1_000_000,
        risk_max_open_positions=50,
        risk_max_open_stock_positions=50,
    )


def instrument(engine: Any, rec: Recorder) -> None:
    """The wrappers that take the timestamps (see the module docstring)."""
    stream = engine.streams.stocks
    on_frame = stream.on_frame

    async def timed_on_frame(frame: bytes | str) -> None:
        rec.frame_ns = time.perf_counter_ns()
        rec.frame_wall_ns = time.time_ns()
        await on_frame(frame)

    stream.on_frame = timed_on_frame

    client = engine.client
    submit_order = client.submit_order

    async def timed_submit_order(intent: Any, client_order_id: str | None = None) -> Any:
        if client_order_id is not None:
            rec.client[client_order_id] = time.perf_counter_ns()
            rec.reads_at_client[client_order_id] = rec.reads
        return await submit_order(intent, client_order_id)

    client.submit_order = timed_submit_order
    client.add_hook(rec.on_call)

    # The socket transport's write: the last step in Python before the bytes go to the kernel.
    # Every connection of this process goes through it; only order bodies are recorded.
    from asyncio import selector_events

    transport_class: Any = selector_events._SelectorSocketTransport
    marker = b'"client_order_id": "t2o-'

    def record(data: bytes) -> None:
        at = time.perf_counter_ns()
        found = data.find(marker)
        if found >= 0:
            start = found + len(marker) - len(b"t2o-")
            rec.sent.setdefault(data[start : data.index(b'"', start)].decode(), at)

    write, writelines = transport_class.write, transport_class.writelines

    def timed_write(self: Any, data: Any) -> None:
        record(bytes(data))
        write(self, data)

    def timed_writelines(self: Any, chunks: Any) -> None:
        chunks = list(chunks)
        record(b"".join(bytes(c) for c in chunks))
        writelines(self, chunks)

    transport_class.write, transport_class.writelines = timed_write, timed_writelines


async def run_engine(args: argparse.Namespace, sim_words: list[str], tick_port: int) -> Any:
    """Start the engine and the strategy, stream every trade, wait for the last order."""
    from loguru import logger

    from pulsetrader.engine import Engine
    from pulsetrader.logging import setup_logging
    from pulsetrader.strategy.runner import StrategyRunner

    sim_port, sim_now, sim_mono = (
        int(sim_words[0]),
        datetime.fromisoformat(sim_words[1]),
        float(sim_words[2]),
    )

    def now() -> datetime:
        return sim_now + timedelta(seconds=time.monotonic() - sim_mono)

    total = int((args.warmup + args.seconds) * args.rate)
    tick_url = f"ws://127.0.0.1:{tick_port}/bench/{total}/{args.rate:g}"
    rec = Recorder(args.order_every, total)
    with tempfile.TemporaryDirectory(prefix="bench-tick-to-order-") as tmp:
        settings = bench_settings(Path(tmp), sim_port, tick_url)
        setup_logging("INFO", settings.log_dir, console=False, secrets=[SECRET])
        engine = Engine(settings, now=now)
        await engine.start()
        try:
            instrument(engine, rec)
            runner = StrategyRunner(
                orders=engine.orders,
                accounts=engine.accounts,
                feed=engine.feed,
                stream=engine.streams,
                clock=engine.now,
            )
            runner.add(STRATEGY, tick_strategy(rec, SYMBOLS), kind=STRATEGY)
            engine.runner = runner  # so that engine.stop() stops it, as it does its own
            await runner.start()
            await engine.streams.subscribe_trades(SYMBOLS, rec.tap)
            try:
                await asyncio.wait_for(rec.done.wait(), total / args.rate + 60)
                await asyncio.wait_for(runner.drain(), 30)
            except TimeoutError:
                raise SystemExit(
                    f"tick-to-order: only {rec.ticks:,} of {total:,} trades arrived in time"
                ) from None
            stats = {
                "connects": engine.streams.stocks.connects,
                "limiter_wait": engine.client.trading_limiter.waited_seconds,
                "state": runner.state(STRATEGY).value,
            }
        finally:
            await engine.stop()
            logger.remove()
    return rec, stats


# -- the report ---------------------------------------------------------------------------------


def quantile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def figures(samples_ns: Sequence[int]) -> str:
    ms = [s / 1e6 for s in samples_ns]
    if not ms:
        return "no samples"
    return (
        f"p50 {quantile(ms, 0.5):6.3f} ms  p90 {quantile(ms, 0.9):6.3f} ms  "
        f"p99 {quantile(ms, 0.99):6.3f} ms  max {max(ms):7.3f} ms  [{len(ms):,}]"
    )


def report(args: argparse.Namespace, rec: Recorder, stats: dict[str, Any]) -> None:
    first = int(args.warmup * args.rate)
    ordered = [s for s in sorted(rec.hook) if s >= first]
    measured = [s for s in ordered if s in rec.arrival and coid_of(s) in rec.sent]
    if not measured:
        raise SystemExit(f"tick-to-order: no order was sent; outcomes {dict(rec.outcomes)}")
    stages: dict[str, list[int]] = {
        name: []
        for name in (
            "total", "recv", "risk", "send", "round trip", "cached", "read", "wire",
        )
    }  # fmt: skip
    reads_per_order = []
    for seq in measured:
        coid = coid_of(seq)
        arrival, hook, sent = rec.arrival[seq], rec.hook[seq], rec.sent[coid]
        client = rec.client[coid]
        stages["total"].append(sent - arrival)
        stages["recv"].append(hook - arrival)
        stages["risk"].append(client - hook)
        stages["send"].append(sent - client)
        if seq in rec.returned:
            stages["round trip"].append(rec.returned[seq] - hook)
        reads = rec.reads_at_client[coid] - rec.reads_at_hook[seq]
        reads_per_order.append(reads)
        stages["read" if reads else "cached"].append(sent - arrival)
        if seq in rec.wire_ns:
            stages["wire"].append(rec.wire_ns[seq])
    counted = [rec.arrival[s] for s in sorted(rec.arrival) if s >= first]
    span = (counted[-1] - counted[0]) / 1e9 if len(counted) > 1 else 0.0
    rate = (len(counted) - 1) / span if span else 0.0
    p99 = quantile(stages["total"], 0.99) / 1e6
    mean_reads = sum(reads_per_order) / len(reads_per_order)
    print(
        f"tick-to-order: {args.rate:,.0f} trades/s of {len(SYMBOLS)} stocks, one per frame; an "
        f"order on 1 in {args.order_every} trades ({args.rate / args.order_every:,.0f} orders/s, "
        "1-share market orders, buy then sell per symbol); "
        f"{args.seconds:g} s counted after {args.warmup:g} s of warm-up; the engine as "
        "`pulsetrader run` builds it, simulator and market-data server in their own processes"
    )
    rows = [
        ("frame received -> order request sent", "total"),
        ("  recv -> strategy on_trade (decode, mailbox)", "recv"),
        ("  on_trade -> AlpacaClient.submit_order (risk)", "risk"),
        ("  -> request bytes to the socket transport", "send"),
        ("  no broker read finished during the risk check", "cached"),
        ("  a broker read finished during it", "read"),
        ("on_trade -> order returned (with the broker)", "round trip"),
        ("server send -> recv returned (wall clocks)", "wire"),
    ]
    for label, key in rows:
        print(f"tick-to-order: {label:<48} {figures(stages[key])}")
    for endpoint in ("get_account", "get_positions", "get_latest_trade", "submit_order"):
        label = f"AlpacaClient.{endpoint} call (whole run)"
        print(f"tick-to-order: {label:<48} {figures(rec.call_ns.get(endpoint, []))}")
    reads = {k: v for k, v in sorted(rec.calls.items()) if k != "submit_order"}
    print(
        f"tick-to-order: stream: {len(counted):,} trades counted at {rate:,.1f} msg/s (target "
        f"{args.rate:,.0f}), {rec.ticks:,} of {rec.total:,} received, {stats['connects']} "
        f"connection(s); orders: {dict(rec.outcomes)}, {len(ordered) - len(measured)} counted "
        f"without a send; broker reads during the risk checks: {mean_reads:.2f} per order; "
        f"broker calls in the run: {rec.calls['submit_order']:,} submits, reads {reads}; "
        f"client limiter waited {stats['limiter_wait']:.2f} s; strategy {stats['state']}"
    )
    print(
        f"tick-to-order: p99 {p99:.3f} ms over {len(measured):,} orders; target p99 < "
        f"{TARGET_MS:g} ms: {'MET' if p99 < TARGET_MS else 'MISSED'}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").splitlines()[:2]))
    parser.add_argument("--seconds", type=float, default=20.0, help="trades counted, in seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of trades not counted")
    parser.add_argument("--rate", type=float, default=1000.0, help="trade messages per second")
    parser.add_argument("--order-every", type=int, default=50, help="an order on 1 in N trades")
    parser.add_argument("--serve", choices=("ticks", "sim"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        pin(1)
        asyncio.run(serve_ticks() if args.serve == "ticks" else serve_sim())
        return 0
    busy, own, began = machine_busy_seconds(), own_cpu_seconds(), time.monotonic()
    with child("sim") as sim_words, child("ticks") as tick_words:
        pin(0)
        rec, stats = asyncio.run(run_engine(args, sim_words, int(tick_words[0])))
    report(args, rec, stats)
    report_machine("tick-to-order", busy, own, time.monotonic() - began)
    return 0


if __name__ == "__main__":
    sys.exit(main())
