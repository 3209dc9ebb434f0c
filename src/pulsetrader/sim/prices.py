"""Deterministic, seeded price paths for the simulator: trades, quotes and bars on demand.

The same seed always gives the same data, and any time range can be computed directly, without
replaying history tick by tick from some epoch. The model has three layers:

1. **Daily anchors.** One log-price per *unit* (a trading session for stocks, a New York calendar
   day for crypto and other around-the-clock symbols) from the origin date 2000-01-03, as a
   mean-reverting random walk around ``log(start_price)`` (AR(1) with the symbol's daily
   volatility and a long-run spread of about 30%, so prices stay plausible for any year). Each
   symbol's walk is generated once, sequentially from its own seeded RNG, and extended lazily.
2. **Minute path.** Inside a unit, the price at each minute boundary is a Brownian bridge from the
   unit's anchor (plus an overnight gap for stocks) to the next unit's anchor.
3. **Ticks.** ``ticks_per_minute`` trades per minute (default 6), their prices a Brownian bridge
   between the two minute boundaries, rounded to the tick size; sizes are random around the
   symbol's volume, shaped by an intraday profile (a U for stocks, a mild afternoon peak for
   crypto). Quotes straddle each trade: ``bid <= price <= ask``, ``bid < ask``, spread of
   ``spread_bps`` rounded to whole ticks (at least one).

Stocks trade only in the calendar's regular sessions (390 minutes, 210 on early closes); crypto
trades every minute of every day. Day bars of crypto cover New York calendar days, like Alpaca's.

Prices and sizes of a whole unit come from one RNG seeded by ``(seed, symbol, date)`` (a stable
BLAKE2b hash), so a unit costs a few milliseconds and is cached (LRU). Tick timestamps and quotes
come from an RNG seeded by ``(seed, symbol, minute)`` and are only made when ticks are asked for,
which keeps bar queries fast. Bars are exact aggregates of the ticks: a 1Min bar is what a stream
that sent those trades would show, and longer bars aggregate the 1Min ones. Bars only contain
whole minutes that ended at or before ``end``, so asking up to "now" never leaks the future.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import Protocol, runtime_checkable

from pulsetrader.domain.market import Bar, Quote, Timeframe, TimeframeUnit, Trade
from pulsetrader.domain.money import ensure_utc
from pulsetrader.sim.calendar import LAST_YEAR, MarketCalendar, Session
from pulsetrader.sim.price_agg import (
    Agg,
    bucket_minutes,
    epoch_minute,
    first_bucket_minute,
    from_epoch_minute,
    merge,
    ny_date,
    ny_midnight,
    period_of_day,
    to_bar,
)
from pulsetrader.sim.price_paths import Anchors, Unit, UnitKey, generate_unit, minute_ticks
from pulsetrader.sim.price_replay import CsvBarSource, ReplayPriceModel
from pulsetrader.sim.price_specs import KNOWN_SYMBOLS, SymbolSpec, default_spec, normalize_symbol

ORIGIN = date(2000, 1, 3)
_LAST_DAY = date(LAST_YEAR, 12, 31)
_MINUTE = timedelta(minutes=1)
_UNIT_CACHE = 48  # generated units (a crypto day is ~150 kB)
_DAY_CACHE = 200_000  # day aggregates (tiny): decades of daily bars for dozens of symbols


@runtime_checkable
class PriceSource(Protocol):
    """What the simulator needs from a market: synthetic (:class:`PriceModel`) or replayed.

    Times are aware datetimes; results are in aware UTC. Bars cover ``[start, end)`` by bar
    timestamp and only include data strictly before ``end``.
    """

    @property
    def symbols(self) -> tuple[str, ...]: ...

    def spec(self, symbol: str) -> SymbolSpec: ...

    def ticks(self, symbol: str, start: datetime, end: datetime) -> Iterator[tuple[Trade, Quote]]:
        """Every (trade, quote) with ``start <= timestamp < end``, in time order."""
        ...

    def latest_tick(self, symbol: str, at: datetime) -> tuple[Trade, Quote]:
        """The last tick at or before ``at``. LookupError when there is none."""
        ...

    def minute_bars(self, symbol: str, start: datetime, end: datetime) -> list[Bar]:
        """1Min bars, each the exact aggregate of that minute's ticks."""
        ...

    def bars(self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime) -> list[Bar]:
        """Bars of any Alpaca timeframe, aggregated from the 1Min bars."""
        ...


