"""Contract suite for the simulator's market-data REST API, through alpaca-py's historical clients.

Every response is parsed by the SDK's models (``raw_data=False``) and then checked for values a
real feed would have: OHLC bars with ``low <= open, close <= high``, bid below ask, UTC
timestamps in the order asked for, aggregates that agree across timeframes, tick history that
agrees with its bars, and latest values and snapshots that agree with history.

The simulator is frozen at 11:00:30 New York on Wednesday 2024-01-03 (90 minutes into the
session, half a minute into a bar).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from alpaca.common.enums import Sort
from alpaca.data.enums import DataFeed
from alpaca.data.historical import CryptoHistoricalDataClient, StockHistoricalDataClient
from alpaca.data.models import Bar, Quote, Trade
from alpaca.data.requests import (
    CryptoBarsRequest,
    CryptoLatestBarRequest,
    CryptoLatestOrderbookRequest,
    CryptoLatestQuoteRequest,
    CryptoLatestTradeRequest,
    CryptoQuoteRequest,
    CryptoSnapshotRequest,
    CryptoTradesRequest,
    StockBarsRequest,
    StockLatestBarRequest,
    StockLatestQuoteRequest,
    StockLatestTradeRequest,
    StockQuotesRequest,
    StockSnapshotRequest,
    StockTradesRequest,
)
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

from tests.integration.sim.conftest import FROZEN, assert_api_error, no_retries
from tests.simulator import SimThread

NOW = datetime(2024, 1, 3, 16, 0, 30, tzinfo=UTC)
TODAY_OPEN = datetime(2024, 1, 3, 14, 30, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")
pytestmark = pytest.mark.sim_config(start=NOW, **FROZEN)

MINUTE = TimeFrame.Minute
TIMEFRAMES = [
    MINUTE,
    TimeFrame(5, TimeFrameUnit.Minute),
    TimeFrame(15, TimeFrameUnit.Minute),
    TimeFrame.Hour,
    TimeFrame.Day,
    TimeFrame.Week,
    TimeFrame.Month,
]


def check_bars(bars: Sequence[Bar], symbol: str, descending: bool = False) -> None:
    """Well-formed bars of ``symbol``: OHLC consistent, positive, UTC, in order, unique."""
    assert bars
    for bar in bars:
        assert bar.symbol == symbol
        assert bar.timestamp.utcoffset() == timedelta(0)
        assert 0 < bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
        assert bar.vwap is not None
        assert bar.low <= bar.vwap <= bar.high
        assert bar.volume > 0
        assert bar.trade_count is not None
        assert bar.trade_count > 0
    stamps = [bar.timestamp for bar in bars]
    assert stamps == sorted(stamps, reverse=descending)
    assert len(set(stamps)) == len(stamps)


def check_ticks(
    ticks: Sequence[Trade | Quote], symbol: str, start: datetime, end: datetime
) -> None:
    assert ticks
    for tick in ticks:
        assert tick.symbol == symbol
        assert tick.timestamp.utcoffset() == timedelta(0)
        assert start <= tick.timestamp <= end
    stamps = [tick.timestamp for tick in ticks]
    assert stamps == sorted(stamps)


def check_quote(quote: Quote) -> None:
    assert 0 < quote.bid_price < quote.ask_price
    assert quote.bid_size > 0
    assert quote.ask_size > 0


def aggregate(bars: Sequence[Bar]) -> tuple[float, float, float, float, float, float]:
    """(open, high, low, close, volume, trade count) of consecutive bars, oldest first."""
    return (
        bars[0].open,
        max(b.high for b in bars),
        min(b.low for b in bars),
        bars[-1].close,
        sum(b.volume for b in bars),
        sum(b.trade_count or 0 for b in bars),
    )


def ohlcvn(bar: Bar) -> tuple[float, float, float, float, float, float]:
    return (bar.open, bar.high, bar.low, bar.close, bar.volume, bar.trade_count or 0)


def within(bars: Sequence[Bar], start: datetime, length: timedelta) -> list[Bar]:
    return [b for b in bars if start <= b.timestamp < start + length]


def ny(ts: datetime) -> datetime:
    return ts.astimezone(NEW_YORK)


# -- stocks ---------------------------------------------------------------------------------------
def test_stock_bars_in_every_timeframe_agree(stocks: StockHistoricalDataClient) -> None:
    start, end = datetime(2023, 11, 1, tzinfo=UTC), datetime(2024, 1, 3, tzinfo=UTC)
    recent = datetime(2023, 12, 29, tzinfo=UTC)
    sets = {}
    for tf in TIMEFRAMES:
        long = tf.unit_value in (TimeFrameUnit.Week, TimeFrameUnit.Month)
        request = StockBarsRequest(
            symbol_or_symbols=["AAPL", "MSFT"],
            timeframe=tf,
            start=start if long else recent,
            end=end,
            feed=DataFeed.IEX,
        )
        sets[tf.value] = barset = stocks.get_stock_bars(request)
        assert set(barset.data) == {"AAPL", "MSFT"}, tf
        for symbol, bars in barset.data.items():
            check_bars(bars, symbol)
    minutes = sets["1Min"]["AAPL"]
    assert len(minutes) == 2 * 390  # Friday 29 December and Tuesday 2 January (1 Jan: holiday)
    assert {ny(b.timestamp).strftime("%H:%M") for b in minutes} >= {"09:30", "15:59"}
    for name, size in (("5Min", 5), ("15Min", 15), ("1Hour", 60)):
        for bar in sets[name]["AAPL"]:
            assert bar.timestamp.timestamp() % (size * 60) == 0
            inside = within(minutes, bar.timestamp, timedelta(minutes=size))
            assert ohlcvn(bar) == pytest.approx(aggregate(inside)), (name, bar)
    days = sets["1Day"]["AAPL"]
    assert [ny(d.timestamp).isoformat() for d in days] == [
        "2023-12-29T00:00:00-05:00",  # stamped at New York midnight
        "2024-01-02T00:00:00-05:00",
    ]
    for day in days:
        session = [m for m in minutes if ny(m.timestamp).date() == ny(day.timestamp).date()]
        assert ohlcvn(day) == pytest.approx(aggregate(session))
    # Weeks start on Monday, months on the 1st, both at New York midnight. A bar stamped before
    # ``end`` holds its whole period so far (this week's and month's run up to now).
    daily_request = StockBarsRequest(symbol_or_symbols="AAPL", timeframe=TimeFrame.Day, start=start)
    daily = stocks.get_stock_bars(daily_request)["AAPL"]
    for bar in sets["1Week"]["AAPL"]:
        assert (ny(bar.timestamp).weekday(), ny(bar.timestamp).hour) == (0, 0)
        week = within(daily, bar.timestamp, timedelta(days=7))
        assert ohlcvn(bar) == pytest.approx(aggregate(week))
    months = sets["1Month"]["AAPL"]
    assert [ny(m.timestamp).strftime("%Y-%m-%d %H") for m in months] == [
        *("2023-11-01 00", "2023-12-01 00", "2024-01-01 00")
    ]
    for month in months:
        days = [d for d in daily if ny(d.timestamp).month == ny(month.timestamp).month]
        assert ohlcvn(month) == pytest.approx(aggregate(days))


def test_stock_bars_limit_sort_and_range(stocks: StockHistoricalDataClient) -> None:
    def bars(**kw: object) -> dict[str, list[Bar]]:
        return stocks.get_stock_bars(StockBarsRequest(timeframe=MINUTE, **kw)).data

    # start and end are both inclusive.
    window = bars(
        symbol_or_symbols="AAPL",
        start=datetime(2024, 1, 2, 15, 0, tzinfo=UTC),
        end=datetime(2024, 1, 2, 15, 10, tzinfo=UTC),
    )["AAPL"]
    assert [b.timestamp.minute for b in window] == list(range(11))
    backwards = bars(
        symbol_or_symbols="AAPL",
        start=datetime(2024, 1, 2, 15, 0, tzinfo=UTC),
        end=datetime(2024, 1, 2, 15, 10, tzinfo=UTC),
        sort=Sort.DESC,
    )["AAPL"]
    check_bars(backwards, "AAPL", descending=True)
    assert backwards == window[::-1]
    # The range filters bar *timestamps*: a bar stamped before the end holds its whole period.
    (hour,) = stocks.get_stock_bars(
        StockBarsRequest(
            symbol_or_symbols="AAPL",
            timeframe=TimeFrame.Hour,
            start=datetime(2024, 1, 2, 15, 0, tzinfo=UTC),
            end=datetime(2024, 1, 2, 15, 30, tzinfo=UTC),
        )
    )["AAPL"]
    whole = bars(
        symbol_or_symbols="AAPL",
        start=datetime(2024, 1, 2, 15, 0, tzinfo=UTC),
        end=datetime(2024, 1, 2, 15, 59, tzinfo=UTC),
    )["AAPL"]
    assert len(whole) == 60
    assert ohlcvn(hour) == pytest.approx(aggregate(whole))
    # The limit counts across symbols, which come in alphabetical order.
    assert {
        s: len(v)
        for s, v in bars(symbol_or_symbols=["MSFT", "AAPL"], start=TODAY_OPEN, limit=5).items()
    } == {"AAPL": 5}
    # Without an end the history runs up to now: only completed minute bars.
    today = bars(symbol_or_symbols=["AAPL", "MSFT"], start=TODAY_OPEN)
    for symbol, series in today.items():
        check_bars(series, symbol)
        assert series[0].timestamp == TODAY_OPEN
        assert series[-1].timestamp == datetime(2024, 1, 3, 15, 59, tzinfo=UTC)
    latest = stocks.get_stock_bars(
        StockBarsRequest(
            symbol_or_symbols="AAPL", timeframe=MINUTE, start=TODAY_OPEN, sort=Sort.DESC, limit=1
        )
    )["AAPL"]
    assert latest == [today["AAPL"][-1]]
    # A weekend holds nothing (an empty set, not an error).
    weekend = stocks.get_stock_bars(
        StockBarsRequest(
            symbol_or_symbols="AAPL",
            timeframe=MINUTE,
            start=datetime(2023, 12, 30, tzinfo=UTC),
            end=datetime(2023, 12, 31, tzinfo=UTC),
        )
    )
    assert weekend.data == {}


def test_pagination_follows_next_page_token(
    stocks: StockHistoricalDataClient, crypto: CryptoHistoricalDataClient, sim_thread: SimThread
) -> None:
    assert sim_thread.sim is not None
    routes = sim_thread.sim.stats.by_route
    # Pages hold up to 10,000 items: 12,000 minutes of 24/7 crypto take two requests.
    start = datetime(2023, 12, 20, tzinfo=UTC)
    before = routes["GET /v1beta3/crypto/{loc}/bars"]
    bars = crypto.get_crypto_bars(
        CryptoBarsRequest(symbol_or_symbols="BTC/USD", timeframe=MINUTE, start=start, limit=12_000)
    )["BTC/USD"]
    assert routes["GET /v1beta3/crypto/{loc}/bars"] == before + 2
    check_bars(bars, "BTC/USD")
    assert len(bars) == 12_000
    assert [b.timestamp for b in bars] == [start + timedelta(minutes=i) for i in range(12_000)]

    # Trades of two symbols: the first symbol's are all served before the second's begin.
    before = routes["GET /v2/stocks/trades"]
    begin, finish = datetime(2023, 12, 27, tzinfo=UTC), datetime(2023, 12, 30, tzinfo=UTC)
    trades = stocks.get_stock_trades(
        StockTradesRequest(
            symbol_or_symbols=["MSFT", "AAPL"], start=begin, end=finish, limit=12_000
        )
    )
    assert routes["GET /v2/stocks/trades"] == before + 2
    assert len(trades["AAPL"]) == 3 * 390 * 6  # three sessions of six trades a minute
    assert len(trades["MSFT"]) == 12_000 - len(trades["AAPL"])
    for symbol, series in trades.data.items():
        check_ticks(series, symbol, begin, finish)
        assert len({(t.timestamp, t.id) for t in series}) == len(series)

    # No limit: the SDK asks for 10,000 a page and keeps going until the token runs out.
    before = routes["GET /v2/stocks/bars"]
    december = stocks.get_stock_bars(
        StockBarsRequest(
            symbol_or_symbols=["AAPL", "MSFT"],
            timeframe=MINUTE,
            start=datetime(2023, 12, 1, tzinfo=UTC),
            end=datetime(2024, 1, 1, tzinfo=UTC),
        )
    )
    assert routes["GET /v2/stocks/bars"] == before + 2
    # 20 sessions (Christmas is a holiday): 2 x 7,800 bars, two pages.
    assert {s: len(v) for s, v in december.data.items()} == {"AAPL": 20 * 390, "MSFT": 20 * 390}


def test_stock_trades_and_quotes_agree_with_bars(stocks: StockHistoricalDataClient) -> None:
    start, end = (
        datetime(2024, 1, 2, 15, 0, tzinfo=UTC),
        datetime(2024, 1, 2, 15, 5, tzinfo=UTC),
    )
    trades = stocks.get_stock_trades(
        StockTradesRequest(symbol_or_symbols=["AAPL", "MSFT"], start=start, end=end)
    )
    quotes = stocks.get_stock_quotes(
        StockQuotesRequest(symbol_or_symbols="AAPL", start=start, end=end)
    )
    bars = stocks.get_stock_bars(
        StockBarsRequest(
            symbol_or_symbols=["AAPL", "MSFT"],
            timeframe=MINUTE,
            start=start,
            end=end - timedelta(minutes=1),  # the bars of the five minutes the ticks cover
        )
    )
    for symbol in ("AAPL", "MSFT"):
        check_ticks(trades[symbol], symbol, start, end)
        assert all(t.price > 0 and t.size > 0 and t.exchange for t in trades[symbol])
        assert len(bars[symbol]) == 5
        for bar in bars[symbol]:
            inside = [
                t
                for t in trades[symbol]
                if bar.timestamp <= t.timestamp < bar.timestamp + timedelta(minutes=1)
            ]
            prices = [t.price for t in inside]
            assert (bar.open, bar.high, bar.low, bar.close) == (
                prices[0],
                max(prices),
                min(prices),
                prices[-1],
            )
            assert bar.volume == sum(t.size for t in inside)
            assert bar.trade_count == len(inside)
    check_ticks(quotes["AAPL"], "AAPL", start, end)
    for quote in quotes["AAPL"]:
        check_quote(quote)
    newest = stocks.get_stock_quotes(
        StockQuotesRequest(symbol_or_symbols="AAPL", start=start, end=end, sort=Sort.DESC, limit=3)
    )["AAPL"]
    assert newest == quotes["AAPL"][::-1][:3]


def test_stock_latest_and_snapshot_agree_with_history(stocks: StockHistoricalDataClient) -> None:
    symbols = ["AAPL", "MSFT"]
    trades = stocks.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols=symbols))
    quotes = stocks.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols=symbols))
    bars = stocks.get_stock_latest_bar(
        StockLatestBarRequest(symbol_or_symbols=symbols, feed=DataFeed.IEX)
    )
    snapshots = stocks.get_stock_snapshot(StockSnapshotRequest(symbol_or_symbols=symbols))
    assert set(trades) == set(quotes) == set(bars) == set(snapshots) == set(symbols)
    for symbol in symbols:
        trade, quote, bar, snap = trades[symbol], quotes[symbol], bars[symbol], snapshots[symbol]
        assert trade.timestamp <= NOW
        assert NOW - trade.timestamp < timedelta(minutes=1)
        check_quote(quote)
        assert quote.bid_price <= trade.price <= quote.ask_price
        last_trade = stocks.get_stock_trades(
            StockTradesRequest(symbol_or_symbols=symbol, start=TODAY_OPEN, sort=Sort.DESC, limit=1)
        )[symbol][0]
        last_quote = stocks.get_stock_quotes(
            StockQuotesRequest(symbol_or_symbols=symbol, start=TODAY_OPEN, sort=Sort.DESC, limit=1)
        )[symbol][0]
        assert (trade, quote) == (last_trade, last_quote)
        assert bar.timestamp == datetime(2024, 1, 3, 15, 59, tzinfo=UTC)  # the last whole minute
        days = stocks.get_stock_bars(
            StockBarsRequest(
                symbol_or_symbols=symbol,
                timeframe=TimeFrame.Day,
                start=datetime(2024, 1, 1, tzinfo=UTC),
            )
        )[symbol]
        previous, today = days
        assert (snap.symbol, snap.latest_trade, snap.latest_quote) == (symbol, trade, quote)
        assert (snap.minute_bar, snap.daily_bar, snap.previous_daily_bar) == (bar, today, previous)
        assert today.close == bar.close  # today's bar runs up to the last whole minute


# -- crypto ---------------------------------------------------------------------------------------
def test_crypto_history(crypto: CryptoHistoricalDataClient) -> None:
    symbols = ["BTC/USD", "ETH/USD"]
    start = datetime(2024, 1, 2, tzinfo=UTC)
    for tf in (MINUTE, TimeFrame(15, TimeFrameUnit.Minute), TimeFrame.Hour, TimeFrame.Day):
        barset = crypto.get_crypto_bars(
            CryptoBarsRequest(symbol_or_symbols=symbols, timeframe=tf, start=start, limit=200)
        )
        assert (
            list(barset.data) == ["BTC/USD"] if tf is MINUTE else set(barset.data) == set(symbols)
        )
        for symbol, series in barset.data.items():
            check_bars(series, symbol)
    hours = crypto.get_crypto_bars(
        CryptoBarsRequest(
            symbol_or_symbols="ETH/USD", timeframe=TimeFrame.Hour, start=start, end=NOW
        )
    )["ETH/USD"]
    assert len(hours) == 24 + 16  # around the clock, up to the running 16:00 hour (none yet)
    descending = crypto.get_crypto_bars(
        CryptoBarsRequest(
            symbol_or_symbols="ETH/USD",
            timeframe=TimeFrame.Hour,
            start=start,
            end=NOW,
            sort=Sort.DESC,
        )
    )["ETH/USD"]
    assert descending == hours[::-1]

    end = start + timedelta(minutes=10)
    trades = crypto.get_crypto_trades(
        CryptoTradesRequest(symbol_or_symbols=symbols, start=start, end=end)
    )
    quotes = crypto.get_crypto_quotes(
        CryptoQuoteRequest(symbol_or_symbols=symbols, start=start, end=end)
    )
    minutes = crypto.get_crypto_bars(
        CryptoBarsRequest(symbol_or_symbols=symbols, timeframe=MINUTE, start=start, end=end)
    )
    for symbol in symbols:
        check_ticks(trades[symbol], symbol, start, end)
        check_ticks(quotes[symbol], symbol, start, end)
        for quote in quotes[symbol]:
            check_quote(quote)
        first = [t for t in trades[symbol] if t.timestamp < start + timedelta(minutes=1)]
        bar = minutes[symbol][0]
        assert bar.volume == pytest.approx(sum(t.size for t in first))
        assert (bar.open, bar.close) == (first[0].price, first[-1].price)


def test_crypto_latest_orderbook_and_snapshot(crypto: CryptoHistoricalDataClient) -> None:
    symbols = ["BTC/USD", "ETH/USD"]
    trades = crypto.get_crypto_latest_trade(CryptoLatestTradeRequest(symbol_or_symbols=symbols))
    quotes = crypto.get_crypto_latest_quote(CryptoLatestQuoteRequest(symbol_or_symbols=symbols))
    bars = crypto.get_crypto_latest_bar(CryptoLatestBarRequest(symbol_or_symbols=symbols))
    books = crypto.get_crypto_latest_orderbook(
        CryptoLatestOrderbookRequest(symbol_or_symbols=symbols)
    )
    snapshots = crypto.get_crypto_snapshot(CryptoSnapshotRequest(symbol_or_symbols=symbols))
    assert set(trades) == set(quotes) == set(bars) == set(books) == set(snapshots) == set(symbols)
    for symbol in symbols:
        trade, quote, bar, book, snap = (
            trades[symbol],
            quotes[symbol],
            bars[symbol],
            books[symbol],
            snapshots[symbol],
        )
        check_quote(quote)
        history = crypto.get_crypto_trades(
            CryptoTradesRequest(
                symbol_or_symbols=symbol, start=NOW - timedelta(minutes=5), sort=Sort.DESC, limit=1
            )
        )[symbol]
        assert history == [trade]
        assert bar.timestamp == datetime(2024, 1, 3, 15, 59, tzinfo=UTC)
        assert (
            bar
            == crypto.get_crypto_bars(
                CryptoBarsRequest(symbol_or_symbols=symbol, timeframe=MINUTE, start=bar.timestamp)
            )[symbol][-1]
        )
        assert (book.symbol, book.timestamp) == (symbol, quote.timestamp)
        bids, asks = [level.price for level in book.bids], [level.price for level in book.asks]
        assert (bids[0], asks[0]) == (quote.bid_price, quote.ask_price)
        assert bids == sorted(bids, reverse=True)
        assert asks == sorted(asks)
        assert all(level.size > 0 for level in (*book.bids, *book.asks))
        assert (snap.latest_trade, snap.latest_quote, snap.minute_bar) == (trade, quote, bar)
        assert snap.daily_bar is not None
        assert snap.previous_daily_bar is not None
        assert snap.daily_bar.timestamp == datetime(2024, 1, 3, 5, tzinfo=UTC)  # NY midnight
        assert snap.previous_daily_bar.timestamp == datetime(2024, 1, 2, 5, tzinfo=UTC)


# -- errors ---------------------------------------------------------------------------------------
def test_data_errors(
    stocks: StockHistoricalDataClient, crypto: CryptoHistoricalDataClient, sim_thread: SimThread
) -> None:
    assert sim_thread.sim is not None
    base = sim_thread.sim.base_url
    stranger = no_retries(StockHistoricalDataClient("PKWRONG", "wrong", url_override=base))
    request = StockLatestTradeRequest(symbol_or_symbols="AAPL")
    assert_api_error(
        lambda: stranger.get_stock_latest_trade(request), 401, 40110000, "request is not authorized"
    )
    wrong = no_retries(CryptoHistoricalDataClient("PKWRONG", "wrong", url_override=base))
    btc = CryptoLatestQuoteRequest(symbol_or_symbols="BTC/USD")
    assert_api_error(lambda: wrong.get_crypto_latest_quote(btc), 401, 40110000)
    assert_api_error(
        lambda: crypto.get_crypto_latest_quote(
            CryptoLatestQuoteRequest(symbol_or_symbols="BTCUSD")
        ),
        400,
        40010001,
        "invalid symbol: BTCUSD does not match ^[A-Z]+/[A-Z]+$",
    )
    assert_api_error(
        lambda: stocks.get_stock_bars(
            StockBarsRequest(
                symbol_or_symbols="AAPL",
                timeframe=MINUTE,
                start=datetime(2024, 1, 2, tzinfo=UTC),
                end=datetime(2024, 1, 1, tzinfo=UTC),
            )
        ),
        400,
        40010001,
    )
