"""The NYSE regular-session calendar, computed from the exchange's rules (no data, no network).

Supported years: 1990 to 2100. The rules:

* Weekends are closed.
* Holidays, with NYSE's observance rules (Rule 7.2):

  - New Year's Day, 1 January. On a Sunday it is observed on Monday 2 January; on a Saturday it is
    **not** observed (the Friday before, 31 December, is a normal trading day, as in 2021-12-31).
  - Martin Luther King Jr. Day, third Monday of January, from 1998.
  - Washington's Birthday, third Monday of February.
  - Good Friday, two days before Easter Sunday (Gregorian computus).
  - Memorial Day, last Monday of May.
  - Juneteenth, 19 June, from 2022.
  - Independence Day, 4 July.
  - Labor Day, first Monday of September.
  - Thanksgiving Day, fourth Thursday of November.
  - Christmas Day, 25 December.

  Apart from New Year's Day, a holiday falling on a Saturday is observed on the Friday before and
  one falling on a Sunday on the Monday after.
* Unscheduled closures since 1990 that no rule predicts (national days of mourning, 11 September
  2001, Hurricane Sandy) are listed in :data:`SPECIAL_CLOSURES` so the calendar matches what
  Alpaca's ``GET /v2/calendar`` reports for those dates.
* The regular session is 09:30 to 16:00 America/New_York (zoneinfo handles daylight saving time,
  so the UTC open is 14:30Z in winter and 13:30Z in summer).
* Early closes at 13:00 New York: the day before Independence Day (3 July) when that day is a
  trading day, the day after Thanksgiving, and Christmas Eve (24 December) when it is a trading day.
* The settlement date reported with each session is the N-th following trading day: T+1 from
  2024-05-28, T+2 from 2017-09-05, T+3 from 1995-06-07 and T+5 before. Bank holidays on which the
  exchange trades (Columbus Day, Veterans Day) are not skipped: this is a simulator.

Sessions are computed a year at a time and cached.
"""

from __future__ import annotations

import bisect
import datetime as _dt
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pulsetrader.domain.money import ensure_utc

NEW_YORK = ZoneInfo("America/New_York")
FIRST_YEAR = 1990
LAST_YEAR = 2100

REGULAR_OPEN = time(9, 30)
REGULAR_CLOSE = time(16, 0)
EARLY_CLOSE = time(13, 0)

SPECIAL_CLOSURES: frozenset[date] = frozenset(
    {
        date(1994, 4, 27),  # President Nixon's funeral
        date(2001, 9, 11),  # 11 September attacks: closed for four days
        date(2001, 9, 12),
        date(2001, 9, 13),
        date(2001, 9, 14),
        date(2004, 6, 11),  # President Reagan's funeral
        date(2007, 1, 2),  # President Ford's funeral
        date(2012, 10, 29),  # Hurricane Sandy: closed for two days
        date(2012, 10, 30),
        date(2018, 12, 5),  # President George H. W. Bush's funeral
        date(2025, 1, 9),  # President Carter's funeral
    }
)

# Settlement cycle changes (first trade date of each cycle), newest first.
_SETTLEMENT_CYCLES: tuple[tuple[date, int], ...] = (
    (date(2024, 5, 28), 1),
    (date(2017, 9, 5), 2),
    (date(1995, 6, 7), 3),
)


@dataclass(frozen=True, slots=True)
class Session:
    """One regular trading session. ``open`` and ``close`` are aware UTC datetimes."""

    date: date
    open: datetime
    close: datetime
    settlement_date: _dt.date | None = None

    @property
    def is_early_close(self) -> bool:
        """True on the 13:00 half days."""
        return self.close.astimezone(NEW_YORK).time() == EARLY_CLOSE

    @property
    def minutes(self) -> int:
        """Length of the session in minutes: 390, or 210 on an early close."""
        return int((self.close - self.open).total_seconds()) // 60

    def contains(self, ts: datetime) -> bool:
        """True when ``open <= ts < close``."""
        return self.open <= ts < self.close

    def to_alpaca(self) -> dict[str, str]:
        """The session exactly as Alpaca's ``GET /v2/calendar`` returns it (New York local times).

        On early-close days the extended session ends at 17:00 instead of 20:00.
        """
        local_open = self.open.astimezone(NEW_YORK)
        local_close = self.close.astimezone(NEW_YORK)
        settlement = self.settlement_date or self.date
        return {
            "date": self.date.isoformat(),
            "open": local_open.strftime("%H:%M"),
            "close": local_close.strftime("%H:%M"),
            "session_open": "0400",
            "session_close": "1700" if self.is_early_close else "2000",
            "settlement_date": settlement.isoformat(),
        }


