"""Alpaca's streaming protocols, client side: messages to send and frames to decode. Pure.

Market data (``/v2/{iex,sip,test}``, ``/v1beta3/crypto/us``) is msgpack, which the client asks
for with ``Content-Type: application/msgpack``: every frame is an array of messages with a type
``T``; timestamps are msgpack Timestamp extensions, decoded straight to aware UTC datetimes.
The ``trade_updates`` stream (``/stream``) is JSON.

Subscription changes are split into messages of at most :data:`MAX_SUBSCRIBE_SYMBOLS` symbols
and :data:`MAX_SUBSCRIBE_BYTES` encoded bytes. Alpaca documents no limit, but clients that sent
a few thousand symbols in one message saw the server ignore the tail (alpaca-trade-api-csharp
#763, #724), and alpaca-py fragments anything over 32 KiB; small messages avoid both.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Final

import msgpack

from pulsetrader.domain.market import Bar, Quote, Trade

MAX_SUBSCRIBE_SYMBOLS: Final = 1000
MAX_SUBSCRIBE_BYTES: Final = 15 * 1024
#: The market-data channels this client subscribes to.
CHANNELS: Final = ("trades", "quotes", "bars", "updatedBars")
MSGPACK_HEADERS: Final = {"Content-Type": "application/msgpack"}

#: Error codes after which reconnecting at once cannot help.
AUTH_FAILED: Final = 402
CONNECTION_LIMIT: Final = 406
INSUFFICIENT_SUBSCRIPTION: Final = 409
SYMBOL_LIMIT: Final = 405


class StreamProtocolError(Exception):
    """The server answered with an error frame (``code`` is Alpaca's) or broke the protocol."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message if code is None else f"{message} (code {code})")
        self.code = code


def pack(message: Mapping[str, Any]) -> bytes:
    """A client message as msgpack."""
    return msgpack.packb(message)  # type: ignore[no-any-return]


def unpack(frame: bytes | str) -> list[dict[str, Any]]:
    """A server frame as a list of messages (msgpack Timestamps become aware UTC datetimes)."""
    data = msgpack.unpackb(frame, timestamp=3) if isinstance(frame, bytes) else json.loads(frame)
    if isinstance(data, dict):
        return [data]
    if not isinstance(data, list):
        raise StreamProtocolError(f"unexpected frame: {data!r:.200}")
    return data


def auth_message(key_id: str, secret_key: str) -> dict[str, str]:
    """The market-data ``auth`` action."""
    return {"action": "auth", "key": key_id, "secret": secret_key}


def subscription_messages(
    action: str,
    changes: Mapping[str, Iterable[str]],
    *,
    max_symbols: int = MAX_SUBSCRIBE_SYMBOLS,
    max_bytes: int = MAX_SUBSCRIBE_BYTES,
) -> list[dict[str, Any]]:
    """``subscribe``/``unsubscribe`` messages covering ``changes`` (channel -> symbols).

    Each message holds at most ``max_symbols`` symbols in all and encodes to at most
    ``max_bytes``; symbols keep a stable (sorted) order, so the same change gives the same
    messages. Channels with no symbols are left out (Alpaca treats an empty list as nothing).
    """
    if action not in ("subscribe", "unsubscribe"):
        raise ValueError(f"action must be subscribe or unsubscribe, got {action!r}")
    messages: list[dict[str, Any]] = []
    current: dict[str, Any] = {"action": action}
    count = 0
    size = len(pack(current))
    for channel in sorted(changes):
        for symbol in sorted(set(changes[channel])):
            # Cost of adding this symbol: its msgpack string plus, for a new channel, the key
            # and an array header (5 bytes covers any array length).
            cost = len(symbol) + 5 + (0 if channel in current else len(channel) + 10)
            if count and (count >= max_symbols or size + cost > max_bytes):
                messages.append(current)
                current, count = {"action": action}, 0
                size = len(pack(current))
                cost = len(symbol) + 5 + len(channel) + 10
            current.setdefault(channel, []).append(symbol)
            count += 1
            size += cost
    if count:
        messages.append(current)
    return messages


# -- decoding market data -------------------------------------------------------------------
#
# The hot path: a Decimal from a float goes through its shortest repr (never Decimal(float),
# which would expose binary noise), and prices repeat on the tick grid, so a bounded cache
# turns most conversions into one dict lookup.

_DECIMALS: dict[float | int, Decimal] = {}
_DECIMAL_CACHE_SIZE: Final = 200_000


def wire_decimal(value: float | int | str) -> Decimal:
    """An exact Decimal for a number as the wire sent it (``1.1`` -> ``Decimal("1.1")``)."""
    if isinstance(value, str):
        return Decimal(value)
    cached = _DECIMALS.get(value)
    if cached is None:
        cached = Decimal(value) if isinstance(value, int) else Decimal(repr(value))
        if len(_DECIMALS) >= _DECIMAL_CACHE_SIZE:
            _DECIMALS.clear()
        _DECIMALS[value] = cached
    return cached


def to_trade(m: Mapping[str, Any]) -> Trade:
    """A ``T: t`` message."""
    return Trade.trusted(
        m["S"], wire_decimal(m["p"]), wire_decimal(m["s"]), m["t"], m.get("x"), m.get("i")
    )


def to_quote(m: Mapping[str, Any]) -> Quote:
    """A ``T: q`` message."""
    return Quote.trusted(
        m["S"],
        wire_decimal(m["bp"]),
        wire_decimal(m["bs"]),
        wire_decimal(m["ap"]),
        wire_decimal(m["as"]),
        m["t"],
    )


def to_bar(m: Mapping[str, Any]) -> Bar:
    """A ``T: b`` / ``u`` / ``d`` message (checked: bars are rare and feed indicators)."""
    vwap = m.get("vw")
    count = m.get("n")
    return Bar(
        symbol=m["S"],
        timestamp=m["t"],
        open=wire_decimal(m["o"]),
        high=wire_decimal(m["h"]),
        low=wire_decimal(m["l"]),
        close=wire_decimal(m["c"]),
        volume=wire_decimal(m.get("v", 0)),
        trade_count=int(count) if count is not None else None,
        vwap=wire_decimal(vwap) if vwap is not None else None,
    )


def error_of(message: Mapping[str, Any]) -> StreamProtocolError:
    """An ``error`` control message as an exception."""
    return StreamProtocolError(str(message.get("msg", "error")), message.get("code"))


# -- trade_updates (JSON) -------------------------------------------------------------------


def trade_stream_auth(key_id: str, secret_key: str) -> str:
    """The ``trade_updates`` authenticate message."""
    return json.dumps(
        {"action": "authenticate", "data": {"key_id": key_id, "secret_key": secret_key}}
    )


LISTEN: Final = json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}})
