#!/usr/bin/env python3
"""Check market data (seed task 15.2): bars in every timeframe for a stock and a crypto pair,
latest trade, quote and midpoint, previous close, against Alpaca paper or ``--sim``.

Exit status 0 when every check passes, 1 otherwise.
"""

from __future__ import annotations

import asyncio

from _support import Checks, connect, parse_args

from pulsetrader.broker.convert import BAR_COLUMNS
from pulsetrader.market_data import MarketDataFeed

SYMBOLS = ("AAPL", "BTC/USD")
TIMEFRAMES = ("1Min", "5Min", "15Min", "1Hour", "1Day")


async def main() -> int:
    args = parse_args(__doc__ or "")
    checks = Checks()
    async with connect(args) as client:
        feed = MarketDataFeed(client)
        for symbol in SYMBOLS:
            for timeframe in TIMEFRAMES:

                async def bars(symbol: str = symbol, timeframe: str = timeframe) -> str:
                    frame = await feed.get_bars(symbol, timeframe, limit=50)
                    assert frame is not None, "no answer"
                    assert tuple(frame.columns) == BAR_COLUMNS, f"columns {list(frame.columns)}"
                    assert not frame.empty, "no bars"
                    assert str(frame.index.tz) == "UTC", "index not UTC"
                    last = frame.index[-1]
                    return (
                        f"{len(frame)} bars, last {last:%Y-%m-%d %H:%M} {frame['close'].iloc[-1]}"
                    )

                await checks.run(f"bars {symbol} {timeframe}", bars)

            async def prices(symbol: str = symbol) -> str:
                trade = await client.get_latest_trade(symbol)
                quote = await client.get_latest_quote(symbol)
                price = await feed.get_current_price(symbol)
                assert price is not None, "no current price"
                assert price > 0, "non-positive price"
                assert quote.bid_price <= quote.ask_price, "crossed quote"
                book = f"bid {quote.bid_price} ask {quote.ask_price}"
                return f"last {trade.price}, {book}, mid {quote.midpoint}"

            async def previous_close(symbol: str = symbol) -> str:
                close = await feed.get_previous_close(symbol)
                assert close is not None, "no previous close"
                assert close > 0, "non-positive close"
                return f"previous close {close}"

            await checks.run(f"prices {symbol}", prices)
            await checks.run(f"previous close {symbol}", previous_close)
    return checks.exit_code()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
