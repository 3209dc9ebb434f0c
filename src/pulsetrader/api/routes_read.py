"""The read routes: account, positions, orders, fills, P/L, equity, strategies, risk, health,
audit trail. Every one needs an access token (the router's :class:`AuthedRoute`)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import HTTPException, Query, status
from pydantic import AwareDatetime

from pulsetrader.api import views
from pulsetrader.api.deps import Context, CurrentUser, authed_router
from pulsetrader.api.schemas import (
    AccountOut,
    ActionPage,
    EquityOut,
    ErrorOut,
    FillPage,
    HealthDetailsOut,
    MeOut,
    OrderPage,
    PnLOut,
    PositionOut,
    RiskOut,
    StatusOut,
    StrategyOut,
    ValidationErrorOut,
)
from pulsetrader.domain.enums import TERMINAL_STATUSES
from pulsetrader.domain.symbols import validate_symbol

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing or invalid access token"},
    422: {"model": ValidationErrorOut, "description": "invalid parameters"},
    503: {"model": ErrorOut, "description": "the broker or the engine is not available"},
}
MAX_OFFSET = 1_000_000_000

router = authed_router(responses=ERRORS)

Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="rows to skip")]
SymbolFilter = Annotated[
    str | None, Query(max_length=20, description="e.g. AAPL or BTC/USD (BTCUSD works too)")
]
StrategyFilter = Annotated[str | None, Query(max_length=100, description="strategy name")]


class OrderScope(StrEnum):
    """Which orders ``GET /api/orders`` lists."""

    OPEN = "open"
    CLOSED = "closed"
    ALL = "all"


def _symbol(value: str | None) -> str | None:
    """The canonical spelling of a symbol filter; 422 for something that is no symbol."""
    if value is None:
        return None
    try:
        return validate_symbol(value)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:  # year 1 with a positive offset, and the like
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, detail="since: time out of range"
        ) from exc


@router.get("/api/me", tags=["auth"], summary="Who am I")
async def me(user: CurrentUser) -> MeOut:
    """The user the access token belongs to."""
    return MeOut(username=user)


@router.get("/api/status", tags=["status"], summary="Engine status at a glance")
async def get_status(ctx: Context) -> StatusOut:
    """Mode, trading state, health, the broker's clock, equity, P/L and counts; no broker call
    (the same JSON as the ``status`` event)."""
    return StatusOut.model_validate(views.status(ctx.engine))


@router.get("/api/account", tags=["account"], summary="The brokerage account")
async def get_account(ctx: Context) -> AccountOut:
    """Balances and trading flags (cached for a few seconds)."""
    account = await ctx.engine.accounts.get_account()
    return AccountOut.model_validate(account.to_dict())


@router.get("/api/positions", tags=["account"], summary="Open positions")
async def get_positions(ctx: Context) -> list[PositionOut]:
    """Every open position as the broker reports it (cached for a few seconds)."""
    held = await ctx.engine.accounts.get_positions()
    return [PositionOut.model_validate(views.position(p)) for p in held]


@router.get("/api/orders", tags=["orders"], summary="Orders, newest first")
async def get_orders(
    ctx: Context,
    scope: Annotated[OrderScope, Query(alias="status")] = OrderScope.ALL,
    symbol: SymbolFilter = None,
    strategy: StrategyFilter = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> OrderPage:
    """Journaled orders matching the filters, a page at a time; ``total`` counts every page."""
    filters: dict[str, Any] = {"symbol": _symbol(symbol), "strategy": strategy}
    if scope is OrderScope.OPEN:
        filters["open_only"] = True
    elif scope is OrderScope.CLOSED:
        filters["status"] = sorted(TERMINAL_STATUSES)
    journal = ctx.engine.journal
    orders = journal.load_orders(limit=limit, offset=offset, **filters)
    return OrderPage.model_validate(
        {
            "orders": [o.to_dict() for o in orders],
            "total": journal.count_orders(**filters),
            "limit": limit,
            "offset": offset,
        }
    )


@router.get("/api/fills", tags=["orders"], summary="Fills, newest first")
async def get_fills(
    ctx: Context,
    symbol: SymbolFilter = None,
    strategy: StrategyFilter = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> FillPage:
    """Journaled executions with the P/L each realized."""
    fills = ctx.engine.journal.fills(
        symbol=_symbol(symbol), strategy=strategy, limit=limit, offset=offset, newest_first=True
    )
    return FillPage.model_validate(
        {"fills": [f.to_dict() for f in fills], "limit": limit, "offset": offset}
    )


@router.get("/api/pnl", tags=["pnl"], summary="Profit and loss")
async def get_pnl(
    ctx: Context,
    since: Annotated[date | None, Query(description="from this New York date on")] = None,
) -> PnLOut:
    """Realized P/L in total, per New York day, per strategy and per symbol; unrealized P/L of
    the open positions."""
    return PnLOut.model_validate(await views.pnl(ctx.engine, since))


@router.get("/api/equity", tags=["pnl"], summary="The equity curve")
async def get_equity(
    ctx: Context,
    since: Annotated[AwareDatetime | None, Query(description="RFC 3339 with a zone")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="the latest this many")] = 500,
) -> EquityOut:
    """Equity samples, oldest first (the latest ``limit`` of them)."""
    return EquityOut.model_validate(views.equity(ctx.engine, _utc(since), limit))


@router.get("/api/strategies", tags=["strategies"], summary="Strategies and their state")
async def get_strategies(ctx: Context) -> list[StrategyOut]:
    """Every strategy instance: state, reason, error, symbols, counters. Empty without a
    strategies file."""
    return [StrategyOut.model_validate(s) for s in views.strategies(ctx.engine)]


@router.get("/api/risk", tags=["risk"], summary="Risk limits and the trading state")
async def get_risk(ctx: Context) -> RiskOut:
    """The trading state (ACTIVE, REDUCING, HALTED) and why, the limits, and the figures the
    loss limits are checked against."""
    return RiskOut.model_validate(views.risk(ctx.engine))


@router.get("/api/health/details", tags=["health"], summary="Connection health in detail")
async def get_health_details(ctx: Context) -> HealthDetailsOut:
    """The connection health monitor: errors, latency per endpoint, streams, preservation
    mode and its transitions."""
    return HealthDetailsOut.model_validate(ctx.engine.monitor.snapshot())


@router.get("/api/actions", tags=["audit"], summary="The audit trail, newest first")
async def get_actions(ctx: Context, limit: Limit = 50, offset: Offset = 0) -> ActionPage:
    """Who did what and when: operator actions, trading-state changes, engine events."""
    actions = ctx.engine.journal.actions(limit=limit, offset=offset)
    return ActionPage.model_validate({"actions": actions, "limit": limit, "offset": offset})
