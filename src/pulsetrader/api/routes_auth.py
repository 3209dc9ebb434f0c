"""The public routes: logging in, refreshing a token, and whether the engine is healthy."""

from __future__ import annotations

import asyncio
import math
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm
from loguru import logger

from pulsetrader.api.auth import TokenError, TokenPair
from pulsetrader.api.deps import Context, unauthorized
from pulsetrader.api.schemas import ErrorOut, HealthOut, RefreshIn, TokenOut, ValidationErrorOut

router = APIRouter()

_401 = {"model": ErrorOut, "description": "wrong user name or password, or a refused token"}
_422 = {"model": ValidationErrorOut, "description": "the request is malformed"}


def _token_out(pair: TokenPair) -> TokenOut:
    return TokenOut(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        token_type="bearer",  # noqa: S106 - the OAuth2 token type
        expires_in=pair.expires_in,
    )


@router.post(
    "/api/auth/token",
    tags=["auth"],
    summary="Log in",
    responses={
        401: _401,
        422: _422,
        429: {"model": ErrorOut, "description": "too many failed logins: see Retry-After"},
    },
)
async def login(
    request: Request,
    ctx: Context,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> TokenOut:
    """Exchange a user name and password (an OAuth2 password form) for an access token (valid
    ``expires_in`` seconds) and a refresh token. Failed attempts are slowed down per user name
    and per client address, and past a limit refused with 429 until ``Retry-After``."""
    throttle, username = ctx.throttle, form.username
    client = request.client.host if request.client else None
    wait = throttle.retry_after(username, client)
    # A name that is no user may be a password typed into the wrong field: never logged.
    who = username if ctx.users.exists(username) else "(unknown user)"
    if wait is not None:
        logger.warning("login of {} from {} refused: too many failures", who, client)
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail="too many failed logins: try again later",
            headers={"Retry-After": str(math.ceil(wait))},
        )
    # argon2 is slow on purpose (tens of milliseconds): off the event loop.
    ok = await asyncio.to_thread(ctx.users.verify, username, form.password)
    if not ok:
        logger.warning("failed login for {} from {}", who, client)
        await throttle.fail(username, client)
        raise unauthorized("wrong user name or password")
    throttle.record_success(username, client)
    logger.info("{} logged in from {}", username, client)
    return _token_out(ctx.tokens.issue(username))


@router.post(
    "/api/auth/refresh",
    tags=["auth"],
    summary="Refresh the tokens",
    responses={401: _401, 422: _422},
)
async def refresh(body: RefreshIn, ctx: Context) -> TokenOut:
    """Exchange a refresh token for a new access token and refresh token. Each refresh token
    works once."""
    try:
        pair = ctx.tokens.refresh(body.refresh_token)
    except TokenError as exc:
        raise unauthorized(str(exc), invalid=True) from exc
    return _token_out(pair)


@router.get("/api/health", tags=["health"], summary="Is the engine healthy")
async def health(ctx: Context) -> HealthOut:
    """Public: only whether the engine runs with a healthy broker connection, nothing else."""
    engine = ctx.engine
    healthy = engine.started and not engine.stopped and engine.monitor.healthy
    return HealthOut(healthy=healthy)
