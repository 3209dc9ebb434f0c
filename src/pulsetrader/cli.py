"""The ``pulsetrader`` command line."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pulsetrader.config import ConfigReport, validate_config
from pulsetrader.domain.money import utcnow
from pulsetrader.sim.cli import sim

app = typer.Typer(
    name="pulsetrader",
    help="PulseTrader: an asyncio trading engine for Alpaca, with a built-in simulator.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

ConfirmLiveOption = Annotated[
    bool, typer.Option("--confirm-live", help="Confirm live trading (ALPACA_MODE=live).")
]
DurationOption = Annotated[
    float | None, typer.Option(help="Stop after this many seconds (default: until Ctrl-C).")
]
EnvFileOption = Annotated[
    Path, typer.Option("--env-file", help="The .env file to read (the environment wins).")
]


@app.callback()
def _root() -> None:
    """PulseTrader: an asyncio trading engine for Alpaca, with a built-in simulator."""


def render_report(report: ConfigReport) -> None:
    """Print a configuration report as tables: problems with fixes, warnings, masked summary."""
    if report.problems:
        table = Table(title="Configuration problems", show_lines=True)
        table.add_column("Variable", style="bold red", no_wrap=True)
        table.add_column("Problem", overflow="fold")
        table.add_column("How to fix", overflow="fold")
        for p in report.problems:
            table.add_row(p.variable, p.message, p.fix)
        console.print(table)
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    if report.summary:
        table = Table(title="Configuration summary (secrets masked)")
        table.add_column("Setting", style="cyan", no_wrap=True)
        table.add_column("Value")
        for key, value in report.summary.items():
            table.add_row(key, value)
        console.print(table)
    if report.ok:
        console.print("[bold green]Configuration OK.[/bold green]")
    else:
        console.print(f"[bold red]{len(report.problems)} problem(s) found.[/bold red]")


@app.command()
def check(
    env_file: EnvFileOption = Path(".env"),
    confirm_live: ConfirmLiveOption = False,
    no_api: Annotated[
        bool, typer.Option("--no-api", help="Do not require JWT_SECRET_KEY (API not started).")
    ] = False,
) -> None:
    """Validate the configuration and print the report; exit 1 on any problem."""
    report = validate_config(env_file=env_file, require_api=not no_api, confirm_live=confirm_live)
    render_report(report)
    raise typer.Exit(0 if report.ok else 1)


app.command("sim")(sim)


@app.command()
def run(
    env_file: EnvFileOption = Path(".env"),
    confirm_live: ConfirmLiveOption = False,
    duration: DurationOption = None,
) -> None:
    """Run the engine (paper by default; live only with ALPACA_MODE=live and a confirmation)."""
    import asyncio

    from pulsetrader.config import load_settings
    from pulsetrader.demo import serve
    from pulsetrader.engine import Engine
    from pulsetrader.logging import setup_logging

    # The API is not served yet, so JWT_SECRET_KEY is not required here.
    report = validate_config(env_file=env_file, require_api=False, confirm_live=confirm_live)
    if not report.ok:
        render_report(report)
        raise typer.Exit(1)
    settings = load_settings(env_file)
    if confirm_live:
        settings = settings.model_copy(update={"pulsetrader_live_confirm": "yes"})
    setup_logging(
        settings.log_level,
        settings.log_dir,
        json_lines=settings.log_json,
        secrets=settings.secret_values(),
    )
    engine = Engine(settings)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(engine, now=utcnow, duration=duration, echo=typer.echo))


@app.command()
def demo(
    duration: DurationOption = None,
    faults: Annotated[
        Path | None, typer.Option(help="Fault profile JSON for the simulator.", exists=True)
    ] = None,
    speed: Annotated[float, typer.Option(help="Simulated seconds per real second.")] = 30.0,
    seed: Annotated[int, typer.Option(help="Seed of the simulated market.")] = 0,
) -> None:
    """Run the simulator, the engine and the built-in strategies together (no keys needed)."""
    import asyncio

    from pulsetrader.demo import run_demo

    if duration is not None and duration <= 0:
        raise typer.BadParameter("must be positive", param_hint="--duration")
    if speed <= 0:
        raise typer.BadParameter("must be positive", param_hint="--speed")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            run_demo(duration=duration, faults=faults, speed=speed, seed=seed, echo=typer.echo)
        )


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
