"""The ``pulsetrader`` command line."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from pulsetrader.config import ConfigReport, Settings, load_settings, validate_config
from pulsetrader.domain.errors import ConfigError
from pulsetrader.domain.money import utcnow
from pulsetrader.sim.cli import sim

app = typer.Typer(
    name="pulsetrader",
    help="PulseTrader: an asyncio trading engine for Alpaca, with a built-in simulator.",
    no_args_is_help=True,
    add_completion=False,
)
if TYPE_CHECKING:
    from pulsetrader.persistence import Journal

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)

ConfirmLiveOption = Annotated[
    bool, typer.Option("--confirm-live", help="Confirm live trading (ALPACA_MODE=live).")
]
DurationOption = Annotated[
    float | None, typer.Option(help="Stop after this many seconds (default: until Ctrl-C).")
]
PlainOption = Annotated[
    bool, typer.Option("--plain", help="Status lines instead of the live terminal view.")
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
    plain: PlainOption = False,
    no_api: Annotated[
        bool, typer.Option("--no-api", help="Do not serve the API and dashboard.")
    ] = False,
) -> None:
    """Run the engine (paper by default; live only with ALPACA_MODE=live and a confirmation).

    On a terminal it shows a live view of equity, P/L, positions, open orders, strategies,
    health and trading state; elsewhere (or with --plain) a status line every few seconds.
    """
    import asyncio

    from pulsetrader.api.server import ApiServer
    from pulsetrader.api.users import UserConfigError, UserStore
    from pulsetrader.demo import serve
    from pulsetrader.engine import Engine
    from pulsetrader.logging import setup_logging

    settings = _checked_settings(env_file, confirm_live, require_api=not no_api)
    users = None
    if not no_api:
        try:
            users = UserStore.from_settings(settings)
        except UserConfigError as exc:
            err_console.print(f"[bold red]API_USERS:[/bold red] {exc}")
            raise typer.Exit(1) from None
        if not len(users):
            err_console.print(
                "[yellow]warning:[/yellow] API_USERS is empty: nobody can log in to the "
                "dashboard. Add one with `pulsetrader create-user NAME`."
            )
    setup_logging(
        settings.log_level,
        settings.log_dir,
        json_lines=settings.log_json,
        secrets=settings.secret_values(),
    )
    engine = Engine(settings)
    api = None if users is None else ApiServer(engine, settings, users)
    live = console if (console.is_terminal and not plain) else None
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve(engine, now=utcnow, duration=duration, echo=typer.echo, live=live, api=api)
        )


@app.command()
def demo(
    duration: DurationOption = None,
    faults: Annotated[
        Path | None, typer.Option(help="Fault profile JSON for the simulator.", exists=True)
    ] = None,
    speed: Annotated[float, typer.Option(help="Simulated seconds per real second.")] = 30.0,
    seed: Annotated[int, typer.Option(help="Seed of the simulated market.")] = 0,
    port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Dashboard port (default API_PORT; 0: any free)."),
    ] = None,
    live_view: Annotated[
        bool, typer.Option("--live/--plain", help="The live terminal view (on a terminal).")
    ] = False,
) -> None:
    """Run the simulator, the engine, the built-in strategies and the dashboard together (no
    keys needed). Prints the dashboard's address and a one-time password for user demo."""
    import asyncio

    from pulsetrader.demo import run_demo

    if duration is not None and duration <= 0:
        raise typer.BadParameter("must be positive", param_hint="--duration")
    if speed <= 0:
        raise typer.BadParameter("must be positive", param_hint="--speed")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            run_demo(
                duration=duration,
                faults=faults,
                speed=speed,
                seed=seed,
                echo=typer.echo,
                port=port,
                live=console if (live_view and console.is_terminal) else None,
            )
        )


@app.command("create-user")
def create_user(
    name: Annotated[str, typer.Argument(help="The user name to log in with.")],
    generate: Annotated[
        bool, typer.Option("--generate", help="Make up a strong password and print it.")
    ] = False,
) -> None:
    """Print an API_USERS entry (name:argon2-hash) for a dashboard/API user.

    Asks for the password twice (hidden) unless --generate. Append the printed entry to
    API_USERS in .env, separated by a comma from any already there.
    """
    from pulsetrader.api.users import UserConfigError, generate_password, user_entry

    if generate:
        password = generate_password()
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        entry = user_entry(name, password)
    except UserConfigError as exc:
        err_console.print(f"[bold red]error:[/bold red] {exc}")
        raise typer.Exit(1) from None
    if generate:
        err_console.print(f"password for {name}: {password}  (shown once; keep it safe)")
    typer.echo(entry)


# -- operator commands -------------------------------------------------------------------------

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
DbOption = Annotated[
    Path | None,
    typer.Option("--db", help="The engine's journal (default: PULSETRADER_DB)."),
]


