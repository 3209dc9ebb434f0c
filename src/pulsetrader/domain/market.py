"""Market data as immutable values: trades, quotes, bars, and Alpaca's bar timeframes.

Prices, sizes and volumes are Decimals (crypto sizes are fractional) and timestamps are aware UTC.
Constructors accept anything :func:`~pulsetrader.domain.money.to_decimal` accepts and normalise
it, so a value object is valid from the moment it exists. Symbols are kept in the order spelling
(``BTC/USD``), the one Alpaca's market-data feeds use.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pulsetrader.domain.money import decimal_str, ensure_utc, isoformat_z, to_decimal
from pulsetrader.domain.symbols import order_symbol

_TWO = Decimal(2)
_new = object.__new__


def _put(obj: object, name: str, value: object) -> None:
    """Normalise a field of a frozen dataclass during ``__post_init__``."""
    # Frozen dataclasses block normal assignment; this is the documented way around it.
    object.__setattr__(obj, name, value)


def _fields_of(cls: type) -> Any:
    """A plain class with the slots of the frozen dataclass ``cls``, for ``trusted`` builders.

    A ``trusted`` constructor fills one of these with ordinary slot stores and then turns it into
    ``cls`` by assigning ``__class__``, which CPython allows between classes of identical layout
    (and checks, raising TypeError otherwise). That is a fifth of the work of one
    ``object.__setattr__`` call per field, and the stream decoder builds a value per message.
    """
    return type(f"_{cls.__name__}Fields", (), {"__slots__": cls.__dict__["__slots__"]})


def _non_negative(name: str, value: Decimal) -> None:
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")


@dataclass(frozen=True, slots=True)
class Trade:
    """One print on the tape: ``size`` units of ``symbol`` traded at ``price``."""

    symbol: str
    price: Decimal
    size: Decimal
    timestamp: datetime
    exchange: str | None = None
    trade_id: int | None = None

    def __post_init__(self) -> None:
        _put(self, "symbol", order_symbol(self.symbol))
        _put(self, "price", to_decimal(self.price))
        _put(self, "size", to_decimal(self.size))
        _put(self, "timestamp", ensure_utc(self.timestamp))
        if self.price <= 0:
            raise ValueError(f"trade price must be positive, got {self.price}")
        _non_negative("trade size", self.size)

    @classmethod
    def trusted(
        cls,
        symbol: str,
        price: Decimal,
        size: Decimal,
        timestamp: datetime,
        exchange: str | None = None,
        trade_id: int | None = None,
    ) -> Trade:
        """Build from values that are already normal: Decimals, an aware UTC time, the order
        spelling. No checks: for the stream decoder's hot path, which parses the wire itself."""
        obj = _new(_TradeFields)
        obj.symbol = symbol
        obj.price = price
        obj.size = size
        obj.timestamp = timestamp
        obj.exchange = exchange
        obj.trade_id = trade_id
        obj.__class__ = cls
        trade: Trade = obj
        return trade

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form: Decimals as text, the timestamp as RFC 3339 with ``Z``."""
        return {
            "symbol": self.symbol,
            "price": decimal_str(self.price),
            "size": decimal_str(self.size),
            "timestamp": isoformat_z(self.timestamp),
            "exchange": self.exchange,
            "trade_id": self.trade_id,
        }


@dataclass(frozen=True, slots=True)
class Quote:
    """The best bid and offer. A zero price means that side of the book is empty.

    Alpaca sends ``0`` rather than omitting a missing side (common for thin crypto books and
    outside equity hours), so zero is accepted here and handled by :attr:`midpoint`/:attr:`spread`.
    """

    symbol: str
    bid_price: Decimal
    bid_size: Decimal
    ask_price: Decimal
    ask_size: Decimal
    timestamp: datetime

    def __post_init__(self) -> None:
        _put(self, "symbol", order_symbol(self.symbol))
        for name in ("bid_price", "bid_size", "ask_price", "ask_size"):
            value = to_decimal(getattr(self, name))
            _non_negative(name, value)
            _put(self, name, value)
        _put(self, "timestamp", ensure_utc(self.timestamp))

    @classmethod
    def trusted(
        cls,
        symbol: str,
        bid_price: Decimal,
        bid_size: Decimal,
        ask_price: Decimal,
        ask_size: Decimal,
        timestamp: datetime,
    ) -> Quote:
        """Build from already-normal values without checks (see :meth:`Trade.trusted`)."""
        obj = _new(_QuoteFields)
        obj.symbol = symbol
        obj.bid_price = bid_price
        obj.bid_size = bid_size
        obj.ask_price = ask_price
        obj.ask_size = ask_size
        obj.timestamp = timestamp
        obj.__class__ = cls
        quote: Quote = obj
        return quote

    @property
    def midpoint(self) -> Decimal | None:
        """Halfway between bid and ask; the other side's price when one side is empty.

        None when both sides are empty: there is no price, and a zero would look like one.
        """
        if self.bid_price > 0 and self.ask_price > 0:
            return (self.bid_price + self.ask_price) / _TWO
        if self.bid_price > 0:
            return self.bid_price
        if self.ask_price > 0:
            return self.ask_price
        return None

    @property
    def spread(self) -> Decimal | None:
        """``ask - bid``, or None unless both sides are quoted."""
        if self.bid_price > 0 and self.ask_price > 0:
            return self.ask_price - self.bid_price
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form: Decimals as text, the timestamp as RFC 3339 with ``Z``."""
        return {
            "symbol": self.symbol,
            "bid_price": decimal_str(self.bid_price),
            "bid_size": decimal_str(self.bid_size),
            "ask_price": decimal_str(self.ask_price),
            "ask_size": decimal_str(self.ask_size),
            "timestamp": isoformat_z(self.timestamp),
        }


