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
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from loguru import logger
from pydantic import SecretStr
from rich.console import Console

from pulsetrader.api.server import ApiServer
from pulsetrader.api.users import UserStore, generate_password
from pulsetrader.config import Settings, ephemeral_settings, load_settings
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


async def _until(stop: asyncio.Event, deadline: float | None, wait: float) -> bool:
    """Wait up to ``wait`` s for ``stop`` or the deadline; True when it is time to stop."""
    loop = asyncio.get_running_loop()
    if deadline is not None:
        wait = min(wait, max(0.0, deadline - loop.time()))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), wait)
    return stop.is_set() or (deadline is not None and loop.time() >= deadline)


async def serve(
    engine: Engine,
    *,
    now: Callable[[], datetime],
    duration: float | None = None,
    status_every: float = 5.0,
    echo: Callable[[str], None] = print,
    live: Console | None = None,
    api: ApiServer | None = None,
) -> None:
    """Start ``engine`` and run it until SIGINT/SIGTERM or ``duration``, then shut it down
    gracefully. Shared by ``demo`` and ``run``.

    With ``live`` (a terminal), the :mod:`pulsetrader.view` screen is redrawn in place twice a
    second; otherwise a status line is echoed every ``status_every`` s (logs, pipes, CI).
    ``api`` (the API and dashboard of ``engine``) starts once the engine has, and stops before it.
    """
    stop = asyncio.Event()
    install_signal_handlers(asyncio.get_running_loop(), stop)
    await engine.start()
    try:
        if api is not None:
            await api.start()
            echo(f"dashboard and API on {api.url}/ (API docs at {api.url}/docs)")
        echo("engine started; Ctrl-C to stop")
        loop = asyncio.get_running_loop()
        deadline = None if duration is None else loop.time() + duration
        if live is not None:
            from rich.live import Live

            from pulsetrader.view import render

            with Live(render(engine, now), console=live, refresh_per_second=2) as screen:
                while not await _until(stop, deadline, 0.5):
                    screen.update(render(engine, now))
        else:
            while not await _until(stop, deadline, status_every):
                echo(status_line(engine, now))
    finally:
        echo("shutting down...")
        if api is not None:
            try:
                await api.stop()
            except Exception:  # the engine must still stop gracefully
                logger.exception("stopping the API failed")
        await engine.stop()
        echo("stopped")


DEMO_USER = "demo"


def demo_api(engine: Engine, settings: Settings, port: int | None) -> tuple[ApiServer, str]:
    """The demo's API with one user, ``demo``, and a password made for this run only."""
    password = generate_password()
    users = UserStore()
    users.add(DEMO_USER, password)
    return ApiServer(engine, settings, users, port=port), password


async def run_demo(
    *,
    duration: float | None = None,
    faults: Path | None = None,
    speed: float = 30.0,
    seed: int = 0,
    status_every: float = 5.0,
    echo: Callable[[str], None] = print,
    port: int | None = None,
    live: Console | None = None,
) -> None:
    """Run simulator, engine and dashboard until ``duration`` seconds pass or SIGINT/SIGTERM.

    The dashboard listens on ``port`` (default ``API_PORT``; when that is taken and no port
    was asked for, any free port), with the user ``demo`` and a one-time password printed here.
    """
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
        api, password = demo_api(engine, settings, port)
        if port is None and not _port_free(settings.api_host, settings.api_port):
            echo(f"port {settings.api_port} is taken: the dashboard takes a free port instead")
            api.port = 0
        echo(f"dashboard login: user {DEMO_USER}, password {password} (new every run)")
        await serve(
            engine,
            now=sim.now,
            duration=duration,
            status_every=status_every,
            echo=echo,
            live=live,
            api=api,
        )
        echo("the journal is " + str(journal))


def _port_free(host: str, port: int) -> bool:
    """Whether ``host:port`` can be listened on now (0 always can)."""
    if port == 0:
        return True
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        socket.create_server((host, port), family=family).close()
    except OSError:
        return False
    return True
