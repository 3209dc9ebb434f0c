"""Turning whatever a broker call raised (an HTTP error answer, an aiohttp failure, a timeout)
into one of :mod:`pulsetrader.broker.errors`.

The decision uses the HTTP status first and Alpaca's error code second (403 means both "bad
credentials" and "insufficient buying power" at Alpaca; the body's code tells them apart).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from pulsetrader.broker.errors import (
    AuthenticationError,
    BrokerError,
    BrokerTimeout,
    BrokerUnavailable,
    InsufficientBuyingPower,
    InvalidRequest,
    NotFound,
    OrderRejected,
    RateLimitError,
)
from pulsetrader.broker.http import HttpStatusError

#: Alpaca's code for "forbidden" refusals of an order (buying power, quantity available).
CODE_FORBIDDEN = 40310000

#: Calls whose 4xx refusals are refusals of an order (``OrderRejected``).
ORDER_ENDPOINTS = frozenset(
    {"submit_order", "replace_order", "close_position", "close_all_positions", "cancel_order"}
)


def parse_retry_after(
    headers: Mapping[str, str], now: Callable[[], float] = time.time
) -> float | None:
    """Seconds to wait before retrying, from ``Retry-After`` or ``X-RateLimit-Reset``, if given."""
    lowered = {k.lower(): v for k, v in headers.items()}
    raw = lowered.get("retry-after")
    if raw:
        try:
            return max(0.0, float(raw))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(raw).timestamp() - now())
            except (TypeError, ValueError):
                pass
    reset = lowered.get("x-ratelimit-reset")
    if reset:
        try:
            value = float(reset)
        except ValueError:
            return None
        if math.isfinite(value):
            return max(0.0, value - now())
    return None


def _body(text: str) -> tuple[int | None, str]:
    """Alpaca's ``code`` and ``message`` from an error body, tolerating non-JSON bodies."""
    try:
        data: Any = json.loads(text)
    except ValueError:
        return None, text.strip()[:300] or "no message"
    if not isinstance(data, dict):
        return None, text.strip()[:300]
    code = data.get("code")
    message = data.get("message") or data.get("error") or text.strip()[:300]
    return (code if isinstance(code, int) else None), str(message)


def from_status(
    status: int | None, text: str, headers: Mapping[str, str], endpoint: str
) -> BrokerError:
    """Map an HTTP error response (status, body, headers) to our tree."""
    code, message = _body(text)
    where = f"{endpoint}: "
    common: dict[str, Any] = {"status": status, "code": code, "endpoint": endpoint}
    if status == 401 or (status == 403 and code is None):
        return AuthenticationError(
            f"{where}the broker refused the API key ({status}: {message}). Check that the key "
            "pair matches ALPACA_MODE (paper keys start with PK) and has not been revoked.",
            **common,
        )
    if status == 403 and "buying power" in message.lower():
        return InsufficientBuyingPower(message, **common)
    if status == 404:
        return NotFound(f"{where}{message}", **common)
    if status == 408:
        return BrokerTimeout(f"{where}the broker timed out the request ({message})", **common)
    if status == 429:
        retry_after = parse_retry_after(headers)
        hint = f"; retry in {retry_after:.1f}s" if retry_after is not None else ""
        return RateLimitError(
            f"{where}rate limit reached ({message}){hint}", retry_after=retry_after, **common
        )
    if status is not None and status >= 500:
        return BrokerUnavailable(f"{where}the broker failed ({status}: {message})", **common)
    if endpoint in ORDER_ENDPOINTS:
        if status == 403 and code == CODE_FORBIDDEN and "insufficient" in message.lower():
            return InsufficientBuyingPower(message, **common)
        return OrderRejected(message, **common)
    return InvalidRequest(f"{where}{message}", **common)


def map_exception(exc: BaseException, endpoint: str) -> BrokerError:
    """Map anything a broker call raised to our tree (``BrokerError`` passes through)."""
    if isinstance(exc, BrokerError):
        return exc
    if isinstance(exc, HttpStatusError):
        return from_status(exc.status, exc.text, exc.headers, endpoint)
    if isinstance(exc, TimeoutError):  # aiohttp's request timeouts are TimeoutErrors too
        return BrokerTimeout(
            f"{endpoint}: no answer from the broker in time ({_short(exc)})", endpoint=endpoint
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return BrokerUnavailable(
            f"{endpoint}: cannot reach the broker ({_short(exc)}); check the network and the "
            "ALPACA_*_URL settings",
            endpoint=endpoint,
        )
    if isinstance(exc, aiohttp.ClientError):
        # The connection was reset or closed before a whole answer arrived.
        return BrokerUnavailable(f"{endpoint}: HTTP failure ({_short(exc)})", endpoint=endpoint)
    if isinstance(exc, json.JSONDecodeError):
        return BrokerUnavailable(
            f"{endpoint}: the broker sent a response that is not JSON ({exc.msg})",
            endpoint=endpoint,
        )
    if isinstance(exc, (ValueError, TypeError)):
        # A request that could not be built (a value the transport cannot encode).
        return InvalidRequest(f"{endpoint}: invalid request ({_short(exc)})", endpoint=endpoint)
    return BrokerError(
        f"{endpoint}: unexpected {type(exc).__name__}: {_short(exc)}", endpoint=endpoint
    )


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
