"""Logging in, refreshing, and that nothing but the public routes answers without a token."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from pulsetrader.api.app import create_app
from pulsetrader.api.server import ApiServer
from pulsetrader.api.throttle import LoginThrottle
from pulsetrader.engine import Engine
from tests.integration.api.conftest import (
    JWT_SECRET,
    OTHER_USER,
    PASSWORD,
    USER,
    fast_options,
    login,
    make_users,
)

#: Public by design: logging in, the health probe, loopback metrics and the dashboard page.
PUBLIC = {"/api/health", "/api/auth/token", "/api/auth/refresh", "/metrics", "/"}


def protected_requests(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route of ``app`` but the public ones, path parameters filled in.

    FastAPI 0.165 keeps included routers as one entry of ``app.routes``: iter_route_contexts
    walks into them, so a route added to any router is covered here without listing it.
    """
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or context.path in PUBLIC:
            continue
        path = re.sub(r"\{[^}]+\}", "x", str(context.path))
        found.extend((method, path) for method in sorted(context.methods or ()))
    return found


async def test_login_hands_out_an_access_and_a_refresh_token(anon: httpx.AsyncClient) -> None:
    tokens = await login(anon)
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 900
    claims = jwt.decode(tokens["access_token"], JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == USER
    assert claims["type"] == "access"
    assert claims["exp"] - claims["iat"] == 900
    assert {"iat", "jti"} <= set(claims)


async def test_a_wrong_password_or_user_is_a_401(anon: httpx.AsyncClient) -> None:
    for user, password in ((USER, "wrong password"), ("mallory", PASSWORD), (OTHER_USER, "")):
        response = await anon.post("/api/auth/token", data={"username": user, "password": password})
        assert response.status_code in (401, 422), response.text
        if response.status_code == 401:
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert PASSWORD not in response.text


async def test_a_login_without_the_form_is_a_422(anon: httpx.AsyncClient) -> None:
    response = await anon.post("/api/auth/token", json={"username": USER, "password": PASSWORD})
    assert response.status_code == 422
    assert "username" in response.json()["detail"]
    assert PASSWORD not in response.text  # the input is not echoed


async def test_refresh_hands_out_a_new_pair_once(anon: httpx.AsyncClient) -> None:
    first = await login(anon)
    response = await anon.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    me = await anon.get("/api/me", headers={"Authorization": f"Bearer {second['access_token']}"})
    assert me.json() == {"username": USER}

    reused = await anon.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401
    assert reused.headers["WWW-Authenticate"].startswith("Bearer")
    as_access = await anon.post("/api/auth/refresh", json={"refresh_token": first["access_token"]})
    assert as_access.status_code == 401  # an access token is not a refresh token


async def test_a_refresh_token_is_not_an_access_token(anon: httpx.AsyncClient) -> None:
    tokens = await login(anon)
    response = await anon.get(
        "/api/me", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
    )
    assert response.status_code == 401


async def test_no_api_route_answers_without_a_valid_token(
    server: ApiServer, anon: httpx.AsyncClient
) -> None:
    assert server.app is not None
    requests = protected_requests(server.app)
    assert len(requests) >= 20  # every read and action route
    forged = jwt.encode({"sub": USER, "type": "access"}, "another key " * 4, algorithm="HS256")
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic YWxpY2U6eA=="},
        {"Authorization": "Bearer not.a.jwt"},
        {"Authorization": f"Bearer {forged}"},
    ):
        for method, path in requests:
            response = await anon.request(method, path, headers=headers)
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_an_unknown_user_token_is_refused(engine: Engine) -> None:
    """A token for a user removed from the configuration stops working."""
    issuing = create_app(engine, engine.settings, make_users(), options=fast_options())
    tokens = issuing.state.api.tokens.issue("carol")
    app = create_app(engine, engine.settings, make_users(), options=fast_options())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        headers = {"Authorization": f"Bearer {tokens.access_token}"}
        response = await client.get("/api/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["detail"] == "unknown user"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def throttled(engine: Engine) -> AsyncIterator[tuple[httpx.AsyncClient, FakeClock, list]]:
    clock, slept = FakeClock(), []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    throttle = LoginThrottle(
        free_failures=1, lockout_after=3, lockout_base=60, clock=clock, sleep=sleep
    )
    app = create_app(engine, engine.settings, make_users(), options=fast_options(throttle=throttle))
    transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client, clock, slept


async def test_repeated_failures_slow_down_then_lock_out(throttled) -> None:
    client, clock, slept = throttled

    async def attempt(password: str, user: str = USER) -> httpx.Response:
        return await client.post("/api/auth/token", data={"username": user, "password": password})

    assert [(await attempt("nope")).status_code for _ in range(3)] == [401, 401, 401]
    assert slept == [0.5, 1.0]  # the first failure is free, then the delay doubles
    locked = await attempt(PASSWORD)  # even the right password waits out the lockout
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == "60"
    other_user = await attempt("nope", user=OTHER_USER)  # the client address is locked too
    assert other_user.status_code == 429

    clock.now += 61
    assert (await attempt(PASSWORD)).status_code == 200
    assert (await attempt(PASSWORD + "!", user=OTHER_USER)).status_code == 200


async def test_metrics_need_a_token_from_outside_loopback(engine: Engine) -> None:
    app = create_app(engine, engine.settings, make_users(), options=fast_options())
    outside = httpx.ASGITransport(app=app, client=("203.0.113.9", 4000))
    async with httpx.AsyncClient(transport=outside, base_url="http://api") as client:
        assert (await client.get("/metrics")).status_code == 401
        tokens = (
            await client.post("/api/auth/token", data={"username": USER, "password": PASSWORD})
        ).json()
        authed = await client.get(
            "/metrics", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        assert authed.status_code == 200
    inside = httpx.ASGITransport(app=app, client=("127.0.0.1", 4000))
    async with httpx.AsyncClient(transport=inside, base_url="http://api") as client:
        assert (await client.get("/metrics")).status_code == 200
