"""Market-data routes: stocks under ``/v2/stocks/...``, crypto under ``/v1beta3/crypto/{loc}/...``.

History (bars, trades, quotes) comes straight from the price model, so it is the same data the
streams sent and the exchange filled against, and it stops at the simulated now. Pagination
follows Alpaca: symbols in alphabetical order, ``limit`` counted across all symbols of the
request, and an opaque ``next_page_token`` that resumes exactly where the page stopped. Data is
produced lazily in growing windows, so a 10,000-item page of a year-long range costs about as
much as the page itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from typing import Any, Protocol, TypeVar

from aiohttp import web

from pulsetrader.domain.market import Bar, Quote, Timeframe, TimeframeUnit, Trade
from pulsetrader.domain.symbols import is_crypto
from pulsetrader.sim.price_agg import bucket_minutes, ny_date, ny_midnight, period_start
from pulsetrader.sim.server.common import get_sim, json_response
from pulsetrader.sim.server.data_format import (
    PageToken,
    SeriesQuery,
    bar_json,
    check_latest_query,
    check_symbol,
    parse_series_query,
    parse_symbols,
    parse_timeframe,
    quote_json,
    snapshot_json,
    trade_json,
)
from pulsetrader.sim.server.orderbook import orderbook_json

T = TypeVar("T")
_MINUTE = timedelta(minutes=1)
_MICROSECOND = timedelta(microseconds=1)
_ONE_DAY = Timeframe(1, TimeframeUnit.DAY)
_LATEST_BAR_LOOKBACK = (timedelta(hours=1), timedelta(days=1), timedelta(days=5))
CRYPTO_LOCATIONS = ("us", "us-1", "eu-1")


class _Stamped(Protocol):
    @property
    def timestamp(self) -> datetime: ...


S = TypeVar("S", bound=_Stamped)


# -- lazy, windowed collection -----------------------------------------------------------------
def _collect(
    fetch: Callable[[datetime, datetime], Sequence[S]],
    start: datetime,
    end: datetime,
    need: int,
    descending: bool,
    first_window: timedelta,
    align: Callable[[datetime], datetime] | None = None,
) -> list[S]:
    """At least ``need`` items of ``[start, end)`` (all of them if fewer), in request order.

    Windows double in length, so a short page of a long range reads little data; ``align``
    snaps window edges to bar boundaries so that no bar is split between two windows.
    """
    out: list[S] = []
    window = first_window
    if not descending:
        cursor = start
        while cursor < end and len(out) < need:
            edge = cursor + window
            edge = min(end, align(edge) if align else edge)
            if edge <= cursor:
                edge = end
            out.extend(fetch(cursor, edge))
            cursor, window = edge, window * 2
    else:
        cursor = end
        while cursor > start and len(out) < need:
            edge = cursor - window
            edge = max(start, align(edge) if align else edge)
            if edge >= cursor:
                edge = start
            out.extend(reversed(fetch(edge, cursor)))
            cursor, window = edge, window * 2
    return out


def _epoch_aligner(minutes: int) -> Callable[[datetime], datetime]:
    step = minutes * 60

    def align(ts: datetime) -> datetime:
        seconds = int(ts.timestamp())
        return datetime.fromtimestamp(seconds - seconds % step, UTC)

    return align


def _paginate(
    q: SeriesQuery,
    collect: Callable[[str, datetime, datetime, int], list[S]],
) -> tuple[dict[str, list[S]], str | None]:
    """One page of a multi-symbol request and the token of the next page (None at the end)."""
    result: dict[str, list[S]] = {}
    remaining = q.limit
    page = q.page
    symbols = [s for s in q.symbols if page is None or s >= page.symbol]
    for index, symbol in enumerate(symbols):
        start, end, skip = q.start, q.end, 0
        resumed = page is not None and symbol == page.symbol and page.timestamp is not None
        if resumed and page is not None and page.timestamp is not None:
            if q.descending:
                end = min(end, page.timestamp + timedelta(microseconds=1))
            else:
                start = max(start, page.timestamp)
            skip = page.served_at_timestamp
        items = collect(symbol, start, end, remaining + skip + 1)
        if skip and page is not None:
            dropped = 0
            while dropped < skip and items and items[0].timestamp == page.timestamp:
                items.pop(0)
                dropped += 1
        if len(items) > remaining:  # remaining >= 1 here, so the page gets something
            served = items[:remaining]
            result[symbol] = served
            last = served[-1].timestamp
            count = sum(1 for item in served if item.timestamp == last)
            if resumed and page is not None and last == page.timestamp:
                count += skip
            return result, PageToken(symbol, last, count).encode()
        if items:
            result[symbol] = items
        remaining -= len(items)
        if remaining == 0:
            for later in symbols[index + 1 :]:
                if collect(later, q.start, q.end, 1):
                    return result, PageToken(later, None, 0).encode()
            return result, None
    return result, None


# -- per-kind data access ----------------------------------------------------------------------
def _tick_collector(
    request: web.Request, q: SeriesQuery, pick: Callable[[tuple[Trade, Quote]], S]
) -> Callable[[str, datetime, datetime, int], list[S]]:
    prices = get_sim(request).prices

    def window(symbol: str) -> Callable[[datetime, datetime], list[S]]:
        return lambda a, b: [pick(tick) for tick in prices.ticks(symbol, a, b)]

    def collect(symbol: str, start: datetime, end: datetime, need: int) -> list[S]:
        if not q.descending:
            # Ticks come from a generator: read exactly as many as needed.
            return [pick(t) for t in islice(prices.ticks(symbol, start, end), need)]
        return _collect(window(symbol), start, end, need, True, timedelta(hours=1))

    return collect


def _period_end(timeframe: Timeframe, stamp: datetime) -> datetime:
    """Where the bar of ``timeframe`` stamped ``stamp`` ends (the next bar's stamp)."""
    minutes = bucket_minutes(timeframe)
    if minutes is not None:
        return stamp + timedelta(minutes=minutes)
    day = ny_date(stamp)
    if timeframe.unit is TimeframeUnit.DAY:
        return ny_midnight(day + timedelta(days=1))
    if timeframe.unit is TimeframeUnit.WEEK:
        return ny_midnight(day + timedelta(days=7))
    months = day.month - 1 + timeframe.amount
    return ny_midnight(date(day.year + months // 12, months % 12 + 1, 1))


def _bar_collector(
    request: web.Request, q: SeriesQuery, timeframe: Timeframe
) -> Callable[[str, datetime, datetime, int], list[Bar]]:
    sim = get_sim(request)
    prices, now = sim.prices, sim.now()
    unit_minutes = {TimeframeUnit.MINUTE: 1, TimeframeUnit.HOUR: 60}.get(timeframe.unit)

    def collect(symbol: str, start: datetime, end: datetime, need: int) -> list[Bar]:

        def fetch(a: datetime, b: datetime) -> list[Bar]:
            # Bars *stamped* in [a, b), as Alpaca filters them, each complete: a bar stamped
            # just before ``end`` holds its whole period, up to the simulated now (a bar still
            # running now holds the minutes so far; nothing after now exists yet).
            last = period_start(timeframe, b - _MICROSECOND)
            horizon = max(b, min(_period_end(timeframe, last), now))
            return [bar for bar in prices.bars(symbol, timeframe, a, horizon) if bar.timestamp < b]

        if unit_minutes is None:  # day, week, month: few bars, read the range at once
            bars = fetch(start, end)
            return bars[::-1] if q.descending else bars
        minutes = unit_minutes * timeframe.amount
        first = timedelta(minutes=minutes) * max(need, 60)
        return _collect(fetch, start, end, need, q.descending, first, _epoch_aligner(minutes))

    return collect


def _series_response(
    key: str,
    data: dict[str, list[S]],
    token: str | None,
    render: Callable[[S], dict[str, Any]],
    single: str | None,
) -> web.Response:
    if single is not None:
        return json_response(
            {
                key: [render(x) for x in data.get(single, [])],
                "symbol": single,
                "next_page_token": token,
            }
        )
    return json_response(
        {
            key: {sym: [render(x) for x in items] for sym, items in data.items()},
            "next_page_token": token,
        }
    )


def _guard(
    collect: Callable[[str, datetime, datetime, int], list[T]],
) -> Callable[[str, datetime, datetime, int], list[T]]:
    """A symbol the model refuses (not a valid ticker) simply has no data, as on Alpaca."""

    def guarded(symbol: str, start: datetime, end: datetime, need: int) -> list[T]:
        try:
            return collect(symbol, start, end, need)
        except (ValueError, LookupError):
            return []

    return guarded


def _history(kind: str, crypto: bool) -> Callable[[web.Request], Any]:
    """Handler factory for bars/trades/quotes, multi-symbol or ``/v2/stocks/{symbol}/...``."""

    async def handler(request: web.Request) -> web.Response:
        sim = get_sim(request)
        single = request.match_info.get("symbol")
        symbols = [check_symbol(single, crypto)] if single else None
        if single:
            single = symbols[0] if symbols else single
        q = parse_series_query(request.query, sim.now(), crypto, symbols)
        if not crypto:
            q = replace(q, symbols=[s for s in q.symbols if not is_crypto(s)] or q.symbols)
        if kind == "bars":
            timeframe = parse_timeframe(request.query.get("timeframe"))
            bars, token = _paginate(q, _guard(_bar_collector(request, q, timeframe)))
            return _series_response(kind, bars, token, lambda b: bar_json(b, crypto), single)
        if kind == "trades":
            trades, token = _paginate(q, _guard(_tick_collector(request, q, lambda t: t[0])))
            return _series_response(kind, trades, token, lambda t: trade_json(t, crypto), single)
        quotes, token = _paginate(q, _guard(_tick_collector(request, q, lambda t: t[1])))
        return _series_response(kind, quotes, token, lambda x: quote_json(x, crypto), single)

    return handler


# -- latest values and snapshots -----------------------------------------------------------------
def latest_tick(request: web.Request, symbol: str) -> tuple[Trade, Quote] | None:
    """The last trade and quote of ``symbol`` at or before the simulated now."""
    sim = get_sim(request)
    try:
        return sim.prices.latest_tick(symbol, sim.now())
    except (LookupError, ValueError):
        return None


def latest_minute_bar(request: web.Request, symbol: str) -> Bar | None:
    """The last completed minute bar (looking back over weekends and holidays)."""
    sim = get_sim(request)
    now = sim.now()
    try:
        for lookback in _LATEST_BAR_LOOKBACK:
            bars = sim.prices.minute_bars(symbol, now - lookback, now)
            if bars:
                return bars[-1]
    except (LookupError, ValueError):
        return None
    return None


def daily_bars(request: web.Request, symbol: str) -> tuple[Bar | None, Bar | None]:
    """(today's daily bar so far, the previous one)."""
    sim = get_sim(request)
    now = sim.now()
    try:
        bars = sim.prices.bars(symbol, _ONE_DAY, now - timedelta(days=10), now)
    except (LookupError, ValueError):
        return None, None
    if not bars:
        return None, None
    return bars[-1], (bars[-2] if len(bars) > 1 else None)


def _symbols_for(request: web.Request, crypto: bool) -> list[str]:
    check_latest_query(request.query, crypto)
    single = request.match_info.get("symbol")
    if single:
        return [check_symbol(single, crypto)]
    return parse_symbols(request.query, crypto)


def _latest(kind: str, crypto: bool) -> Callable[[web.Request], Any]:
    """Handler factory for latest trades/quotes/bars (multi and single-symbol forms)."""
    singular = {"trades": "trade", "quotes": "quote", "bars": "bar"}[kind]

    async def handler(request: web.Request) -> web.Response:
        out: dict[str, Any] = {}
        for symbol in _symbols_for(request, crypto):
            if not crypto and is_crypto(symbol):
                continue
            if kind == "bars":
                bar = latest_minute_bar(request, symbol)
                if bar is not None:
                    out[symbol] = bar_json(bar, crypto)
                continue
            tick = latest_tick(request, symbol)
            if tick is not None:
                out[symbol] = (
                    trade_json(tick[0], crypto) if kind == "trades" else quote_json(tick[1], crypto)
                )
        single = request.match_info.get("symbol")
        if single:
            symbol = check_symbol(single, crypto)
            return json_response({"symbol": symbol, singular: out.get(symbol)})
        return json_response({kind: out})

    return handler


def _snapshot(request: web.Request, symbol: str, crypto: bool) -> dict[str, Any] | None:
    tick = latest_tick(request, symbol)
    if tick is None:
        return None
    daily, previous = daily_bars(request, symbol)
    return snapshot_json(
        tick[0], tick[1], latest_minute_bar(request, symbol), daily, previous, crypto
    )


def _snapshots(crypto: bool) -> Callable[[web.Request], Any]:
    async def handler(request: web.Request) -> web.Response:
        out: dict[str, Any] = {}
        for symbol in _symbols_for(request, crypto):
            if not crypto and is_crypto(symbol):
                continue
            snap = _snapshot(request, symbol, crypto)
            if snap is not None:
                out[symbol] = snap
        single = request.match_info.get("symbol")
        if single:
            symbol = check_symbol(single, crypto)
            return json_response({"symbol": symbol, **out.get(symbol, {})})
        # Stocks put the symbol map at the top level; crypto wraps it (alpaca-py relies on both).
        return json_response({"snapshots": out} if crypto else out)

    return handler


async def crypto_orderbooks(request: web.Request) -> web.Response:
    """``GET /v1beta3/crypto/us/latest/orderbooks``: a book built around the latest quote."""
    out: dict[str, Any] = {}
    for symbol in _symbols_for(request, True):
        tick = latest_tick(request, symbol)
        if tick is not None:
            out[symbol] = orderbook_json(tick[1])
    return json_response({"orderbooks": out})


def add_routes(app: web.Application) -> None:
    """Mount the market-data API (fixed paths before the ``{symbol}`` ones)."""
    r = app.router
    stocks = "/v2/stocks"
    for kind in ("bars", "trades", "quotes"):
        r.add_get(f"{stocks}/{kind}/latest", _latest(kind, False))
        r.add_get(f"{stocks}/{kind}", _history(kind, False))
    r.add_get(f"{stocks}/snapshots", _snapshots(False))
    for kind in ("bars", "trades", "quotes"):
        r.add_get(f"{stocks}/{{symbol}}/{kind}/latest", _latest(kind, False))
        r.add_get(f"{stocks}/{{symbol}}/{kind}", _history(kind, False))
    r.add_get(f"{stocks}/{{symbol}}/snapshot", _snapshots(False))
    crypto = "/v1beta3/crypto/{loc:us|us-1|eu-1}"
    for kind in ("bars", "trades", "quotes"):
        r.add_get(f"{crypto}/latest/{kind}", _latest(kind, True))
        r.add_get(f"{crypto}/{kind}", _history(kind, True))
    r.add_get(f"{crypto}/latest/orderbooks", crypto_orderbooks)
    r.add_get(f"{crypto}/snapshots", _snapshots(True))
