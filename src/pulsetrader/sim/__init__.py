"""The Alpaca-compatible exchange simulator: calendar, clock, prices, orders and servers."""
