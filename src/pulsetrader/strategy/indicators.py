"""Indicators computed incrementally: one ``update`` per bar, O(1) work, exact Decimals.

Each indicator has ``update(...)`` returning the new value (None until it has seen enough data:
its ``period``), a ``value`` property, and ``ready``. They hold only the window they need, so a
strategy that runs for months does not grow. Conventions follow the usual definitions:

* SMA: the mean of the last ``period`` closes.
* EMA: ``alpha = 2 / (period + 1)``, seeded with the SMA of the first ``period`` values.
* RSI: Wilder's smoothing of gains and losses over ``period`` (100 when there were no losses).
* ATR: Wilder's smoothing of the true range, seeded with the mean of the first ``period``.
* VWAP: cumulative ``sum(typical price * volume) / sum(volume)`` since the last :meth:`reset`
  (call it at each session's open); typical price is ``(high + low + close) / 3``.
* Bollinger: SMA middle band, ``k`` population standard deviations either side.

Division and square roots run in the Decimal context (28 significant digits). The rolling sums of
SMA and Bollinger are recomputed from their window once per ``period`` updates: adding and
subtracting values with more digits than the context keeps rounds, and over months of bars those
roundings would add up; the recomputation bounds the drift at no extra cost per bar.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from pulsetrader.domain.market import Bar
from pulsetrader.domain.money import ZERO, Number, to_decimal

_HUNDRED = Decimal(100)
_THREE = Decimal(3)


def _check_period(period: int) -> int:
    if isinstance(period, bool) or not isinstance(period, int) or period < 1:
        raise ValueError(f"period must be a positive integer, got {period!r}")
    return period


class SMA:
    """Simple moving average of the last ``period`` values."""

    def __init__(self, period: int) -> None:
        self.period = _check_period(period)
        self._window: deque[Decimal] = deque(maxlen=period)
        self._sum = ZERO
        self._turn = 0  # updates since the sum was last recomputed from the window

    def update(self, value: Decimal) -> Decimal | None:
        """Add the next value; the average of the last ``period`` (None until there are as many)."""
        if len(self._window) == self.period:
            self._sum -= self._window[0]
        self._window.append(value)
        self._sum += value
        self._turn += 1
        if self._turn == self.period:
            self._turn = 0
            self._sum = sum(self._window, ZERO)
        return self.value

    @property
    def ready(self) -> bool:
        return len(self._window) == self.period

    @property
    def value(self) -> Decimal | None:
        return self._sum / self.period if self.ready else None


class EMA:
    """Exponential moving average, seeded with the SMA of the first ``period`` values."""

    def __init__(self, period: int) -> None:
        self.period = _check_period(period)
        self.alpha = Decimal(2) / Decimal(period + 1)
        self._seed = SMA(period)
        self._value: Decimal | None = None

    def update(self, value: Decimal) -> Decimal | None:
        if self._value is None:
            self._value = self._seed.update(value)
        else:
            self._value += self.alpha * (value - self._value)
        return self._value

    @property
    def ready(self) -> bool:
        return self._value is not None

    @property
    def value(self) -> Decimal | None:
        return self._value


class RSI:
    """Wilder's relative strength index over ``period`` changes (0-100)."""

    def __init__(self, period: int = 14) -> None:
        self.period = _check_period(period)
        self._previous: Decimal | None = None
        self._gains: list[Decimal] = []
        self._losses: list[Decimal] = []
        self._avg_gain: Decimal | None = None
        self._avg_loss: Decimal | None = None

    def update(self, value: Decimal) -> Decimal | None:
        previous, self._previous = self._previous, value
        if previous is None:
            return None
        change = value - previous
        gain = change if change > 0 else ZERO
        loss = -change if change < 0 else ZERO
        if self._avg_gain is None or self._avg_loss is None:
            self._gains.append(gain)
            self._losses.append(loss)
            if len(self._gains) < self.period:
                return None
            self._avg_gain = sum(self._gains, ZERO) / self.period
            self._avg_loss = sum(self._losses, ZERO) / self.period
            self._gains.clear()
            self._losses.clear()
        else:
            n = self.period
            self._avg_gain = (self._avg_gain * (n - 1) + gain) / n
            self._avg_loss = (self._avg_loss * (n - 1) + loss) / n
        return self.value

    @property
    def ready(self) -> bool:
        return self._avg_gain is not None

    @property
    def value(self) -> Decimal | None:
        if self._avg_gain is None or self._avg_loss is None:
            return None
        if self._avg_loss == 0:
            return _HUNDRED if self._avg_gain > 0 else Decimal(50)
        rs = self._avg_gain / self._avg_loss
        return _HUNDRED - _HUNDRED / (1 + rs)


