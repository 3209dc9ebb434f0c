"""RiskLimits: defaults, the RISK_* settings, symbol lists in the order spelling."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pulsetrader.config import load_settings
from pulsetrader.risk import RiskLimits


def test_defaults_match_the_settings_defaults() -> None:
    assert RiskLimits.from_settings(load_settings(None)) == RiskLimits()


def test_from_settings_reads_every_risk_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "RISK_MAX_POSITION_PCT": "15",
        "RISK_MAX_POSITION_NOTIONAL": "5000",
        "RISK_MAX_ORDER_NOTIONAL": "1234.50",
        "RISK_MAX_OPEN_POSITIONS": "6",
        "RISK_MAX_OPEN_STOCK_POSITIONS": "5",
        "RISK_MAX_OPEN_CRYPTO_POSITIONS": "2",
        "RISK_DAILY_LOSS_LIMIT": "750",
        "RISK_MAX_DRAWDOWN_PCT": "7.5",
        "RISK_MAX_ORDERS_PER_MINUTE": "12",
        "RISK_SYMBOL_ALLOWLIST": "aapl, btcusd, ETH/USD,",
        "RISK_SYMBOL_DENYLIST": "gme",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    limits = RiskLimits.from_settings(load_settings(None))
    assert limits == RiskLimits(
        max_position_pct=Decimal(15),
        max_position_notional=Decimal(5000),
        max_order_notional=Decimal("1234.50"),
        max_open_positions=6,
        max_open_stock_positions=5,
        max_open_crypto_positions=2,
        daily_loss_limit=Decimal(750),
        max_drawdown_pct=Decimal("7.5"),
        max_orders_per_minute=12,
        allowlist=frozenset({"AAPL", "BTC/USD", "ETH/USD"}),
        denylist=frozenset({"GME"}),
    )


def test_symbol_lists_are_kept_in_the_order_spelling() -> None:
    limits = RiskLimits(allowlist=frozenset({"btcusd", "aapl", " "}), denylist=frozenset({"Gme"}))
    assert limits.allowlist == frozenset({"BTC/USD", "AAPL"})
    assert limits.denylist == frozenset({"GME"})
