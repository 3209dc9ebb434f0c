"""What the broker reports about things we do not build: positions, clock, calendar, assets.

:class:`~pulsetrader.domain.position.Position` is *our* position, built from fills; a
:class:`PositionSnapshot` is the broker's view of one at an instant, with its market value and
unrealized P/L, and is what reconciliation compares against. All frozen, Decimal, aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pulsetrader.domain.enums import AssetClass, PositionSide
from pulsetrader.domain.fills import Fill
from pulsetrader.domain.money import decimal_str, ensure_utc, isoformat_z, to_decimal
from pulsetrader.domain.symbols import order_symbol


def _dec_or_none(value: Decimal | None) -> str | None:
    return None if value is None else decimal_str(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionSnapshot:
    """The broker's view of one open position.

    ``qty`` is signed (negative when short) and ``symbol`` uses the order spelling (``BTC/USD``)
    whatever the broker sent (Alpaca reports crypto positions as ``BTCUSD``). ``market_value`` is
    negative for shorts and ``cost_basis`` too, as Alpaca reports them.
    """

    symbol: str
    qty: Decimal
    side: PositionSide
    avg_entry_price: Decimal
    market_value: Decimal
    cost_basis: Decimal
    unrealized_pl: Decimal
    unrealized_plpc: Decimal | None
    current_price: Decimal | None
    lastday_price: Decimal | None
    asset_class: AssetClass
    qty_available: Decimal | None = None
    asset_id: str | None = None

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "symbol", order_symbol(self.symbol))
        put(self, "side", PositionSide(self.side))
        put(self, "asset_class", AssetClass(self.asset_class))
        for name in ("qty", "avg_entry_price", "market_value", "cost_basis", "unrealized_pl"):
            put(self, name, to_decimal(getattr(self, name)))
        for name in ("unrealized_plpc", "current_price", "lastday_price", "qty_available"):
            value = getattr(self, name)
            put(self, name, None if value is None else to_decimal(value))
        if (self.qty < 0) != (self.side is PositionSide.SHORT) or self.qty == 0:
            raise ValueError(f"position {self.symbol}: qty {self.qty} contradicts side {self.side}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form: Decimals as text, enums as values."""
        return {
            "symbol": self.symbol,
            "qty": decimal_str(self.qty),
            "side": self.side.value,
            "avg_entry_price": decimal_str(self.avg_entry_price),
            "market_value": decimal_str(self.market_value),
            "cost_basis": decimal_str(self.cost_basis),
            "unrealized_pl": decimal_str(self.unrealized_pl),
            "unrealized_plpc": _dec_or_none(self.unrealized_plpc),
            "current_price": _dec_or_none(self.current_price),
            "lastday_price": _dec_or_none(self.lastday_price),
            "asset_class": self.asset_class.value,
            "qty_available": _dec_or_none(self.qty_available),
            "asset_id": self.asset_id,
        }


@dataclass(frozen=True, slots=True)
class MarketClock:
    """Alpaca's ``GET /v2/clock``: is the stock market open now, and when does that change."""

    timestamp: datetime
    is_open: bool
    next_open: datetime
    next_close: datetime

    def __post_init__(self) -> None:
        for name in ("timestamp", "next_open", "next_close"):
            object.__setattr__(self, name, ensure_utc(getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "timestamp": isoformat_z(self.timestamp),
            "is_open": self.is_open,
            "next_open": isoformat_z(self.next_open),
            "next_close": isoformat_z(self.next_close),
        }


@dataclass(frozen=True, slots=True)
class TradingDay:
    """One row of Alpaca's calendar: a trading date and its regular session in UTC."""

    date: date
    open: datetime
    close: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "open", ensure_utc(self.open))
        object.__setattr__(self, "close", ensure_utc(self.close))
        if self.close <= self.open:
            raise ValueError(f"session {self.date} closes before it opens")

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "date": self.date.isoformat(),
            "open": isoformat_z(self.open),
            "close": isoformat_z(self.close),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetInfo:
    """What the broker says about an instrument: whether and how it can be traded."""

    symbol: str
    asset_id: str
    asset_class: AssetClass
    exchange: str
    name: str
    status: str
    tradable: bool
    marginable: bool
    shortable: bool
    easy_to_borrow: bool
    fractionable: bool
    min_order_size: Decimal | None = None
    min_trade_increment: Decimal | None = None
    price_increment: Decimal | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "symbol", order_symbol(self.symbol))
        object.__setattr__(self, "asset_class", AssetClass(self.asset_class))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "symbol": self.symbol,
            "asset_id": self.asset_id,
            "asset_class": self.asset_class.value,
            "exchange": self.exchange,
            "name": self.name,
            "status": self.status,
            "tradable": self.tradable,
            "marginable": self.marginable,
            "shortable": self.shortable,
            "easy_to_borrow": self.easy_to_borrow,
            "fractionable": self.fractionable,
            "min_order_size": _dec_or_none(self.min_order_size),
            "min_trade_increment": _dec_or_none(self.min_trade_increment),
            "price_increment": _dec_or_none(self.price_increment),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class FillActivity:
    """One ``FILL`` row of the broker's account activities: an execution and the order's
    cumulative filled quantity after it. Activities carry the broker's order id only, so
    ``fill.client_order_id`` is empty."""

    activity_id: str
    fill: Fill
    cum_qty: Decimal
    order_status: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "activity_id": self.activity_id,
            "execution_id": self.fill.execution_id,
            "order_id": self.fill.order_id,
            "symbol": self.fill.symbol,
            "side": self.fill.side.value,
            "qty": decimal_str(self.fill.qty),
            "price": decimal_str(self.fill.price),
            "timestamp": isoformat_z(self.fill.timestamp),
            "cum_qty": decimal_str(self.cum_qty),
            "order_status": self.order_status,
        }
