"""What the read routes and the event stream show, built from the engine's parts.

Functions here only read. :func:`status` touches no broker and no database, because the event
stream sends it every second to every dashboard: it uses the account and positions the engine
last fetched (the account manager keeps them fresh) and the order manager's in-memory book.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pulsetrader.broker.errors import BrokerError
from pulsetrader.domain.money import ZERO, decimal_str, isoformat_z
from pulsetrader.domain.snapshots import PositionSnapshot

if TYPE_CHECKING:
    from pulsetrader.engine import Engine


def _amount(value: Decimal | None) -> str | None:
    return None if value is None else decimal_str(value)


def status(engine: Engine) -> dict[str, Any]:
    """The ``/api/status`` JSON (and the ``status`` event)."""
    risk, account = engine.risk, engine.accounts.last_account
    positions = engine.accounts.last_positions.values()
    return {
        "mode": engine.settings.mode.value,
        "trading_state": risk.state.value,
        "state_reason": risk.state_reason or None,
        "healthy": engine.monitor.healthy,
        "simulated_time": isoformat_z(engine.now()),
        "equity": None if account is None else decimal_str(account.equity),
        "cash": None if account is None else decimal_str(account.cash),
        "day_pl": None if account is None else decimal_str(account.day_pl),
        "realized_pl": decimal_str(engine.orders.realized_pl_total()),
        "unrealized_pl": decimal_str(sum((p.unrealized_pl for p in positions), ZERO)),
        "open_orders": len(engine.orders.open_orders()),
        "positions": len(engine.accounts.last_positions),
    }


def position(snapshot: PositionSnapshot) -> dict[str, Any]:
    """One ``/api/positions`` entry."""
    return {
        "symbol": snapshot.symbol,
        "qty": decimal_str(snapshot.qty),
        "side": snapshot.side.value,
        "avg_entry_price": decimal_str(snapshot.avg_entry_price),
        "current_price": _amount(snapshot.current_price),
        "market_value": decimal_str(snapshot.market_value),
        "unrealized_pl": decimal_str(snapshot.unrealized_pl),
        "unrealized_plpc": _amount(snapshot.unrealized_plpc),
        "asset_class": snapshot.asset_class.value,
    }


async def positions_or_last(engine: Engine) -> list[PositionSnapshot]:
    """The positions (cached briefly); the last ones seen when the broker does not answer."""
    try:
        return await engine.accounts.get_positions()
    except BrokerError:
        return list(engine.accounts.last_positions.values())


async def pnl(engine: Engine, since: date | None = None) -> dict[str, Any]:
    """The ``/api/pnl`` JSON: realized P/L from the journal, unrealized from the positions."""
    journal = engine.journal
    held = await positions_or_last(engine)
    daily = [
        {
            "date": row.date.isoformat(),
            "realized": decimal_str(row.realized),
            "equity_start": _amount(row.start_equity),
            "equity_end": _amount(row.end_equity),
            "change": _amount(row.change),
        }
        for row in journal.daily_pnl(since)
    ]
    by_strategy = journal.realized_pl(by="strategy", since=since)
    by_symbol = journal.realized_pl(by="symbol", since=since)
    return {
        "realized_total": decimal_str(sum(by_symbol.values(), ZERO)),
        "unrealized_total": decimal_str(sum((p.unrealized_pl for p in held), ZERO)),
        "daily": daily,
        "by_strategy": {k: decimal_str(v) for k, v in by_strategy.items()},
        "by_symbol": {k: decimal_str(v) for k, v in by_symbol.items()},
    }


def equity(engine: Engine, since: datetime | None, limit: int) -> dict[str, Any]:
    """The ``/api/equity`` JSON, oldest first (``cash`` None for a sample recorded without)."""
    points = engine.journal.equity_samples(since=since, limit=limit)
    return {
        "points": [
            {
                "at": isoformat_z(at),
                "equity": decimal_str(value),
                "cash": None if cash is None else decimal_str(cash),
            }
            for at, value, cash in points
        ]
    }


def risk(engine: Engine) -> dict[str, Any]:
    """The ``/api/risk`` JSON: state, limits and the figures the loss limits are checked on."""
    manager, account = engine.risk, engine.accounts.last_account
    limits: dict[str, Any] = {}
    for name, value in asdict(manager.limits).items():
        if isinstance(value, Decimal):
            value = decimal_str(value)
        elif isinstance(value, frozenset):
            value = sorted(value)
        limits[name] = value
    daily_pl = drawdown = None
    if account is not None:
        # The risk manager's own formulas, on the snapshot its checks last saw.
        daily_pl = decimal_str(manager.daily_pl(account))
        drawdown = decimal_str(round(manager.drawdown_pct(account), 4))
    return {
        "state": manager.state.value,
        "reason": manager.state_reason or None,
        "limits": limits,
        "daily_pl": daily_pl,
        "drawdown_pct": drawdown,
        "high_water_mark": _amount(manager.high_water_mark),
        "day_start_equity": _amount(manager.day_start_equity),
    }


def strategies(engine: Engine) -> list[dict[str, Any]]:
    """Every strategy instance's status; empty without a strategies file."""
    runner = engine.runner
    return [] if runner is None else runner.status()
