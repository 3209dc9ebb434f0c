"""The action routes: halt and resume trading, pause and resume a strategy, cancel an order,
close a position, close everything.

Each goes through :class:`~pulsetrader.control.EngineControl` with the logged-in user as the
actor, so the API, the CLI and the terminal check and journal an action the same way; a refusal
(:class:`~pulsetrader.control.ControlError`) is answered 404, 409 or 422 by the error handlers.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, HTTPException, Path, status

from pulsetrader.api.deps import Context, CurrentUser, authed_router
from pulsetrader.api.schemas import (
    CancelOut,
    CloseAllOut,
    CloseOut,
    ErrorOut,
    HaltIn,
    StrategyOut,
    TradingStateOut,
    ValidationErrorOut,
)
from pulsetrader.domain.symbols import validate_symbol

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing or invalid access token"},
    422: {"model": ValidationErrorOut, "description": "invalid request"},
    503: {"model": ErrorOut, "description": "the broker or the engine is not available"},
}
_404 = {"model": ErrorOut, "description": "no such strategy, order or position"}
_409 = {"model": ErrorOut, "description": "not possible in the current state"}

router = authed_router(responses=ERRORS)

StrategyName = Annotated[str, Path(max_length=100, description="the strategy instance's name")]


@router.post(
    "/api/trading/halt", tags=["trading"], summary="Halt all trading", responses={409: _409}
)
async def halt(
    ctx: Context, user: CurrentUser, body: Annotated[HaltIn | None, Body()] = None
) -> TradingStateOut:
    """Refuse every new order (strategies' exits too) until resumed; survives a restart.
    Cancels and closes asked for by an operator still go through."""
    result = ctx.engine.control.halt(user, body.reason if body else None)
    return TradingStateOut.model_validate(result)


@router.post(
    "/api/trading/resume", tags=["trading"], summary="Resume trading", responses={409: _409}
)
async def resume(ctx: Context, user: CurrentUser) -> TradingStateOut:
    """Back to ACTIVE; 409 while the broker connection is unhealthy (the health monitor resumes
    by itself once it recovers)."""
    return TradingStateOut.model_validate(ctx.engine.control.resume(user))


@router.post(
    "/api/strategies/{name}/pause",
    tags=["strategies"],
    summary="Pause a strategy",
    responses={404: _404, 409: _409},
)
async def pause_strategy(ctx: Context, user: CurrentUser, name: StrategyName) -> StrategyOut:
    """Stop delivering market data to the strategy; its orders stay as they are."""
    return StrategyOut.model_validate(ctx.engine.control.pause_strategy(name, user))


@router.post(
    "/api/strategies/{name}/resume",
    tags=["strategies"],
    summary="Resume a strategy",
    responses={404: _404, 409: _409},
)
async def resume_strategy(ctx: Context, user: CurrentUser, name: StrategyName) -> StrategyOut:
    """Deliver market data to a paused strategy again."""
    return StrategyOut.model_validate(ctx.engine.control.resume_strategy(name, user))


@router.delete(
    "/api/orders/{order_id}",
    tags=["orders"],
    summary="Cancel an order",
    responses={404: _404, 409: _409},
)
async def cancel_order(
    ctx: Context,
    user: CurrentUser,
    order_id: Annotated[str, Path(max_length=128, description="client or broker order id")],
) -> CancelOut:
    """Ask the broker to cancel an open order; the outcome arrives as an ``order`` event."""
    return CancelOut.model_validate(await ctx.engine.control.cancel_order(order_id, user))


@router.post(
    "/api/positions/close-all",
    tags=["positions"],
    summary="Close every position",
)
async def close_all(ctx: Context, user: CurrentUser) -> CloseAllOut:
    """Cancel every open order, then close every position with market orders."""
    return CloseAllOut.model_validate(await ctx.engine.control.close_all(user))


@router.delete(
    "/api/positions/{symbol:path}",
    tags=["positions"],
    summary="Close a position",
    responses={404: _404},
)
async def close_position(
    ctx: Context,
    user: CurrentUser,
    symbol: Annotated[str, Path(max_length=20, description="e.g. AAPL, BTC/USD or BTCUSD")],
) -> CloseOut:
    """Close the whole position with a market order (risk-checked: the answer says whether it
    was submitted or denied, and why)."""
    try:
        cleaned = validate_symbol(symbol)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
    return CloseOut.model_validate(await ctx.engine.control.close_position(cleaned, user))
