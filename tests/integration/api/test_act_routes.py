"""The action routes against the real engine: each acts, answers, and is journaled with the
user as actor; refusals map to 404, 409 and 422."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from pulsetrader.domain.enums import OrderStatus, TradingState
from pulsetrader.engine import Engine
from pulsetrader.monitoring.health import ConnectionHealthMonitor
from tests.helpers import eventually
from tests.integration.api.conftest import STRATEGY, USER, filled_position, resting_order


def actions_by(engine: Engine, actor: str) -> list[tuple[str, dict | None]]:
    return [(a["action"], a["detail"]) for a in engine.journal.actions(limit=100, actor=actor)]


async def test_halt_and_resume_are_journaled_with_the_user(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    response = await client.post("/api/trading/halt", json={"reason": "lunch"})
    assert response.status_code == 200, response.text
    assert response.json() == {"changed": True, "state": "HALTED", "reason": "lunch"}
    assert engine.risk.state is TradingState.HALTED
    again = (await client.post("/api/trading/halt")).json()
    assert again["changed"] is False

    resumed = (await client.post("/api/trading/resume")).json()
    assert resumed == {"changed": True, "state": "ACTIVE", "reason": f"resumed by {USER}"}
    states = [d for a, d in actions_by(engine, USER) if a == "trading_state"]
    assert [(d["from"], d["to"]) for d in reversed(states)] == [
        ("ACTIVE", "HALTED"),
        ("HALTED", "ACTIVE"),
    ]


async def test_resume_while_unhealthy_is_a_conflict(
    client: httpx.AsyncClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a burst of broker errors leads to; patched on the class so the monitor's own ping
    # loop cannot lift it halfway through the test.
    monkeypatch.setattr(ConnectionHealthMonitor, "preservation", property(lambda self: True))
    await client.post("/api/trading/halt")
    response = await client.post("/api/trading/resume")
    assert response.status_code == 409
    assert "unhealthy" in response.json()["detail"]
    assert engine.risk.state is TradingState.HALTED


async def test_pause_and_resume_a_strategy(client: httpx.AsyncClient, engine: Engine) -> None:
    paused = await client.post(f"/api/strategies/{STRATEGY}/pause")
    assert paused.status_code == 200, paused.text
    assert paused.json()["state"] == "PAUSED"
    assert paused.json()["reason"] == f"paused by {USER}"
    resumed = (await client.post(f"/api/strategies/{STRATEGY}/resume")).json()
    assert resumed["state"] == "RUNNING"
    assert [a for a, _ in actions_by(engine, USER)] == ["strategy_resumed", "strategy_paused"]

    missing = await client.post("/api/strategies/nope/pause")
    assert missing.status_code == 404
    assert "nope" in missing.json()["detail"]


async def test_cancel_an_order_by_either_id(client: httpx.AsyncClient, engine: Engine) -> None:
    first = await resting_order(engine)
    response = await client.delete(f"/api/orders/{first.client_order_id}")
    assert response.status_code == 200, response.text
    assert response.json()["requested"] is True
    assert response.json()["order"]["client_order_id"] == first.client_order_id
    await eventually(
        lambda: engine.orders.find(first.client_order_id).status is OrderStatus.CANCELED,
        message="the order cancelled",
    )
    gone = await client.delete(f"/api/orders/{first.client_order_id}")
    assert gone.status_code == 409  # already cancelled

    second = await resting_order(engine)
    by_broker_id = await client.delete(f"/api/orders/{second.broker_order_id}")
    assert by_broker_id.status_code == 200
    assert (await client.delete("/api/orders/no-such-order")).status_code == 404
    cancels = [d for a, d in actions_by(engine, USER) if a == "cancel_order"]
    assert {d["client_order_id"] for d in cancels} == {
        first.client_order_id,
        second.client_order_id,
    }


async def test_close_a_position(client: httpx.AsyncClient, engine: Engine) -> None:
    await filled_position(engine, "MSFT", 2)
    response = await client.delete("/api/positions/msft")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["submitted"] is True
    assert body["order"]["side"] == "sell"
    assert Decimal(body["order"]["qty"]) == 2
    assert ("close_position", "MSFT") in [
        (a, d["symbol"]) for a, d in actions_by(engine, USER) if d
    ]
    assert (await client.delete("/api/positions/TSLA")).status_code == 404
    assert (await client.delete("/api/positions/not$a$symbol")).status_code == 422


async def test_close_a_crypto_position_by_its_slash_symbol(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    await filled_position(engine, "BTC/USD", "0.01")
    response = await client.delete("/api/positions/BTC/USD")
    assert response.status_code == 200, response.text
    assert response.json()["order"]["symbol"] == "BTC/USD"


async def test_close_all(client: httpx.AsyncClient, engine: Engine) -> None:
    await filled_position(engine, "MSFT", 1)
    await filled_position(engine, "SPY", 1)
    response = await client.post("/api/positions/close-all")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 2
    assert {r["order"]["symbol"] for r in body["results"]} == {"MSFT", "SPY"}
    assert [d["count"] for a, d in actions_by(engine, USER) if a == "close_all"] == [2]


async def test_close_when_halted_is_submitted_as_an_operator_exit(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    await filled_position(engine, "MSFT", 1)
    await client.post("/api/trading/halt")
    body = (await client.delete("/api/positions/MSFT")).json()
    assert body["submitted"] is True  # HALTED still lets the operator's exits through


async def test_a_bad_body_is_a_clear_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/trading/halt", json={"reason": "x" * 501})
    assert response.status_code == 422
    assert "reason" in response.json()["detail"]
    garbled = await client.post(
        "/api/trading/halt", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert garbled.status_code == 422
