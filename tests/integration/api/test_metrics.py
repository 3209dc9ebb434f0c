"""/metrics: the Prometheus text format with every family, counting what the engine does."""

from __future__ import annotations

from decimal import Decimal

import httpx
from prometheus_client.parser import text_string_to_metric_families

from pulsetrader.domain.enums import OrderSide
from pulsetrader.domain.intents import OrderIntent
from pulsetrader.engine import Engine
from pulsetrader.risk.decisions import Denied
from tests.helpers import eventually
from tests.integration.api.conftest import filled_position

FAMILIES = {
    "pulsetrader_orders",
    "pulsetrader_fills",
    "pulsetrader_order_rejections",
    "pulsetrader_risk_denials",
    "pulsetrader_broker_call_seconds",
    "pulsetrader_stream_messages",
    "pulsetrader_stream_reconnects",
    "pulsetrader_trading_state",
    "pulsetrader_equity",
    "pulsetrader_healthy",
}


async def scrape(anon: httpx.AsyncClient) -> dict[str, dict[tuple, float]]:
    """Sample values by name and labels; each family's name maps to {} at least."""
    response = await anon.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.text):
        samples.setdefault(family.name, {})
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = sample.value
    return samples


async def test_metrics_have_every_family_and_count_the_engine(
    anon: httpx.AsyncClient, engine: Engine
) -> None:
    await eventually(lambda: engine.accounts.last_account is not None, message="an account")
    before = await scrape(anon)
    assert set(before) >= FAMILIES
    assert before["pulsetrader_trading_state"][(("state", "ACTIVE"),)] == 1
    assert before["pulsetrader_trading_state"][(("state", "HALTED"),)] == 0
    assert before["pulsetrader_healthy"][()] == 1
    assert before["pulsetrader_equity"][()] > 0
    assert before["pulsetrader_stream_reconnects_total"][(("stream", "trade_updates"),)] == 0
    assert before["pulsetrader_fills_total"][()] == 0

    await filled_position(engine, "MSFT", 1)
    denied = await engine.orders.submit_order(
        OrderIntent(symbol="MSFT", side=OrderSide.BUY, qty=Decimal(100_000))
    )
    assert isinstance(denied, Denied)

    async def counted() -> dict:
        after = await scrape(anon)
        return after if after["pulsetrader_fills_total"][()] >= 1 else {}

    after = await eventually(counted, message="the fill counted")
    assert after["pulsetrader_orders"][(("status", "filled"),)] == 1
    assert after["pulsetrader_risk_denials_total"][(("rule", denied.rule),)] == 1
    calls = after["pulsetrader_broker_call_seconds_count"]
    assert calls[(("endpoint", "submit_order"),)] >= 1
    assert after["pulsetrader_stream_messages_total"][(("stream", "trade_updates"),)] >= 1


async def test_a_stream_reconnect_is_counted(anon: httpx.AsyncClient, engine: Engine) -> None:
    await engine.streams.trade_updates.drop()

    async def reconnected() -> bool:
        samples = await scrape(anon)
        return samples["pulsetrader_stream_reconnects_total"][(("stream", "trade_updates"),)] >= 1

    await eventually(reconnected, message="the reconnect counted")
