"""AlpacaHttp, the trading API's transport, against a small HTTP server on loopback.

What the simulator cannot show: how many times a request really reached the server when its
connection died, and what the transport does with a redirect.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from pulsetrader.broker import AlpacaClient, BrokerConfig, BrokerUnavailable, OrderStatusUnknown
from pulsetrader.broker.http import AlpacaHttp, HttpStatusError, tls_context
from pulsetrader.domain import OrderIntent
from tests.integration.broker.conftest import no_sleep
from tests.simulator import SimThread

Handler = Callable[[web.Request], Any]


@dataclass
class Server:
    """Counts the requests it got and answers them with ``handler``."""

    url: str = ""
    seen: list[tuple[str, str, str, bytes]] = field(default_factory=list)
    handler: Handler | None = None


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        state.seen.append((request.method, request.path, request.query_string, body))
        assert state.handler is not None
        result = state.handler(request)
        return await result if asyncio.iscoroutine(result) else result

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}"
    yield state
    await runner.cleanup()


async def drop_connection(request: web.Request) -> web.StreamResponse:
    """Close the connection after reading the request, with no answer at all."""
    assert request.transport is not None
    request.transport.close()
    await asyncio.sleep(0.01)
    return web.Response()


async def test_a_post_whose_connection_dies_is_sent_once(server: Server) -> None:
    http = AlpacaHttp(server.url, "PKKEY", "s" * 20, timeout=2)
    server.handler = drop_connection
    try:
        with pytest.raises(aiohttp.ClientError):
            await http.request("POST", "/v2/orders", body={"client_order_id": "c1"})
    finally:
        await http.close()
    assert [(m, p) for m, p, _, _ in server.seen] == [("POST", "/v2/orders")]


async def test_an_order_lost_in_transit_is_looked_up_never_resent(server: Server) -> None:
    """Exactly once over the real transport: the dropped POST is followed by a look-up by
    client_order_id; with the look-up failing too, the order is 'unknown', not sent again."""
    config = BrokerConfig("PKKEY", "s" * 20, trading_url=server.url, data_url=server.url)
    client = AlpacaClient(config)
    client.retry.sleep = no_sleep

    def handler(request: web.Request) -> Any:
        if request.method == "POST":
            return drop_connection(request)
        return web.json_response({"code": 50010000, "message": "internal"}, status=500)

    server.handler = handler
    intent = OrderIntent(symbol="AAPL", side="buy", qty="0.5", client_order_id="c-once")
    try:
        with pytest.raises(OrderStatusUnknown):
            await client.submit_order(intent)
    finally:
        await client.close()
    posts = [body for method, _, _, body in server.seen if method == "POST"]
    assert len(posts) == 1
    sent = json.loads(posts[0])
    assert sent["client_order_id"] == "c-once"
    assert sent["qty"] == "0.5"  # an exact decimal string, not a float
    lookups = [q for m, p, q, _ in server.seen if p == "/v2/orders:by_client_order_id"]
    assert lookups
    assert all(q == "client_order_id=c-once" for q in lookups)


async def test_a_redirect_is_an_error_not_followed(server: Server) -> None:
    http = AlpacaHttp(server.url, "PKKEY", "s" * 20, timeout=2)
    server.handler = lambda _: web.Response(status=307, headers={"Location": "/elsewhere"})
    try:
        with pytest.raises(HttpStatusError) as info:
            await http.request("POST", "/v2/orders", body={})
    finally:
        await http.close()
    assert info.value.status == 307
    assert "ALPACA_TRADING_URL" in info.value.text
    assert len(server.seen) == 1


async def test_requests_carry_the_key_pair_and_alpaca_query_forms(server: Server) -> None:
    http = AlpacaHttp(server.url, "PKKEY", "secret-" + "s" * 20, timeout=2)
    headers: list[dict[str, str]] = []

    def handler(request: web.Request) -> web.Response:
        headers.append(dict(request.headers))
        return web.Response(status=204)

    server.handler = handler
    try:
        value, status = await http.request(
            "DELETE", "/v2/positions", params={"cancel_orders": True, "qty": None, "limit": 5}
        )
    finally:
        await http.close()
    assert (value, status) == (None, 204)
    assert server.seen[0][2] == "cancel_orders=true&limit=5"
    assert headers[0]["APCA-API-KEY-ID"] == "PKKEY"
    assert headers[0]["APCA-API-SECRET-KEY"] == "secret-" + "s" * 20
    assert "secret" not in repr(http)


async def test_an_answer_that_is_not_json_is_refused(server: Server) -> None:
    client = AlpacaClient(
        BrokerConfig("PKKEY", "s" * 20, trading_url=server.url, data_url=server.url)
    )
    client.retry.max_attempts = 1
    server.handler = lambda _: web.Response(text="<html>gateway</html>")
    try:
        with pytest.raises(BrokerUnavailable, match="not JSON"):
            await client.get_account()
    finally:
        await client.close()


def test_one_client_serves_event_loops_one_after_another() -> None:
    """A CLI command or a test may run the client under one asyncio.run after another."""
    with SimThread() as sim:
        http = AlpacaHttp(sim.base_url, sim.key_id, sim.secret_key, timeout=2)

        async def once() -> Any:
            try:
                return await http.request("GET", "/v2/clock")
            finally:
                await http.close()

        for _ in range(2):
            clock, status = asyncio.run(once())
            assert status == 200
            assert "is_open" in clock


def test_tls_checks_certificates_against_a_real_bundle() -> None:
    context = tls_context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0
