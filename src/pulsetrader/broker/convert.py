"""Alpaca's wire payloads (the JSON as sent) to domain types.

Alpaca sends numbers as strings, and parsing those strings straight into ``Decimal`` is both
exact and cheaper than alpaca-py's float-typed models (which would lose digits we then have to
recover). Every function here is pure, and raises ``ValueError``/``KeyError`` on a payload it
cannot read; the client turns that into a :class:`~pulsetrader.broker.errors.BrokerError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from pulsetrader.domain.account import Account
from pulsetrader.domain.enums import AssetClass, OrderClass, OrderStatus, OrderType, PositionSide
from pulsetrader.domain.fills import Fill
from pulsetrader.domain.market import Bar, Quote, Trade
from pulsetrader.domain.money import optional_decimal, parse_utc, to_decimal, utcnow
from pulsetrader.domain.orders import Order
from pulsetrader.domain.snapshots import (
    AssetInfo,
    FillActivity,
    MarketClock,
    PositionSnapshot,
    TradingDay,
)
from pulsetrader.domain.symbols import order_symbol

NEW_YORK = ZoneInfo("America/New_York")

#: The columns of every bar DataFrame, in order. See :func:`bars_frame`.
BAR_COLUMNS = ("open", "high", "low", "close", "volume", "trade_count", "vwap")
BAR_DTYPES: dict[str, str] = {
    "open": "float64",
    "high": "float64",
    "low": "float64",
    "close": "float64",
    "volume": "float64",
    "trade_count": "Int64",
    "vwap": "float64",
}


def _time(value: Any) -> datetime | None:
    return None if value in (None, "") else parse_utc(value)


def account_from_wire(data: Mapping[str, Any], as_of: datetime | None = None) -> Account:
    """``GET /v2/account``."""
    equity = to_decimal(data["equity"])
    return Account(
        account_id=str(data["id"]),
        status=str(data.get("status", "")),
        currency=str(data.get("currency") or "USD"),
        cash=to_decimal(data["cash"]),
        equity=equity,
        buying_power=to_decimal(data["buying_power"]),
        last_equity=to_decimal(data.get("last_equity") or equity),
        long_market_value=to_decimal(data.get("long_market_value") or 0),
        short_market_value=to_decimal(data.get("short_market_value") or 0),
        portfolio_value=to_decimal(data.get("portfolio_value") or equity),
        multiplier=to_decimal(data.get("multiplier") or 1),
        shorting_enabled=bool(data.get("shorting_enabled", False)),
        trading_blocked=bool(data.get("trading_blocked", False))
        or bool(data.get("account_blocked", False)),
        as_of=as_of or utcnow(),
    )


def position_from_wire(data: Mapping[str, Any]) -> PositionSnapshot:
    """One row of ``GET /v2/positions``. Crypto symbols come back as ``BTCUSD``."""
    qty = to_decimal(data["qty"])
    side = PositionSide(data.get("side") or ("short" if qty < 0 else "long"))
    if side is PositionSide.SHORT and qty > 0:
        qty = -qty  # Alpaca reports short qty negative; be robust to a positive one.
    return PositionSnapshot(
        symbol=str(data["symbol"]),
        qty=qty,
        side=side,
        avg_entry_price=to_decimal(data["avg_entry_price"]),
        market_value=to_decimal(data.get("market_value") or 0),
        cost_basis=to_decimal(data.get("cost_basis") or 0),
        unrealized_pl=to_decimal(data.get("unrealized_pl") or 0),
        unrealized_plpc=optional_decimal(data.get("unrealized_plpc")),
        current_price=optional_decimal(data.get("current_price")),
        lastday_price=optional_decimal(data.get("lastday_price")),
        asset_class=AssetClass(data.get("asset_class") or "us_equity"),
        qty_available=optional_decimal(data.get("qty_available")),
        asset_id=data.get("asset_id"),
    )


def order_from_wire(data: Mapping[str, Any]) -> Order:
    """One order of ``/v2/orders``, with its legs."""
    created = parse_utc(data["created_at"])
    order_type = OrderType(str(data.get("type") or data.get("order_type")))
    legs = [order_from_wire(leg) for leg in data.get("legs") or ()]
    take_profit = next((leg.limit_price for leg in legs if leg.type is OrderType.LIMIT), None)
    stop_leg = next(
        (leg for leg in legs if leg.type in (OrderType.STOP, OrderType.STOP_LIMIT)), None
    )
    order_class = data.get("order_class") or "simple"
    return Order(
        client_order_id=str(data["client_order_id"]),
        broker_order_id=str(data["id"]),
        symbol=str(data["symbol"]),
        side=data["side"],
        type=order_type,
        time_in_force=data["time_in_force"],
        created_at=created,
        updated_at=_time(data.get("updated_at")) or created,
        submitted_at=_time(data.get("submitted_at")),
        filled_at=_time(data.get("filled_at")),
        canceled_at=_time(data.get("canceled_at")),
        qty=optional_decimal(data.get("qty")),
        notional=optional_decimal(data.get("notional")),
        limit_price=optional_decimal(data.get("limit_price")),
        stop_price=optional_decimal(data.get("stop_price")),
        trail_price=optional_decimal(data.get("trail_price")),
        trail_percent=optional_decimal(data.get("trail_percent")),
        order_class=OrderClass(order_class) if order_class else OrderClass.SIMPLE,
        take_profit_limit_price=take_profit,
        stop_loss_stop_price=stop_leg.stop_price if stop_leg else None,
        stop_loss_limit_price=stop_leg.limit_price if stop_leg else None,
        status=OrderStatus(data["status"]),
        filled_qty=to_decimal(data.get("filled_qty") or 0),
        filled_avg_price=optional_decimal(data.get("filled_avg_price")),
        extended_hours=bool(data.get("extended_hours", False)),
        replaces=data.get("replaces"),
        replaced_by=data.get("replaced_by"),
        legs=legs,
    )


def clock_from_wire(data: Mapping[str, Any]) -> MarketClock:
    """``GET /v2/clock``."""
    return MarketClock(
        timestamp=parse_utc(data["timestamp"]),
        is_open=bool(data["is_open"]),
        next_open=parse_utc(data["next_open"]),
        next_close=parse_utc(data["next_close"]),
    )


def _session_time(day: date, text: str) -> datetime:
    hours, minutes = (int(part) for part in text.split(":")[:2])
    return datetime.combine(day, time(hours, minutes), NEW_YORK).astimezone(ZoneInfo("UTC"))


def calendar_from_wire(data: Mapping[str, Any]) -> TradingDay:
    """One row of ``GET /v2/calendar`` (times are New York wall clock)."""
    day = date.fromisoformat(str(data["date"]))
    return TradingDay(day, _session_time(day, data["open"]), _session_time(day, data["close"]))


def asset_from_wire(data: Mapping[str, Any]) -> AssetInfo:
    """``GET /v2/assets/{symbol}``. Alpaca names the asset class ``class``."""
    return AssetInfo(
        symbol=str(data["symbol"]),
        asset_id=str(data["id"]),
        asset_class=AssetClass(data.get("class") or data.get("asset_class") or "us_equity"),
        exchange=str(data.get("exchange", "")),
        name=str(data.get("name") or ""),
        status=str(data.get("status", "")),
        tradable=bool(data.get("tradable", False)),
        marginable=bool(data.get("marginable", False)),
        shortable=bool(data.get("shortable", False)),
        easy_to_borrow=bool(data.get("easy_to_borrow", False)),
        fractionable=bool(data.get("fractionable", False)),
        min_order_size=optional_decimal(data.get("min_order_size")),
        min_trade_increment=optional_decimal(data.get("min_trade_increment")),
        price_increment=optional_decimal(data.get("price_increment")),
    )


def _num(value: Any) -> Decimal:
    # Market data numbers are JSON numbers; go through str so 0.1 stays 0.1.
    return to_decimal(str(value))


def trade_from_wire(symbol: str, data: Mapping[str, Any]) -> Trade:
    """A market-data trade (``t``, ``p``, ``s``, ``x``, ``i``)."""
    trade_id = data.get("i")
    return Trade(
        symbol=order_symbol(symbol),
        price=_num(data["p"]),
        size=_num(data.get("s", 0)),
        timestamp=parse_utc(data["t"]),
        exchange=data.get("x"),
        trade_id=int(trade_id) if isinstance(trade_id, int) else None,
    )


def quote_from_wire(symbol: str, data: Mapping[str, Any]) -> Quote:
    """A market-data quote (``t``, ``bp``, ``bs``, ``ap``, ``as``)."""
    return Quote(
        symbol=order_symbol(symbol),
        bid_price=_num(data.get("bp", 0)),
        bid_size=_num(data.get("bs", 0)),
        ask_price=_num(data.get("ap", 0)),
        ask_size=_num(data.get("as", 0)),
        timestamp=parse_utc(data["t"]),
    )


def bar_from_wire(symbol: str, data: Mapping[str, Any]) -> Bar:
    """A market-data bar (``t``, ``o``, ``h``, ``l``, ``c``, ``v``, ``n``, ``vw``)."""
    count = data.get("n")
    vwap = data.get("vw")
    return Bar(
        symbol=order_symbol(symbol),
        timestamp=parse_utc(data["t"]),
        open=_num(data["o"]),
        high=_num(data["h"]),
        low=_num(data["l"]),
        close=_num(data["c"]),
        volume=_num(data.get("v", 0)),
        trade_count=int(count) if count is not None else None,
        vwap=_num(vwap) if vwap is not None else None,
    )


def empty_bars_frame() -> pd.DataFrame:
    """A bar frame with no rows, with the same columns, dtypes and index as a full one."""
    index = pd.DatetimeIndex([], tz="UTC", name="timestamp")
    return pd.DataFrame({c: pd.Series([], dtype=BAR_DTYPES[c]) for c in BAR_COLUMNS}, index=index)


def bars_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Wire bars of one symbol as the documented bar DataFrame.

    Schema (the same for every timeframe and asset class, empty or not): a ``DatetimeIndex``
    named ``timestamp`` in UTC (the bar's start, ascending, unique), and the columns ``open``,
    ``high``, ``low``, ``close``, ``volume`` and ``vwap`` as ``float64`` and ``trade_count`` as
    nullable ``Int64``. Floats because the frame is for analysis (indicators, charts): anything
    that becomes an order price goes through ``Decimal(str(x))`` and the instrument's tick size.
    """
    rows = list(rows)
    if not rows:
        return empty_bars_frame()
    index = _bar_index([r["t"] for r in rows])
    frame = pd.DataFrame(
        {
            "open": np.array([float(r["o"]) for r in rows], dtype="float64"),
            "high": np.array([float(r["h"]) for r in rows], dtype="float64"),
            "low": np.array([float(r["l"]) for r in rows], dtype="float64"),
            "close": np.array([float(r["c"]) for r in rows], dtype="float64"),
            "volume": np.array([float(r.get("v", 0)) for r in rows], dtype="float64"),
            "trade_count": pd.array([r.get("n") for r in rows], dtype="Int64"),
            "vwap": np.array(
                [float(r["vw"]) if r.get("vw") is not None else np.nan for r in rows],
                dtype="float64",
            ),
        },
        index=index,
    )
    if index.is_monotonic_increasing and index.is_unique:
        return frame  # what Alpaca sends for sort=asc: nothing to drop or reorder
    frame = frame[~frame.index.duplicated(keep="last")]
    return frame.sort_index()


