"""``pulsetrader demo``: the simulator and the whole engine in one process, no keys needed.

The simulator serves on a free loopback port with keys generated for this run; the engine is
built by the same composition root as ``pulsetrader run`` (:class:`~pulsetrader.engine.Engine`),
pointed at it through the URL overrides, with the built-in strategies of the example file (or
``STRATEGIES_FILE``). Each run journals to a fresh file under ``data/demo/``. A status line
every few seconds shows simulated time, equity, P/L, positions, open orders, trading state and
health; Ctrl-C (or ``--duration``) shuts down gracefully.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from pydantic import SecretStr

from pulsetrader.config import ephemeral_settings, load_settings
from pulsetrader.engine import Engine, install_signal_handlers
from pulsetrader.logging import setup_logging
from pulsetrader.sim.service import Simulator, SimulatorConfig
from pulsetrader.strategy.examples import STRATEGIES_TOML

DEMO_DIR = Path("data/demo")


def status_line(engine: Engine, now: Callable[[], datetime]) -> str:
    """One line of what the engine is doing, from its caches (no broker request)."""
    account = engine.accounts.last_account
    equity = f"{account.equity:,.2f}" if account is not None else "?"
    day = ""
    if account is not None and account.last_equity > 0:
        day = f" ({account.equity - account.last_equity:+,.2f} today)"
    realized = engine.orders.realized_pl_total()
    positions = (
        ", ".join(f"{p.symbol} {p.qty.normalize():f}" for p in engine.orders.positions()) or "none"
    )
    healthy = "healthy" if engine.monitor.healthy else "unhealthy"
    return (
        f"[{now():%Y-%m-%d %H:%M} UTC] equity {equity}{day} | realized "
        f"{realized.quantize(Decimal('0.01')):+,} | positions: {positions} | open orders "
        f"{len(engine.orders.open_orders())} | {engine.risk.state.value} | {healthy}"
    )


async def serve(
    engine: Engine,
    *,
    now: Callable[[], datetime],
    duration: float | None = None,
    status_every: float = 5.0,
    echo: Callable[[str], None] = print,
) -> None:
    """Start ``engine``, print a status line every ``status_every`` s until SIGINT/SIGTERM or
    ``duration``, then shut it down gracefully. Shared by ``demo`` and ``run``."""
    stop = asyncio.Event()
    install_signal_handlers(asyncio.get_running_loop(), stop)
    await engine.start()
    echo("engine started; Ctrl-C to stop")
    try:
        loop = asyncio.get_running_loop()
        deadline = None if duration is None else loop.time() + duration
        while not stop.is_set():
            wait = status_every
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - loop.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            if deadline is not None and loop.time() >= deadline:
                break
            echo(status_line(engine, now))
    finally:
        echo("shutting down...")
        await engine.stop()
        echo("stopped")


async def run_demo(
    *,
    duration: float | None = None,
    faults: Path | None = None,
    speed: float = 30.0,
    seed: int = 0,
    status_every: float = 5.0,
    echo: Callable[[str], None] = print,
) -> None:
    """Run simulator and engine until ``duration`` seconds pass or SIGINT/SIGTERM."""
    config = SimulatorConfig(host="127.0.0.1", port=0, seed=seed, speed=speed, faults_file=faults)
    async with Simulator(config) as sim:
        base = load_settings()
        DEMO_DIR.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before the engine
        journal = DEMO_DIR / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.db"
        settings = ephemeral_settings(
            base,
            alpaca_paper_api_key=SecretStr(sim.key_id),
            alpaca_paper_api_secret=SecretStr(sim.secret_key),
            alpaca_trading_url=sim.base_url,
            alpaca_data_url=sim.base_url,
            alpaca_stream_url=sim.ws_url,
            alpaca_trade_stream_url=sim.ws_url + "/stream",
            pulsetrader_db=journal,
            strategies_file=base.strategies_file or STRATEGIES_TOML,
        )
        setup_logging(
            settings.log_level,
            settings.log_dir,
            json_lines=settings.log_json,
            secrets=[sim.secret_key, *settings.secret_values()],
        )
        echo(f"simulator on {sim.base_url} (speed {speed:g}x, simulated {sim.now():%c} UTC)")
        echo(f"journal {journal}; strategies {settings.strategies_file}")
        engine = Engine(settings, now=sim.now)
        await serve(engine, now=sim.now, duration=duration, status_every=status_every, echo=echo)
        echo("the journal is " + str(journal))
