"""Alpaca's REST APIs over HTTP on the event loop (aiohttp), instead of alpaca-py's ``requests``.

Why not the SDK: alpaca-py's REST clients are synchronous, so every call crossed to a worker
thread and back. On the order path that hop and ``requests``' own layers cost about 0.6 ms of the
2 ms tick-to-order budget, and the worker threads parsing account reloads competed with the
event loop for the GIL at the moments an order was being sent
(``benchmarks/bench_tick_to_order.py``). Here a request is written to a kept-alive connection by
the loop itself, a few tens of microseconds after it is asked for.

What it keeps of alpaca-py's behaviour, so the broker sees the same requests: URLs are
``<base><path>``, the path starting with the API version (``/v2/account``,
``/v1beta3/crypto/us/bars``), with Alpaca's paper, live or data base unless overridden; the key
pair goes in the
``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY`` headers; GET and DELETE carry query parameters,
other methods a JSON body; redirects are never followed (a mistyped ``http://`` override must
fail, not have a POST turned into a GET); an answer of 400 or more is an error carrying the body;
an empty 2xx body is ``None``.

What it adds: a connect and a total timeout on every request, and no silent re-sending of an
order. aiohttp re-sends only idempotent methods (GET, DELETE), once, when a kept-alive connection
turns out to have been closed by the server (RFC 9112 section 9.3.1); a POST is never re-sent, so
an order's fate after a failure is settled by :meth:`AlpacaClient.submit_order`'s look-up by
client_order_id.

TLS is checked against certifi's CA bundle, and an ``HTTPS_PROXY`` in the environment is used,
as ``requests`` would.

A session belongs to one event loop: one is opened on first use in the running loop, and again if
the client is later used from another loop.
"""

from __future__ import annotations

import asyncio
import json
import platform
import ssl
import urllib.request
from collections.abc import Mapping
from functools import cache
from typing import Any

import aiohttp

from pulsetrader import __version__

PAPER_URL = "https://paper-api.alpaca.markets"
LIVE_URL = "https://api.alpaca.markets"
DATA_URL = "https://data.alpaca.markets"

Params = Mapping[str, str | int | float | bool | None]


class HttpStatusError(Exception):
    """The broker answered with an HTTP error status. ``text`` is the body as sent."""

    def __init__(self, status: int, text: str, headers: Mapping[str, str]) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.headers = dict(headers)


def query(params: Params | None) -> dict[str, str]:
    """Query parameters as Alpaca reads them: ``None`` left out, booleans as ``true``/``false``."""
    if not params:
        return {}
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = str(value)
    return out


@cache
def tls_context() -> ssl.SSLContext:
    """Certificate checks against certifi's CA bundle when it is installed (it comes with
    alpaca-py's dependencies), as ``requests`` did: a slim image without system CA certificates
    still reaches Alpaca. The system's store otherwise."""
    try:
        import certifi
    except ImportError:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


def proxies_configured() -> bool:
    """Whether the environment names an HTTP(S) proxy: only then does a session read it
    (``trust_env``), since aiohttp would otherwise look it up again on every request."""
    return bool(urllib.request.getproxies())


class AlpacaHttp:
    """JSON requests to one Alpaca API base, on the running event loop.

    ``timeout`` bounds each request as a whole (connecting at most 5 s of it); ``connections``
    is the keep-alive pool's size.
    """

    def __init__(
        self,
        base_url: str,
        key_id: str,
        secret_key: str,
        *,
        timeout: float = 10.0,
        connections: int = 8,
    ) -> None:
        self.base = base_url.rstrip("/")
        self._headers = {
            "APCA-API-KEY-ID": key_id,
            "APCA-API-SECRET-KEY": secret_key,
            "User-Agent": f"PulseTrader/{__version__} Python/{platform.python_version()}",
            "Accept": "application/json",
        }
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 5.0))
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:  # the headers hold the secret: never print them
        return f"AlpacaHttp({self.base})"

    def _session_here(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._session
        if session is None or session.closed or self._loop is not loop:
            if session is not None and not session.closed:
                # Opened on a loop that has ended: its connections died with it.
                session.detach()
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections, ssl=tls_context()),
                headers=self._headers,
                timeout=self._timeout,
                trust_env=proxies_configured(),
            )
            self._session, self._loop = session, loop
        return session

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
    ) -> tuple[Any, int]:
        """Send one request; the decoded JSON answer (``None`` when empty) and the status.

        Raises :class:`HttpStatusError` for a status of 400 or more, aiohttp's errors or
        ``TimeoutError`` when no complete answer arrived, ``ValueError`` for a body that is not
        JSON.
        """
        session = self._session_here()
        kwargs: dict[str, Any] = {"allow_redirects": False}
        if params:
            kwargs["params"] = query(params)
        if body is not None:
            kwargs["json"] = body
        async with session.request(method, self.base + path, **kwargs) as response:
            raw = await response.read()
            status = response.status
            if status >= 400:
                text = raw.decode("utf-8", "replace")
                raise HttpStatusError(status, text, response.headers)
            if 300 <= status < 400:
                raise HttpStatusError(
                    status,
                    f"redirected to {response.headers.get('Location', '?')}; check the "
                    "ALPACA_TRADING_URL and ALPACA_DATA_URL settings (https, no trailing path)",
                    response.headers,
                )
        return (json.loads(raw) if raw.strip() else None), status

    async def close(self) -> None:
        """Close the connections (from the loop that opened them; otherwise let them go)."""
        session, self._session = self._session, None
        if session is None or session.closed:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            await session.close()
        else:
            session.detach()
