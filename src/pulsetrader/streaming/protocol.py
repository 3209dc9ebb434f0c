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
        key_cost = len(channel.encode()) + 10
        for symbol in sorted(set(changes[channel])):
            # Cost of adding this symbol: its msgpack string (UTF-8 bytes, not characters)
            # plus, for a new channel, the key and an array header (5 bytes covers any length).
            symbol_cost = len(symbol.encode()) + 5
            cost = symbol_cost + (0 if channel in current else key_cost)
            if count and (count >= max_symbols or size + cost > max_bytes):
                messages.append(current)
                current, count = {"action": action}, 0
                size = len(pack(current))
                cost = symbol_cost + key_cost
            current.setdefault(channel, []).append(symbol)
            count += 1
            size += cost
    if count:
        messages.append(current)
    return messages


# -- decoding market data -------------------------------------------------------------------
#
# The hot path (see benchmarks/bench_streaming.py). A Decimal from a float goes through its
# shortest repr (never Decimal(float), which would expose binary noise), and prices and sizes
# repeat on the tick grid, so a bounded cache turns almost every conversion into one C-level
# dict subscript.

_DECIMAL_CACHE_SIZE: Final = 200_000
#: Wire number -> exact Decimal. A plain dict, read with ``[]`` in a ``try``: the fastest read
#: CPython has (a dict subclass with ``__missing__`` is slower on every hit).
_DECIMALS: Final[dict[float | int | str | bytes, Decimal]] = {}


def wire_decimal(value: float | int | str | bytes) -> Decimal:
    """An exact Decimal for a number as the wire sent it (``1.1`` -> ``Decimal("1.1")``).

    Text is accepted too (as str, or as bytes from :func:`unpack_raw`).
    """
    try:
        return _DECIMALS[value]
    except KeyError:
        pass
    if isinstance(value, float):
        # 100.0 and 100 are one dict key (equal, same hash): give both the integer form, so
        # the Decimal a key yields never depends on which spelling the cache saw first.
        exact = Decimal(int(value)) if value.is_integer() else Decimal(repr(value))
    elif isinstance(value, int | str):
        exact = Decimal(value)
    elif isinstance(value, bytes):
        exact = Decimal(value.decode())
    else:
        raise TypeError(f"not a number: {value!r:.50}")
    if len(_DECIMALS) >= _DECIMAL_CACHE_SIZE:
        _DECIMALS.clear()
    _DECIMALS[value] = exact
    return exact


_trade = Trade.trusted
_quote = Quote.trusted


def to_trade(m: Mapping[str, Any]) -> Trade:
    """A ``T: t`` message."""
    d = _DECIMALS
    try:  # every number already in the cache: no Python call but the constructor
        return _trade(m["S"], d[m["p"]], d[m["s"]], m["t"], m.get("x"), m.get("i"))
    except KeyError:
        pass  # a number not cached yet, or a field missing (raised again below)
    w = wire_decimal
    return _trade(m["S"], w(m["p"]), w(m["s"]), m["t"], m.get("x"), m.get("i"))


def to_quote(m: Mapping[str, Any]) -> Quote:
    """A ``T: q`` message."""
    d = _DECIMALS
    try:
        return _quote(m["S"], d[m["bp"]], d[m["bs"]], d[m["ap"]], d[m["as"]], m["t"])
    except KeyError:
        pass
    w = wire_decimal
    return _quote(m["S"], w(m["bp"]), w(m["bs"]), w(m["ap"]), w(m["as"]), m["t"])


# -- the raw fast path ------------------------------------------------------------------------
#
# Decoding every key and string of a frame to str, and interning the keys, is over a quarter of
# msgpack's work per message. Market-data frames are therefore unpacked with strings left as
# bytes (:func:`unpack_raw`); trades and quotes are read straight from that (:func:`raw_trade`,
# :func:`raw_quote`), decoding only the symbol and the exchange through a cache that also hands
# out one shared str per symbol; anything else is turned into ordinary messages by
# :func:`text` and takes the general path.

RawMessage = dict[bytes, Any]
_TEXT_CACHE_SIZE: Final = 100_000
_TEXTS: Final[dict[bytes, str]] = {}


def unpack_raw(frame: bytes) -> list[RawMessage]:
    """A msgpack frame as a list of messages with bytes for keys and strings."""
    data = msgpack.unpackb(frame, raw=True, timestamp=3)
    if isinstance(data, dict):
        return [data]
    if not isinstance(data, list):
        raise StreamProtocolError(f"unexpected frame: {data!r:.200}")
    return data


def text(value: Any) -> Any:
    """A value from :func:`unpack_raw` as :func:`unpack` gives it: every bytes as str."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, dict):
        return {text(k): text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [text(v) for v in value]
    return value


def wire_text(value: bytes) -> str:
    """A short wire string (a symbol, an exchange) as str, cached: one shared str per value."""
    try:
        return _TEXTS[value]
    except KeyError:
        pass
    if not isinstance(value, bytes):
        raise TypeError(f"expected a string, got {value!r:.50}")
    decoded = value.decode()
    if len(_TEXTS) >= _TEXT_CACHE_SIZE:
        _TEXTS.clear()
    _TEXTS[value] = decoded
    return decoded


def raw_trade(m: RawMessage) -> Trade:
    """A ``T: t`` message from :func:`unpack_raw`."""
    d, s = _DECIMALS, _TEXTS
    x = m.get(b"x")
    try:
        exchange = None if x is None else s[x]
        return _trade(s[m[b"S"]], d[m[b"p"]], d[m[b"s"]], m[b"t"], exchange, m.get(b"i"))
    except KeyError:
        pass  # as in to_trade
    w = wire_decimal
    exchange = None if x is None else wire_text(x)
    return _trade(wire_text(m[b"S"]), w(m[b"p"]), w(m[b"s"]), m[b"t"], exchange, m.get(b"i"))


def raw_quote(m: RawMessage) -> Quote:
    """A ``T: q`` message from :func:`unpack_raw`."""
    d, s = _DECIMALS, _TEXTS
    try:
        return _quote(s[m[b"S"]], d[m[b"bp"]], d[m[b"bs"]], d[m[b"ap"]], d[m[b"as"]], m[b"t"])
    except KeyError:
        pass
    w = wire_decimal
    symbol = wire_text(m[b"S"])
    return _quote(symbol, w(m[b"bp"]), w(m[b"bs"]), w(m[b"ap"]), w(m[b"as"]), m[b"t"])


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
