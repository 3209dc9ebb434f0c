"""The live terminal view of ``pulsetrader run`` (and ``demo`` on a terminal): one screen of
equity, P/L, positions, open orders, strategies, health and trading state, redrawn in place.

Everything comes from the engine's caches and books; drawing never calls the broker.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from pulsetrader.domain.enums import TradingState
from pulsetrader.engine import Engine

_CENT = Decimal("0.01")
_STATE_STYLE = {
    TradingState.ACTIVE: "bold green",
    TradingState.REDUCING: "bold yellow",
    TradingState.HALTED: "bold red",
}


def _money(value: Decimal | None, *, signed: bool = False) -> Text:
    if value is None:
        return Text("?", style="dim")
    amount = value.quantize(_CENT)
    text = f"{amount:+,}" if signed else f"{amount:,}"
    style = "" if not signed else ("green" if amount > 0 else "red" if amount < 0 else "")
    return Text(text, style=style)


def _qty(value: Decimal | None) -> str:
    return "" if value is None else f"{value.normalize():f}"


def render(engine: Engine, now: Callable[[], datetime]) -> Group:
    """The whole screen for ``engine`` at ``now()``."""
    risk, monitor, orders = engine.risk, engine.monitor, engine.orders
    account = engine.accounts.last_account

    header = Text.assemble(
        ("PulseTrader ", "bold"),
        (f"{engine.settings.mode.value} mode  ", "cyan"),
        (f"{now():%Y-%m-%d %H:%M:%S} UTC  ", ""),
        (risk.state.value, _STATE_STYLE.get(risk.state, "")),
        (f" ({risk.state_reason})" if risk.state_reason else "", "dim"),
        ("  health: ", ""),
        ("healthy" if monitor.healthy else "UNHEALTHY", "green" if monitor.healthy else "red"),
    )

    summary = Table.grid(padding=(0, 3))
    for _ in range(4):
        summary.add_column()
    day = None
    if account is not None and account.last_equity > 0:
        day = account.equity - account.last_equity
    unrealized = sum((p.unrealized_pl for p in engine.accounts.last_positions.values()), Decimal(0))
    summary.add_row(
        Text("Equity", style="dim"),
        Text("Today", style="dim"),
        Text("Realized", style="dim"),
        Text("Unrealized", style="dim"),
    )
    summary.add_row(
        _money(account.equity if account else None),
        _money(day, signed=True),
        _money(orders.realized_pl_total(), signed=True),
        _money(unrealized, signed=True),
    )

    positions = Table(expand=True, title="Positions", title_justify="left")
    for column in ("Symbol", "Qty", "Avg entry", "Price", "Value", "Unrealized P/L"):
        positions.add_column(column, justify="left" if column == "Symbol" else "right")
    for p in sorted(engine.accounts.last_positions.values(), key=lambda p: p.symbol):
        positions.add_row(
            p.symbol,
            _qty(p.qty),
            _money(p.avg_entry_price),
            _money(p.current_price),
            _money(p.market_value),
            _money(p.unrealized_pl, signed=True),
        )
    if not engine.accounts.last_positions:
        positions.add_row(Text("none", style="dim"), "", "", "", "", "")

    working = Table(expand=True, title="Open orders", title_justify="left")
    for column in ("Symbol", "Side", "Qty", "Type", "Limit", "Status", "Strategy"):
        working.add_column(column)
    open_orders = orders.open_orders()
    for o in open_orders[:15]:
        working.add_row(
            o.symbol,
            o.side.value,
            _qty(o.qty) or f"${o.notional}",
            o.type.value,
            _qty(o.limit_price),
            o.status.value,
            o.strategy or "manual",
        )
    if not open_orders:
        working.add_row(Text("none", style="dim"), "", "", "", "", "", "")
    elif len(open_orders) > 15:
        working.caption = f"and {len(open_orders) - 15} more"

    parts: list[object] = [Panel(Group(header, summary)), positions, working]
    if engine.runner is not None:
        strategies = Table(expand=True, title="Strategies", title_justify="left")
        for column in ("Name", "Kind", "State", "Symbols", "Bars", "Orders"):
            strategies.add_column(column)
        for s in engine.runner.status():
            state = s["state"]
            style = "green" if state == "RUNNING" else "yellow" if state == "PAUSED" else "red"
            strategies.add_row(
                s["name"],
                s["kind"] or "",
                Text(state, style=style),
                ", ".join(s["symbols"]),
                str(s["bars"]),
                str(s["orders"]["submitted"]),
            )
        parts.append(strategies)
    parts.append(Text("Ctrl-C stops gracefully", style="dim"))
    return Group(*parts)  # type: ignore[arg-type]
