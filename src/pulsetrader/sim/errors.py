"""The simulator's refusals, carrying Alpaca's HTTP status, error code and body.

The HTTP layer turns a :class:`SimError` into ``status`` + ``json(body())``. alpaca-py's
``APIError.code`` / ``.message`` parse that body, so it always has ``code`` (int) and ``message``.

Codes, as Alpaca uses them:

- 400 / 40010000: the body is not a valid request at all.
- 422 / 40010001: a field is missing, unknown or invalid (also: duplicate client_order_id,
  unknown symbol).
- 422 / 42210000: a well-formed order that breaks a trading rule (sub-penny prices, fractional
  rules, bracket price relationships, orders that can no longer be cancelled or replaced).
- 403 / 40310000: not enough buying power, quantity or balance.
- 404 / 40410000: no such order or position.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pulsetrader.domain.money import decimal_str

MALFORMED = 40010000
INVALID = 40010001
FORBIDDEN = 40310000
NOT_FOUND = 40410000
UNPROCESSABLE = 42210000


class SimError(Exception):
    """An order or request the simulated exchange refuses, as Alpaca would."""

    def __init__(
        self, status: int, code: int, message: str, extra: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra: dict[str, str] = dict(extra or {})

    def body(self) -> dict[str, Any]:
        """The JSON error body: ``{"code": ..., "message": ..., **extra}``."""
        return {"code": self.code, "message": self.message, **self.extra}

    def __repr__(self) -> str:
        return f"SimError({self.status}, {self.code}, {self.message!r})"


def malformed() -> SimError:
    return SimError(400, MALFORMED, "request body format is invalid")


def invalid(message: str) -> SimError:
    """422 for a missing or bad field."""
    return SimError(422, INVALID, message)


def unprocessable(message: str) -> SimError:
    """422 for a well-formed order that breaks a trading rule."""
    return SimError(422, UNPROCESSABLE, message)


def order_not_found() -> SimError:
    return SimError(404, NOT_FOUND, "order not found")


def position_not_found() -> SimError:
    return SimError(404, NOT_FOUND, "position does not exist")


def wrong_state(status: str) -> SimError:
    """Cancel or replace of an order that is already final (Alpaca's wording)."""
    return unprocessable(f'order is already in "{status}" state')


def insufficient_buying_power(buying_power: Decimal, cost_basis: Decimal) -> SimError:
    return SimError(
        403,
        FORBIDDEN,
        "insufficient buying power",
        {"buying_power": decimal_str(buying_power), "cost_basis": decimal_str(cost_basis)},
    )


def insufficient_qty(
    symbol: str, requested: Decimal, available: Decimal, existing: Decimal, held: Decimal
) -> SimError:
    return SimError(
        403,
        FORBIDDEN,
        "insufficient qty available for order "
        f"(requested: {decimal_str(requested)}, available: {decimal_str(available)})",
        {
            "available": decimal_str(available),
            "existing_qty": decimal_str(existing),
            "held_for_orders": decimal_str(held),
            "symbol": symbol,
        },
    )


def insufficient_balance(currency: str, requested: Decimal, available: Decimal) -> SimError:
    """Crypto's version of insufficient qty: there is no shorting, only a balance."""
    return SimError(
        403,
        FORBIDDEN,
        f"insufficient balance for {currency} "
        f"(requested: {decimal_str(requested)}, available: {decimal_str(available)})",
        {
            "available": decimal_str(available),
            "balance": decimal_str(available),
            "symbol": currency,
        },
    )
