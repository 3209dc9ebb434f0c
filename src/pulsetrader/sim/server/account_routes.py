"""Account side routes: configurations, activities and portfolio history.

Configurations are stored and echoed; only ``no_shorting`` is enforced. Portfolio history is
built from the equity snapshots the service records once per simulated minute, bucketed by the
requested timeframe, which is enough for the SDK's ``PortfolioHistory`` model and for charts.
Intraday timeframes report only the buckets of ``intraday_reporting`` (Alpaca's default: the
core trading hours of trading days; ``extended_hours`` or ``continuous`` on request).
"""

from __future__ import annotations

import bisect
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web

from pulsetrader.sim.calendar import MarketCalendar
from pulsetrader.sim.hours import AFTER_HOURS, PRE_MARKET_OPEN
from pulsetrader.sim.server.common import (
    NEW_YORK,
    bad_query,
    get_sim,
    json_body,
    json_response,
    parse_timestamp,
    query_choice,
    query_date,
    query_int,
    query_list,
    query_time,
)

DEFAULT_CONFIGURATIONS: dict[str, Any] = {
    "dtbp_check": "entry",
    "trade_confirm_email": "all",
    "suspend_trade": False,
    "no_shorting": False,
    "fractional_trading": True,
    "max_margin_multiplier": "4",
    "max_options_trading_level": 3,
    "pdt_check": "entry",
    "ptp_no_exception_entry": False,
}
_CHECK_VALUES = ("both", "entry", "exit")
_BOOLEAN_KEYS = ("suspend_trade", "no_shorting", "fractional_trading", "ptp_no_exception_entry")

#: Alpaca's activity type codes (FILL is the one the simulator produces).
ACTIVITY_TYPES = frozenset(
    {
        *("FILL", "TRANS", "MISC", "ACATC", "ACATS", "CFEE", "CSD", "CSW", "FEE", "INT"),
        *("DIV", "DIVCGL", "DIVCGS", "DIVFEE", "DIVFT", "DIVNRA", "DIVROC", "DIVTW", "DIVTXEX"),
        *("INTNRA", "INTTW", "JNL", "JNLC", "JNLS", "MA", "NC", "PTC", "PTR", "REORG"),
        *("OPASN", "OPCA", "OPCSH", "OPEXC", "OPEXP", "OPTRD", "OPXRC", "SC", "SSO", "SSP"),
    }
)

_REPORTING = ("market_hours", "extended_hours", "continuous")
_PERIOD_RE = re.compile(r"^(\d+)([DWMA])$")
_PERIOD_DAYS = {"D": 1, "W": 7, "M": 30, "A": 365}
_TIMEFRAMES: dict[str, timedelta] = {
    "1Min": timedelta(minutes=1),
    "5Min": timedelta(minutes=5),
    "15Min": timedelta(minutes=15),
    "1H": timedelta(hours=1),
    "1D": timedelta(days=1),
}


def new_configurations() -> dict[str, Any]:
    """A fresh copy of a new paper account's configurations."""
    return dict(DEFAULT_CONFIGURATIONS)


def _apply_configuration(config: dict[str, Any], body: dict[str, Any]) -> None:
    """Validate and apply a PATCH; ``null`` leaves a value unchanged (alpaca-py sends nulls)."""
    updates: dict[str, Any] = {}
    for key, value in body.items():
        if value is None or key not in DEFAULT_CONFIGURATIONS:
            continue
        if key in ("dtbp_check", "pdt_check"):
            if value not in _CHECK_VALUES:
                raise bad_query(f"invalid {key}: {value!r} (expected both, entry or exit)")
        elif key == "trade_confirm_email":
            if value not in ("all", "none"):
                raise bad_query(f"invalid trade_confirm_email: {value!r} (expected all or none)")
        elif key in _BOOLEAN_KEYS:
            if not isinstance(value, bool):
                raise bad_query(f"invalid {key}: {value!r} is not a boolean")
        elif key == "max_margin_multiplier":
            value = str(value).strip()
            if value not in ("1", "2", "4"):
                raise bad_query("invalid max_margin_multiplier: must be 1, 2 or 4")
        elif key == "max_options_trading_level" and (
            isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 3
        ):
            raise bad_query("invalid max_options_trading_level: must be 0, 1, 2 or 3")
        updates[key] = value
    config.update(updates)


