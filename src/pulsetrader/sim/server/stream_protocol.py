"""Alpaca's streaming wire format: message shapes, channel rules, encoding and decoding.

Everything here is pure (no sockets, no asyncio) so it can be tested and benchmarked on its own.
Market-data messages are built once per publish as dicts whose ``t`` is a msgpack
:class:`~msgpack.Timestamp`, then encoded *per message* and framed per connection: a msgpack array
is just a header followed by its elements back to back, and a JSON array is ``[`` + the elements
joined by ``,`` + ``]``, so a frame for a connection's subset of a batch costs a ``join``, not a
second encoding pass.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

import msgpack

from pulsetrader.domain.market import Bar, Quote, Trade

#: Market-data feeds and the stream name the fault injector knows each one by.
FEEDS: Final = ("iex", "sip", "test", "crypto")
#: Publish groups: one published batch fans out to every feed of its group.
GROUP_FEEDS: Final[Mapping[str, tuple[str, ...]]] = {
    "stocks": ("iex", "sip"),
    "test": ("test",),
    "crypto": ("crypto",),
}
STOCK_CHANNELS: Final = (
    "trades",
    "quotes",
    "bars",
    "updatedBars",
    "dailyBars",
    "statuses",
    "lulds",
)
CRYPTO_CHANNELS: Final = ("trades", "quotes", "orderbooks", "bars", "updatedBars", "dailyBars")
# Channels some Alpaca feed has: naming one the feed lacks is a 410, not a syntax error.
_KNOWN_CHANNELS: Final = frozenset(
    (*STOCK_CHANNELS, *CRYPTO_CHANNELS, "news", "corrections", "cancelErrors")
)
#: Channels whose symbols need generated data (statuses/lulds are never emitted by the sim).
DATA_CHANNELS: Final = ("trades", "quotes", "bars", "updatedBars", "dailyBars", "orderbooks")
BAR_CHANNEL: Final[Mapping[str, str]] = {"b": "bars", "u": "updatedBars", "d": "dailyBars"}

ERRORS: Final[Mapping[int, str]] = {
    400: "invalid syntax",
    401: "not authenticated",
    402: "auth failed",
    403: "already authenticated",
    404: "auth timeout",
    405: "symbol limit exceeded",
    406: "connection limit exceeded",
    407: "slow client",
    410: "invalid subscribe action for this feed",
    500: "internal error",
}
# Alpaca documents no error frame for the trade stream; this shape is an inference.
TRADE_STREAM_SYNTAX_ERROR: Final = {"stream": "error", "data": {"error": "invalid syntax"}}
CONNECTED: Final = [{"T": "success", "msg": "connected"}]
AUTHENTICATED: Final = [{"T": "success", "msg": "authenticated"}]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_SECOND: Final = 10**9


class ProtocolError(Exception):
    """A client message Alpaca would answer with an error frame; ``code`` is Alpaca's."""

    def __init__(self, code: int) -> None:
        super().__init__(ERRORS[code])
        self.code = code


def channels_for(feed: str) -> tuple[str, ...]:
    """The subscribable channels of a feed (crypto has order books, stocks have statuses/LULDs)."""
    return CRYPTO_CHANNELS if feed == "crypto" else STOCK_CHANNELS


def error(code: int) -> list[dict[str, Any]]:
    """An error control message, e.g. ``[{"T":"error","code":402,"msg":"auth failed"}]``."""
    return [{"T": "error", "code": code, "msg": ERRORS[code]}]


def subscription_ack(feed: str, subs: Mapping[str, Iterable[str]]) -> list[dict[str, Any]]:
    """The ``subscription`` message: the connection's full current set, every channel present.

    Stocks also report ``corrections`` and ``cancelErrors``, which Alpaca ties to ``trades``.
    """
    message: dict[str, Any] = {"T": "subscription"}
    for channel in channels_for(feed):
        message[channel] = list(subs.get(channel, ()))
    if feed != "crypto":
        message["corrections"] = list(message["trades"])
        message["cancelErrors"] = list(message["trades"])
    return [message]


def authorization(ok: bool, action: str) -> dict[str, Any]:
    """The trade stream's answer to ``authenticate`` (or to ``listen`` before it)."""
    status = "authorized" if ok else "unauthorized"
    return {"stream": "authorization", "data": {"status": status, "action": action}}


