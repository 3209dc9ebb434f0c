"""The broker edge: the only package that talks to Alpaca's REST APIs.

Everything above it sees domain types and :mod:`pulsetrader.broker.errors`.
"""

from pulsetrader.broker.client import AlpacaClient, BrokerConfig
from pulsetrader.broker.errors import (
    AuthenticationError,
    BrokerError,
    BrokerTimeout,
    BrokerUnavailable,
    InsufficientBuyingPower,
    InvalidRequest,
    NotFound,
    OrderRejected,
    OrderStatusUnknown,
    RateLimitError,
    TransientError,
)
from pulsetrader.broker.hooks import CallHook, CallOutcome
from pulsetrader.broker.limiter import RequestLimiter
from pulsetrader.broker.retry import RetryStrategy

__all__ = [
    "AlpacaClient",
    "AuthenticationError",
    "BrokerConfig",
    "BrokerError",
    "BrokerTimeout",
    "BrokerUnavailable",
    "CallHook",
    "CallOutcome",
    "InsufficientBuyingPower",
    "InvalidRequest",
    "NotFound",
    "OrderRejected",
    "OrderStatusUnknown",
    "RateLimitError",
    "RequestLimiter",
    "RetryStrategy",
    "TransientError",
]
