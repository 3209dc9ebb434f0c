"""Every read route against the real engine: shapes, filters, pagination, Decimal text."""

from __future__ import annotations

from decimal import Decimal

import httpx

from pulsetrader.engine import Engine
from tests.helpers import eventually
from tests.integration.api.conftest import (
    STRATEGY,
    STRATEGY_SYMBOL,
    USER,
    filled_position,
    resting_order,
)


async def test_health_is_public_and_says_only_healthy(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"healthy": True}


async def test_me_names_the_user(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/me")).json() == {"username": USER}


async def test_status_shows_mode_state_clock_and_account(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    await eventually(lambda: engine.accounts.last_account is not None, message="an account")
    data = (await client.get("/api/status")).json()
    assert set(data) == {
        "mode",
        "trading_state",
        "state_reason",
        "healthy",
        "simulated_time",
        "equity",
        "cash",
        "day_pl",
        "realized_pl",
        "unrealized_pl",
        "open_orders",
        "positions",
    }
    assert data["mode"] == "paper"
    assert data["trading_state"] == "ACTIVE"
    assert data["healthy"] is True
    assert data["simulated_time"].endswith("Z")
    assert Decimal(data["equity"]) > 0
    assert isinstance(data["equity"], str)


async def test_account_amounts_are_decimal_text(client: httpx.AsyncClient) -> None:
    data = (await client.get("/api/account")).json()
    assert Decimal(data["equity"]) > 0
    assert isinstance(data["cash"], str)
    assert data["as_of"].endswith("Z")


async def test_positions_and_orders_and_fills_after_a_buy(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    buy = await filled_position(engine, "MSFT", 2)
    resting = await resting_order(engine, "SPY")

    positions = (await client.get("/api/positions")).json()
    (msft,) = [p for p in positions if p["symbol"] == "MSFT"]
    assert msft["qty"] == "2"
    assert msft["side"] == "long"
    assert msft["asset_class"] == "us_equity"
    assert set(msft) == {
        "symbol",
        "qty",
        "side",
        "avg_entry_price",
        "current_price",
        "market_value",
        "unrealized_pl",
        "unrealized_plpc",
        "asset_class",
    }

    page = (await client.get("/api/orders")).json()
    assert page["total"] == 2
    assert page["limit"] == 50
    assert page["offset"] == 0
    assert [o["client_order_id"] for o in page["orders"]] == [
        resting.client_order_id,
        buy.client_order_id,
    ]  # newest first

    open_page = (await client.get("/api/orders", params={"status": "open"})).json()
    assert [o["client_order_id"] for o in open_page["orders"]] == [resting.client_order_id]
    closed = (await client.get("/api/orders", params={"status": "closed"})).json()
    assert [o["client_order_id"] for o in closed["orders"]] == [buy.client_order_id]
    by_symbol = (await client.get("/api/orders", params={"symbol": "msft"})).json()
    assert [o["symbol"] for o in by_symbol["orders"]] == ["MSFT"]
    second = (await client.get("/api/orders", params={"limit": 1, "offset": 1})).json()
    assert second["total"] == 2
    assert [o["client_order_id"] for o in second["orders"]] == [buy.client_order_id]

    async def journaled_fill() -> list:
        return (await client.get("/api/fills", params={"symbol": "MSFT"})).json()["fills"]

    fills = await eventually(journaled_fill, message="the fill journaled")
    assert sum(Decimal(f["qty"]) for f in fills) == 2
    assert fills[0]["client_order_id"] == buy.client_order_id
    assert (await client.get("/api/fills", params={"symbol": "SPY"})).json()["fills"] == []


async def test_pnl_and_equity(client: httpx.AsyncClient, engine: Engine) -> None:
    await eventually(lambda: len(engine.journal.equity_curve()) >= 1, message="equity recorded")
    pnl = (await client.get("/api/pnl")).json()
    assert set(pnl) == {"realized_total", "unrealized_total", "daily", "by_strategy", "by_symbol"}
    assert Decimal(pnl["realized_total"]) == 0
    assert pnl["daily"][0]["date"] == "2024-01-03"
    assert Decimal(pnl["daily"][0]["equity_start"]) > 0

    points = (await client.get("/api/equity")).json()["points"]
    assert points
    assert points[0]["at"].endswith("Z")
    assert Decimal(points[0]["equity"]) > 0
    assert Decimal(points[0]["cash"]) > 0  # the engine records cash with each sample
    later = (await client.get("/api/equity", params={"since": "2999-01-01T00:00:00Z"})).json()
    assert later == {"points": []}


async def test_strategies_risk_health_details_and_actions(client: httpx.AsyncClient) -> None:
    (strategy,) = (await client.get("/api/strategies")).json()
    assert strategy["name"] == STRATEGY
    assert strategy["state"] == "RUNNING"
    assert strategy["symbols"] == [STRATEGY_SYMBOL]

    risk = (await client.get("/api/risk")).json()
    assert risk["state"] == "ACTIVE"
    assert risk["limits"]["max_order_notional"] == "10000"
    assert risk["limits"]["allowlist"] == []

    details = (await client.get("/api/health/details")).json()
    assert details["healthy"] is True
    assert details["state"] == "ACTIVE"
    assert "latency" in details

    actions = (await client.get("/api/actions", params={"limit": 5})).json()
    assert actions["limit"] == 5
    assert {"engine"} <= {a["actor"] for a in actions["actions"]}
    assert all(a["at"].endswith("Z") for a in actions["actions"])


async def test_bad_query_input_is_a_clear_422(client: httpx.AsyncClient) -> None:
    for path, params in (
        ("/api/orders", {"status": "sideways"}),
        ("/api/orders", {"limit": 0}),
        ("/api/orders", {"limit": "many"}),
        ("/api/orders", {"symbol": "not a symbol!"}),
        ("/api/fills", {"offset": -1}),
        ("/api/equity", {"since": "2024-01-03T00:00:00"}),  # no zone
        ("/api/pnl", {"since": "yesterday"}),
    ):
        response = await client.get(path, params=params)
        assert response.status_code == 422, (path, params, response.text)
        detail = response.json()["detail"]
        assert isinstance(detail, str), detail
        assert detail