class PriceModel:
    """Seeded synthetic markets for any symbol; implements :class:`PriceSource`.

    ``specs`` replaces the configured symbols (default: :data:`KNOWN_SYMBOLS` with
    :func:`default_spec`); any other valid symbol gets a default spec when first used, so every
    ticker works. There is no data before :data:`ORIGIN` (empty results, and LookupError from
    :meth:`latest_tick`). Not thread-safe: caches are plain dicts.
    """

    def __init__(
        self,
        seed: int,
        calendar: MarketCalendar,
        specs: Mapping[str, SymbolSpec] | None = None,
        ticks_per_minute: int = 6,
    ) -> None:
        if not 1 <= ticks_per_minute <= 600:
            raise ValueError(f"ticks_per_minute must be 1-600, got {ticks_per_minute}")
        self._seed = seed
        self._calendar = calendar
        self._ticks_per_minute = ticks_per_minute
        self._specs: dict[str, SymbolSpec] = {}
        if specs is None:
            for symbol in KNOWN_SYMBOLS:
                self._specs[symbol] = default_spec(symbol, seed)
        else:
            for symbol, spec in specs.items():
                self._specs[normalize_symbol(symbol)] = spec
        self._anchors: dict[str, Anchors] = {}
        self._units: OrderedDict[tuple[str, date], Unit] = OrderedDict()
        self._days: OrderedDict[tuple[str, date], Agg[int]] = OrderedDict()
        self._trading_index: dict[date, int] = {}
        self._indexed_through = ORIGIN.year - 1

    @property
    def seed(self) -> int:
        return self._seed

    @property
    def calendar(self) -> MarketCalendar:
        return self._calendar

    @property
    def ticks_per_minute(self) -> int:
        return self._ticks_per_minute

    @property
    def symbols(self) -> tuple[str, ...]:
        """The configured symbols, then any added on demand, in first-use order."""
        return tuple(self._specs)

    def spec(self, symbol: str) -> SymbolSpec:
        """The spec of ``symbol`` (either crypto spelling); a default one for a new symbol.

        Raises ValueError for text that is not a valid ticker or pair.
        """
        sym = normalize_symbol(symbol)
        spec = self._specs.get(sym)
        if spec is None:
            spec = self._specs[sym] = default_spec(sym, self._seed)
        return spec

    # -- ticks ---------------------------------------------------------------------------------

    def ticks(self, symbol: str, start: datetime, end: datetime) -> Iterator[tuple[Trade, Quote]]:
        """Every (trade, quote) with ``start <= timestamp < end``, in time order (lazily)."""
        spec = self.spec(symbol)
        start, end = ensure_utc(start), ensure_utc(end)
        for key in self._unit_keys(spec, start, end):
            unit = self._unit(spec, key)
            first = max(0, (start - key.start) // _MINUTE)
            last = min(key.minutes, -(-(end - key.start) // _MINUTE))
            for k in range(first, last):
                for pair in minute_ticks(spec, unit, k, self._seed, self._ticks_per_minute):
                    if start <= pair[0].timestamp < end:
                        yield pair

    def latest_tick(self, symbol: str, at: datetime) -> tuple[Trade, Quote]:
        """The last tick at or before ``at``.

        For a stock outside market hours that is the last tick of the previous session. Raises
        LookupError before :data:`ORIGIN`.
        """
        spec = self.spec(symbol)
        at = ensure_utc(at)
        key = self._key_at_or_before(spec, at)
        if key is None:
            raise LookupError(f"no simulated data for {spec.symbol} at or before {at.isoformat()}")
        k = min(key.minutes - 1, (at - key.start) // _MINUTE)
        while True:
            unit = self._unit(spec, key)
            for pair in reversed(minute_ticks(spec, unit, k, self._seed, self._ticks_per_minute)):
                if pair[0].timestamp <= at:
                    return pair
            k -= 1
            if k < 0:
                previous = self._previous_key(spec, key)
                if previous is None:
                    raise LookupError(f"no simulated data for {spec.symbol} before {at}")
                key, k = previous, previous.minutes - 1

    # -- bars ----------------------------------------------------------------------------------

    def minute_bars(self, symbol: str, start: datetime, end: datetime) -> list[Bar]:
        """1Min bars in ``[start, end)``, each the exact aggregate of that minute's ticks."""
        return self.bars(symbol, Timeframe(1, TimeframeUnit.MINUTE), start, end)

    def bars(self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime) -> list[Bar]:
        """Bars of ``timeframe`` stamped in ``[start, end)``, from whole minutes before ``end``.

        Minute and hour bars are aligned to multiples of their length since the epoch; day, week
        and month bars are stamped at New York midnight (see :mod:`~pulsetrader.sim.price_agg`).
        A bar whose period is still running at ``end`` holds the minutes so far.
        """
        spec = self.spec(symbol)
        start, end = ensure_utc(start), ensure_utc(end)
        if end <= start:
            return []
        length = bucket_minutes(timeframe)
        if length is not None:
            aggs = self._intraday(spec, length, start, end)
        else:
            aggs = self._periodic(spec, timeframe, start, end)
        tick, increment = spec.tick_size, spec.size_increment
        return [to_bar(spec.symbol, ts, agg, tick, increment) for ts, agg in aggs.items()]

    def _intraday(
        self, spec: SymbolSpec, length: int, start: datetime, end: datetime
    ) -> dict[datetime, Agg[int]]:
        lo = first_bucket_minute(length, start)
        hi = epoch_minute(end)  # minutes that end at or before `end`
        buckets: dict[int, Agg[int]] = {}
        if lo >= hi:
            return {}
        for key in self._unit_keys(spec, from_epoch_minute(lo), from_epoch_minute(hi)):
            unit_minute = epoch_minute(key.start)
            aggs = self._unit(spec, key).minute_aggs
            for k in range(max(0, lo - unit_minute), min(key.minutes, hi - unit_minute)):
                minute = unit_minute + k
                bucket = minute - minute % length
                previous = buckets.get(bucket)
                buckets[bucket] = aggs[k] if previous is None else merge(previous, aggs[k])
        return {from_epoch_minute(m): agg for m, agg in buckets.items()}

    def _periodic(
        self, spec: SymbolSpec, timeframe: Timeframe, start: datetime, end: datetime
    ) -> dict[datetime, Agg[int]]:
        cutoff = from_epoch_minute(epoch_minute(end))
        periods: dict[datetime, Agg[int]] = {}
        for key in self._unit_keys(spec, start, cutoff):
            stamp = period_of_day(timeframe, key.day)
            if stamp < start:
                continue
            agg = self._day_agg(spec, key, cutoff)
            if agg is not None:
                previous = periods.get(stamp)
                periods[stamp] = agg if previous is None else merge(previous, agg)
        return periods

    def _day_agg(self, spec: SymbolSpec, key: UnitKey, cutoff: datetime) -> Agg[int] | None:
        """The aggregate of the unit's minutes before ``cutoff`` (whole units are cached)."""
        if cutoff < key.end:
            minutes = (cutoff - key.start) // _MINUTE
            if minutes <= 0:
                return None
            aggs = self._unit(spec, key).minute_aggs[:minutes]
            total = aggs[0]
            for agg in aggs[1:]:
                total = merge(total, agg)
            return total
        cache_key = (spec.symbol, key.day)
        cached = self._days.get(cache_key)
        if cached is not None:
            self._days.move_to_end(cache_key)
            return cached
        # Whole units are needed once for their day bar; keep them out of the unit LRU.
        unit = self._units.get(cache_key) or self._generate(spec, key)
        self._days[cache_key] = unit.total
        if len(self._days) > _DAY_CACHE:
            self._days.popitem(last=False)
        return unit.total

    # -- units ---------------------------------------------------------------------------------

    def _generate(self, spec: SymbolSpec, key: UnitKey) -> Unit:
        anchors = self._anchors.get(spec.symbol)
        if anchors is None:
            anchors = self._anchors[spec.symbol] = Anchors(spec, self._seed)
        return generate_unit(spec, key, anchors, self._seed, self._ticks_per_minute)

    def _unit(self, spec: SymbolSpec, key: UnitKey) -> Unit:
        cache_key = (spec.symbol, key.day)
        unit = self._units.get(cache_key)
        if unit is not None:
            self._units.move_to_end(cache_key)
            return unit
        unit = self._generate(spec, key)
        self._units[cache_key] = unit
        if len(self._units) > _UNIT_CACHE:
            self._units.popitem(last=False)
        return unit

    def _stock_index(self, day: date) -> int:
        """The number of trading days from :data:`ORIGIN` to ``day`` (a trading day)."""
        while self._indexed_through < day.year:
            year = self._indexed_through + 1
            first = max(date(year, 1, 1), ORIGIN)
            for session in self._calendar.sessions(first, date(year, 12, 31)):
                self._trading_index[session.date] = len(self._trading_index)
            self._indexed_through = year
        return self._trading_index[day]

    def _session_key(self, session: Session) -> UnitKey:
        index = self._stock_index(session.date)
        return UnitKey(session.date, index, session.open, session.minutes)

    @staticmethod
    def _day_key(day: date) -> UnitKey:
        start = ny_midnight(day)
        minutes = (ny_midnight(day + timedelta(days=1)) - start) // _MINUTE
        return UnitKey(day, (day - ORIGIN).days, start, minutes)

    def _unit_keys(self, spec: SymbolSpec, start: datetime, end: datetime) -> list[UnitKey]:
        """The units that overlap ``[start, end)``, in order."""
        if end <= start:
            return []
        first = max(ny_date(start), ORIGIN)
        last = min(ny_date(end - timedelta(microseconds=1)), _LAST_DAY)
        if first > last:
            return []
        if spec.around_the_clock:
            days = (first + timedelta(days=i) for i in range((last - first).days + 1))
            keys = [self._day_key(day) for day in days]
            return [key for key in keys if key.start < end and key.end > start]
        return [
            self._session_key(session)
            for session in self._calendar.sessions(first, last)
            if session.open < end and session.close > start
        ]

    def _key_at_or_before(self, spec: SymbolSpec, at: datetime) -> UnitKey | None:
        """The unit that started most recently at or before ``at``."""
        if spec.around_the_clock:
            day = ny_date(at)
            return self._day_key(day) if day >= ORIGIN else None
        session = self._calendar.latest_session_at_or_before(at)
        return self._session_key(session) if session.date >= ORIGIN else None

    def _previous_key(self, spec: SymbolSpec, key: UnitKey) -> UnitKey | None:
        if spec.around_the_clock:
            day = key.day - timedelta(days=1)
            return self._day_key(day) if day >= ORIGIN else None
        session = self._calendar.previous_session(key.day)
        return self._session_key(session) if session.date >= ORIGIN else None


__all__ = [
    "KNOWN_SYMBOLS",
    "ORIGIN",
    "CsvBarSource",
    "PriceModel",
    "PriceSource",
    "ReplayPriceModel",
    "SymbolSpec",
    "default_spec",
]
