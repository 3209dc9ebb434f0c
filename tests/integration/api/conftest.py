"""An engine against the simulator with the API in front of it, and clients for it.

The users' hashes are made with a cheap argon2 (the cost is in each hash, so verification is
cheap too); the API's intervals are short so event tests do not wait a second for a status.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher

from pulsetrader.api.context import ApiOptions
from pulsetrader.api.server import ApiServer
from pulsetrader.api.throttle import LoginThrottle
from pulsetrader.api.users import UserStore
from pulsetrader.config import Settings
from pulsetrader.domain.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from pulsetrader.domain.intents import OrderIntent
from pulsetrader.domain.orders import Order
from pulsetrader.domain.symbols import is_crypto
from pulsetrader.engine import Engine
from pulsetrader.sim.service import Simulator
from tests.helpers import eventually
from tests.integration.engine.conftest import (
    STRATEGY,
    STRATEGY_SYMBOL,
    make_engine,
    sim_settings,
)

USER = "alice"
PASSWORD = "correct horse battery"
OTHER_USER = "bob"
JWT_SECRET = "k3Jq9vLwR2mXz8TfB1nYc7HsQ4pDgA6uE0oKiVbNtWl"  # test-only signing key

__all__ = ["OTHER_USER", "PASSWORD", "STRATEGY", "STRATEGY_SYMBOL", "USER"]

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def api_settings(sim: Simulator, tmp_path: Path) -> Settings:
    # The strategy's symbol is denied, so whatever its bars do it places no order: the tests'
    # own orders (MSFT, SPY, BTC/USD) are the only ones.
    return sim_settings(
        sim,
        tmp_path,
        jwt_secret_key=JWT_SECRET,
        api_port=0,
        risk_symbol_denylist=STRATEGY_SYMBOL,
    )


def make_users() -> UserStore:
    users = UserStore(hasher=CHEAP)
    users.add(USER, PASSWORD)
    users.add(OTHER_USER, PASSWORD + "!")
    return users


async def _no_sleep(seconds: float) -> None:
    return None


def fast_options(**overrides: object) -> ApiOptions:
    options = ApiOptions(
        status_interval=0.1,
        ping_interval=0.5,
        throttle=LoginThrottle(sleep=_no_sleep),
    )
    for name, value in overrides.items():
        setattr(options, name, value)
    return options


@pytest.fixture
async def engine(simulator: Simulator, tmp_path: Path) -> AsyncIterator[Engine]:
    e = make_engine(simulator, api_settings(simulator, tmp_path))
    await e.start()
    yield e
    await e.stop()


@pytest.fixture
async def server(engine: Engine) -> AsyncIterator[ApiServer]:
    api = ApiServer(engine, engine.settings, make_users(), options=fast_options())
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
async def anon(server: ApiServer) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the running server, without a token."""
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


async def login(client: httpx.AsyncClient, user: str = USER, password: str = PASSWORD) -> dict:
    response = await client.post("/api/auth/token", data={"username": user, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
async def client(server: ApiServer) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the running server, logged in as :data:`USER`."""
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as c:
        tokens = await login(c)
        c.headers["Authorization"] = f"Bearer {tokens['access_token']}"
        yield c


async def resting_order(engine: Engine, symbol: str = "MSFT") -> Order:
    """A limit buy far below the market: it stays open until cancelled."""
    result = await engine.orders.submit_order(
        OrderIntent(
            symbol=symbol,
            side=OrderSide.BUY,
            qty=Decimal(1),
            type=OrderType.LIMIT,
            limit_price=Decimal(1),
        )
    )
    assert isinstance(result, Order), result
    coid = result.client_order_id
    await eventually(
        lambda: (o := engine.orders.find(coid)) is not None and o.is_open and o.broker_order_id,
        message="the resting order accepted",
    )
    return result


async def filled_position(engine: Engine, symbol: str = "MSFT", qty: str | int = 2) -> Order:
    """A market buy, filled, and the position visible to the account manager."""
    result = await engine.orders.submit_order(
        OrderIntent(
            symbol=symbol,
            side=OrderSide.BUY,
            qty=Decimal(qty),
            time_in_force=TimeInForce.GTC if is_crypto(symbol) else TimeInForce.DAY,
        )
    )
    assert isinstance(result, Order), result
    coid = result.client_order_id
    await eventually(
        lambda: (o := engine.orders.find(coid)) is not None and o.status is OrderStatus.FILLED,
        message="the buy filled",
    )

    async def visible() -> bool:
        return await engine.accounts.get_position(symbol) is not None

    await eventually(visible, message="the position visible")
    return result
