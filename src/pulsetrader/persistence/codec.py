"""Conversions between domain values and the journal's TEXT columns.

Amounts are stored as their exact decimal text (:func:`~pulsetrader.domain.money.decimal_str`),
never as REAL, so a Decimal read back equals the one written. Times are aware UTC, stored as
RFC 3339 text with a ``Z`` and always six fraction digits (``2024-03-01T14:30:00.000000Z``):
:func:`~pulsetrader.domain.money.isoformat_z` drops the fraction when it is zero, and then
``...:00Z`` sorts *after* ``...:00.5Z`` as text. A fixed width keeps SQL ``ORDER BY`` and range
filters on time columns correct. The JSON copies of orders and intents keep the domain's own
``to_dict`` format.

Orders and intents are rebuilt from their ``to_dict`` JSON here (the domain has no
``from_dict``); unknown keys (``remaining_qty``, keys added by later versions) are ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import fields
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from pulsetrader.domain.intents import OrderIntent
from pulsetrader.domain.money import decimal_str, ensure_utc, parse_utc, to_decimal
from pulsetrader.domain.orders import Order
from pulsetrader.secrets import REDACTED, redactor

NEW_YORK = ZoneInfo("America/New_York")

_ORDER_FIELDS = frozenset(f.name for f in fields(Order) if f.init)
_INTENT_FIELDS = frozenset(f.name for f in fields(OrderIntent) if f.init)
_ORDER_TIMES = ("created_at", "updated_at", "submitted_at", "filled_at", "canceled_at")

# Keys whose values are credentials whatever they look like; never written to the journal.
_SECRET_KEY = re.compile(
    r"(?i)(secret|password|passwd|token|api[_-]?key|key[_-]?id|authorization|credential|jwt)"
)


def dec(value: Decimal) -> str:
    """The exact text of an amount."""
    return decimal_str(value)


def opt_dec(value: Decimal | None) -> str | None:
    """:func:`dec`, passing None through."""
    return None if value is None else decimal_str(value)


def to_dec(text: str) -> Decimal:
    """An amount back from its text."""
    return to_decimal(text)


def opt_to_dec(text: str | None) -> Decimal | None:
    """:func:`to_dec`, passing None through."""
    return None if text is None else to_decimal(text)


def ts(value: datetime) -> str:
    """Fixed-width RFC 3339 UTC text with ``Z``; refuses naive datetimes."""
    return ensure_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def opt_ts(value: datetime | None) -> str | None:
    """:func:`ts`, passing None through."""
    return None if value is None else ts(value)


def to_ts(text: str) -> datetime:
    """An aware UTC datetime back from its text."""
    return parse_utc(text)


def opt_to_ts(text: str | None) -> datetime | None:
    """:func:`to_ts`, passing None through."""
    return None if text is None else parse_utc(text)


def ny_date(value: datetime) -> str:
    """The America/New_York calendar date of ``value`` as ``YYYY-MM-DD`` (DST included)."""
    return ensure_utc(value).astimezone(NEW_YORK).date().isoformat()


def day_text(value: date) -> str:
    """A date as ``YYYY-MM-DD``; a datetime counts by its New York date."""
    if isinstance(value, datetime):
        return ny_date(value)
    return value.isoformat()


def dumps(data: Any) -> str:
    """Compact JSON text. Floats are refused: amounts travel as decimal text."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=_refuse)


def _refuse(value: Any) -> Any:
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


def loads(text: str) -> Any:
    """JSON back, any number with a fraction as a Decimal (never a float)."""
    return json.loads(text, parse_float=Decimal)


def order_from_dict(data: Mapping[str, Any]) -> Order:
    """Rebuild an :class:`Order` (legs included) from :meth:`Order.to_dict` output.

    Executions applied before are not in the dict; restore them with
    :meth:`Order.restore_executions`.
    """
    kwargs = {key: value for key, value in data.items() if key in _ORDER_FIELDS}
    for name in _ORDER_TIMES:
        if kwargs.get(name) is not None:
            kwargs[name] = parse_utc(kwargs[name])
    kwargs["legs"] = [order_from_dict(leg) for leg in data.get("legs") or ()]
    # filled_qty goes through Order's own parsing; Order copes with text amounts.
    return Order(**kwargs)


def intent_from_dict(data: Mapping[str, Any]) -> OrderIntent:
    """Rebuild an :class:`OrderIntent` from :meth:`OrderIntent.to_dict` output."""
    return OrderIntent(**{key: value for key, value in data.items() if key in _INTENT_FIELDS})


def scrub(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy of ``value`` with credentials removed, for audit details.

    Values under credential-like keys become ``[REDACTED]``; strings pass through the process
    redactor (:data:`pulsetrader.secrets.redactor`); Decimals and floats become decimal text,
    datetimes fixed-width UTC text, enums their values.
    """
    if depth > 8:
        return REDACTED
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return redactor.redact(value)
    if isinstance(value, Decimal | float):
        return decimal_str(to_decimal(value))
    if isinstance(value, datetime):
        return ts(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return scrub(value.value, depth + 1)
    if isinstance(value, Mapping):
        return {
            str(key): REDACTED if _SECRET_KEY.search(str(key)) else scrub(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub(item, depth + 1) for item in value]
    return redactor.redact(str(value))