async def get_configurations(request: web.Request) -> web.Response:
    """``GET /v2/account/configurations``."""
    return json_response(get_sim(request).account_config)


async def patch_configurations(request: web.Request) -> web.Response:
    """``PATCH /v2/account/configurations``: the configurations after the change.

    ``no_shorting`` takes effect (the account turns long-only, ``shorting_enabled`` false);
    the other settings are stored and echoed.
    """
    sim = get_sim(request)
    config = sim.account_config
    _apply_configuration(config, await json_body(request))
    exchange = sim.exchange
    exchange.account.shorting_enabled = exchange.config.allow_shorting and not config["no_shorting"]
    return json_response(config)


# -- activities ------------------------------------------------------------------------------
def _activity_types(raw: list[str]) -> list[str] | None:
    types = [t.strip().upper() for t in raw if t.strip()]
    for activity_type in types:
        if activity_type not in ACTIVITY_TYPES:
            raise bad_query(f"invalid activity type: {activity_type}")
    return types or None


async def _activities(request: web.Request, types: list[str] | None) -> web.Response:
    sim = get_sim(request)
    q = request.query
    after = query_time(q, "after")
    until = query_time(q, "until")
    day = query_date(q, "date")
    if day is not None:
        # ``date`` is a whole New York trading day, and overrides after/until like on Alpaca.
        after = parse_timestamp(day.isoformat())
        until = parse_timestamp(day.isoformat(), end_of_day=True)
    rows = sim.exchange.activities(
        activity_types=types,
        after=after,
        until=until,
        direction=query_choice(q, "direction", ("asc", "desc"), "desc") or "desc",
        page_size=query_int(q, "page_size", 100, minimum=1, maximum=100) or 100,
        page_token=q.get("page_token") or None,
    )
    return json_response(rows)


async def list_activities(request: web.Request) -> web.Response:
    """``GET /v2/account/activities[?activity_types=FILL,...]``."""
    return await _activities(request, _activity_types(query_list(request.query, "activity_types")))


async def list_activities_of_type(request: web.Request) -> web.Response:
    """``GET /v2/account/activities/{activity_type}``."""
    return await _activities(request, _activity_types([request.match_info["activity_type"]]))


# -- portfolio history -----------------------------------------------------------------------
def _window(q: Any, now: datetime) -> tuple[datetime, datetime, str | None]:
    period = (q.get("period") or "").strip().upper() or None
    if period is not None and not _PERIOD_RE.match(period):
        raise bad_query(f"invalid period: {q.get('period')!r} (e.g. 1D, 1W, 1M, 3M, 1A)")
    end = query_time(q, "end")
    date_end = query_date(q, "date_end")
    if end is None and date_end is not None:
        end = parse_timestamp(date_end.isoformat(), end_of_day=True)
    end = min(end or now, now)
    start = query_time(q, "start")
    if start is None:
        match = _PERIOD_RE.match(period or "1M")
        assert match is not None  # the default matches
        days = int(match.group(1)) * _PERIOD_DAYS[match.group(2)]
        start = end - timedelta(days=days)
    if start > end:
        raise bad_query("start must be before end")
    return start, end, period


def _default_timeframe(start: datetime, end: datetime) -> str:
    span = end - start
    if span < timedelta(days=7):
        return "1Min"
    if span < timedelta(days=30):
        return "15Min"
    return "1D"


