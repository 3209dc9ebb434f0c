"""What every route module shares: the app key of the simulator, Alpaca-shaped errors, and
parsers for query strings and JSON bodies.

Query parsing follows what clients really send: alpaca-py puts Python booleans in query strings
(``nested=True``), so booleans are case-insensitive; times are RFC 3339 with ``Z`` or an offset,
or plain dates; numbers in JSON bodies may be floats, ints or numeric strings.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from aiohttp import web
from multidict import MultiMapping

from pulsetrader.domain.money import isoformat_z, parse_utc, to_decimal
from pulsetrader.sim.errors import INVALID, MALFORMED, SimError

if TYPE_CHECKING:
    from pulsetrader.sim.service import Simulator

SIM_KEY: web.AppKey[Simulator] = web.AppKey("pulsetrader.simulator")
NEW_YORK = ZoneInfo("America/New_York")
UNPROCESSABLE_QUERY = 42210000

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def get_sim(request: web.Request) -> Simulator:
    """The simulator serving this request."""
    return request.app[SIM_KEY]


#: One encoder for every response (``json.dumps`` with options builds a new one per call).
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def json_dumps(value: Any) -> str:
    """Compact JSON, as Alpaca sends it."""
    return _ENCODER.encode(value)


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON response with Alpaca's content type."""
    return web.json_response(data, status=status, dumps=json_dumps)


def error_response(status: int, code: int, message: str, **extra: Any) -> web.Response:
    """An Alpaca error body ``{"code": int, "message": str, ...}``: alpaca-py parses both keys."""
    return json_response({"code": code, "message": message, **extra}, status=status)


def bad_query(message: str) -> SimError:
    """422 for a query-string value the trading API does not understand."""
    return SimError(422, UNPROCESSABLE_QUERY, message)


def bad_data_query(message: str) -> SimError:
    """400 for a market-data parameter Alpaca's data API refuses."""
    return SimError(400, INVALID, message)


def not_found(message: str) -> SimError:
    return SimError(404, 40410000, message)


async def json_body(request: web.Request, *, required: bool = True) -> dict[str, Any]:
    """The request's JSON object; 400 ``request body format is invalid`` otherwise."""
    raw = await request.read()
    if not raw.strip():
        if required:
            raise SimError(400, MALFORMED, "request body format is invalid")
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise SimError(400, MALFORMED, "request body format is invalid") from None
    if not isinstance(value, dict):
        raise SimError(400, MALFORMED, "request body format is invalid")
    return value


# -- query values ----------------------------------------------------------------------------
def query_bool(query: Mapping[str, str], name: str, default: bool = False) -> bool:
    """``true``/``false`` in any case (alpaca-py sends ``True``); 422 for anything else."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise bad_query(f"invalid {name}: {raw!r} is not a boolean (use true or false)")


def query_int(
    query: Mapping[str, str],
    name: str,
    default: int | None,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    data_api: bool = False,
) -> int | None:
    """An integer query value within bounds, or ``default`` when absent."""
    raw = query.get(name)
    make = bad_data_query if data_api else bad_query
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise make(f"invalid {name}: {raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise make(f"invalid {name}: must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise make(f"invalid {name}: must be at most {maximum}")
    return value


def query_choice(
    query: Mapping[str, str],
    name: str,
    choices: tuple[str, ...],
    default: str | None,
    *,
    data_api: bool = False,
) -> str | None:
    """One of ``choices`` (case-insensitive), or ``default`` when absent."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value not in choices:
        make = bad_data_query if data_api else bad_query
        raise make(f"invalid {name}: {raw!r} (expected one of: {', '.join(choices)})")
    return value


def parse_timestamp(raw: str, *, end_of_day: bool = False) -> datetime:
    """RFC 3339 (``Z`` or offset, up to nanoseconds) or a ``YYYY-MM-DD`` New York date.

    A date means the start of that day in New York, or its end (next midnight) for ``end``.
    A timestamp without a zone is taken as UTC, as alpaca-py assumes. ValueError otherwise.
    """
    text = raw.strip()
    if _DATE_RE.match(text):
        day = date.fromisoformat(text)
        if end_of_day:
            day += timedelta(days=1)
        return datetime.combine(day, time(0), NEW_YORK).astimezone(UTC)
    # A '+' in a query string decodes to a space when the client did not escape it.
    text = text.replace(" ", "+")
    if "T" not in text and "t" not in text:
        raise ValueError(f"not an RFC 3339 time: {raw!r}")
    try:
        return parse_utc(text)
    except ValueError:
        if text.endswith(("Z", "z")) or re.search(r"[+-]\d{2}:?\d{2}$", text):
            raise
        return parse_utc(text + "+00:00")


def query_time(
    query: Mapping[str, str], name: str, *, end_of_day: bool = False, data_api: bool = False
) -> datetime | None:
    """A time query value (see :func:`parse_timestamp`), None when absent."""
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse_timestamp(raw, end_of_day=end_of_day)
    except ValueError:
        make = bad_data_query if data_api else bad_query
        raise make(f"invalid {name}: {raw!r} is not an RFC 3339 time or a date") from None


def query_date(query: Mapping[str, str], name: str) -> date | None:
    """A ``YYYY-MM-DD`` query value (a full timestamp's date part is accepted too)."""
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return date.fromisoformat(raw.strip()[:10])
    except ValueError:
        raise bad_query(f"invalid {name}: {raw!r} is not a date (YYYY-MM-DD)") from None


def query_decimal(query: Mapping[str, str], name: str) -> Decimal | None:
    """A positive decimal query value, None when absent."""
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = to_decimal(raw)
    except (ValueError, TypeError):
        raise bad_query(f"invalid {name}: {raw!r} is not a number") from None
    if value <= 0:
        raise bad_query(f"invalid {name}: must be positive")
    return value


def query_list(query: MultiMapping[str], name: str) -> list[str]:
    """A comma-separated list; repeated parameters are accepted too."""
    items: list[str] = []
    for value in query.getall(name, []):
        items.extend(part.strip() for part in value.split(",") if part.strip())
    return items


def is_uuid(text: str) -> bool:
    """Whether ``text`` is a UUID in any of Python's accepted spellings."""
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def ny_isoformat(value: datetime) -> str:
    """RFC 3339 in New York time, as ``/v2/clock`` writes it (``...-05:00``)."""
    return value.astimezone(NEW_YORK).isoformat()


def utc_z(value: datetime) -> str:
    """RFC 3339 in UTC with ``Z`` (market data)."""
    return isoformat_z(value)
