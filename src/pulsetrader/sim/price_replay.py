"""Replaying recorded bars: :class:`CsvBarSource` and :class:`ReplayPriceModel`.

A replay file has the columns ``symbol,timestamp,open,high,low,close,volume`` and optionally
``trade_count,vwap`` (Alpaca's short names ``t,o,h,l,c,v,n,vw`` work too), as CSV or, when pyarrow
is installed, Parquet. Timestamps are RFC 3339; a naive one is taken as UTC and a bare date as
midnight New York (how Alpaca stamps daily bars).

Each recorded bar becomes four trades spread evenly over the bar's window: open, then high and low
(which comes first is decided by the seed), then close, with the volume split among them and a
quote straddling each. The window is the bar's length, inferred per symbol as the smallest gap
between consecutive bars (one minute when there is a single bar); a daily (or longer) stock bar
trades during that date's regular session instead. Aggregating the derived trades gives back the
recorded open, high, low, close and volume exactly. Bars that fit inside one requested period keep
their recorded ``trade_count`` and ``vwap``; bars that span several are split through their trades.
"""

from __future__ import annotations

import bisect
import csv
import importlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

from pulsetrader.domain.enums import AssetClass
from pulsetrader.domain.market import Bar, Quote, Timeframe, TimeframeUnit, Trade
from pulsetrader.domain.money import ensure_utc, parse_utc
from pulsetrader.sim.calendar import MarketCalendar
from pulsetrader.sim.price_agg import (
    Agg,
    epoch_minute,
    from_epoch_minute,
    merge,
    ny_date,
    ny_midnight,
    period_start,
    to_bar,
)
from pulsetrader.sim.price_specs import SymbolSpec, default_spec, normalize_symbol, stable_uniform

_ALIASES = {"t": "timestamp", "o": "open", "h": "high", "l": "low", "c": "close", "v": "volume"}
_ALIASES |= {"n": "trade_count", "vw": "vwap", "s": "symbol", "time": "timestamp"}
_REQUIRED = ("symbol", "timestamp", "open", "high", "low", "close", "volume")
_DAY = timedelta(days=1)
_FRACTIONS = (0.0, 0.25, 0.5, 0.75)
_STOCK_EXCHANGE = "V"


def _parse_time(value: object) -> datetime:
    if isinstance(value, datetime):
        return ensure_utc(value if value.tzinfo is not None else value.replace(tzinfo=UTC))
    text = str(value).strip()
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        return ny_midnight(datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).date())
    try:
        return parse_utc(text)
    except ValueError:
        naive = datetime.fromisoformat(text)
        if naive.tzinfo is not None:
            raise
        return naive.replace(tzinfo=UTC)


def _bar_from_row(row: Mapping[str, Any]) -> Bar:
    fields = {_ALIASES.get(k.strip().lower(), k.strip().lower()): v for k, v in row.items() if k}
    missing = [name for name in _REQUIRED if fields.get(name) in (None, "")]
    if missing:
        raise ValueError(f"missing column(s) {', '.join(missing)}")
    count = fields.get("trade_count")
    vwap = fields.get("vwap")
    return Bar(
        symbol=normalize_symbol(str(fields["symbol"])),
        timestamp=_parse_time(fields["timestamp"]),
        open=fields["open"],
        high=fields["high"],
        low=fields["low"],
        close=fields["close"],
        volume=fields["volume"],
        trade_count=None if count in (None, "") else int(float(count)),
        vwap=None if vwap in (None, "") else vwap,
    )


