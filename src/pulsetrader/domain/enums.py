"""Enumerations shared by every layer, spelled exactly as Alpaca spells them on the wire.

Because the values are Alpaca's own strings, converting to and from the REST/stream payloads is
``OrderStatus(payload["status"])`` and ``status.value``: no mapping tables to drift.
"""

from __future__ import annotations

from enum import StrEnum


class AssetClass(StrEnum):
    """What kind of instrument a symbol is. Alpaca's ``asset_class`` values."""

    US_EQUITY = "us_equity"
    CRYPTO = "crypto"


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> OrderSide:
        """The side that closes a position opened by this side."""
        return OrderSide.SELL if self is OrderSide.BUY else OrderSide.BUY

    @property
    def sign(self) -> int:
        """+1 for buys, -1 for sells: the sign a fill of this side adds to a position."""
        return 1 if self is OrderSide.BUY else -1


class PositionSide(StrEnum):
    LONG = "long"
    SHORT = "short"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"

    @property
    def needs_limit_price(self) -> bool:
        return self in (OrderType.LIMIT, OrderType.STOP_LIMIT)

    @property
    def needs_stop_price(self) -> bool:
        return self in (OrderType.STOP, OrderType.STOP_LIMIT)


class TimeInForce(StrEnum):
    DAY = "day"
    GTC = "gtc"
    OPG = "opg"
    CLS = "cls"
    IOC = "ioc"
    FOK = "fok"


class OrderClass(StrEnum):
    SIMPLE = "simple"
    BRACKET = "bracket"
    OCO = "oco"
    OTO = "oto"


class OrderStatus(StrEnum):
    """Alpaca's order statuses. See :mod:`pulsetrader.domain.orders` for the transition table."""

    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    DONE_FOR_DAY = "done_for_day"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REPLACED = "replaced"
    PENDING_CANCEL = "pending_cancel"
    PENDING_REPLACE = "pending_replace"
    PENDING_REVIEW = "pending_review"
    ACCEPTED = "accepted"
    PENDING_NEW = "pending_new"
    ACCEPTED_FOR_BIDDING = "accepted_for_bidding"
    STOPPED = "stopped"
    REJECTED = "rejected"
    SUSPENDED = "suspended"
    CALCULATED = "calculated"
    HELD = "held"

    @property
    def is_terminal(self) -> bool:
        """True once the order can never change again (no more fills, no more updates)."""
        return self in TERMINAL_STATUSES

    @property
    def is_open(self) -> bool:
        """True while the order may still fill or be cancelled."""
        return not self.is_terminal


TERMINAL_STATUSES: frozenset[OrderStatus] = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.EXPIRED,
        OrderStatus.REPLACED,
        OrderStatus.REJECTED,
    }
)


class TradingState(StrEnum):
    """Whether the engine may take new risk.

    ACTIVE: everything allowed. REDUCING (the seed's *preservation mode*): only orders that reduce
    or close exposure, and cancels. HALTED: no strategy orders at all; only cancels and the exits
    the operator asks for (closing positions by hand or at shutdown).
    """

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"
