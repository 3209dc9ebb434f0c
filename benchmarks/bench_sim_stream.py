"""Throughput of the simulator's market-data stream: publish -> one msgpack subscriber.

The server (aiohttp + StreamHub, as ``pulsetrader sim`` runs it) publishes batches of trades and
quotes through ``publish_trades``/``publish_quotes``; a raw ``websockets`` client in a *separate
process* authenticates like alpaca-py (msgpack), subscribes to ``*``, and decodes every frame
with ``msgpack.unpackb``. The figure is end to end: from the first publish call until the client
reports it has decoded every message, so message building, encoding, the socket and the client's
decoding are all inside it. Domain objects are created before timing (that is the price model's
cost, not the stream's).

    .venv/bin/python benchmarks/bench_sim_stream.py [--messages 600000] [--batch 500]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgpack
from aiohttp import web

from pulsetrader.domain.market import Quote, Trade
from pulsetrader.sim.faults import FaultInjector
from pulsetrader.sim.server import stream_protocol as proto
from pulsetrader.sim.server.streams import StreamHub

TARGET = 100_000
KEY, SECRET = "PKBENCH", "bench-secret"


async def client(url: str, expected: int) -> None:
    """The subscriber process: auth, subscribe ``*``, decode until ``expected`` messages."""
    from websockets.asyncio.client import connect

    headers = {"Content-Type": "application/msgpack"}
    async with connect(url, additional_headers=headers, max_size=None, compression=None) as ws:
        await ws.recv()
        await ws.send(msgpack.packb({"action": "auth", "key": KEY, "secret": SECRET}))
        await ws.recv()
        await ws.send(msgpack.packb({"action": "subscribe", "trades": ["*"], "quotes": ["*"]}))
        await ws.recv()
        print("READY", flush=True)
        received = 0
        started = 0.0
        while received < expected:
            messages = msgpack.unpackb(await ws.recv())
            if not started:
                started = time.perf_counter()
            received += sum(1 for m in messages if m["T"] in ("t", "q"))
        print(f"DONE {received} {time.perf_counter() - started:.6f}", flush=True)


def make_ticks(batch: int) -> tuple[list[Trade], list[Quote]]:
    start = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)
    trades, quotes = [], []
    for i in range(batch):
        symbol = f"SYM{i % 100:03d}"
        ts = start + timedelta(microseconds=i * 137)
        price = Decimal("100") + Decimal(i % 50) / 100
        trades.append(Trade(symbol, price, Decimal(100 + i % 7), ts, "V", i + 1))
        quotes.append(Quote(symbol, price - Decimal("0.01"), 3, price + Decimal("0.01"), 4, ts))
    return trades, quotes


def encode_only_rate(trades: list[Trade], quotes: list[Quote], rounds: int = 20) -> float:
    """Messages/s for building + msgpack-encoding alone (no sockets): the server's CPU ceiling."""
    began = time.perf_counter()
    for _ in range(rounds):
        packed = [proto.pack_one(proto.stock_trade(t, 1)) for t in trades]
        packed += [proto.pack_one(proto.stock_quote(q)) for q in quotes]
        proto.msgpack_frame(packed)
    return rounds * (len(trades) + len(quotes)) / (time.perf_counter() - began)


async def serve_and_measure(total: int, batch: int) -> tuple[float, float]:
    hub = StreamHub(keys={KEY: SECRET}, faults=FaultInjector(), clock=object())

    async def handler(request: web.Request) -> web.WebSocketResponse:
        return await hub.handle_data_stream(request, "sip")

    app = web.Application()
    app.router.add_get("/v2/sip", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"ws://127.0.0.1:{runner.addresses[0][1]}/v2/sip"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--client", url, "--messages", str(total),
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    line = await proc.stdout.readline()
    assert line.strip() == b"READY", line
    trades, quotes = make_ticks(batch)
    done = asyncio.ensure_future(proc.stdout.readline())
    began = time.perf_counter()
    published = 0
    while published < total:
        hub.publish_trades("stocks", trades)
        hub.publish_quotes("stocks", quotes)
        published += 2 * batch
        # A market loop yields between ticks; keep the backlog modest instead of racing ahead
        # (the hub offers no "drained" event, so poll: this is the benchmark's pacing only).
        await asyncio.sleep(0)
        while hub.stats()["backlog_bytes"]["sip"] > 4 * 1024 * 1024:  # noqa: ASYNC110
            await asyncio.sleep(0.001)
    report = (await done).split()
    end_to_end = time.perf_counter() - began
    await proc.wait()
    await hub.close_all()
    await runner.cleanup()
    received, client_seconds = int(report[1]), float(report[2])
    return received / end_to_end, received / client_seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=600_000)
    parser.add_argument("--batch", type=int, default=500, help="trades (and quotes) per publish")
    parser.add_argument("--client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        asyncio.run(client(args.client, args.messages))
        return 0
    trades, quotes = make_ticks(args.batch)
    ceiling = encode_only_rate(trades, quotes)
    rate, client_rate = asyncio.run(serve_and_measure(args.messages, args.batch))
    print(f"sim stream: build+encode only          {ceiling:>12,.0f} msg/s")
    print(f"sim stream: client receive+decode rate{client_rate:>12,.0f} msg/s")
    print(
        f"sim stream: publish -> 1 msgpack client {rate:>12,.0f} msg/s end to end "
        f"({args.messages:,} msgs, batches of {args.batch} trades + {args.batch} quotes); "
        f"target >= {TARGET:,} msg/s: {'MET' if rate >= TARGET else 'NOT MET'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
