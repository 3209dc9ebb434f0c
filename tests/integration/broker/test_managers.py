"""AccountManager and MarketDataFeed over the simulator: caching, sharing, refresh, resilience."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from pulsetrader.account import AccountManager
from pulsetrader.broker import AlpacaClient, CallOutcome
from pulsetrader.domain import OrderIntent, Quote, Trade
from pulsetrader.market_data import MarketDataFeed
from pulsetrader.sim.service import Simulator
from tests.helpers import eventually

from .conftest import load_faults


async def test_account_reads_share_one_request_and_serve_from_cache(
    client: AlpacaClient, outcomes: list[CallOutcome]
) -> None:
    manager = AccountManager(client, ttl=60)
    values = await asyncio.gather(*(manager.get_equity() for _ in range(50)))
    assert set(values) == {Decimal(100000)}
    assert await manager.get_cash() == Decimal(100000)
    assert await manager.get_buying_power() > 0
    assert [o.endpoint for o in outcomes] == ["get_account"]
    assert manager.requests_saved == 51  # 49 shared the first load, 2 hits


async def test_invalidate_after_a_fill_shows_the_new_position(client: AlpacaClient) -> None:
    manager = AccountManager(client, ttl=60)
    assert await manager.get_positions() == []
    await client.submit_order(OrderIntent(symbol="AAPL", side="buy", qty=Decimal(2)))
    assert await manager.get_position("AAPL") is None  # still the cached view

    async def position_seen() -> bool:
        manager.invalidate()
        return await manager.get_position("AAPL") is not None

    await eventually(position_seen, message="position after invalidate")
    assert (await manager.get_account(fresh=True)).cash < Decimal(100000)


async def test_periodic_refresh_survives_broker_failures(
    client: AlpacaClient, simulator: Simulator
) -> None:
    manager = AccountManager(client, ttl=60, refresh_interval=0.01)
    load_faults(simulator, {"match": {"path_prefix": "/v2/"}, "effect": "status", "status": 503})
    manager.start()
    try:
        assert not await manager.refresh()
        simulator.faults.clear()
        await eventually(lambda: manager.last_account is not None, message="refresh recovered")
    finally:
        await manager.stop()
    assert manager.last_account is not None


async def test_feed_prices_bars_and_previous_close(
    client: AlpacaClient, outcomes: list[CallOutcome]
) -> None:
    feed = MarketDataFeed(client, price_ttl=60)
    prices = await asyncio.gather(*(feed.get_current_price("AAPL") for _ in range(10)))
    assert len(set(prices)) == 1
    assert prices[0] == (await client.get_latest_trade("AAPL")).price
    frame = await feed.get_bars("AAPL", "5Min", limit=10)
    assert frame is not None
    assert len(frame) == 10
    frame["sma"] = frame["close"].rolling(2).mean()  # the caller's copy, not the cache's
    again = await feed.get_bars("AAPL", "5Min", limit=10)
    assert again is not None
    assert "sma" not in again.columns
    assert await feed.get_previous_close("AAPL") == await client.get_previous_close("AAPL")
    assert await feed.get_previous_close("AAPL") is not None
    endpoints = [o.endpoint for o in outcomes]
    assert endpoints.count("get_latest_trade") == 2  # one shared load + the direct call above
    assert endpoints.count("get_bars") == 3  # feed bars, feed close, direct close


async def test_feed_returns_none_on_failures_and_recovers(
    client: AlpacaClient, simulator: Simulator
) -> None:
    feed = MarketDataFeed(client)
    load_faults(
        simulator, {"match": {"path_prefix": "/v2/stocks"}, "effect": "status", "status": 500}
    )
    assert await feed.get_current_price("AAPL") is None
    assert await feed.get_bars("AAPL", "1Min", limit=5) is None
    assert await feed.get_previous_close("AAPL") is None
    simulator.faults.clear()
    assert await feed.get_current_price("AAPL") is not None


async def test_streamed_prices_win_and_quotes_give_a_midpoint(client: AlpacaClient) -> None:
    from datetime import UTC, datetime

    feed = MarketDataFeed(client, price_ttl=60)
    at = datetime(2024, 1, 3, 15, tzinfo=UTC)
    feed.on_quote(Quote("ETH/USD", Decimal(100), Decimal(1), Decimal(102), Decimal(1), at))
    assert await feed.get_current_price("ETH/USD") == 101
    feed.on_trade(Trade("ETH/USD", Decimal("101.5"), Decimal(1), at))
    assert await feed.get_current_price("ETHUSD") == Decimal("101.5")
    latest = feed.latest_quote("ETH/USD")
    assert latest is not None
    assert latest.ask_price == 102


async def test_feed_refresh_keeps_watched_prices_warm(
    client: AlpacaClient, outcomes: list[CallOutcome]
) -> None:
    feed = MarketDataFeed(client, price_ttl=0, refresh_interval=0.01)
    await feed.get_current_price("MSFT")
    feed.start()
    try:
        await eventually(
            lambda: [o.endpoint for o in outcomes].count("get_latest_trade") >= 3,
            message="background refreshes",
        )
    finally:
        await feed.stop()
