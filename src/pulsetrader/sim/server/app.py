"""The simulator's aiohttp application: routes plus the middleware that makes it look like Alpaca.

Middleware, outermost first:

1. access log (DEBUG) and request statistics for ``GET /sim/stats``;
2. fault injection: before the handler ``status``/``latency``/``hang``/``reset``, after it
   ``drop_response`` (the request was processed, the client never gets the answer);
3. errors: every failure becomes an Alpaca error body ``{"code": int, "message": str}``, since
   alpaca-py's ``APIError.code`` raises on anything else; the rate-limit headers are added here
   so that error responses carry them too;
4. authentication: ``APCA-API-KEY-ID``/``APCA-API-SECRET-KEY`` or HTTP Basic (alpaca-py's
   ``use_basic_auth``); crypto market data needs no keys, as on Alpaca;
5. rate limiting per key, separately for the trading and the market-data API.

WebSocket routes and the ``/sim`` control routes bypass faults, auth and rate limits: streams
speak their own protocol (and have their own faults), and ``/sim`` is a loopback tool.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from pulsetrader.sim.errors import SimError
from pulsetrader.sim.faults import FaultRule
from pulsetrader.sim.ratelimit import RATE_LIMIT_CODE, RATE_LIMIT_MESSAGE
from pulsetrader.sim.server import control, data, trading
from pulsetrader.sim.server.common import SIM_KEY, error_response, get_sim

if TYPE_CHECKING:
    from pulsetrader.sim.service import Simulator

log = logging.getLogger(__name__)
access_log = logging.getLogger("pulsetrader.sim.access")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: WebSocket endpoints: market data per feed, and trade updates.
DATA_STREAM_PATHS: dict[str, str] = {
    "/v2/iex": "iex",
    "/v2/sip": "sip",
    "/v2/test": "test",
    "/v1beta3/crypto/us": "crypto",
}
TRADE_STREAM_PATH = "/stream"
STREAM_PATHS = frozenset({*DATA_STREAM_PATHS, TRADE_STREAM_PATH})

RATE_HEADERS: web.RequestKey[dict[str, str]] = web.RequestKey("ratelimit_headers", dict)
INTERNAL_ERROR = (500, 50010000, "internal server error")
UNAUTHORIZED = (401, 40110000, "request is not authorized")


class _ClientGone(Exception):
    """The client disconnected while a fault held its request: nothing is processed or sent."""


def api_of(path: str) -> str | None:
    """``trading``, ``data``, ``crypto_data`` or None (control, streams, unknown paths)."""
    if path in STREAM_PATHS or path.startswith("/sim"):
        return None
    if path.startswith("/v1beta3/crypto/"):
        return "crypto_data"
    if path.startswith(("/v2/stocks/", "/v1beta1/")):
        return "data"
    if path.startswith("/v2/"):
        return "trading"
    return None


def _credentials(request: web.Request) -> tuple[str, str] | None:
    key = request.headers.get("APCA-API-KEY-ID")
    secret = request.headers.get("APCA-API-SECRET-KEY")
    if key is not None or secret is not None:
        return key or "", secret or ""
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "basic" and token:
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return "", ""
        user, _, password = decoded.partition(":")
        return user, password
    if auth:
        return "", ""  # Bearer/OAuth tokens are not issued by the simulator.
    return None


def _authentic(sim: Simulator, key: str, secret: str) -> bool:
    expected = sim.keys.get(key)
    return expected is not None and hmac.compare_digest(expected, secret)


def _error_from_http(exc: web.HTTPException) -> web.Response:
    status = exc.status
    if status == 404:
        message = "endpoint not found"
    elif status == 405:
        message = "method not allowed"
    else:
        message = (exc.reason or "error").lower()
    return error_response(status, status * 100000, message)


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Log every request at DEBUG and count it for ``/sim/stats``."""
    started = time.perf_counter()
    status = 0  # 0: no response (dropped, reset, client gone)
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        elapsed_ms = (time.perf_counter() - started) * 1000
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else request.path
        get_sim(request).stats.record(request.method, route, status)
        access_log.debug(
            "%s %s -> %s (%.1f ms)", request.method, request.path_qs, status or "-", elapsed_ms
        )


def _drop_connection(request: web.Request) -> None:
    """Close the socket so that the response written afterwards goes nowhere."""
    transport = request.transport
    if transport is not None:
        transport.close()


