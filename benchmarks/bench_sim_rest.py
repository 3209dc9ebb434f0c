"""REST requests per second the simulator serves for account and order calls.

The real :class:`~pulsetrader.sim.service.Simulator` (aiohttp app with all of its middleware:
access stats, fault injection, Alpaca errors, authentication, rate limiting switched off with
``rate_limit_per_minute=None``; market loop running at speed 1 from a Wednesday session open)
serves on an ephemeral loopback port in this process. The load comes from a *separate process*
(so it does not share the server's core or GIL): an aiohttp ``ClientSession`` over keep-alive
connections with ``--concurrency`` workers, authenticating with alpaca-py's headers.

Measured separately, each ``--requests`` requests (or ``--max-seconds``, whichever ends first):
``GET /v2/account``, ``GET /v2/orders`` (``status=open&limit=500&nested=true``, as
AlpacaClient.list_orders asks, with ``--open-orders`` resting orders present),
``GET /v2/orders:by_client_order_id`` (those resting orders), ``POST /v2/orders`` (buy limits at
$1, far below the market, so they rest; a unique client_order_id each) and
``DELETE /v2/orders/{id}``, and a mix where every worker walks one order through POST, lookup by
client_order_id, account, list and DELETE. POST and DELETE run in alternating rounds of
``--batch`` (each timed on its own), so the book stays between ``--open-orders`` and
``--open-orders + --batch`` orders instead of growing by thousands: an engine keeps tens of
orders open, not thousands, and every submission and account read sums over the open book.

Per measurement: requests/s, client-side p50/p99 latency, and CPU per request on both sides
(``time.process_time`` over the bursts; the server's includes its market loop). ``cap`` is the
rate the server could sustain on one saturated core whatever the load generator manages. The
machine has two cores, one for each process; anything else running on it shows in the figures,
so the last line says how much CPU other processes took meanwhile.

    .venv/bin/python benchmarks/bench_sim_rest.py [--requests 4000] [--concurrency 8]
        [--open-orders 20] [--batch 100] [--max-seconds 20] [--phases account,orders,...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from machine import machine_busy_seconds, own_cpu_seconds, report_machine

TARGET = 2_000
KEY, SECRET = "PKBENCHKEY000000000A", "bench-secret-00000000000000000000000000"
#: Wednesday 2024-01-03, 09:30 New York (the tests' session open): a full session lies ahead.
SESSION_OPEN = datetime(2024, 1, 3, 14, 30, tzinfo=UTC)
HEADERS = {
    "APCA-API-KEY-ID": KEY,
    "APCA-API-SECRET-KEY": SECRET,
    "User-Agent": "APCA-PY/0.44.0",
    "Content-Type": "application/json",
}
#: ``orders`` measures POST /v2/orders and DELETE /v2/orders/{id}, in alternating rounds.
PHASES = ("account", "list_orders", "by_client_order_id", "orders", "mix")
LABELS = {
    "account": "GET /v2/account",
    "list_orders": "GET /v2/orders",
    "by_client_order_id": "GET /v2/orders:by_client_order_id",
    "submit_order": "POST /v2/orders",
    "cancel_order": "DELETE /v2/orders/{id}",
    "mix": "mix of the five, equal parts",
}
LIST_QUERY = "status=open&limit=500&nested=true"
BY_CLIENT_ID = "/v2/orders:by_client_order_id"


# -- the load generator (its own process) ---------------------------------------------------
def order_body(client_order_id: str) -> bytes:
    return json.dumps(
        {
            "symbol": "AAPL",
            "qty": "1",
            "side": "buy",
            "type": "limit",
            "time_in_force": "day",
            "limit_price": "1.00",
            "client_order_id": client_order_id,
        }
    ).encode()


class Load:
    """Runs the phases over one keep-alive session; latencies in seconds."""

    def __init__(self, session: Any, base: str, args: argparse.Namespace) -> None:
        self.session = session
        self.base = base
        self.args = args
        self.errors: list[str] = []
        self.seeded: list[str] = []  # client_order_ids of the resting orders
        self.client_cpu: dict[str, float] = {}  # this process's CPU seconds per request kind
        self.serial = 0

    def coid(self, tag: str) -> str:
        self.serial += 1
        return f"bench-{os.getpid()}-{tag}-{self.serial}"

    async def request(self, method: str, path: str, body: bytes | None = None) -> bytes:
        async with self.session.request(method, self.base + path, data=body) as response:
            payload: bytes = await response.read()
            if not 200 <= response.status < 300:
                self.errors.append(f"{method} {path} -> {response.status} {payload[:200]!r}")
            return payload

    async def submit(self, tag: str) -> tuple[str, str]:
        """POST one resting limit order; its (id, client_order_id)."""
        coid = self.coid(tag)
        payload = await self.request("POST", "/v2/orders", order_body(coid))
        return json.loads(payload)["id"], coid

    async def burst(
        self, kind: str, total: int, deadline: float, one: Callable[[int, int], Awaitable[Any]]
    ) -> tuple[list[float], list[Any], float]:
        """``total`` calls of ``one(worker, i)`` over ``concurrency`` workers (stopping early at
        ``deadline``): their latencies, results and the wall time of the burst. The server
        charges its CPU time between the ``CPU+``/``CPU-`` lines to ``kind``."""
        latencies: list[float] = []
        results: list[Any] = []
        issued = 0

        async def worker(number: int) -> None:
            nonlocal issued
            while issued < total and time.perf_counter() < deadline:
                i, issued = issued, issued + 1
                began = time.perf_counter()
                results.append(await one(number, i))
                latencies.append(time.perf_counter() - began)

        print(f"CPU+ {kind}", flush=True)
        began, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(n) for n in range(self.args.concurrency)))
        seconds = time.perf_counter() - began
        self.client_cpu[kind] = self.client_cpu.get(kind, 0.0) + time.process_time() - cpu
        print(f"CPU- {kind}", flush=True)
        return latencies, results, seconds

    async def run(self, phase: str) -> list[dict[str, Any]]:
        """Run ``phase``; one result per measured request kind."""
        total, deadline = self.args.requests, time.perf_counter() + self.args.max_seconds
        errors_before = len(self.errors)
        if phase == "orders":
            return await self.run_orders(total, deadline)
        pending: dict[int, tuple[str, str]] = {}  # mix: each worker's order in flight
        steps: dict[int, int] = {}

        async def one(worker: int, i: int) -> Any:
            if phase == "account":
                return await self.request("GET", "/v2/account")
            if phase == "list_orders":
                return await self.request("GET", f"/v2/orders?{LIST_QUERY}")
            if phase == "by_client_order_id":
                coid = self.seeded[i % len(self.seeded)]
                return await self.request("GET", f"{BY_CLIENT_ID}?client_order_id={coid}")
            # mix: each worker walks one order through its life, with reads in between
            step = steps.get(worker, 0)
            steps[worker] = step + 1
            order = pending.get(worker)
            if step % 5 == 0 or order is None:
                pending[worker] = await self.submit(f"mix{worker}")
                return None
            if step % 5 == 1:
                return await self.request("GET", f"{BY_CLIENT_ID}?client_order_id={order[1]}")
            if step % 5 == 2:
                return await self.request("GET", "/v2/account")
            if step % 5 == 3:
                return await self.request("GET", f"/v2/orders?{LIST_QUERY}")
            del pending[worker]
            return await self.request("DELETE", f"/v2/orders/{order[0]}")

        latencies, _, seconds = await self.burst(phase, total, deadline, one)
        for order_id, _ in pending.values():  # leave no extra resting orders behind
            await self.request("DELETE", f"/v2/orders/{order_id}")
        return [summary(phase, latencies, seconds, self.errors[errors_before:])]

    async def run_orders(self, total: int, deadline: float) -> list[dict[str, Any]]:
        """POST and DELETE in alternating rounds of ``--batch`` orders, each timed on its own,
        so the book stays between ``--open-orders`` and ``--open-orders + --batch``."""
        timing: dict[str, tuple[list[float], float]] = {
            "submit_order": ([], 0.0),
            "cancel_order": ([], 0.0),
        }
        errors_before = len(self.errors)
        done = 0

        async def post(worker: int, i: int) -> tuple[str, str]:
            return await self.submit("post")

        while done < total and time.perf_counter() < deadline:
            size = min(self.args.batch, total - done)
            lat, posted, secs = await self.burst("submit_order", size, deadline, post)
            timing["submit_order"] = (
                timing["submit_order"][0] + lat,
                timing["submit_order"][1] + secs,
            )

            async def cancel(worker: int, i: int, posted: list[tuple[str, str]] = posted) -> bytes:
                return await self.request("DELETE", f"/v2/orders/{posted[i][0]}")

            lat, _, secs = await self.burst("cancel_order", len(posted), float("inf"), cancel)
            timing["cancel_order"] = (
                timing["cancel_order"][0] + lat,
                timing["cancel_order"][1] + secs,
            )
            done += len(posted)
        errors = self.errors[errors_before:]
        return [summary(kind, lat, secs, errors) for kind, (lat, secs) in timing.items()]


def summary(
    phase: str, latencies: list[float], seconds: float, errors: list[str]
) -> dict[str, Any]:
    latencies = sorted(latencies)
    count = len(latencies)
    return {
        "phase": phase,
        "requests": count,
        "seconds": seconds,
        "p50": latencies[count // 2] if count else 0.0,
        "p99": latencies[min(count - 1, int(count * 0.99))] if count else 0.0,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


async def load_main(base: str, args: argparse.Namespace) -> None:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(headers=HEADERS, connector=connector) as session:
        load = Load(session, base, args)
        for _ in range(args.open_orders):
            load.seeded.append((await load.submit("seed"))[1])
        for _ in range(300):  # warm up the connections and the server's code paths
            await load.request("GET", "/v2/account")
        for phase in args.phases.split(","):
            for result in await load.run(phase):
                result["client_cpu"] = load.client_cpu.get(result["phase"], 0.0)
                print(f"RESULT {json.dumps(result)}", flush=True)


# -- the server side (this process) ----------------------------------------------------------
async def serve_and_measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Run the simulator here and the load generator in a child; the child's results, each
    with the server's CPU seconds over its bursts."""
    from pulsetrader.sim.service import Simulator, SimulatorConfig

    config = SimulatorConfig(
        host="127.0.0.1",
        port=0,
        seed=1,
        start=SESSION_OPEN,
        rate_limit_per_minute=None,
        partial_fill_rate=0.0,
        key_id=KEY,
        secret_key=SECRET,
    )
    sim = Simulator(config)
    await sim.start()
    results: list[dict[str, Any]] = []
    cpu: dict[str, float] = {}
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--load", sim.base_url,
            "--requests", str(args.requests), "--concurrency", str(args.concurrency),
            "--open-orders", str(args.open_orders), "--batch", str(args.batch),
            "--max-seconds", str(args.max_seconds), "--phases", args.phases,
            stdout=subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None
        while line := (await proc.stdout.readline()).decode():
            tag, _, rest = line.strip().partition(" ")
            if tag == "CPU+":
                cpu[rest] = cpu.get(rest, 0.0) - time.process_time()
            elif tag == "CPU-":
                cpu[rest] += time.process_time()
            elif tag == "RESULT":
                results.append(json.loads(rest))
        if await proc.wait() != 0:
            raise SystemExit(f"the load generator failed (exit {proc.returncode})")
    finally:
        await sim.stop()
    for result in results:
        result["server_cpu"] = cpu.get(result["phase"], 0.0)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000, help="requests per measurement")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent keep-alive workers")
    parser.add_argument("--open-orders", type=int, default=20, help="resting orders present")
    parser.add_argument("--batch", type=int, default=100, help="orders per POST/DELETE round")
    parser.add_argument("--max-seconds", type=float, default=20.0, help="time cap per phase")
    parser.add_argument(
        "--phases", default=",".join(PHASES), help=f"comma-separated subset of {','.join(PHASES)}"
    )
    parser.add_argument("--load", help=argparse.SUPPRESS)
    args = parser.parse_args()
    unknown = set(args.phases.split(",")) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    if args.open_orders < 1 or args.batch < 1 or args.requests < 1 or args.concurrency < 1:
        parser.error("--open-orders, --batch, --requests and --concurrency must be at least 1")
    if args.load:
        asyncio.run(load_main(args.load, args))
        return 0
    busy, own, began = machine_busy_seconds(), own_cpu_seconds(), time.monotonic()
    results = asyncio.run(serve_and_measure(args))
    wall = time.monotonic() - began
    print(
        f"sim REST: {args.concurrency} keep-alive workers in a separate process; "
        f"{args.open_orders} resting orders (up to {args.open_orders + args.batch} during "
        f"POST/DELETE rounds of {args.batch}); up to {args.requests:,} requests each"
    )
    for r in results:
        rate = r["requests"] / r["seconds"] if r["seconds"] else 0.0
        per_request = r["server_cpu"] / max(1, r["requests"])
        cap = 1 / per_request if per_request > 0 else float("inf")
        verdict = "MET" if rate >= TARGET and not r["errors"] else "MISSED"
        print(
            f"sim REST: {LABELS[r['phase']]:<34} {rate:>6,.0f} req/s  "
            f"p50 {r['p50'] * 1e3:5.2f} ms  p99 {r['p99'] * 1e3:5.2f} ms  "
            f"server CPU {per_request * 1e6:4.0f} us/req (cap {cap:>6,.0f} req/s)  "
            f"client CPU {r['client_cpu'] / max(1, r['requests']) * 1e6:4.0f} us/req  "
            f"[{r['requests']:,} reqs]; target >= {TARGET:,} req/s: {verdict}"
        )
        if r["errors"]:
            print(f"sim REST:   {r['errors']} failed requests, first: {r['first_error']}")
    report_machine("sim REST", busy, own, wall)
    return 0


if __name__ == "__main__":
    sys.exit(main())
