"""Indicators against hand-computed values, and incremental updates against recomputation."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pulsetrader.domain import Bar
from pulsetrader.strategy.indicators import ATR, EMA, RSI, SMA, VWAP, Bollinger
from tests.unit.strategy.fakes import bar

D = Decimal
TOLERANCE = D("1e-20")


def close_to(a: Decimal | None, b: Decimal | None) -> bool:
    assert a is not None
    assert b is not None
    return abs(a - b) <= TOLERANCE * max(D(1), abs(b))


def feed(indicator: SMA | EMA | RSI | Bollinger, values: Sequence[Decimal | int]) -> list[Any]:
    return [indicator.update(D(v)) for v in values]


# -- hand-computed values ------------------------------------------------------------------------


def test_sma_is_none_until_period_values_then_the_mean_of_the_last_period() -> None:
    assert feed(SMA(3), [1, 2, 3, 4, 5]) == [None, None, D(2), D(3), D(4)]


def test_ema_is_seeded_with_the_sma_then_smooths_with_two_over_period_plus_one() -> None:
    # alpha = 2 / 4 = 0.5; seed mean(1, 2, 3) = 2; then 2 + 0.5 * (4 - 2) = 3; 3 + 0.5 * 2 = 4.
    ema = EMA(3)
    assert ema.alpha == D("0.5")
    assert feed(ema, [1, 2, 3, 5, 6]) == [None, None, D(2), D("3.5"), D("4.75")]


def test_rsi_uses_wilders_averages_of_gains_and_losses() -> None:
    # Changes +1, +1, -1: avg gain 2/3, avg loss 1/3, RS 2, RSI 100 - 100/3.
    # Then +2: gain (2/3 * 2 + 2) / 3 = 10/9, loss (1/3 * 2) / 3 = 2/9, RS 5, RSI 100 - 100/6.
    values = feed(RSI(3), [10, 11, 12, 11, 13])
    assert values[:3] == [None, None, None]
    assert close_to(values[3], D(100) - D(100) / D(3))
    assert close_to(values[4], D(100) - D(100) / D(6))


def test_rsi_is_100_with_only_gains_and_50_when_nothing_moves() -> None:
    assert feed(RSI(2), [1, 2, 3])[-1] == D(100)
    assert feed(RSI(2), [5, 5, 5])[-1] == D(50)
    assert feed(RSI(2), [3, 2, 1])[-1] == D(0)


def hlc(high: str, low: str, close: str, minute: int = 0) -> Bar:
    return bar("AAPL", minute, close, high=high, low=low, open=close)


def test_atr_seeds_with_the_mean_true_range_then_uses_wilders_smoothing() -> None:
    atr = ATR(3)
    bars = [
        hlc("10", "8", "9"),
        hlc("11", "9", "10.5"),
        hlc("14", "12", "13"),
        hlc("13.5", "12.5", "13"),
    ]
    # True ranges: 2; max(2, 2, 0) = 2; max(2, 14 - 10.5, 12 - 10.5) = 3.5; max(1, 0.5, 0.5) = 1.
    values = [atr.update(b) for b in bars]
    assert values == [None, None, D("2.5"), D(2)]
    assert atr.ready


def test_vwap_weights_the_typical_price_by_volume_until_reset() -> None:
    vwap = VWAP()
    assert vwap.value is None
    assert vwap.update(bar("AAPL", 0, "10", high="11", low="9", volume=100)) == D(10)
    # (10 * 100 + 12 * 300) / 400
    assert vwap.update(bar("AAPL", 1, "12", high="13", low="11", volume=300)) == D("11.5")
    vwap.reset()
    assert vwap.value is None
    assert vwap.update(bar("AAPL", 2, "12", volume=0)) is None


def test_bollinger_bands_are_k_population_deviations_around_the_sma() -> None:
    bands = Bollinger(4, k=2)
    values = feed(bands, [1, 2, 3, 4])
    assert values[:3] == [None, None, None]
    lower, middle, upper = values[3]
    width = 2 * D("1.25").sqrt()  # population variance of 1..4 is 1.25
    assert middle == D("2.5")
    assert close_to(lower, D("2.5") - width)
    assert close_to(upper, D("2.5") + width)


def test_bollinger_of_a_constant_series_has_zero_width() -> None:
    assert feed(Bollinger(3), [7, 7, 7, 7])[-1] == (D(7), D(7), D(7))


def test_bollinger_takes_a_float_k_by_its_text() -> None:
    assert Bollinger(5, k=0.1).k == D("0.1")
    with pytest.raises(ValueError, match="k must not be negative"):
        Bollinger(5, k=-1)


@pytest.mark.parametrize("period", [0, -1, True, 2.5])
def test_a_period_that_is_not_a_positive_integer_is_refused(period: object) -> None:
    with pytest.raises(ValueError, match="period must be a positive integer"):
        SMA(period)  # type: ignore[arg-type]


# -- incremental equals batch ----------------------------------------------------------------------


def batch_sma(values: list[Decimal], period: int) -> Decimal:
    return sum(values[-period:], D(0)) / period


def batch_ema(values: list[Decimal], period: int) -> Decimal:
    ema = sum(values[:period], D(0)) / period
    alpha = D(2) / D(period + 1)
    for v in values[period:]:
        ema += alpha * (v - ema)
    return ema


def batch_rsi(values: list[Decimal], period: int) -> Decimal:
    changes = [b - a for a, b in itertools.pairwise(values)]
    gains = [max(c, D(0)) for c in changes]
    losses = [max(-c, D(0)) for c in changes]
    avg_gain = sum(gains[:period], D(0)) / period
    avg_loss = sum(losses[:period], D(0)) / period
    for g, lo in zip(gains[period:], losses[period:], strict=True):
        avg_gain = (avg_gain * (period - 1) + g) / period
        avg_loss = (avg_loss * (period - 1) + lo) / period
    if avg_loss == 0:
        return D(100) if avg_gain > 0 else D(50)
    return D(100) - D(100) / (1 + avg_gain / avg_loss)


def batch_atr(bars: list[Bar], period: int) -> Decimal:
    ranges = [bars[0].high - bars[0].low]
    for previous, current in itertools.pairwise(bars):
        ranges.append(
            max(
                current.high - current.low,
                abs(current.high - previous.close),
                abs(current.low - previous.close),
            )
        )
    atr = sum(ranges[:period], D(0)) / period
    for r in ranges[period:]:
        atr = (atr * (period - 1) + r) / period
    return atr


def random_walk(n: int, seed: int) -> list[Decimal]:
    rng = random.Random(seed)
    price, out = D(100), []
    for _ in range(n):
        price = max(D("1.00"), price + D(rng.randint(-150, 150)) / 100)
        out.append(price)
    return out


@pytest.mark.parametrize("period", [1, 2, 5, 14])
def test_incremental_sma_ema_rsi_atr_equal_a_batch_recomputation(period: int) -> None:
    closes = random_walk(120, seed=period)
    bars = [bar("AAPL", i, c, high=c + D("0.5"), low=c - D("0.7")) for i, c in enumerate(closes)]
    sma, ema, rsi, atr = SMA(period), EMA(period), RSI(period), ATR(period)
    for i, (c, b) in enumerate(zip(closes, bars, strict=True), start=1):
        s, e, r, a = sma.update(c), ema.update(c), rsi.update(c), atr.update(b)
        seen = closes[:i]
        assert s == (batch_sma(seen, period) if i >= period else None)
        assert (e is None) == (i < period)
        if e is not None:
            assert close_to(e, batch_ema(seen, period))
        assert (r is None) == (i <= period)
        if r is not None:
            assert close_to(r, batch_rsi(seen, period))
        assert (a is None) == (i < period)
        if a is not None:
            assert close_to(a, batch_atr(bars[:i], period))


def test_rolling_sums_are_recomputed_so_long_series_of_long_decimals_do_not_drift() -> None:
    # 28 significant digits: every add and subtract rounds. After each full turn of the window
    # the sum is rebuilt from it, so the value equals a fresh computation exactly.
    rng = random.Random(7)
    period = 10
    sma, bands = SMA(period), Bollinger(period)
    values = [D(rng.randint(1, 10**6)) / D(7) for _ in range(10 * period)]
    for v in values:
        sma.update(v)
        bands.update(v)
    window = values[-period:]
    assert sma.value == sum(window, D(0)) / period
    assert bands.value is not None
    assert bands.value[1] == sum(window, D(0)) / period


prices = st.decimals(min_value="0.01", max_value="100000", places=2, allow_nan=False)


@given(values=st.lists(prices, min_size=1, max_size=60), period=st.integers(1, 12))
def test_incremental_sma_equals_the_mean_of_the_last_period_values(
    values: list[Decimal], period: int
) -> None:
    sma = SMA(period)
    for i, v in enumerate(values, start=1):
        got = sma.update(v)
        if i < period:
            assert got is None
        else:
            assert got == sum(values[i - period : i], D(0)) / period


@given(values=st.lists(prices, min_size=1, max_size=60), period=st.integers(1, 12))
def test_incremental_bollinger_equals_a_from_scratch_computation(
    values: list[Decimal], period: int
) -> None:
    bands = Bollinger(period, k=2)
    for i, v in enumerate(values, start=1):
        got = bands.update(v)
        if i < period:
            assert got is None
            continue
        window = values[i - period : i]
        mean = sum(window, D(0)) / period
        deviation = (sum(((x - mean) ** 2 for x in window), D(0)) / period).sqrt()
        assert got is not None
        lower, middle, upper = got
        assert middle == mean
        # sum-of-squares and two-pass variance differ only by the context's rounding
        tolerance = D("1e-9") * max(D(1), mean)
        assert abs(upper - (mean + 2 * deviation)) <= tolerance
        assert abs(lower - (mean - 2 * deviation)) <= tolerance
