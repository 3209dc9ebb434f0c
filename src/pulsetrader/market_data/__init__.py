"""Market data: the cached REST feed (:class:`MarketDataFeed`) and, later, the live streams."""

from pulsetrader.market_data.feed import MarketDataFeed

__all__ = ["MarketDataFeed"]
