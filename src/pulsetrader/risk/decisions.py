"""What the risk manager answers: :class:`Approved` or :class:`Denied` with the reason.

A denial is a normal outcome, not an exception: the order manager journals it, logs it and
tells the strategy, and nothing reaches the broker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from pulsetrader.domain.intents import OrderIntent
from pulsetrader.domain.money import decimal_str, isoformat_z


@dataclass(frozen=True, slots=True)
class Approved:
    """Every rule passed. ``exit`` is True when the order only reduces an existing position;
    ``value`` is what the order was valued at (its quantity at the worst price it may plausibly
    fill at, or its notional), None when it could not be valued."""

    intent: OrderIntent
    at: datetime
    exit: bool = False
    value: Decimal | None = None

    approved: ClassVar[bool] = True
    reason: ClassVar[str] = "approved"
    rule: ClassVar[str | None] = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "approved": True,
            "reason": self.reason,
            "rule": None,
            "exit": self.exit,
            "value": decimal_str(self.value) if self.value is not None else None,
            "at": isoformat_z(self.at),
            "intent": self.intent.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class Denied:
    """A rule refused the order. ``rule`` names it (a stable identifier for metrics), ``reason``
    says why in words a trader can act on."""

    intent: OrderIntent
    at: datetime
    rule: str
    reason: str

    approved: ClassVar[bool] = False
    exit: ClassVar[bool] = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "approved": False,
            "reason": self.reason,
            "rule": self.rule,
            "exit": False,
            "at": isoformat_z(self.at),
            "intent": self.intent.to_dict(),
        }


RiskDecision = Approved | Denied
