"""The simulator's clock: simulated time that runs at a chosen speed and can be pushed forward.

Simulated time is ``anchor + (monotonic() - anchor_monotonic) * speed``. Every change (a manual
advance, a jump, a new speed, a pause) first re-anchors at the current simulated instant, so time
stays continuous and never runs backwards. The monotonic source is injectable, which lets tests
drive the clock without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from pulsetrader.domain.money import ensure_utc
from pulsetrader.sim.calendar import MarketCalendar


class SimClock:
    """Simulated wall-clock time (aware UTC), starting at ``start`` and running at ``speed``.

    ``speed`` is simulated seconds per real second: 1.0 is real time, 60.0 runs a minute per
    second, 0.0 stands still (like :meth:`pause`, but the clock still reports itself running).
    """

    def __init__(
        self,
        start: datetime,
        speed: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._monotonic = monotonic
        self._speed = _check_speed(speed)
        self._anchor = ensure_utc(start)
        self._anchor_mono = monotonic()
        self._paused = False

    def now(self) -> datetime:
        """The current simulated time."""
        if self._paused:
            return self._anchor
        elapsed = max(0.0, self._monotonic() - self._anchor_mono)
        return self._anchor + timedelta(seconds=elapsed * self._speed)

    def _reanchor(self) -> datetime:
        """Freeze the current simulated instant as the new anchor and return it."""
        current = self.now()
        self._anchor = current
        self._anchor_mono = self._monotonic()
        return current

    def advance(self, delta: timedelta) -> datetime:
        """Jump forward by ``delta`` (on top of the running time) and return the new now.

        Raises ValueError for a negative delta: simulated time never goes backwards.
        """
        if delta < timedelta(0):
            raise ValueError(f"cannot advance the clock by a negative delta ({delta})")
        self._anchor = self._reanchor() + delta
        return self._anchor

    def set(self, ts: datetime) -> datetime:
        """Jump to ``ts``. Raises ValueError if ``ts`` is before the current simulated time."""
        target = ensure_utc(ts)
        current = self._reanchor()
        if target < current:
            raise ValueError(
                f"cannot set the clock back from {current.isoformat()} to {target.isoformat()}"
            )
        self._anchor = target
        return target

    @property
    def speed(self) -> float:
        """Simulated seconds per real second."""
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        checked = _check_speed(value)
        # Re-anchor first so the time already elapsed keeps the old rate.
        self._reanchor()
        self._speed = checked

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        """Stop simulated time until :meth:`resume` (manual advances still work)."""
        if not self._paused:
            self._reanchor()
            self._paused = True

    def resume(self) -> None:
        """Let simulated time run again from where it stopped."""
        if self._paused:
            self._anchor_mono = self._monotonic()
            self._paused = False


def _check_speed(speed: float) -> float:
    value = float(speed)
    if not value >= 0.0 or value == float("inf"):  # also rejects NaN
        raise ValueError(f"clock speed must be a finite number >= 0, got {speed!r}")
    return value


def default_start(calendar: MarketCalendar, wall_now: datetime) -> datetime:
    """Where a new simulation starts: the open of the latest session at or before ``wall_now``.

    Starting at an open means a fresh simulator always has a session of trading ahead of it,
    whatever the wall-clock time or day of the week.
    """
    return calendar.latest_open_at_or_before(wall_now)