def easter_sunday(year: int) -> date:
    """Easter Sunday of ``year`` in the Gregorian calendar (anonymous Gregorian computus)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month, day = divmod(h + l_ - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The ``n``-th ``weekday`` (Monday=0) of the month; ``n = -1`` for the last one."""
    if n > 0:
        first = date(year, month, 1)
        offset = (weekday - first.weekday()) % 7
        return first + timedelta(days=offset + 7 * (n - 1))
    following = date(year + (month == 12), month % 12 + 1, 1)
    last = following - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: date) -> date:
    """Saturday holidays move to Friday, Sunday holidays to Monday."""
    if day.weekday() == 5:
        return day - timedelta(days=1)
    if day.weekday() == 6:
        return day + timedelta(days=1)
    return day


def nyse_holidays(year: int) -> set[date]:
    """The weekday dates of ``year`` on which the NYSE is closed for a holiday or a closure."""
    days: set[date] = set()
    new_year = date(year, 1, 1)
    if new_year.weekday() == 6:
        days.add(new_year + timedelta(days=1))
    elif new_year.weekday() != 5:  # Saturday: not observed on the Friday before
        days.add(new_year)
    if year >= 1998:
        days.add(_nth_weekday(year, 1, 0, 3))  # Martin Luther King Jr. Day
    days.add(_nth_weekday(year, 2, 0, 3))  # Washington's Birthday
    days.add(easter_sunday(year) - timedelta(days=2))  # Good Friday
    days.add(_nth_weekday(year, 5, 0, -1))  # Memorial Day
    if year >= 2022:
        days.add(_observed(date(year, 6, 19)))  # Juneteenth
    days.add(_observed(date(year, 7, 4)))  # Independence Day
    days.add(_nth_weekday(year, 9, 0, 1))  # Labor Day
    days.add(_nth_weekday(year, 11, 3, 4))  # Thanksgiving
    days.add(_observed(date(year, 12, 25)))  # Christmas
    days.update(d for d in SPECIAL_CLOSURES if d.year == year)
    # A Saturday holiday observed on Friday 31 December of the year before belongs to that year.
    return {d for d in days if d.year == year}


def _early_closes(year: int, holidays: set[date]) -> set[date]:
    """The 13:00 half days of ``year`` (only those that are trading days)."""
    candidates = {
        date(year, 7, 3),
        _nth_weekday(year, 11, 3, 4) + timedelta(days=1),
        date(year, 12, 24),
    }
    return {d for d in candidates if d.weekday() < 5 and d not in holidays}


def _at(day: date, local: time) -> datetime:
    return datetime.combine(day, local, tzinfo=NEW_YORK).astimezone(UTC)


class _Year:
    """The sessions of one year, sorted, with a lookup by date."""

    __slots__ = ("by_date", "dates", "sessions")

    def __init__(self, sessions: list[Session]) -> None:
        self.sessions = sessions
        self.dates = [s.date for s in sessions]
        self.by_date = {s.date: s for s in sessions}


