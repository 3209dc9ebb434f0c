"""Bars for strategies: frames to :class:`Bar` values, and minute bars to larger timeframes.

The market-data feed returns bars as the documented DataFrame (floats, for analysis); strategies
and indicators work on :class:`~pulsetrader.domain.market.Bar` (Decimals), so
:func:`bars_from_frame` converts, through each float's shortest text. The live stream delivers
minute bars only; :class:`BarAggregator` builds a strategy's ``5Min`` or ``1Hour`` bars from
them, on the same boundaries Alpaca uses for its historical bars (multiples of the bar length
since the Unix epoch, in UTC), so warm-up bars and live bars line up.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd

from pulsetrader.domain.market import Bar, Timeframe
from pulsetrader.domain.money import to_decimal
from pulsetrader.domain.symbols import order_symbol
from pulsetrader.strategy.ports import MarketDataPort

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MINUTE = timedelta(minutes=1)


def _decimal(value: Any) -> Decimal:
    return to_decimal(float(value))


def bars_from_frame(symbol: str, frame: pd.DataFrame) -> list[Bar]:
    """The rows of a bar frame (see :func:`pulsetrader.broker.convert.bars_frame`) as Bars,
    oldest first. A missing ``trade_count`` or ``vwap`` becomes None."""
    symbol = order_symbol(symbol)
    frame = frame.sort_index()
    size = len(frame)
    columns = {name: frame[name].tolist() for name in ("open", "high", "low", "close", "volume")}
    counts: list[Any] = frame["trade_count"].tolist() if "trade_count" in frame else [None] * size
    vwaps: list[Any] = frame["vwap"].tolist() if "vwap" in frame else [None] * size
    bars: list[Bar] = []
    for i, stamp in enumerate(frame.index):
        count, vwap = counts[i], vwaps[i]
        bars.append(
            Bar(
                symbol=symbol,
                timestamp=pd.Timestamp(stamp).to_pydatetime(),
                open=_decimal(columns["open"][i]),
                high=_decimal(columns["high"][i]),
                low=_decimal(columns["low"][i]),
                close=_decimal(columns["close"][i]),
                volume=_decimal(columns["volume"][i]),
                trade_count=None if count is None or pd.isna(count) else int(count),
                vwap=None if vwap is None or math.isnan(vwap) else _decimal(vwap),
            )
        )
    return bars


async def warmup_history(
    feed: MarketDataPort,
    symbols: Sequence[str],
    timeframe: Timeframe,
    count: int,
    now: datetime,
) -> tuple[list[Bar], dict[str, str]]:
    """The last ``count`` completed bars of each symbol, merged oldest first (symbols
    interleaved in time, as they happened), and why any symbol has none.

    A bar still forming at ``now`` is left out: the stream delivers it later, complete.
    """
    frames = await asyncio.gather(
        *(feed.get_bars(s, timeframe, limit=count) for s in symbols), return_exceptions=True
    )
    bars: list[Bar] = []
    missing: dict[str, str] = {}
    length = timeframe.timedelta
    for symbol, frame in zip(symbols, frames, strict=True):
        if frame is None or isinstance(frame, BaseException):
            missing[symbol] = "the feed has none" if frame is None else repr(frame)
            continue
        done = [b for b in bars_from_frame(symbol, frame) if b.timestamp + length <= now]
        bars.extend(done[-count:])
    bars.sort(key=lambda b: (b.timestamp, b.symbol))
    return bars, missing


def bar_start(timestamp: datetime, length: timedelta) -> datetime:
    """The start of the ``length`` bar containing ``timestamp`` (epoch-aligned, UTC)."""
    return _EPOCH + ((timestamp - _EPOCH) // length) * length


@dataclass(slots=True)
class _Building:
    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trade_count: int | None
    vwap_volume: Decimal | None  # sum(vwap * volume); None once a minute had no vwap
    partial: bool = False  # started mid-bar: the aggregator missed its first minutes

    def add(self, bar: Bar) -> None:
        self.high = max(self.high, bar.high)
        self.low = min(self.low, bar.low)
        self.close = bar.close
        self.volume += bar.volume
        if self.trade_count is not None:
            self.trade_count = (
                None if bar.trade_count is None else (self.trade_count + bar.trade_count)
            )
        if self.vwap_volume is not None:
            self.vwap_volume = (
                None if bar.vwap is None else self.vwap_volume + (bar.vwap * bar.volume)
            )

    def bar(self, symbol: str) -> Bar:
        vwap = None
        if self.vwap_volume is not None and self.volume > 0:
            vwap = self.vwap_volume / self.volume
        return Bar(
            symbol=symbol,
            timestamp=self.start,
            open=self.open,
            high=self.high,
            low=self.low,
            close=self.close,
            volume=self.volume,
            trade_count=self.trade_count,
            vwap=vwap,
        )


class BarAggregator:
    """Minute bars in, bars of ``timeframe`` (minutes or hours) out, per symbol.

    A bar is emitted when its last minute arrives, or, if that minute had no trades (so no
    bar), when the first minute of a later bar arrives. Minute bars older than the bar being
    built are ignored (a late or repeated bar cannot reopen one already emitted). The first bar
    of a symbol is dropped unless its first minute was seen: it would lack the minutes before
    the stream started, and a strategy would take it for a whole bar.
    """

    def __init__(self, timeframe: Timeframe) -> None:
        self.timeframe = timeframe
        self.length = timeframe.timedelta
        self._building: dict[str, _Building] = {}
        self._seen: set[str] = set()

    def add(self, bar: Bar) -> list[Bar]:
        """Take one minute bar; the bars it completed (zero, one, or two after a gap)."""
        start = bar_start(bar.timestamp, self.length)
        done: list[Bar] = []
        current = self._building.get(bar.symbol)
        if current is not None and start != current.start:
            if start < current.start:
                return done
            if not current.partial:
                done.append(current.bar(bar.symbol))
            current = None
        if current is None:
            current = self._building[bar.symbol] = _Building(
                start=start,
                open=bar.open,
                high=bar.high,
                low=bar.low,
                close=bar.close,
                volume=bar.volume,
                trade_count=bar.trade_count,
                vwap_volume=None if bar.vwap is None else bar.vwap * bar.volume,
                partial=bar.symbol not in self._seen and bar.timestamp != start,
            )
            self._seen.add(bar.symbol)
        else:
            current.add(bar)
        if bar.timestamp + _MINUTE >= start + self.length:
            if not current.partial:
                done.append(current.bar(bar.symbol))
            del self._building[bar.symbol]
        return done

    def pending(self, symbol: str) -> Bar | None:
        """The bar being built for ``symbol`` so far, if any (not yet complete)."""
        current = self._building.get(order_symbol(symbol))
        return None if current is None else current.bar(order_symbol(symbol))
