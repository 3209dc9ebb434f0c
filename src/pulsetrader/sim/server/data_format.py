"""Market-data request parameters and JSON shapes, exactly as Alpaca's data API uses them.

Prices and sizes are JSON numbers here (unlike the trading API's numeric strings), timestamps
are RFC 3339 in UTC with ``Z``, and every bar carries ``n`` and ``vw`` (alpaca-py requires the
keys). The wire conventions (exchange ``V`` = IEX, tape ``C``, conditions) match the WebSocket
streams, so a trade looks the same whether it was streamed or fetched.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from multidict import MultiMapping

from pulsetrader.domain.market import Bar, Quote, Timeframe, TimeframeUnit, Trade
from pulsetrader.domain.money import isoformat_z
from pulsetrader.sim.errors import INVALID, SimError
from pulsetrader.sim.server.common import (
    NEW_YORK,
    bad_data_query,
    parse_timestamp,
    query_choice,
    query_int,
    query_list,
    query_time,
)

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CRYPTO_SYMBOL_RE = re.compile(r"^[A-Z]+/[A-Z]+$")
_STOCK_SYMBOL_RE = re.compile(r"^[A-Z][A-Z0-9.\-]{0,14}$")
_TIMEFRAME_RE = re.compile(r"^(\d+)(Min|T|Hour|H|Day|D|Week|W|Month|M)$")
_UNITS = {
    "Min": TimeframeUnit.MINUTE,
    "T": TimeframeUnit.MINUTE,
    "Hour": TimeframeUnit.HOUR,
    "H": TimeframeUnit.HOUR,
    "Day": TimeframeUnit.DAY,
    "D": TimeframeUnit.DAY,
    "Week": TimeframeUnit.WEEK,
    "W": TimeframeUnit.WEEK,
    "Month": TimeframeUnit.MONTH,
    "M": TimeframeUnit.MONTH,
}
STOCK_FEEDS = ("iex", "sip", "otc", "delayed_sip", "boats", "overnight")
_ADJUSTMENTS = frozenset({"raw", "split", "dividend", "spin-off", "all"})


def parse_timeframe(raw: str | None) -> Timeframe:
    """``5Min``, ``1Hour``, ``1Day``, ``1Week``, ``3Month`` and the short forms ``5T``, ``1H``..."""
    if not raw:
        raise bad_data_query("timeframe is required")
    match = _TIMEFRAME_RE.match(raw.strip())
    if match is None:
        raise bad_data_query(
            f"invalid timeframe: {raw!r} (expected e.g. 1Min, 15Min, 1Hour, 1Day, 1Week, 1Month)"
        )
    try:
        return Timeframe(int(match.group(1)), _UNITS[match.group(2)])
    except (ValueError, TypeError) as exc:
        raise bad_data_query(f"invalid timeframe: {exc}") from None


def parse_symbols(query: MultiMapping[str], crypto: bool) -> list[str]:
    """The ``symbols`` list, validated: crypto must be ``BASE/QUOTE`` (Alpaca's exact error)."""
    symbols = query_list(query, "symbols")
    if not symbols:
        raise bad_data_query("missing symbols")
    return [check_symbol(symbol, crypto) for symbol in dict.fromkeys(symbols)]


def check_symbol(symbol: str, crypto: bool) -> str:
    """One symbol, upper-cased and validated for the asset class of the endpoint."""
    if crypto:
        if not CRYPTO_SYMBOL_RE.match(symbol):
            raise SimError(
                400, INVALID, f"invalid symbol: {symbol} does not match {CRYPTO_SYMBOL_RE.pattern}"
            )
        return symbol
    upper = symbol.upper()
    if not _STOCK_SYMBOL_RE.match(upper):
        raise SimError(400, INVALID, f"invalid symbol: {symbol}")
    return upper


@dataclass(frozen=True, slots=True)
class PageToken:
    """Where a page stopped: the symbol, the last timestamp served and how many items at exactly
    that timestamp were served (so equal timestamps are neither lost nor repeated). A token
    without a timestamp starts at the beginning of ``symbol``."""

    symbol: str
    timestamp: datetime | None
    served_at_timestamp: int = 0

    def encode(self) -> str:
        """Opaque URL-safe base64, like Alpaca's tokens."""
        stamp = "" if self.timestamp is None else isoformat_z(self.timestamp)
        raw = json.dumps([self.symbol, stamp, self.served_at_timestamp], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> PageToken:
        """Parse a token from :meth:`encode`; 400 ``invalid page_token`` otherwise."""
        try:
            padded = token + "=" * (-len(token) % 4)
            symbol, stamp, served = json.loads(base64.urlsafe_b64decode(padded.encode()))
            timestamp = parse_timestamp(str(stamp)) if stamp else None
            return cls(str(symbol), timestamp, int(served))
        except (ValueError, TypeError, binascii.Error):
            raise bad_data_query("invalid page_token") from None


@dataclass(frozen=True, slots=True)
class SeriesQuery:
    """A historical bars/trades/quotes request after validation and clamping to the sim's now."""

    symbols: list[str]
    start: datetime
    end: datetime  # exclusive, never after the simulated now
    limit: int
    descending: bool
    page: PageToken | None


def day_start(now: datetime) -> datetime:
    """Midnight New York of ``now``'s date: Alpaca's default ``start``."""
    local = now.astimezone(NEW_YORK).replace(hour=0, minute=0, second=0, microsecond=0)
    return local.astimezone(now.tzinfo)


def parse_series_query(
    query: MultiMapping[str], now: datetime, crypto: bool, symbols: list[str] | None = None
) -> SeriesQuery:
    """Common parameters of the historical endpoints: symbols, start/end, limit, sort, page."""
    if symbols is None:
        symbols = parse_symbols(query, crypto)
    start = query_time(query, "start", data_api=True) or day_start(now)
    raw_end = query_time(query, "end", end_of_day=True, data_api=True)
    if raw_end is not None and raw_end < start:
        raise bad_data_query("end should not be before start")
    if raw_end is not None and not _DATE_RE.match(query.get("end", "").strip()):
        # Alpaca's end time is inclusive; a microsecond past it makes [start, end) include it.
        raw_end += timedelta(microseconds=1)
    # Nothing after the simulated now exists yet.
    end = now if raw_end is None else min(raw_end, now)
    limit = query_int(query, "limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT, data_api=True)
    sort = query_choice(query, "sort", ("asc", "desc"), "asc", data_api=True)
    if not crypto:
        query_choice(query, "feed", STOCK_FEEDS, "iex", data_api=True)
        adjustment = query.get("adjustment")
        if adjustment and not set(adjustment.lower().split(",")) <= _ADJUSTMENTS:
            raise bad_data_query(f"invalid adjustment: {adjustment!r}")
    token = query.get("page_token")
    return SeriesQuery(
        symbols=sorted(symbols),
        start=start,
        end=end,
        limit=limit or DEFAULT_LIMIT,
        descending=sort == "desc",
        page=PageToken.decode(token) if token else None,
    )


def check_latest_query(query: MultiMapping[str], crypto: bool) -> None:
    """Validate the optional parameters of the latest/snapshot endpoints."""
    if not crypto:
        query_choice(query, "feed", STOCK_FEEDS, "iex", data_api=True)


# -- JSON shapes -----------------------------------------------------------------------------
def _number(value: Decimal) -> int | float:
    as_float = float(value)
    as_int = int(as_float)
    return as_int if as_int == as_float else as_float


def _trade_id(trade: Trade) -> int:
    if trade.trade_id is not None:
        return trade.trade_id
    # Stable per timestamp, so the same trade has the same id on every request.
    return int(trade.timestamp.timestamp() * 1000) % 2**53


def trade_json(trade: Trade, crypto: bool) -> dict[str, Any]:
    """``{t,x,p,s,c,i,z}`` for stocks, ``{t,p,s,i,tks}`` for crypto."""
    if crypto:
        return {
            "t": isoformat_z(trade.timestamp),
            "p": float(trade.price),
            "s": float(trade.size),
            "i": _trade_id(trade),
            "tks": "B",
        }
    return {
        "t": isoformat_z(trade.timestamp),
        "x": trade.exchange or "V",
        "p": float(trade.price),
        "s": _number(trade.size),
        "c": ["@"],
        "i": _trade_id(trade),
        "z": "C",
    }


def quote_json(quote: Quote, crypto: bool) -> dict[str, Any]:
    """``{t,ax,ap,as,bx,bp,bs,c,z}`` for stocks, ``{t,bp,bs,ap,as}`` for crypto."""
    if crypto:
        return {
            "t": isoformat_z(quote.timestamp),
            "bp": float(quote.bid_price),
            "bs": float(quote.bid_size),
            "ap": float(quote.ask_price),
            "as": float(quote.ask_size),
        }
    return {
        "t": isoformat_z(quote.timestamp),
        "ax": "V",
        "ap": float(quote.ask_price),
        "as": _number(quote.ask_size),
        "bx": "V",
        "bp": float(quote.bid_price),
        "bs": _number(quote.bid_size),
        "c": ["R"],
        "z": "C",
    }


def bar_json(bar: Bar, crypto: bool) -> dict[str, Any]:
    """``{t,o,h,l,c,v,n,vw}``; the same numbers the ``b`` stream message carries."""
    vwap = bar.vwap if bar.vwap is not None else (bar.high + bar.low + bar.close) / 3
    return {
        "t": isoformat_z(bar.timestamp),
        "o": float(bar.open),
        "h": float(bar.high),
        "l": float(bar.low),
        "c": float(bar.close),
        "v": float(bar.volume) if crypto else _number(bar.volume),
        "n": bar.trade_count or 0,
        "vw": float(vwap),
    }


def snapshot_json(
    trade: Trade | None,
    quote: Quote | None,
    minute_bar: Bar | None,
    daily_bar: Bar | None,
    prev_daily_bar: Bar | None,
    crypto: bool,
) -> dict[str, Any]:
    """A snapshot with Alpaca's camelCase keys (``latestTrade``, ``prevDailyBar``...)."""
    parts: Mapping[str, Any] = {
        "latestTrade": None if trade is None else trade_json(trade, crypto),
        "latestQuote": None if quote is None else quote_json(quote, crypto),
        "minuteBar": None if minute_bar is None else bar_json(minute_bar, crypto),
        "dailyBar": None if daily_bar is None else bar_json(daily_bar, crypto),
        "prevDailyBar": None if prev_daily_bar is None else bar_json(prev_daily_bar, crypto),
    }
    return {key: value for key, value in parts.items() if value is not None}
