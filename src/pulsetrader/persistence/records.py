"""Read models the journal returns beside domain objects: journaled fills and daily P/L rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from pulsetrader.domain.fills import Fill
from pulsetrader.domain.money import decimal_str

#: The key :meth:`Journal.realized_pl` uses for fills no strategy is known for.
UNATTRIBUTED = "(none)"


def _opt(value: Decimal | None) -> str | None:
    return None if value is None else decimal_str(value)


@dataclass(frozen=True, slots=True)
class JournalFill:
    """A fill as journaled: the execution, the P/L it realized (None if not computed) and the
    strategy it is attributed to (the caller's, else the fill's, else its order's)."""

    fill: Fill
    realized_pl: Decimal | None
    strategy: str | None

    def to_dict(self) -> dict[str, Any]:
        """The fill's own ``to_dict`` plus ``realized_pl`` (text) and ``strategy``."""
        data = self.fill.to_dict()
        data.update(realized_pl=_opt(self.realized_pl), strategy=self.strategy)
        return data


@dataclass(frozen=True, slots=True)
class DailyPnL:
    """One New York trading date: first and last equity sample, their difference, and the P/L
    realized by that date's fills. Equity figures are None on a date with fills but no sample."""

    date: date
    start_equity: Decimal | None
    end_equity: Decimal | None
    change: Decimal | None
    realized: Decimal

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form: the date as ``YYYY-MM-DD``, amounts as decimal text."""
        return {
            "date": self.date.isoformat(),
            "start_equity": _opt(self.start_equity),
            "end_equity": _opt(self.end_equity),
            "change": _opt(self.change),
            "realized": decimal_str(self.realized),
        }
