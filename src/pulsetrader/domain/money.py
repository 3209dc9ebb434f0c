"""Exact amounts and aware UTC times.

Every price, quantity and cash amount in PulseTrader is a :class:`~decimal.Decimal`. Values are
parsed from their decimal text, never from a binary float expansion: ``to_decimal(0.1)`` is
``Decimal("0.1")``, not ``Decimal(0.1000000000000000055511151231257827...)``. Floats still reach us
(alpaca-py's market-data models and request objects use them), so they are converted through
``repr``, which is the shortest text that round-trips to the same float.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

ZERO = Decimal(0)

Number = Decimal | int | float | str


def to_decimal(value: Number) -> Decimal:
    """Parse ``value`` into an exact, finite Decimal.

    Raises ValueError for text that is not a number, for NaN and for infinities, and TypeError for
    booleans (``True`` is an int in Python, and a quantity of ``True`` is always a bug).
    """
    if isinstance(value, bool):
        raise TypeError("a boolean is not an amount")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"not a number: {value!r}") from None
    else:
        raise TypeError(f"cannot make an amount of {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"amount must be finite, got {value!r}")
    return result


def optional_decimal(value: Number | None) -> Decimal | None:
    """:func:`to_decimal`, passing ``None`` and empty strings through as ``None``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return to_decimal(value)


def decimal_str(value: Decimal) -> str:
    """Plain text for an amount, as Alpaca writes it: no exponent, no trailing zeros."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


def ensure_utc(value: datetime) -> datetime:
    """Return ``value`` in UTC. A naive datetime is refused: its zone is a guess."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"naive datetime {value.isoformat()} has no time zone")
    return value.astimezone(UTC)


def parse_utc(value: str | datetime) -> datetime:
    """Parse an RFC 3339 timestamp (``Z`` or an offset, up to nanoseconds) into aware UTC.

    Fractions beyond microseconds are truncated, as alpaca-py does.
    """
    if isinstance(value, datetime):
        return ensure_utc(value)
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if "." in text:
        head, _, rest = text.partition(".")
        digits = ""
        i = 0
        while i < len(rest) and rest[i].isdigit():
            digits += rest[i]
            i += 1
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[i:]}"
    return ensure_utc(datetime.fromisoformat(text))


def isoformat_z(value: datetime) -> str:
    """Format an aware datetime as RFC 3339 in UTC with a ``Z`` suffix, as Alpaca does."""
    return ensure_utc(value).isoformat().replace("+00:00", "Z")
