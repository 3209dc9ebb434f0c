"""The synthetic price generator behind :class:`~pulsetrader.sim.prices.PriceModel`.

See :mod:`pulsetrader.sim.prices` for the model. This module holds the number crunching: daily
anchors, one unit's minute path and ticks (integer ticks and size units, exact and fast), and the
expansion of one minute into timestamped :class:`Trade`/:class:`Quote` pairs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from pulsetrader.domain.enums import AssetClass
from pulsetrader.domain.market import Quote, Trade
from pulsetrader.sim.price_agg import Agg, epoch_minute
from pulsetrader.sim.price_specs import SymbolSpec, seeded_random

# Random normals and exponentials by table lookup on random(): several times faster than
# random.gauss, and random() is the one stream CPython promises never to change.
_TABLE = 4096
_NORMAL: tuple[float, ...] = tuple(NormalDist().inv_cdf((i + 0.5) / _TABLE) for i in range(_TABLE))
_EXPO: tuple[float, ...] = tuple(-math.log(1.0 - (i + 0.5) / _TABLE) for i in range(_TABLE))
_NORMAL_NP = np.array(_NORMAL)
_EXPO_NP = np.array(_EXPO)
LONG_RUN_STD = 0.30  # stationary std of the log price around log(start_price)
GAP_SHARE = 0.3  # std of the overnight gap of stocks, as a share of the daily volatility
DAY_VOLUME_STD = 0.25  # std of the log of a unit's volume relative to the average
STOCK_EXCHANGE = "V"  # IEX, the venue of Alpaca's free stock feed


@dataclass(frozen=True, slots=True)
class UnitKey:
    """A trading unit: a session, or a New York day for around-the-clock symbols."""

    day: date
    index: int  # position in the symbol's anchor walk
    start: datetime
    minutes: int

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.minutes)


class Unit:
    """One unit's trade prices (ticks) and sizes (size units), with per-minute aggregates.

    ``prices`` and ``sizes`` are ``(minutes, ticks_per_minute)`` integer arrays.
    """

    __slots__ = ("key", "mean_size", "minute_aggs", "prices", "sizes", "total")

    def __init__(
        self,
        key: UnitKey,
        prices: npt.NDArray[np.int64],
        sizes: npt.NDArray[np.int64],
        mean_size: float,
        minute_aggs: list[Agg[int]],
        total: Agg[int],
    ) -> None:
        self.key = key
        self.prices = prices
        self.sizes = sizes
        self.mean_size = mean_size  # average trade size in size units, for quote sizes
        self.minute_aggs = minute_aggs
        self.total = total


class Anchors:
    """A symbol's daily log-price anchors, generated sequentially and extended on demand.

    AR(1) around ``log(start_price)``: locally a random walk with the daily volatility, but with a
    stationary spread of :data:`LONG_RUN_STD`, so no year drifts to absurd prices.
    """

    def __init__(self, spec: SymbolSpec, seed: int) -> None:
        self._random = seeded_random(seed, spec.symbol, "anchors").random
        self._mu = math.log(float(spec.start_price))
        self._sigma = spec.daily_vol
        self._phi = math.sqrt(max(0.0, 1.0 - (spec.daily_vol / LONG_RUN_STD) ** 2))
        self._values = [self._mu]

    def __getitem__(self, index: int) -> float:
        values = self._values
        if index >= len(values):
            rnd, mu, phi, sigma = self._random, self._mu, self._phi, self._sigma
            x = values[-1]
            # Extending in any order draws the same sequence: the walk is always grown from its end.
            for _ in range(index + 256 - len(values)):
                x = mu + phi * (x - mu) + sigma * _NORMAL[int(rnd() * _TABLE)]
                values.append(x)
        return values[index]


_PROFILES: dict[tuple[int, bool], tuple[float, ...]] = {}


def volume_profile(minutes: int, around_the_clock: bool) -> tuple[float, ...]:
    """Relative volume per minute, mean 1: a U over a session, an afternoon hump over a day."""
    key = (minutes, around_the_clock)
    cached = _PROFILES.get(key)
    if cached is not None:
        return cached
    if around_the_clock:
        # Minute k of a New York day: busiest around 14:00 New York, quietest overnight.
        raw = [1.0 + 0.35 * math.cos(2 * math.pi * (k - 14 * 60) / 1440) for k in range(minutes)]
    else:
        raw = [0.55 + 1.6 * ((k + 0.5) / minutes * 2 - 1) ** 2 for k in range(minutes)]
        for k in range(max(0, minutes - 10), minutes):
            raw[k] *= 1.5  # the rush into the close
    mean = sum(raw) / len(raw)
    profile = tuple(w / mean for w in raw)
    _PROFILES[key] = profile
    return profile


def generate_unit(
    spec: SymbolSpec, key: UnitKey, anchors: Anchors, seed: int, ticks_per_minute: int
) -> Unit:
    """Generate every trade price and size of one unit (about a millisecond per unit)."""
    rng = seeded_random(seed, spec.symbol, "unit", key.day.isoformat())
    n, t = key.minutes, ticks_per_minute
    sigma = spec.daily_vol
    around = spec.around_the_clock
    step = sigma / math.sqrt(1440 if around else 390)  # log-price std of one minute

    gap_z = _NORMAL[int(rng.random() * _TABLE)]
    volume_z = _NORMAL[int(rng.random() * _TABLE)]
    start_level = anchors[key.index] + (0.0 if around else GAP_SHARE * sigma * gap_z)
    end_level = anchors[key.index + 1]
    # All other randomness in one call: table indices for n walk steps, n*t tick steps and n*t
    # trade sizes. Little-endian so every platform reads the same indices.
    raw = np.frombuffer(rng.randbytes(2 * n * (1 + 2 * t)), dtype="<u2") & (_TABLE - 1)
    walk_z, tick_z, size_e = raw[:n], raw[n : n + n * t], raw[n + n * t :]

    # Minute boundaries: a Brownian bridge (in log price) from start_level to end_level.
    walk = np.concatenate(([0.0], np.cumsum(_NORMAL_NP[walk_z] * step)))
    slope = (end_level - start_level - float(walk[-1])) / n
    log_levels = start_level + slope * np.arange(n + 1) + walk
    # math.exp rather than np.exp: numpy's vectorised exp may differ in the last bit by CPU.
    levels = np.array([math.exp(x) for x in log_levels.tolist()]) * float(1 / spec.tick_size)

    # Ticks: within each minute a Brownian bridge between the two boundary levels, in ticks.
    cumulative = np.cumsum(_NORMAL_NP[tick_z].reshape(n, t), axis=1)  # W((j+1)/t)
    before = np.concatenate((np.zeros((n, 1)), cumulative[:, :-1]), axis=1)  # W(j/t)
    p0, p1 = levels[:-1, None], levels[1:, None]
    scale = p0 * (step / math.sqrt(t))
    fractions = np.arange(t) / t
    values = p0 + fractions * (p1 - p0 - scale * cumulative[:, -1:]) + scale * before
    prices = np.maximum(np.floor(values + 0.5), 1).astype(np.int64)

    day_factor = math.exp(DAY_VOLUME_STD * volume_z)
    mean_size = spec.base_volume_per_min * day_factor / t / float(spec.size_increment)
    minute_mean = mean_size * np.asarray(volume_profile(n, around))[:, None]
    sizes = np.maximum(np.floor(minute_mean * _EXPO_NP[size_e].reshape(n, t) + 0.5), 1)
    sizes = sizes.astype(np.int64)

    if float(prices.max()) * float(sizes.max()) * t < 2.0**62:
        notional = (prices * sizes).sum(axis=1).tolist()
    else:  # would overflow int64: let Python's integers do it
        notional = (prices.astype(object) * sizes.astype(object)).sum(axis=1).tolist()
    minute_aggs: list[Agg[int]] = list(
        zip(
            prices[:, 0].tolist(),
            prices.max(axis=1).tolist(),
            prices.min(axis=1).tolist(),
            prices[:, -1].tolist(),
            sizes.sum(axis=1).tolist(),
            [t] * n,
            notional,
            strict=True,
        )
    )
    total: Agg[int] = (
        int(prices[0, 0]),
        int(prices.max()),
        int(prices.min()),
        int(prices[-1, -1]),
        int(sizes.sum()),
        n * t,
        sum(notional),
    )
    return Unit(key, prices, sizes, mean_size, minute_aggs, total)


def minute_ticks(
    spec: SymbolSpec, unit: Unit, k: int, seed: int, ticks_per_minute: int
) -> list[tuple[Trade, Quote]]:
    """The timestamped trades and quotes of minute ``k`` of ``unit``."""
    t = ticks_per_minute
    minute = epoch_minute(unit.key.start) + k
    rnd = seeded_random(seed, spec.symbol, "minute", minute).random
    base = unit.key.start + timedelta(minutes=k)
    slot = 60_000_000 / t  # microseconds per tick slot
    tick, increment = spec.tick_size, spec.size_increment
    bps = spec.spread_bps / 10_000
    stock = spec.asset_class is AssetClass.US_EQUITY
    exchange = STOCK_EXCHANGE if stock else None
    result: list[tuple[Trade, Quote]] = []
    prices: list[int] = unit.prices[k].tolist()
    sizes: list[int] = unit.sizes[k].tolist()
    for j, (price, size) in enumerate(zip(prices, sizes, strict=True)):
        # Each tick lands somewhere inside its own slot, so timestamps strictly increase.
        ts = base + timedelta(microseconds=int((j + 0.05 + 0.9 * rnd()) * slot))
        spread = max(1, int(price * bps + 0.5))
        bid = max(1, price - min(spread, int(rnd() * (spread + 1))))
        ask = bid + spread
        if stock:
            bid_size = Decimal(100 * (1 + int(rnd() * 9)))
            ask_size = Decimal(100 * (1 + int(rnd() * 9)))
        else:
            bid_size = increment * max(1, int(unit.mean_size * (0.5 + 2 * rnd())))
            ask_size = increment * max(1, int(unit.mean_size * (0.5 + 2 * rnd())))
        trade = Trade(spec.symbol, tick * price, increment * size, ts, exchange, minute * t + j)
        quote = Quote(spec.symbol, tick * bid, bid_size, tick * ask, ask_size, ts)
        result.append((trade, quote))
    return result