_TradeFields = _fields_of(Trade)
_QuoteFields = _fields_of(Quote)


@dataclass(frozen=True, slots=True)
class Bar:
    """An OHLCV bar starting at ``timestamp`` (Alpaca stamps bars with their open time)."""

    symbol: str
    timestamp: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trade_count: int | None = None
    vwap: Decimal | None = None

    def __post_init__(self) -> None:
        _put(self, "symbol", order_symbol(self.symbol))
        _put(self, "timestamp", ensure_utc(self.timestamp))
        for name in ("open", "high", "low", "close", "volume"):
            _put(self, name, to_decimal(getattr(self, name)))
        if self.vwap is not None:
            _put(self, "vwap", to_decimal(self.vwap))
        if self.high < max(self.open, self.close):
            raise ValueError(
                f"bar high {self.high} is below open {self.open} or close {self.close}"
            )
        if self.low > min(self.open, self.close):
            raise ValueError(f"bar low {self.low} is above open {self.open} or close {self.close}")
        _non_negative("bar volume", self.volume)
        if self.trade_count is not None and self.trade_count < 0:
            raise ValueError(f"bar trade_count must not be negative, got {self.trade_count}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form: Decimals as text, the timestamp as RFC 3339 with ``Z``."""
        return {
            "symbol": self.symbol,
            "timestamp": isoformat_z(self.timestamp),
            "open": decimal_str(self.open),
            "high": decimal_str(self.high),
            "low": decimal_str(self.low),
            "close": decimal_str(self.close),
            "volume": decimal_str(self.volume),
            "trade_count": self.trade_count,
            "vwap": None if self.vwap is None else decimal_str(self.vwap),
        }


class TimeframeUnit(StrEnum):
    """The units of Alpaca's bar timeframes, spelled as in ``1Min`` or ``1Day``."""

    MINUTE = "Min"
    HOUR = "Hour"
    DAY = "Day"
    WEEK = "Week"
    MONTH = "Month"


# Alpaca's own limits on the multiplier for each unit (alpaca-py enforces the same).
_ALLOWED_AMOUNTS: dict[TimeframeUnit, frozenset[int]] = {
    TimeframeUnit.MINUTE: frozenset(range(1, 60)),
    TimeframeUnit.HOUR: frozenset(range(1, 24)),
    TimeframeUnit.DAY: frozenset({1}),
    TimeframeUnit.WEEK: frozenset({1}),
    TimeframeUnit.MONTH: frozenset({1, 2, 3, 4, 6, 12}),
}
# Only these units have a fixed length: weekly and monthly bars follow the calendar.
_FIXED_LENGTH: dict[TimeframeUnit, _dt.timedelta] = {
    TimeframeUnit.MINUTE: _dt.timedelta(minutes=1),
    TimeframeUnit.HOUR: _dt.timedelta(hours=1),
    TimeframeUnit.DAY: _dt.timedelta(days=1),
}
_TIMEFRAME_RE = re.compile(r"^([0-9]+)(Min|Hour|Day|Week|Month)$")


@dataclass(frozen=True, slots=True)
class Timeframe:
    """A bar size such as ``5Min`` or ``1Day``, limited to the sizes Alpaca serves.

    Minutes 1-59, hours 1-23, one day, one week, and 1, 2, 3, 4, 6 or 12 months.
    """

    amount: int
    unit: TimeframeUnit

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError(f"timeframe amount must be an int, got {self.amount!r}")
        _put(self, "unit", TimeframeUnit(self.unit))
        allowed = _ALLOWED_AMOUNTS[self.unit]
        if self.amount not in allowed:
            if len(allowed) > 10:
                choices = f"1-{max(allowed)}"
            else:
                choices = ", ".join(str(n) for n in sorted(allowed))
            raise ValueError(
                f"{self.amount}{self.unit.value} is not an Alpaca timeframe: "
                f"{self.unit.value} allows {choices}"
            )

    @classmethod
    def parse(cls, text: str) -> Timeframe:
        """Parse Alpaca's spelling (``1Min``, ``15Min``, ``1Hour``, ``1Day``, ``3Month`` ...)."""
        match = _TIMEFRAME_RE.match(text.strip())
        if match is None:
            raise ValueError(
                f"invalid timeframe {text!r}: expected a number followed by "
                "Min, Hour, Day, Week or Month, such as 5Min or 1Day"
            )
        return cls(int(match.group(1)), TimeframeUnit(match.group(2)))

    @property
    def timedelta(self) -> _dt.timedelta:
        """The bar length for minute, hour and day bars; ValueError for weeks and months."""
        unit_length = _FIXED_LENGTH.get(self.unit)
        if unit_length is None:
            raise ValueError(f"{self} has no fixed length")
        return unit_length * self.amount

    def __str__(self) -> str:
        return f"{self.amount}{self.unit.value}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form: the amount, the unit's text and Alpaca's combined spelling."""
        return {"amount": self.amount, "unit": self.unit.value, "text": str(self)}