def _checked_settings(env_file: Path, confirm_live: bool, *, require_api: bool = False) -> Settings:
    """Settings for a command that talks to the broker: validated, or exit 1 with the report."""
    report = validate_config(env_file=env_file, require_api=require_api, confirm_live=confirm_live)
    if not report.ok:
        render_report(report)
        raise typer.Exit(1)
    settings = load_settings(env_file)
    if confirm_live:
        settings = settings.model_copy(update={"pulsetrader_live_confirm": "yes"})
    return settings


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one operator action; a broker or operator error exits 1 with its message."""
    import asyncio

    from pulsetrader.broker.errors import BrokerError
    from pulsetrader.operate import OperateError
    from pulsetrader.persistence import JournalError

    try:
        return asyncio.run(coro)
    except (BrokerError, OperateError, JournalError, ConfigError) as exc:
        err_console.print(f"[bold red]error:[/bold red] {exc}")
        raise typer.Exit(1) from None


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column.replace("_", " "), justify="left" if column in _TEXT else "right")
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    if not rows:
        console.print(f"{title}: none")
    else:
        console.print(table)


_TEXT = {"symbol", "side", "type", "status", "client_order_id", "strategy", "asset_class"}


@app.command()
def account(
    env_file: EnvFileOption = Path(".env"),
    confirm_live: ConfirmLiveOption = False,
    as_json: JsonOption = False,
) -> None:
    """Show the broker account: equity, cash, buying power, today's P/L."""
    from pulsetrader.operate import read_account

    data = _run(read_account(_checked_settings(env_file, confirm_live)))
    if as_json:
        _print_json(data)
        return
    table = Table(title="Account", show_header=False)
    table.add_column("Field", style="cyan")
    table.add_column("Value", justify="right")
    for key in (
        "account_id",
        "status",
        "equity",
        "last_equity",
        "day_pl",
        "day_pl_pct",
        "cash",
        "buying_power",
        "long_market_value",
        "short_market_value",
        "trading_blocked",
        "as_of",
    ):
        if key in data:
            table.add_row(key.replace("_", " "), str(data[key]))
    console.print(table)


@app.command()
def positions(
    env_file: EnvFileOption = Path(".env"),
    confirm_live: ConfirmLiveOption = False,
    as_json: JsonOption = False,
) -> None:
    """Show the open positions at the broker, with unrealized P/L."""
    from pulsetrader.operate import read_positions

    rows = _run(read_positions(_checked_settings(env_file, confirm_live)))
    if as_json:
        _print_json(rows)
        return
    columns = ["symbol", "qty", "avg_entry_price", "current_price", "market_value"]
    _table("Positions", rows, [*columns, "unrealized_pl"])


@app.command()
def orders(
    env_file: EnvFileOption = Path(".env"),
    confirm_live: ConfirmLiveOption = False,
    as_json: JsonOption = False,
    status: Annotated[str, typer.Option(help="open, closed or all.")] = "open",
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many.")] = 50,
    symbol: Annotated[str | None, typer.Option(help="Only this symbol.")] = None,
) -> None:
    """Show orders at the broker (open ones by default), newest first."""
    from pulsetrader.operate import read_orders

    if status not in ("open", "closed", "all"):
        raise typer.BadParameter("must be open, closed or all", param_hint="--status")
    settings = _checked_settings(env_file, confirm_live)
    rows = _run(read_orders(settings, status, limit, symbol))
    if as_json:
        _print_json(rows)
        return
    columns = ["symbol", "side", "qty", "type", "limit_price", "status", "filled_qty"]
    _table(f"Orders ({status})", rows, [*columns, "filled_avg_price", "client_order_id"])


def _with_journal(
    env_file: Path,
    db: Path | None,
    action: Callable[[Journal, str], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    """Run ``action(journal, actor)`` on the engine's journal as the CLI's operator."""
    from pulsetrader.operate import cli_actor, open_journal

    settings = load_settings(env_file)

    async def run() -> dict[str, Any]:
        with open_journal(settings, db) as journal:
            return await action(journal, cli_actor())

    return _run(run())


def _state_answer(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _print_json(result)
        return
    where = "the running engine" if result.get("engine") == "running" else "the next start"
    change = "now" if result.get("changed") else "already"
    console.print(f"Trading is {change} {result.get('state')} ({where}).")


@app.command()
def halt(
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit trail).")] = None,
    env_file: EnvFileOption = Path(".env"),
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Halt trading: no new orders until `pulsetrader resume` (kept across restarts)."""
    from pulsetrader.operate import halt as do_halt

    _state_answer(
        _with_journal(env_file, db, lambda j, actor: do_halt(j, reason, actor=actor)), as_json
    )


@app.command()
def resume(
    env_file: EnvFileOption = Path(".env"),
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Resume trading after a halt (refused while the broker connection is unhealthy)."""
    from pulsetrader.operate import resume as do_resume

    _state_answer(_with_journal(env_file, db, lambda j, actor: do_resume(j, actor=actor)), as_json)


@app.command("close-all")
def close_all(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    env_file: EnvFileOption = Path(".env"),
    confirm_live: ConfirmLiveOption = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel every open order and close every position with market orders."""
    from pulsetrader.operate import cli_actor, open_journal
    from pulsetrader.operate import close_all as do_close_all

    settings = _checked_settings(env_file, confirm_live)
    if not yes:
        mode = settings.mode.value
        if not typer.confirm(f"Cancel every open order and close every position ({mode} account)?"):
            console.print("Nothing done.")
            raise typer.Exit(1)

    async def action() -> dict[str, Any]:
        with open_journal(settings, db) as journal:
            return await do_close_all(settings, journal, actor=cli_actor())

    result = _run(action())
    if as_json:
        _print_json(result)
        return
    console.print(f"{result.get('count', 0)} position(s) closing ({result.get('engine')}).")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
