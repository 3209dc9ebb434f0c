"""AlpacaClient under fault injection: never a duplicate order, never a stuck call."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from pulsetrader.broker import (
    AlpacaClient,
    BrokerUnavailable,
    CallOutcome,
    OrderStatusUnknown,
    RateLimitError,
)
from pulsetrader.domain import OrderIntent
from pulsetrader.sim.service import Simulator
from tests.helpers import eventually

from .conftest import load_faults, make_client

POST_ORDERS = {"method": "POST", "path": "/v2/orders"}


def buy(coid: str, qty: int = 1) -> OrderIntent:
    return OrderIntent(symbol="AAPL", side="buy", qty=Decimal(qty), client_order_id=coid)


async def orders_with(client: AlpacaClient, coid: str) -> int:
    return sum(o.client_order_id == coid for o in await client.list_orders("all"))


@pytest.mark.parametrize(
    "effect",
    [
        {"effect": "drop_response"},
        {"effect": "status", "status": 500},
        {"effect": "status", "status": 503},
        {"effect": "status", "status": 504},
        {"effect": "reset"},
    ],
    ids=["drop_response", "500", "503", "504", "reset"],
)
async def test_ambiguous_submit_failures_give_exactly_one_order(
    client: AlpacaClient, simulator: Simulator, effect: dict[str, object]
) -> None:
    load_faults(simulator, {"match": POST_ORDERS, "count": 1, **effect})
    order = await client.submit_order(buy("amb-1"))
    assert order.client_order_id == "amb-1"
    simulator.faults.clear()
    assert await orders_with(client, "amb-1") == 1


async def test_lost_responses_every_time_still_one_order(
    client: AlpacaClient, simulator: Simulator
) -> None:
    # Every POST is processed and its answer lost: the first lands, lookups find it.
    load_faults(simulator, {"match": POST_ORDERS, "effect": "drop_response"})
    order = await client.submit_order(buy("lost-1"))
    assert order.broker_order_id
    simulator.faults.clear()
    assert await orders_with(client, "lost-1") == 1


async def test_hung_submit_times_out_and_is_settled_by_lookup(simulator: Simulator) -> None:
    client = make_client(simulator, timeout=0.5)
    try:
        load_faults(simulator, {"match": POST_ORDERS, "effect": "hang", "seconds": 2, "count": 1})
        started = time.monotonic()
        order = await asyncio.wait_for(client.submit_order(buy("hang-1")), 10)
        assert time.monotonic() - started < 5
        assert order.client_order_id == "hang-1"
        simulator.faults.clear()
        # The hung POST ends on the server later (refused as a duplicate, or dropped if the
        # server notices the client left); only then is "exactly one order" settled, not a race.
        posts = simulator.stats.by_route

        await eventually(lambda: posts["POST /v2/orders"] >= 2, timeout=10, message="hang ended")
        assert await orders_with(client, "hang-1") == 1
    finally:
        await client.close()


async def test_submit_is_not_resent_when_the_broker_cannot_be_asked(
    client: AlpacaClient, simulator: Simulator, outcomes: list[CallOutcome]
) -> None:
    load_faults(
        simulator,
        {"match": POST_ORDERS, "effect": "drop_response"},
        {
            "match": {"method": "GET", "path_prefix": "/v2/orders:"},
            "effect": "status",
            "status": 503,
        },
    )
    with pytest.raises(OrderStatusUnknown) as unknown:
        await client.submit_order(buy("blind-1"))
    assert unknown.value.client_order_id == "blind-1"
    assert [o.endpoint for o in outcomes].count("submit_order") == 1
    simulator.faults.clear()
    assert await orders_with(client, "blind-1") == 1


async def test_rate_limited_submit_is_resent_after_the_wait(
    client: AlpacaClient, simulator: Simulator, outcomes: list[CallOutcome]
) -> None:
    load_faults(
        simulator,
        {"match": POST_ORDERS, "effect": "status", "status": 429, "retry_after": 0, "count": 2},
    )
    await client.submit_order(buy("rl-1"))
    assert [o.status for o in outcomes if o.endpoint == "submit_order"] == [429, 429, 200]
    assert await orders_with(client, "rl-1") == 1


async def test_429_storm_ends_in_rate_limit_error_with_bounded_attempts(
    client: AlpacaClient, simulator: Simulator, outcomes: list[CallOutcome]
) -> None:
    load_faults(
        simulator,
        {"match": {"path_prefix": "/v2/"}, "effect": "status", "status": 429, "retry_after": 0},
    )
    with pytest.raises(RateLimitError) as limited:
        await client.get_account()
    assert limited.value.retry_after == 0
    assert len(outcomes) == client.retry.max_attempts  # the SDK did not retry on its own


async def test_flaky_reads_are_retried_to_success(
    client: AlpacaClient, simulator: Simulator, outcomes: list[CallOutcome]
) -> None:
    load_faults(
        simulator,
        {"match": {"path": "/v2/account"}, "effect": "status", "status": 503, "count": 2},
    )
    account = await client.get_account()
    assert account.equity > 0
    assert [o.status for o in outcomes] == [503, 503, 200]
    assert isinstance(outcomes[0].error, BrokerUnavailable)


async def test_latency_is_measured(client: AlpacaClient, simulator: Simulator) -> None:
    seen: list[CallOutcome] = []
    client.add_hook(seen.append)
    load_faults(simulator, {"match": {"path": "/v2/clock"}, "effect": "latency", "ms": 150})
    await client.get_clock()
    assert seen[-1].seconds >= 0.15


async def test_unreachable_broker_fails_fast_with_our_error() -> None:
    from pulsetrader.broker import BrokerConfig

    dead = AlpacaClient(
        BrokerConfig(
            "PKX", "y" * 20, trading_url="http://127.0.0.1:9", data_url="http://127.0.0.1:9"
        ),
        retry=None,
    )
    dead.retry.max_attempts = 1
    try:
        with pytest.raises(BrokerUnavailable, match="cannot reach"):
            await asyncio.wait_for(dead.get_account(), 10)
    finally:
        await dead.close()