class ATR:
    """Wilder's average true range over ``period`` bars."""

    def __init__(self, period: int = 14) -> None:
        self.period = _check_period(period)
        self._previous_close: Decimal | None = None
        self._seed: list[Decimal] = []
        self._value: Decimal | None = None

    def update(self, bar: Bar) -> Decimal | None:
        high, low = bar.high, bar.low
        previous = self._previous_close
        true_range = high - low
        if previous is not None:
            true_range = max(true_range, abs(high - previous), abs(low - previous))
        self._previous_close = bar.close
        if self._value is None:
            self._seed.append(true_range)
            if len(self._seed) == self.period:
                self._value = sum(self._seed, ZERO) / self.period
                self._seed.clear()
        else:
            self._value = (self._value * (self.period - 1) + true_range) / self.period
        return self._value

    @property
    def ready(self) -> bool:
        return self._value is not None

    @property
    def value(self) -> Decimal | None:
        return self._value


class VWAP:
    """Volume-weighted average price since the last :meth:`reset`."""

    def __init__(self) -> None:
        self._pv = ZERO
        self._volume = ZERO

    def reset(self) -> None:
        """Start a new session."""
        self._pv = ZERO
        self._volume = ZERO

    def update(self, bar: Bar) -> Decimal | None:
        typical = (bar.high + bar.low + bar.close) / _THREE
        self._pv += typical * bar.volume
        self._volume += bar.volume
        return self.value

    @property
    def ready(self) -> bool:
        return self._volume > 0

    @property
    def value(self) -> Decimal | None:
        return self._pv / self._volume if self._volume > 0 else None


class Bollinger:
    """Bollinger bands: (lower, middle, upper) with ``k`` standard deviations."""

    def __init__(self, period: int = 20, k: Number = 2) -> None:
        self.period = _check_period(period)
        self.k = to_decimal(k)  # a float k is taken by its text, not its binary expansion
        if self.k < 0:
            raise ValueError(f"k must not be negative, got {self.k}")
        self._window: deque[Decimal] = deque(maxlen=period)
        self._sum = ZERO
        self._sum_sq = ZERO
        self._turn = 0

    def update(self, value: Decimal) -> tuple[Decimal, Decimal, Decimal] | None:
        """Add the next value; ``(lower, middle, upper)`` (None until ``period`` values)."""
        if len(self._window) == self.period:
            old = self._window[0]
            self._sum -= old
            self._sum_sq -= old * old
        self._window.append(value)
        self._sum += value
        self._sum_sq += value * value
        self._turn += 1
        if self._turn == self.period:
            self._turn = 0
            self._sum = sum(self._window, ZERO)
            self._sum_sq = sum((v * v for v in self._window), ZERO)
        return self.value

    @property
    def ready(self) -> bool:
        return len(self._window) == self.period

    @property
    def value(self) -> tuple[Decimal, Decimal, Decimal] | None:
        if not self.ready:
            return None
        n = Decimal(self.period)
        mean = self._sum / n
        variance = max(ZERO, self._sum_sq / n - mean * mean)
        width = self.k * variance.sqrt()
        return mean - width, mean, mean + width
