"""Bar arithmetic shared by the price sources: OHLCV aggregates and Alpaca's bar periods.

An aggregate is a plain tuple ``(open, high, low, close, volume, trade_count, notional)`` where
``notional`` is the sum of ``price * size``; the synthetic model keeps them in integer ticks and
size units (exact and fast), the replay model in Decimals. Both merge the same way.

Bar periods follow Alpaca: minute and hour bars start at multiples of their length since the Unix
epoch (UTC); day bars are stamped at midnight New York time of the trading date (05:00Z in
winter, 04:00Z in summer) for stocks **and** crypto; week bars at midnight New York of the ISO
week's Monday; month bars at midnight New York of the first day of the period (multi-month
periods start in January, e.g. quarters for ``3Month``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TypeVar

from pulsetrader.domain.market import Bar, Timeframe, TimeframeUnit
from pulsetrader.sim.calendar import NEW_YORK

N = TypeVar("N", int, Decimal)
Agg = tuple[N, N, N, N, N, int, N]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_VWAP_DIGITS = Decimal("0.0001")  # vwap is reported to 1/10000 of a tick


def merge(first: Agg[N], second: Agg[N]) -> Agg[N]:
    """The aggregate of ``first`` followed (in time) by ``second``."""
    return (
        first[0],
        max(first[1], second[1]),
        min(first[2], second[2]),
        second[3],
        first[4] + second[4],
        first[5] + second[5],
        first[6] + second[6],
    )


def to_bar(
    symbol: str,
    timestamp: datetime,
    agg: Agg[N],
    price_unit: Decimal = Decimal(1),
    size_unit: Decimal = Decimal(1),
    tick: Decimal | None = None,
) -> Bar:
    """A :class:`Bar` from an aggregate counted in ``price_unit`` ticks and ``size_unit`` lots.

    vwap is ``notional / volume`` rounded to 1/10000 of ``tick`` (default ``price_unit``).
    """
    open_, high, low, close, volume, count, notional = agg
    vwap: Decimal | None = None
    if volume:
        quantum = (tick if tick is not None else price_unit) * _VWAP_DIGITS
        raw = Decimal(notional) * price_unit / Decimal(volume)
        vwap = raw.quantize(quantum, rounding=ROUND_HALF_EVEN)
    return Bar(
        symbol=symbol,
        timestamp=timestamp,
        open=price_unit * open_,
        high=price_unit * high,
        low=price_unit * low,
        close=price_unit * close,
        volume=size_unit * volume,
        trade_count=count,
        vwap=vwap,
    )


def ny_midnight(day: date) -> datetime:
    """Midnight New York time at the start of ``day``, in UTC."""
    return datetime.combine(day, time(0), tzinfo=NEW_YORK).astimezone(UTC)


def ny_date(ts: datetime) -> date:
    """The New York calendar date of ``ts``."""
    return ts.astimezone(NEW_YORK).date()


def epoch_minute(ts: datetime) -> int:
    """Whole minutes since the Unix epoch (floor)."""
    return (ts - _EPOCH) // timedelta(minutes=1)


def from_epoch_minute(minute: int) -> datetime:
    return _EPOCH + timedelta(minutes=minute)


def bucket_minutes(timeframe: Timeframe) -> int | None:
    """The length in minutes of a minute or hour timeframe; None for days, weeks and months."""
    if timeframe.unit is TimeframeUnit.MINUTE:
        return timeframe.amount
    if timeframe.unit is TimeframeUnit.HOUR:
        return timeframe.amount * 60
    return None


def period_start(timeframe: Timeframe, ts: datetime) -> datetime:
    """The timestamp of the bar of ``timeframe`` that contains ``ts``."""
    minutes = bucket_minutes(timeframe)
    if minutes is not None:
        whole = epoch_minute(ts)
        return from_epoch_minute(whole - whole % minutes)
    return period_of_day(timeframe, ny_date(ts))


def period_of_day(timeframe: Timeframe, day: date) -> datetime:
    """The timestamp of the day, week or month bar that contains the trading date ``day``."""
    if timeframe.unit is TimeframeUnit.DAY:
        return ny_midnight(day)
    if timeframe.unit is TimeframeUnit.WEEK:
        return ny_midnight(day - timedelta(days=day.weekday()))
    if timeframe.unit is TimeframeUnit.MONTH:
        month = (day.month - 1) // timeframe.amount * timeframe.amount + 1
        return ny_midnight(date(day.year, month, 1))
    raise ValueError(f"{timeframe} is not a day, week or month timeframe")


def ceil_minute(ts: datetime) -> int:
    """The first whole epoch minute at or after ``ts``."""
    whole = epoch_minute(ts)
    return whole if from_epoch_minute(whole) == ts else whole + 1


def first_bucket_minute(timeframe_minutes: int, start: datetime) -> int:
    """The epoch minute of the first bucket that starts at or after ``start``."""
    first = ceil_minute(start)
    return -(-first // timeframe_minutes) * timeframe_minutes
