"""The account snapshot."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from pulsetrader.domain import Account

AS_OF = datetime(2024, 3, 1, 21, 0, tzinfo=UTC)


def account(**overrides: Any) -> Account:
    fields: dict[str, Any] = {
        "account_id": "acc-1",
        "status": "ACTIVE",
        "currency": "USD",
        "cash": "50000.10",
        "equity": "101500",
        "buying_power": "200000",
        "last_equity": "100000",
        "long_market_value": "52000",
        "short_market_value": "-500.5",
        "portfolio_value": "101500",
        "multiplier": "2",
        "shorting_enabled": True,
        "trading_blocked": False,
        "as_of": AS_OF,
    }
    fields.update(overrides)
    return Account(**fields)


def test_amount_fields_are_decimals() -> None:
    acct = account()
    assert acct.cash == Decimal("50000.10")
    assert acct.short_market_value == Decimal("-500.5")
    assert acct.multiplier == Decimal(2)


def test_day_pl_is_equity_minus_last_equity() -> None:
    assert account().day_pl == Decimal(1500)
    assert account(equity="99000").day_pl == Decimal(-1000)


def test_day_pl_pct_is_a_percentage_of_last_equity() -> None:
    assert account().day_pl_pct == Decimal("1.5")
    assert account(equity="99000").day_pl_pct == Decimal(-1)


def test_day_pl_pct_without_last_equity_is_none() -> None:
    assert account(last_equity="0", equity="0").day_pl_pct is None


def test_active_unblocked_account_is_active() -> None:
    assert account().is_active
    assert not account(trading_blocked=True).is_active
    assert not account(status="ACCOUNT_CLOSED").is_active


def test_naive_as_of_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        account(as_of=datetime(2024, 3, 1))


def test_multiplier_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="multiplier"):
        account(multiplier="0")


def test_to_dict_has_text_amounts_and_derived_figures() -> None:
    data = account().to_dict()
    assert data["cash"] == "50000.1"
    assert data["equity"] == "101500"
    assert data["as_of"] == "2024-03-01T21:00:00Z"
    assert data["day_pl"] == "1500"
    assert data["day_pl_pct"] == "1.5"
    assert data["shorting_enabled"] is True
