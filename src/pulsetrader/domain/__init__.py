"""PulseTrader's pure domain model: exact amounts, symbols, market data, orders, fills, positions.

Nothing here does I/O or imports alpaca-py; adapters translate Alpaca's payloads into these types.
"""

from pulsetrader.domain.account import Account
from pulsetrader.domain.enums import (
    TERMINAL_STATUSES,
    AssetClass,
    OrderClass,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionSide,
    TimeInForce,
    TradingState,
)
from pulsetrader.domain.errors import (
    ConfigError,
    DomainError,
    InvalidTransition,
    OverfillError,
    PulseTraderError,
)
from pulsetrader.domain.fills import Fill
from pulsetrader.domain.intents import MAX_CLIENT_ORDER_ID, OrderIntent
from pulsetrader.domain.market import Bar, Quote, Timeframe, TimeframeUnit, Trade
from pulsetrader.domain.money import (
    ZERO,
    Number,
    decimal_str,
    ensure_utc,
    isoformat_z,
    optional_decimal,
    parse_utc,
    to_decimal,
    utcnow,
)
from pulsetrader.domain.orders import ALLOWED_TRANSITIONS, Order, can_reach, can_transition
from pulsetrader.domain.position import Position
from pulsetrader.domain.symbols import (
    CRYPTO_QUOTES,
    asset_class_of,
    is_crypto,
    order_symbol,
    position_symbol,
    validate_symbol,
)

__all__ = [
    "ALLOWED_TRANSITIONS",
    "CRYPTO_QUOTES",
    "MAX_CLIENT_ORDER_ID",
    "TERMINAL_STATUSES",
    "ZERO",
    "Account",
    "AssetClass",
    "Bar",
    "ConfigError",
    "DomainError",
    "Fill",
    "InvalidTransition",
    "Number",
    "Order",
    "OrderClass",
    "OrderIntent",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "OverfillError",
    "Position",
    "PositionSide",
    "PulseTraderError",
    "Quote",
    "TimeInForce",
    "Timeframe",
    "TimeframeUnit",
    "Trade",
    "TradingState",
    "asset_class_of",
    "can_reach",
    "can_transition",
    "decimal_str",
    "ensure_utc",
    "is_crypto",
    "isoformat_z",
    "optional_decimal",
    "order_symbol",
    "parse_utc",
    "position_symbol",
    "to_decimal",
    "utcnow",
    "validate_symbol",
]