def parse_subscription(feed: str, message: Mapping[str, Any]) -> dict[str, list[str]]:
    """The channel -> symbols part of a subscribe/unsubscribe message, validated for ``feed``.

    Raises :class:`ProtocolError` 410 for a channel this feed lacks and 400 for a malformed list.
    Unknown keys are ignored, as a forward-compatible server would.
    """
    valid = channels_for(feed)
    wanted: dict[str, list[str]] = {}
    for key, value in message.items():
        if key == "action":
            continue
        if key not in _KNOWN_CHANNELS:
            continue
        if key in ("corrections", "cancelErrors") and feed != "crypto":
            continue  # implied by trades; clients sometimes echo them back
        if key not in valid:
            raise ProtocolError(410)
        if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
            raise ProtocolError(400)
        wanted[key] = value
    return wanted


def merge_subscription(
    current: Mapping[str, Mapping[str, None]], wanted: Mapping[str, list[str]]
) -> dict[str, dict[str, None]]:
    """``current`` plus ``wanted`` (subscribe is additive), as a new channel -> ordered set."""
    merged = {channel: dict(symbols) for channel, symbols in current.items()}
    for channel, symbols in wanted.items():
        merged.setdefault(channel, {}).update(dict.fromkeys(symbols))
    return merged


def remove_subscription(
    current: Mapping[str, Mapping[str, None]], unwanted: Mapping[str, list[str]]
) -> dict[str, dict[str, None]]:
    """``current`` without ``unwanted``; ``*`` removes only the wildcard, as Alpaca does."""
    return {
        channel: {s: None for s in symbols if s not in unwanted.get(channel, ())}
        for channel, symbols in current.items()
    }


def counted_symbols(subs: Mapping[str, Mapping[str, None]]) -> int:
    """Symbols counted against a plan's limit: the union of trade and quote subscriptions."""
    return len(subs.get("trades", {}).keys() | subs.get("quotes", {}).keys())


def decode_client(data: bytes | str, msgpack_first: bool) -> dict[str, Any]:
    """Decode a client frame (JSON or msgpack, whichever parses) into a dict.

    Raises :class:`ProtocolError` 400 when it is neither, or not an object.
    """
    decoded: object = None
    decoders: tuple[Callable[[bytes | str], object], ...]
    if isinstance(data, str):
        decoders = (_json,)
    else:
        decoders = (_msgpack, _json) if msgpack_first else (_json, _msgpack)
    for decode in decoders:
        try:
            decoded = decode(data)
            break
        except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
            continue
    if not isinstance(decoded, dict):
        raise ProtocolError(400)
    return decoded


def _json(data: bytes | str) -> object:
    return json.loads(data)


def _msgpack(data: bytes | str) -> object:
    return msgpack.unpackb(data, strict_map_key=False)


# --- timestamps --------------------------------------------------------------------------------


def unix_nanos(ts: datetime) -> int:
    """Nanoseconds since the epoch, exactly (no float round trip)."""
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def rfc3339_nanos(nanos: int) -> str:
    """``2024-01-02T14:30:00.123456789Z``: the JSON spelling of ``t`` in Alpaca's streams."""
    seconds, fraction = divmod(nanos, _NS_PER_SECOND)
    stamp = _EPOCH + timedelta(seconds=seconds)
    return f"{stamp:%Y-%m-%dT%H:%M:%S}.{fraction:09d}Z"


def _timestamp(ts: datetime) -> msgpack.Timestamp:
    # alpaca-py calls msg["t"].to_datetime(): a string here kills the rest of the batch.
    return msgpack.Timestamp.from_unix_nano(unix_nanos(ts))


# --- market-data messages ----------------------------------------------------------------------


def _size(value: Decimal) -> int | float:
    # Stock sizes are integers on the wire (Go clients decode them into uint32).
    as_float = float(value)
    as_int = int(as_float)
    return as_int if as_int == as_float else as_float


def stock_trade(trade: Trade, trade_id: int) -> dict[str, Any]:
    """``{T:"t",S,i,x,p,s,c,z,t}``; exchange defaults to IEX (``V``), tape to ``C``."""
    return {
        "T": "t",
        "S": trade.symbol,
        "i": trade_id,
        "x": trade.exchange or "V",
        "p": float(trade.price),
        "s": _size(trade.size),
        "c": ["@"],
        "z": "C",
        "t": _timestamp(trade.timestamp),
    }


def crypto_trade(trade: Trade, trade_id: int, taker_side: str) -> dict[str, Any]:
    """``{T:"t",S,p,s,t,i,tks}``: crypto trades carry the taker side instead of exchange/tape."""
    return {
        "T": "t",
        "S": trade.symbol,
        "p": float(trade.price),
        "s": float(trade.size),
        "t": _timestamp(trade.timestamp),
        "i": trade_id,
        "tks": taker_side,
    }


