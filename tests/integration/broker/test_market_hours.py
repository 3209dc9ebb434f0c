"""MarketHours answers from the broker's clock, across the close and the next open."""

from __future__ import annotations

from datetime import timedelta

from pulsetrader.broker import AlpacaClient
from pulsetrader.market_data.hours import MarketHours
from pulsetrader.sim.service import Simulator

from .conftest import load_faults


async def test_open_in_session_closed_after_the_close_open_again_next_morning(
    client: AlpacaClient, simulator: Simulator
) -> None:
    hours = MarketHours(client, now=simulator.now)
    assert hours.is_open()  # no snapshot yet: assumed open
    assert await hours.refresh()
    assert hours.clock is not None
    assert hours.clock.is_open
    assert hours.is_open()
    assert not hours.stale()

    close = hours.clock.next_close
    assert not hours.is_open(close)  # computed locally, before any refresh
    await simulator.advance(close - simulator.now() + timedelta(minutes=5))
    assert hours.stale()
    assert await hours.refresh()
    assert not hours.is_open()
    next_open = hours.clock.next_open
    assert next_open > close
    assert hours.is_open(next_open)
    assert not hours.is_open(next_open - timedelta(seconds=1))


async def test_a_failed_refresh_keeps_the_last_snapshot(
    client: AlpacaClient, simulator: Simulator
) -> None:
    hours = MarketHours(client, now=simulator.now, assume_open=False)
    assert not hours.is_open()
    assert await hours.refresh()
    load_faults(simulator, {"match": {"path": "/v2/clock"}, "effect": "status", "status": 500})
    assert not await hours.refresh()
    assert hours.is_open()