@dataclass(frozen=True, slots=True)
class CsvBarSource:
    """Recorded bars per symbol, sorted by timestamp (one bar per timestamp: the last wins)."""

    bars: Mapping[str, tuple[Bar, ...]]

    @classmethod
    def from_bars(cls, bars: Iterable[Bar]) -> CsvBarSource:
        by_symbol: dict[str, dict[datetime, Bar]] = {}
        for bar in bars:
            by_symbol.setdefault(bar.symbol, {})[bar.timestamp] = bar
        return cls({s: tuple(b[t] for t in sorted(b)) for s, b in by_symbol.items()})

    @classmethod
    def load(cls, path: str | Path) -> CsvBarSource:
        """Read a CSV file, or a Parquet file (``.parquet``/``.pq``) when pyarrow is installed.

        Raises ValueError naming the line of the first bad row.
        """
        file = Path(path)
        if file.suffix.lower() in (".parquet", ".pq"):
            try:
                parquet: Any = importlib.import_module("pyarrow.parquet")
            except ImportError:
                raise ValueError(f"{file}: reading Parquet needs pyarrow; use CSV") from None
            rows: list[Mapping[str, Any]] = parquet.read_table(file).to_pylist()
            return cls._from_rows(file, rows, first_line=1)
        with file.open(newline="", encoding="utf-8") as handle:
            return cls._from_rows(file, list(csv.DictReader(handle)), first_line=2)

    @classmethod
    def _from_rows(
        cls, file: Path, rows: Iterable[Mapping[str, Any]], first_line: int
    ) -> CsvBarSource:
        bars = []
        for line, row in enumerate(rows, start=first_line):
            try:
                bars.append(_bar_from_row(row))
            except (ValueError, TypeError, ArithmeticError) as exc:
                raise ValueError(f"{file}, row {line}: {exc}") from exc
        return cls.from_bars(bars)

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self.bars)


class _Series:
    """One symbol's bars with their timestamps and inferred bar length."""

    __slots__ = ("bars", "length", "stamps")

    def __init__(self, bars: tuple[Bar, ...]) -> None:
        self.bars = bars
        self.stamps = [bar.timestamp for bar in bars]
        gaps = [b - a for a, b in zip(self.stamps, self.stamps[1:], strict=False) if b > a]
        self.length = min([*gaps, _DAY]) if gaps else timedelta(minutes=1)


