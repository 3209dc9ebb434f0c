"""Shared set-up for the integration scripts: real Alpaca paper from the environment, or --sim.

With ``--sim`` the script starts PulseTrader's simulator in-process on a free loopback port, so
it runs on any machine without keys (that is how CI runs it). Without it, credentials come from
the environment or ``.env`` exactly as the engine reads them, and live mode is refused: these
scripts place orders and are for paper accounts only.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pulsetrader.broker import AlpacaClient, BrokerConfig
from pulsetrader.config import Mode, load_settings
from pulsetrader.sim.service import Simulator, SimulatorConfig


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--sim", action="store_true", help="run against a built-in simulator (no keys needed)"
    )
    parser.add_argument("--seed", type=int, default=1, help="simulator seed (with --sim)")
    return parser.parse_args()


@dataclass
class Session:
    """Everything a script needs to reach the broker: REST client, keys and stream URLs.

    ``stream_url``/``trade_stream_url`` of None mean Alpaca's own; ``sim`` is the simulator
    started with ``--sim`` (for fault injection), None against Alpaca.
    """

    client: AlpacaClient
    key_id: str
    secret_key: str
    stream_url: str | None
    trade_stream_url: str | None
    feed: str
    paper: bool = True
    sim: Simulator | None = None


@asynccontextmanager
async def session(args: argparse.Namespace, *, sim_speed: float = 1.0) -> AsyncIterator[Session]:
    """A :class:`Session` on Alpaca paper, or on a simulator started here with --sim.

    ``sim_speed`` is simulated seconds per wall second (streaming checks want data quickly).
    """
    if args.sim:
        sim_config = SimulatorConfig(port=0, seed=args.seed, partial_fill_rate=0, speed=sim_speed)
        async with Simulator(sim_config) as sim:
            config = BrokerConfig(
                sim.key_id, sim.secret_key, trading_url=sim.base_url, data_url=sim.base_url
            )
            client = AlpacaClient(config, clock=sim.now)
            try:
                yield Session(
                    client,
                    sim.key_id,
                    sim.secret_key,
                    sim.ws_url,
                    sim.ws_url + "/stream",
                    "iex",
                    sim=sim,
                )
            finally:
                await client.close()
        return
    settings = load_settings()
    if settings.mode is Mode.LIVE:
        raise SystemExit("refusing to run against a live account: set ALPACA_MODE=paper")
    config = BrokerConfig.from_settings(settings)
    client = AlpacaClient(config)
    try:
        yield Session(
            client,
            config.key_id,
            config.secret_key,
            settings.alpaca_stream_url,
            settings.alpaca_trade_stream_url,
            settings.alpaca_data_feed,
            paper=config.paper,
        )
    finally:
        await client.close()


@asynccontextmanager
async def connect(args: argparse.Namespace) -> AsyncIterator[AlpacaClient]:
    """An AlpacaClient for paper trading, or for a simulator started here with --sim."""
    async with session(args) as current:
        yield current.client


class Checks:
    """Runs named checks, prints PASS/FAIL with timing, and knows whether all passed."""

    def __init__(self) -> None:
        self.failures = 0

    async def run(self, name: str, check: Callable[[], Awaitable[str | None]]) -> None:
        started = time.perf_counter()
        try:
            detail = await check()
        except Exception as exc:  # a script reports every failure and carries on
            self.failures += 1
            print(f"FAIL  {name}: {type(exc).__name__}: {exc}")
            return
        ms = (time.perf_counter() - started) * 1000
        print(f"PASS  {name} ({ms:.0f} ms){': ' + detail if detail else ''}")

    def exit_code(self) -> int:
        print(
            f"\n{'all checks passed' if not self.failures else f'{self.failures} check(s) failed'}"
        )
        return 1 if self.failures else 0