def _reporting(q: Any, timeframe: str) -> str:
    """``intraday_reporting`` (``extended_hours=true`` is the older spelling of extended)."""
    raw = (q.get("intraday_reporting") or "").strip().lower()
    if raw and raw not in _REPORTING:
        raise bad_query(f"invalid intraday_reporting: {raw!r} (expected {', '.join(_REPORTING)})")
    if timeframe == "1D":
        return "continuous"
    if not raw:
        extended = (q.get("extended_hours") or "").strip().lower() == "true"
        raw = "extended_hours" if extended else "market_hours"
    return raw


def _reported(calendar: MarketCalendar, stamp: datetime, timeframe: str, reporting: str) -> bool:
    """Whether the intraday bucket starting at ``stamp`` is reported: it overlaps the core hours
    (9:30-16:00 New York) of a trading day for ``market_hours``, or 4:00 until four hours after
    the close for ``extended_hours``; every bucket for ``continuous``."""
    if reporting == "continuous":
        return True
    local = stamp.astimezone(NEW_YORK)
    session = calendar.session(local.date())
    if session is None:
        return False
    if reporting == "market_hours":
        begin, finish = session.open, session.close
    else:
        begin = datetime.combine(local.date(), PRE_MARKET_OPEN, NEW_YORK)
        finish = session.close + AFTER_HOURS
    return stamp < finish and stamp + _TIMEFRAMES[timeframe] > begin


def _bucket_start(ts: datetime, timeframe: str) -> datetime:
    if timeframe == "1D":
        local = ts.astimezone(NEW_YORK)
        return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
    step = int(_TIMEFRAMES[timeframe].total_seconds())
    epoch = int(ts.timestamp())
    return datetime.fromtimestamp(epoch - epoch % step, UTC)


async def portfolio_history(request: web.Request) -> web.Response:
    """``GET /v2/account/portfolio/history``: equity per timeframe bucket over the period."""
    sim = get_sim(request)
    q = request.query
    now = sim.now()
    start, end, _ = _window(q, now)
    timeframe = q.get("timeframe") or _default_timeframe(start, end)
    if timeframe not in _TIMEFRAMES:
        raise bad_query(f"invalid timeframe: {timeframe!r} (1Min, 5Min, 15Min, 1H or 1D)")
    reporting = _reporting(q, timeframe)
    times, values = sim.equity_series(now)
    lo = bisect.bisect_left(times, start)
    hi = bisect.bisect_right(times, end)
    # The base is the equity just before the window (or its first point): P/L is measured from it.
    if lo > 0:
        base = values[lo - 1]
        base_at = times[lo - 1]
    elif lo < hi:
        base, base_at = values[lo], times[lo]
    else:
        base, base_at = sim.starting_cash, start
    buckets: dict[datetime, Decimal] = {}
    for i in range(lo, hi):
        buckets[_bucket_start(times[i], timeframe)] = values[i]  # last value wins
    stamps = [s for s in sorted(buckets) if _reported(sim.calendar, s, timeframe, reporting)]
    equity = [buckets[s] for s in stamps]
    profit = [value - base for value in equity]
    pct = [float(p / base) if base else None for p in profit]
    return json_response(
        {
            "timestamp": [int(s.timestamp()) for s in stamps],
            "equity": [float(v) for v in equity],
            "profit_loss": [float(p) for p in profit],
            "profit_loss_pct": pct,
            "base_value": float(base),
            "base_value_asof": base_at.astimezone(NEW_YORK).date().isoformat(),
            "timeframe": timeframe,
            "cashflow": {},
        }
    )


def add_routes(app: web.Application) -> None:
    """Mount configurations, activities and portfolio history."""
    r = app.router
    r.add_get("/v2/account/configurations", get_configurations)
    r.add_patch("/v2/account/configurations", patch_configurations)
    r.add_get("/v2/account/activities", list_activities)
    r.add_get("/v2/account/activities/{activity_type}", list_activities_of_type)
    r.add_get("/v2/account/portfolio/history", portfolio_history)