class ReplayPriceModel:
    """A :class:`~pulsetrader.sim.prices.PriceSource` that plays back recorded bars.

    ``specs`` overrides the per-symbol specs; by default each symbol gets :func:`default_spec`
    with its first recorded open as ``start_price``. Unknown symbols have no data.
    """

    def __init__(
        self,
        source: CsvBarSource,
        calendar: MarketCalendar,
        seed: int = 0,
        specs: Mapping[str, SymbolSpec] | None = None,
    ) -> None:
        self._calendar = calendar
        self._seed = seed
        self._series = {symbol: _Series(bars) for symbol, bars in source.bars.items() if bars}
        self._specs: dict[str, SymbolSpec] = {
            normalize_symbol(k): v for k, v in (specs or {}).items()
        }

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self._series)

    def spec(self, symbol: str) -> SymbolSpec:
        sym = normalize_symbol(symbol)
        spec = self._specs.get(sym)
        if spec is None:
            spec = default_spec(sym, self._seed)
            series = self._series.get(sym)
            if series is not None:
                spec = replace(spec, start_price=series.bars[0].open)
            self._specs[sym] = spec
        return spec

    # -- derived ticks -------------------------------------------------------------------------

    def _window(self, spec: SymbolSpec, series: _Series, bar: Bar) -> tuple[datetime, datetime]:
        if series.length >= _DAY and not spec.around_the_clock:
            session = self._calendar.session(ny_date(bar.timestamp))
            if session is not None:
                return session.open, session.close
        return bar.timestamp, bar.timestamp + series.length

    def _bar_ticks(
        self, spec: SymbolSpec, series: _Series, index: int
    ) -> list[tuple[Trade, Quote]]:
        bar = series.bars[index]
        start, end = self._window(spec, series, bar)
        high_first = stable_uniform(self._seed, spec.symbol, "replay", bar.timestamp) < 0.5
        middle = (bar.high, bar.low) if high_first else (bar.low, bar.high)
        prices = (bar.open, *middle, bar.close)
        volume = bar.volume
        quantum = spec.size_increment
        exponent = volume.as_tuple().exponent
        if isinstance(exponent, int) and exponent < 0:
            quantum = min(quantum, Decimal(1).scaleb(exponent))
        part = (volume / 4).quantize(quantum, rounding=ROUND_DOWN)
        sizes = (part, part, part, volume - 3 * part)
        stock = spec.asset_class is AssetClass.US_EQUITY
        quote_size = Decimal(100) if stock else max(part, spec.size_increment)
        result = []
        for j, (price, size) in enumerate(zip(prices, sizes, strict=True)):
            ts = start + (end - start) * _FRACTIONS[j]
            bid, ask = _straddle(price, spec)
            trade = Trade(
                spec.symbol, price, size, ts, _STOCK_EXCHANGE if stock else None, index * 4 + j + 1
            )
            result.append((trade, Quote(spec.symbol, bid, quote_size, ask, quote_size, ts)))
        return result

    def ticks(self, symbol: str, start: datetime, end: datetime) -> Iterator[tuple[Trade, Quote]]:
        """The derived (trade, quote) pairs with ``start <= timestamp < end``, in time order."""
        spec = self.spec(symbol)
        start, end = ensure_utc(start), ensure_utc(end)
        series = self._series.get(spec.symbol)
        if series is None:
            return
        index = bisect.bisect_left(series.stamps, start - 2 * _DAY)
        while index < len(series.bars) and series.stamps[index] < end + _DAY:
            for pair in self._bar_ticks(spec, series, index):
                if start <= pair[0].timestamp < end:
                    yield pair
            index += 1

    def latest_tick(self, symbol: str, at: datetime) -> tuple[Trade, Quote]:
        """The last derived tick at or before ``at``; LookupError before the first one."""
        spec = self.spec(symbol)
        at = ensure_utc(at)
        series = self._series.get(spec.symbol)
        index = -1 if series is None else bisect.bisect_right(series.stamps, at) - 1
        while series is not None and index >= 0:
            for pair in reversed(self._bar_ticks(spec, series, index)):
                if pair[0].timestamp <= at:
                    return pair
            index -= 1
        raise LookupError(f"no replayed data for {spec.symbol} at or before {at.isoformat()}")

    # -- bars ----------------------------------------------------------------------------------

    def minute_bars(self, symbol: str, start: datetime, end: datetime) -> list[Bar]:
        """1Min bars in ``[start, end)`` aggregated from the derived ticks."""
        return self.bars(symbol, Timeframe(1, TimeframeUnit.MINUTE), start, end)

    def bars(self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime) -> list[Bar]:
        """Bars of ``timeframe`` stamped in ``[start, end)``, from whole minutes before ``end``."""
        spec = self.spec(symbol)
        start, end = ensure_utc(start), ensure_utc(end)
        series = self._series.get(spec.symbol)
        if series is None or end <= start:
            return []
        cutoff = from_epoch_minute(epoch_minute(end))
        buckets: dict[datetime, Agg[Decimal]] = {}

        def add(stamp: datetime, agg: Agg[Decimal]) -> None:
            if stamp >= start:
                previous = buckets.get(stamp)
                buckets[stamp] = agg if previous is None else merge(previous, agg)

        index = bisect.bisect_left(series.stamps, start - 2 * _DAY)
        while index < len(series.bars) and series.stamps[index] < cutoff + _DAY:
            bar = series.bars[index]
            first, last = self._window(spec, series, bar)
            stamp = period_start(timeframe, first)
            if last <= cutoff and stamp == period_start(
                timeframe, last - timedelta(microseconds=1)
            ):
                add(stamp, _bar_agg(bar, self._bar_ticks(spec, series, index)))
            elif first < cutoff and last > start:
                for trade, _ in self._bar_ticks(spec, series, index):
                    if start <= trade.timestamp < cutoff:
                        p, s = trade.price, trade.size
                        add(period_start(timeframe, trade.timestamp), (p, p, p, p, s, 1, p * s))
            index += 1
        ordered = sorted(buckets.items())
        return [to_bar(spec.symbol, ts, agg, tick=spec.tick_size) for ts, agg in ordered]


def _bar_agg(bar: Bar, ticks: list[tuple[Trade, Quote]]) -> Agg[Decimal]:
    """A recorded bar as an aggregate, keeping its own trade count and vwap when it has them."""
    if bar.vwap is not None:
        notional = bar.vwap * bar.volume
    else:
        notional = sum((t.price * t.size for t, _ in ticks), Decimal(0))
    count = bar.trade_count if bar.trade_count is not None else len(ticks)
    return (bar.open, bar.high, bar.low, bar.close, bar.volume, count, notional)


def _straddle(price: Decimal, spec: SymbolSpec) -> tuple[Decimal, Decimal]:
    """A bid and ask with ``0 < bid <= price < ask``, ``spread_bps`` apart (at least a tick)."""
    tick = spec.tick_size
    half = max(tick, price * Decimal(repr(spec.spread_bps)) / 10_000) / 2
    bid = ((price - half) / tick).to_integral_value(rounding=ROUND_FLOOR) * tick
    if bid <= 0:
        bid = min(price, tick)
    ask = ((price + half) / tick).to_integral_value(rounding=ROUND_CEILING) * tick
    return bid, ask
