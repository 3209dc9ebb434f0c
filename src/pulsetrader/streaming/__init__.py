"""Real-time streams: market data and order updates over Alpaca's WebSocket protocols."""

from pulsetrader.streaming.client import WebSocketClient
from pulsetrader.streaming.connection import ReconnectPolicy
from pulsetrader.streaming.events import StreamEvent, StreamEventKind, StreamHook
from pulsetrader.streaming.market_data import MarketDataStream
from pulsetrader.streaming.trade_updates import TradeUpdatesStream

__all__ = [
    "MarketDataStream",
    "ReconnectPolicy",
    "StreamEvent",
    "StreamEventKind",
    "StreamHook",
    "TradeUpdatesStream",
    "WebSocketClient",
]