class MarketCalendar:
    """NYSE regular sessions for 1990-2100, computed from rules and cached per year.

    All methods take aware datetimes (any zone) and plain dates (New York trading dates) and
    return aware UTC datetimes.
    """

    def __init__(self) -> None:
        self._years: dict[int, _Year] = {}
        self._raw: dict[int, list[tuple[date, datetime, datetime]]] = {}

    # -- per-year construction -----------------------------------------------------------------

    def _raw_year(self, year: int) -> list[tuple[date, datetime, datetime]]:
        """(date, open, close) of every session of ``year``, without settlement dates."""
        raw = self._raw.get(year)
        if raw is None:
            # One year of slack on each side so settlement and next/previous lookups at the edges
            # of the supported range still work.
            if not FIRST_YEAR - 1 <= year <= LAST_YEAR + 1:
                raise ValueError(f"the market calendar covers {FIRST_YEAR}-{LAST_YEAR}, not {year}")
            holidays = nyse_holidays(year)
            early = _early_closes(year, holidays)
            raw = []
            day = date(year, 1, 1)
            while day.year == year:
                if day.weekday() < 5 and day not in holidays:
                    close = EARLY_CLOSE if day in early else REGULAR_CLOSE
                    raw.append((day, _at(day, REGULAR_OPEN), _at(day, close)))
                day += timedelta(days=1)
            self._raw[year] = raw
        return raw

    def _year(self, year: int) -> _Year:
        cached = self._years.get(year)
        if cached is not None:
            return cached
        raw = self._raw_year(year)
        # Settlement needs up to five following trading days, which may fall in the next year.
        following = [d for d, _, _ in raw]
        following += [d for d, _, _ in self._raw_year(year + 1)[:5]] if year <= LAST_YEAR else []
        sessions = []
        for index, (day, open_, close) in enumerate(raw):
            offset = _settlement_days(day)
            settle = following[index + offset] if index + offset < len(following) else None
            sessions.append(Session(day, open_, close, settle))
        result = _Year(sessions)
        self._years[year] = result
        return result

    # -- queries by date -----------------------------------------------------------------------

    def is_trading_day(self, day: date) -> bool:
        """True when the NYSE holds a regular session on ``day``."""
        return day in self._year(day.year).by_date

    def session(self, day: date) -> Session | None:
        """The session on ``day``, or None on weekends and holidays."""
        return self._year(day.year).by_date.get(day)

    def sessions(self, start: date, end: date) -> list[Session]:
        """Every session with ``start <= date <= end``, in order."""
        result: list[Session] = []
        for year in range(start.year, end.year + 1):
            info = self._year(year)
            lo = bisect.bisect_left(info.dates, start)
            hi = bisect.bisect_right(info.dates, end)
            result.extend(info.sessions[lo:hi])
        return result

    def next_session(self, day: date) -> Session:
        """The first session strictly after ``day``."""
        year = day.year
        while True:
            info = self._year(year)
            index = bisect.bisect_right(info.dates, day)
            if index < len(info.dates):
                return info.sessions[index]
            year += 1

    def previous_session(self, day: date) -> Session:
        """The last session strictly before ``day``."""
        year = day.year
        while True:
            info = self._year(year)
            index = bisect.bisect_left(info.dates, day)
            if index > 0:
                return info.sessions[index - 1]
            year -= 1

    # -- queries by instant --------------------------------------------------------------------

    def _around(self, ts: datetime) -> tuple[Session, Session | None, Session]:
        """(last session on or before ts's New York date, that date's session, the next one)."""
        local_day = ensure_utc(ts).astimezone(NEW_YORK).date()
        today = self.session(local_day)
        before = today or self.previous_session(local_day)
        return before, today, self.next_session(local_day)

    def session_at(self, ts: datetime) -> Session | None:
        """The session in progress at ``ts``, or None while the market is closed."""
        _, today, _ = self._around(ts)
        if today is not None and today.contains(ensure_utc(ts)):
            return today
        return None

    def is_open(self, ts: datetime) -> bool:
        """True during a regular session (``open <= ts < close``)."""
        return self.session_at(ts) is not None

    def next_open(self, ts: datetime) -> datetime:
        """The first session open strictly after ``ts`` (Alpaca's ``/v2/clock`` ``next_open``).

        While the market is open this is the next session's open, not today's.
        """
        utc = ensure_utc(ts)
        _, today, following = self._around(ts)
        if today is not None and today.open > utc:
            return today.open
        return following.open

    def next_close(self, ts: datetime) -> datetime:
        """The first session close strictly after ``ts`` (Alpaca's ``/v2/clock`` ``next_close``).

        While the market is open this is today's close; otherwise the next session's close.
        """
        utc = ensure_utc(ts)
        _, today, following = self._around(ts)
        if today is not None and today.close > utc:
            return today.close
        return following.close

    def latest_session_at_or_before(self, ts: datetime) -> Session:
        """The most recent session whose open is at or before ``ts``."""
        utc = ensure_utc(ts)
        before, today, _ = self._around(ts)
        if today is not None and today.open > utc:
            return self.previous_session(today.date)
        return before

    def latest_open_at_or_before(self, ts: datetime) -> datetime:
        """The most recent regular session open at or before ``ts`` (e.g. Friday's on a Sunday)."""
        return self.latest_session_at_or_before(ts).open


def _settlement_days(day: date) -> int:
    for first_day, days in _SETTLEMENT_CYCLES:
        if day >= first_day:
            return days
    return 5
