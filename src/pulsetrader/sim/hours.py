"""When US stock orders may trade: the regular session, extended hours, and day-order expiry.

Only the few calendar queries below are needed, through :class:`CalendarLike`, so the exchange
works with :class:`pulsetrader.sim.calendar.MarketCalendar` or with any stand-in (a backtest may
use a calendar of its own).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from pulsetrader.domain.money import ensure_utc

NEW_YORK = ZoneInfo("America/New_York")
PRE_MARKET_OPEN = time(4, 0)
AFTER_HOURS = timedelta(hours=4)


class SessionLike(Protocol):
    @property
    def open(self) -> datetime: ...
    @property
    def close(self) -> datetime: ...


class CalendarLike(Protocol):
    """The part of :class:`pulsetrader.sim.calendar.MarketCalendar` the exchange uses."""

    def is_open(self, ts: datetime, /) -> bool: ...
    def session(self, day: date, /) -> SessionLike | None: ...
    def next_open(self, ts: datetime, /) -> datetime: ...


def et_date(ts: datetime) -> date:
    """The New York calendar date of ``ts`` (sessions are named by it)."""
    return ensure_utc(ts).astimezone(NEW_YORK).date()


class MarketHours:
    """Session questions the exchange asks, answered from a calendar."""

    def __init__(self, calendar: CalendarLike) -> None:
        self.calendar = calendar

    def is_open(self, at: datetime) -> bool:
        """True during the regular session."""
        return self.calendar.is_open(at)

    def next_open(self, at: datetime) -> datetime:
        return self.calendar.next_open(at)

    def in_extended_hours(self, at: datetime) -> bool:
        """From 04:00 New York to four hours after the close (20:00, or 17:00 on half days)."""
        day = et_date(at)
        session = self.calendar.session(day)
        if session is None:
            return False
        pre_open = datetime.combine(day, PRE_MARKET_OPEN, tzinfo=NEW_YORK)
        return pre_open <= at < session.close + AFTER_HOURS

    def session_end_after(self, at: datetime, extended: bool = False) -> datetime | None:
        """The end of the session in progress at ``at``, or of the next one: a day order's
        ``expires_at``. ``extended`` includes the after-hours session."""
        extra = AFTER_HOURS if extended else timedelta(0)
        session = self.calendar.session(et_date(at))
        if session is not None and at < session.close + extra:
            return session.close + extra
        following = self.calendar.session(et_date(self.calendar.next_open(at)))
        return following.close + extra if following is not None else None

    def closes_between(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Session closes in ``(start, end]``, oldest first."""
        day, last = et_date(start), et_date(end)
        while day <= last:
            session = self.calendar.session(day)
            if session is not None and start < session.close <= end:
                yield session.close
            day += timedelta(days=1)
