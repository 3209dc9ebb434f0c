"""A snapshot of the brokerage account, as Alpaca's ``GET /v2/account`` reports it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from pulsetrader.domain.money import decimal_str, ensure_utc, isoformat_z, to_decimal

_HUNDRED = Decimal(100)
_AMOUNT_FIELDS = (
    "cash",
    "equity",
    "buying_power",
    "last_equity",
    "long_market_value",
    "short_market_value",
    "portfolio_value",
    "multiplier",
)


@dataclass(frozen=True, slots=True)
class Account:
    """Balances and trading flags at ``as_of``.

    ``last_equity`` is the equity at the previous close, so :attr:`day_pl` is today's change.
    ``short_market_value`` is negative when short, as Alpaca reports it. ``status`` is kept as
    Alpaca's text (``ACTIVE``, ``ACCOUNT_UPDATED`` ...) because only ``ACTIVE`` matters to us and
    Alpaca adds statuses without notice.
    """

    account_id: str
    status: str
    currency: str
    cash: Decimal
    equity: Decimal
    buying_power: Decimal
    last_equity: Decimal
    long_market_value: Decimal
    short_market_value: Decimal
    portfolio_value: Decimal
    multiplier: Decimal
    shorting_enabled: bool
    trading_blocked: bool
    as_of: datetime

    def __post_init__(self) -> None:
        # Frozen dataclass: normalising fields in place needs object.__setattr__.
        for name in _AMOUNT_FIELDS:
            object.__setattr__(self, name, to_decimal(getattr(self, name)))
        object.__setattr__(self, "as_of", ensure_utc(self.as_of))
        if not self.account_id:
            raise ValueError("account_id must not be empty")
        if self.multiplier < 1:
            raise ValueError(f"multiplier must be at least 1, got {self.multiplier}")

    @property
    def is_active(self) -> bool:
        """True when Alpaca reports the account ``ACTIVE`` and trading is not blocked."""
        return self.status.upper() == "ACTIVE" and not self.trading_blocked

    @property
    def day_pl(self) -> Decimal:
        """Profit or loss since the previous close: ``equity - last_equity``."""
        return self.equity - self.last_equity

    @property
    def day_pl_pct(self) -> Decimal | None:
        """:attr:`day_pl` as a percentage of ``last_equity`` (``Decimal("1.5")`` means +1.5 %).

        None when ``last_equity`` is zero (a new or empty account), where no percentage exists.
        """
        if self.last_equity == 0:
            return None
        return self.day_pl / self.last_equity * _HUNDRED

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form, including the derived day P/L figures."""
        data: dict[str, Any] = {
            "account_id": self.account_id,
            "status": self.status,
            "currency": self.currency,
        }
        for name in _AMOUNT_FIELDS:
            data[name] = decimal_str(getattr(self, name))
        pct = self.day_pl_pct
        data.update(
            shorting_enabled=self.shorting_enabled,
            trading_blocked=self.trading_blocked,
            as_of=isoformat_z(self.as_of),
            day_pl=decimal_str(self.day_pl),
            day_pl_pct=None if pct is None else decimal_str(pct),
        )
        return data
