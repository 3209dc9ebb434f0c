"""``pulsetrader sim``: run the Alpaca-compatible simulator until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Annotated

import typer

from pulsetrader.domain.money import parse_utc
from pulsetrader.sim.assets import DEFAULT_SYMBOLS
from pulsetrader.sim.service import Simulator, SimulatorConfig


def _snippet(sim: Simulator) -> str:
    key, secret, http, ws = sim.key_id, sim.secret_key, sim.base_url, sim.ws_url
    return "\n".join(
        [
            "# alpaca-py, pointed at the simulator:",
            "from alpaca.trading.client import TradingClient",
            "from alpaca.trading.stream import TradingStream",
            "from alpaca.data.historical import StockHistoricalDataClient",
            "from alpaca.data.live import CryptoDataStream, StockDataStream",
            f'trading = TradingClient("{key}", "{secret}", paper=True, url_override="{http}")',
            f'data = StockHistoricalDataClient("{key}", "{secret}", url_override="{http}")',
            f'stocks = StockDataStream("{key}", "{secret}", url_override="{ws}/v2/iex")',
            f'crypto = CryptoDataStream("{key}", "{secret}", '
            f'url_override="{ws}/v1beta3/crypto/us")',
            f'updates = TradingStream("{key}", "{secret}", paper=True, url_override="{ws}/stream")',
        ]
    )


async def _serve(config: SimulatorConfig) -> None:
    sim = Simulator(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Not every platform lets asyncio own signals; Ctrl-C then arrives as KeyboardInterrupt.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    await sim.start()
    try:
        typer.echo(f"PulseTrader simulator listening on {sim.base_url}")
        typer.echo(f"simulated time {sim.now().isoformat()} at speed {config.speed:g}x\n")
        typer.echo("\n".join(sim.env_lines()))
        typer.echo("")
        typer.echo(_snippet(sim))
        typer.echo("\nPress Ctrl-C to stop.")
        await stop.wait()
    finally:
        typer.echo("stopping the simulator...")
        await sim.stop()


def _symbols(text: str | None) -> tuple[str, ...]:
    if not text:
        return DEFAULT_SYMBOLS
    return tuple(part.strip().upper() for part in text.split(",") if part.strip())


def sim(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port for REST and WebSocket (0 = any free).")] = 8765,
    seed: Annotated[int, typer.Option(help="Seed of prices, fills and ids.")] = 0,
    symbols: Annotated[
        str | None, typer.Option(help='Listed symbols, e.g. "AAPL,MSFT,BTC/USD".')
    ] = None,
    speed: Annotated[float, typer.Option(help="Simulated seconds per real second.")] = 1.0,
    faults: Annotated[
        Path | None, typer.Option(help="Fault profile JSON file.", exists=True, dir_okay=False)
    ] = None,
    key_id: Annotated[str | None, typer.Option(help="API key id (default: generated).")] = None,
    secret_key: Annotated[str | None, typer.Option(help="API secret (default: generated).")] = None,
    rate_limit: Annotated[
        int, typer.Option(help="Requests per minute per key and API (0 = unlimited).")
    ] = 200,
    partial_fill_rate: Annotated[
        float, typer.Option(help="Chance that an eligible fill is partial (Alpaca paper: 0.1).")
    ] = 0.1,
    replay: Annotated[
        Path | None, typer.Option(help="Replay recorded bars (CSV/Parquet).", exists=True)
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="Simulated start time, RFC 3339 (default: last open).")
    ] = None,
) -> None:
    """Run the Alpaca-compatible exchange simulator (REST + WebSocket on one port)."""
    try:
        start_time = parse_utc(start) if start else None
    except ValueError:
        raise typer.BadParameter(
            f"not an RFC 3339 time with a zone: {start!r}", param_hint="--start"
        ) from None
    if rate_limit < 0:
        raise typer.BadParameter("must be >= 0", param_hint="--rate-limit")
    if not 0 <= partial_fill_rate <= 1:
        raise typer.BadParameter("must be between 0 and 1", param_hint="--partial-fill-rate")
    if speed < 0:
        raise typer.BadParameter("must be >= 0", param_hint="--speed")
    config = SimulatorConfig(
        host=host,
        port=port,
        seed=seed,
        symbols=_symbols(symbols),
        speed=speed,
        start=start_time,
        key_id=key_id,
        secret_key=secret_key,
        rate_limit_per_minute=rate_limit or None,
        partial_fill_rate=partial_fill_rate,
        faults_file=faults,
        replay_file=replay,
    )
    try:
        asyncio.run(_serve(config))
    except KeyboardInterrupt:
        pass
    except (ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
