"""PulseTrader: an asyncio trading engine for Alpaca with a built-in Alpaca-compatible simulator."""

__version__ = "0.1.0"
