"""Server-Sent Events over a real server: status at once, order and state events as they
happen, and streams that end cleanly (server stop, token expiry) instead of holding shutdown."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from pulsetrader.api.server import ApiServer
from pulsetrader.engine import Engine
from tests.integration.api.conftest import fast_options, login, make_users, resting_order

Event = tuple[str, dict[str, Any]]


async def events_of(response: httpx.Response) -> AsyncIterator[Event]:
    """The named events of an SSE response (comments and retry lines skipped)."""
    name, data = None, []
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            data.append(line[len("data: ") :])
        elif not line and name is not None:
            yield name, json.loads("".join(data))
            name, data = None, []


async def next_matching(events: AsyncIterator[Event], wanted, within: float = 5.0) -> Event:
    async def scan() -> Event:
        async for event in events:
            if wanted(event):
                return event
        raise AssertionError("the stream ended")

    return await asyncio.wait_for(scan(), within)


async def test_status_at_once_then_order_and_state_events(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    async with client.stream("GET", "/api/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = events_of(response)
        name, status = await asyncio.wait_for(anext(events), 5)
        assert name == "status"
        assert status["trading_state"] == "ACTIVE"

        order = await resting_order(engine)
        name, data = await next_matching(
            events, lambda e: e[0] == "order" and e[1]["client_order_id"] == order.client_order_id
        )
        assert data["symbol"] == "MSFT"

        engine.control.halt("tester", "testing the stream")
        name, data = await next_matching(events, lambda e: e[0] == "state")
        assert data["to"] == "HALTED"
        assert data["reason"] == "testing the stream"
        _, status = await next_matching(events, lambda e: e[0] == "status")
        assert status["trading_state"] == "HALTED"


async def test_the_stream_needs_a_token(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/api/events")
    assert response.status_code == 401


async def test_stopping_the_server_ends_open_streams(engine: Engine) -> None:
    server = ApiServer(engine, engine.settings, make_users(), options=fast_options())
    await server.start()
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        token = (await login(client))["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        async with client.stream("GET", "/api/events", headers=headers) as response:
            events = events_of(response)
            assert (await asyncio.wait_for(anext(events), 5))[0] == "status"
            started = time.monotonic()
            await asyncio.wait_for(server.stop(), 3)
            assert time.monotonic() - started < 2  # not uvicorn's graceful timeout
            remaining = [e async for e in events]  # ends without an error
            assert all(name == "status" for name, _ in remaining)
    assert not server.running


async def test_a_stream_ends_when_its_token_expires(engine: Engine) -> None:
    now = [1_000_000.0]
    options = fast_options(token_clock=lambda: now[0], access_ttl=900)
    server = ApiServer(engine, engine.settings, make_users(), options=options)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            token = (await login(client))["access_token"]
            now[0] += 900 - 0.3  # 0.3 s of validity left
            headers = {"Authorization": f"Bearer {token}"}
            async with client.stream("GET", "/api/events", headers=headers) as response:
                assert response.status_code == 200
                started = time.monotonic()
                names = [name async for name, _ in events_of(response)]
                assert 0.2 < time.monotonic() - started < 3
                assert names[0] == "status"
    finally:
        await server.stop()