def stock_quote(quote: Quote) -> dict[str, Any]:
    """``{T:"q",S,bx,bp,bs,ax,ap,as,c,z,t}``."""
    return {
        "T": "q",
        "S": quote.symbol,
        "bx": "V",
        "bp": float(quote.bid_price),
        "bs": _size(quote.bid_size),
        "ax": "V",
        "ap": float(quote.ask_price),
        "as": _size(quote.ask_size),
        "c": ["R"],
        "z": "C",
        "t": _timestamp(quote.timestamp),
    }


def crypto_quote(quote: Quote) -> dict[str, Any]:
    """``{T:"q",S,bp,bs,ap,as,t}``: no exchanges, conditions or tape on crypto quotes."""
    return {
        "T": "q",
        "S": quote.symbol,
        "bp": float(quote.bid_price),
        "bs": float(quote.bid_size),
        "ap": float(quote.ask_price),
        "as": float(quote.ask_size),
        "t": _timestamp(quote.timestamp),
    }


def bar_message(bar: Bar, kind: str, crypto: bool) -> dict[str, Any]:
    """``{T:"b"|"u"|"d",S,o,h,l,c,v,n,vw,t}``; stock volume is an integer, crypto's a float."""
    vwap = bar.vwap if bar.vwap is not None else (bar.high + bar.low + bar.close) / 3
    return {
        "T": kind,
        "S": bar.symbol,
        "o": float(bar.open),
        "h": float(bar.high),
        "l": float(bar.low),
        "c": float(bar.close),
        "v": float(bar.volume) if crypto else _size(bar.volume),
        "n": bar.trade_count or 0,
        "vw": float(vwap),
        "t": _timestamp(bar.timestamp),
    }


# --- encoding ----------------------------------------------------------------------------------


def _json_default(value: object) -> object:
    if isinstance(value, msgpack.Timestamp):
        return rfc3339_nanos(value.to_unix_nano())
    if isinstance(value, datetime):
        return rfc3339_nanos(unix_nanos(value))
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


_packer = msgpack.Packer()  # one reusable packer: the loop is single-threaded


def pack_one(message: Mapping[str, Any]) -> bytes:
    """One message as msgpack, ready to be an element of :func:`msgpack_frame`."""
    packed: bytes = _packer.pack(message)
    return packed


def json_one(message: object) -> str:
    """One message (or array) as compact JSON, ready to be an element of :func:`json_frame`."""
    return json.dumps(message, separators=(",", ":"), default=_json_default)


def msgpack_frame(elements: Sequence[bytes]) -> bytes:
    """A msgpack array of already-packed elements."""
    header: bytes = _packer.pack_array_header(len(elements))
    return header + b"".join(elements)


def json_frame(elements: Sequence[str]) -> str:
    """A JSON array of already-encoded elements."""
    return "[" + ",".join(elements) + "]"


class EncodedBatch:
    """One published batch, encoded lazily per wire format and shared by all its recipients.

    Each message is encoded at most once per format, however many connections receive it.
    """

    def __init__(self, symbols: Sequence[str], messages: Sequence[Mapping[str, Any]]) -> None:
        self._symbols = symbols
        self._messages = messages
        self._cache: dict[bool, list[Any]] = {}

    def elements(self, subs: Mapping[str, None], use_msgpack: bool) -> list[Any]:
        """The encoded messages whose symbol is in ``subs`` (all of them for ``*``), in order."""
        cache = self._cache.setdefault(use_msgpack, [None] * len(self._messages))
        encode = pack_one if use_msgpack else json_one
        chosen: Iterable[int]
        if "*" in subs:
            chosen = range(len(self._messages))
        else:
            chosen = [i for i, symbol in enumerate(self._symbols) if symbol in subs]
        out = []
        for i in chosen:
            element = cache[i]
            if element is None:
                element = cache[i] = encode(self._messages[i])
            out.append(element)
        return out


def encode_control(messages: list[dict[str, Any]], use_msgpack: bool) -> bytes | str:
    """A control frame (always an array) in the connection's encoding."""
    if use_msgpack:
        packed: bytes = _packer.pack(messages)
        return packed
    return json_one(messages)


def encode_object(message: Mapping[str, Any], use_msgpack: bool) -> bytes:
    """A trade-stream frame: one bare object (no array), sent binary like Alpaca paper."""
    if use_msgpack:
        return pack_one(message)
    return json_one(message).encode()