async def _hang(request: web.Request, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        transport = request.transport
        if transport is None or transport.is_closing():
            raise _ClientGone
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        await asyncio.sleep(min(0.05, remaining))


def _fault_status(rule: FaultRule) -> web.Response:
    status = rule.status or 500
    if rule.body is not None:
        response = web.json_response(dict(rule.body), status=status)
    elif status == 429:
        response = error_response(429, RATE_LIMIT_CODE, RATE_LIMIT_MESSAGE)
    else:
        phrase = _REASONS.get(status, "error")
        response = error_response(status, status * 100000, phrase)
    if rule.retry_after is not None:
        response.headers["Retry-After"] = str(max(0, round(rule.retry_after)))
    return response


_REASONS = {
    400: "bad request",
    401: "request is not authorized",
    403: "forbidden",
    404: "not found",
    408: "request timeout",
    422: "unprocessable entity",
    500: "internal server error",
    502: "bad gateway",
    503: "service unavailable",
    504: "gateway timeout",
}


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply the fault profile's HTTP rules that fire for this request."""
    if api_of(request.path) is None:
        return await handler(request)
    rules = get_sim(request).faults.http_faults(request.method, request.path)
    drop = False
    try:
        for rule in rules:
            if rule.effect == "latency":
                await asyncio.sleep((rule.ms or 0) / 1000)
            elif rule.effect == "hang":
                await _hang(request, rule.seconds or 0)
            elif rule.effect == "reset":
                _drop_connection(request)
                return web.Response(status=500)  # written to a closed socket: never seen
            elif rule.effect == "status":
                return _fault_status(rule)
            elif rule.effect == "drop_response":
                drop = True
    except _ClientGone:
        return web.Response(status=499)  # nobody is listening any more
    response = await handler(request)
    if drop:
        # The work is done (an order may now exist); only the answer is lost.
        _drop_connection(request)
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into an Alpaca error body; attach rate-limit headers."""
    if request.path in STREAM_PATHS:
        return await handler(request)
    try:
        response: web.StreamResponse = await handler(request)
    except SimError as exc:
        response = error_response(exc.status, exc.code, exc.message, **exc.extra)
    except web.HTTPException as exc:
        response = _error_from_http(exc)
    except (asyncio.CancelledError, ConnectionError):
        raise
    except Exception:
        log.exception("sim: unhandled error in %s %s", request.method, request.path)
        response = error_response(*INTERNAL_ERROR)
    headers = request.get(RATE_HEADERS)
    if headers and not response.prepared:
        response.headers.update(headers)
    return response


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Check API keys on the trading and stock-data APIs (crypto data only if keys are sent)."""
    api = api_of(request.path)
    if api is None:
        return await handler(request)
    sim = get_sim(request)
    creds = _credentials(request)
    if creds is None:
        if api != "crypto_data":
            return error_response(*UNAUTHORIZED)
    elif not _authentic(sim, *creds):
        return error_response(*UNAUTHORIZED)
    return await handler(request)


@web.middleware
async def ratelimit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Meter each key's requests per API; 429 with ``Retry-After`` over the limit."""
    api = api_of(request.path)
    if api is None:
        return await handler(request)
    creds = _credentials(request)
    who = creds[0] if creds is not None else f"anonymous:{request.remote}"
    bucket = "trading" if api == "trading" else "data"
    decision = get_sim(request).ratelimiter.hit(f"{bucket}:{who}")
    request[RATE_HEADERS] = decision.headers()
    if not decision.allowed:
        return error_response(429, RATE_LIMIT_CODE, RATE_LIMIT_MESSAGE)
    return await handler(request)


def _add_stream_routes(app: web.Application, sim: Simulator) -> None:
    def data_handler(feed: str) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await sim.hub.handle_data_stream(request, feed)

        return handle

    for path, feed in DATA_STREAM_PATHS.items():
        app.router.add_get(path, data_handler(feed), name=f"stream-{feed}")

    async def trade_stream(request: web.Request) -> web.StreamResponse:
        return await sim.hub.handle_trade_stream(request)

    app.router.add_get(TRADE_STREAM_PATH, trade_stream, name="stream-trade-updates")


def create_app(sim: Simulator) -> web.Application:
    """Build the aiohttp application serving ``sim`` (REST, WebSocket and ``/sim`` control)."""
    app = web.Application(
        middlewares=[
            access_middleware,
            fault_middleware,
            error_middleware,
            auth_middleware,
            ratelimit_middleware,
        ],
        client_max_size=8 * 1024 * 1024,
    )
    app[SIM_KEY] = sim
    _add_stream_routes(app, sim)
    control.add_routes(app)
    trading.add_routes(app)
    data.add_routes(app)
    return app