def _bar_index(stamps: list[str]) -> pd.DatetimeIndex:
    """The bars' RFC 3339 times as a UTC ``DatetimeIndex`` named ``timestamp``.

    Alpaca writes bar times in UTC with ``Z``; numpy parses those (without the ``Z``) several
    times faster than ``pd.to_datetime``, which remains the path for anything else.
    """
    if all(stamp.endswith("Z") for stamp in stamps):
        try:
            naive = np.array([stamp[:-1] for stamp in stamps], dtype="datetime64[ns]")
        except ValueError:
            pass
        else:
            return pd.DatetimeIndex(naive, name="timestamp").tz_localize("UTC")
    stamps_utc = pd.to_datetime(stamps, utc=True, format="ISO8601")
    return pd.DatetimeIndex(stamps_utc, name="timestamp")


def fill_activity_from_wire(data: Mapping[str, Any]) -> FillActivity:
    """One ``FILL`` account activity. Its id is ``<time>::<execution id>``."""
    activity_id = str(data["id"])
    execution_id = activity_id.split("::", 1)[1] if "::" in activity_id else activity_id
    fill = Fill(
        execution_id=execution_id,
        order_id=str(data["order_id"]),
        client_order_id="",
        symbol=str(data["symbol"]),
        side=data["side"],
        qty=to_decimal(str(data["qty"])),
        price=to_decimal(str(data["price"])),
        timestamp=parse_utc(data["transaction_time"]),
    )
    return FillActivity(
        activity_id=activity_id,
        fill=fill,
        cum_qty=to_decimal(str(data.get("cum_qty") or data["qty"])),
        order_status=str(data.get("order_status") or data.get("type") or ""),
    )
