"""Risk limits: the numbers the risk manager enforces, from settings or given directly."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from pulsetrader.config import Settings
from pulsetrader.domain.symbols import order_symbol


def _symbols(text: str) -> frozenset[str]:
    return _canonical(text.split(","))


def _canonical(symbols: Iterable[str]) -> frozenset[str]:
    """The order spelling of every symbol (``btcusd`` -> ``BTC/USD``), blanks dropped."""
    return frozenset(order_symbol(symbol) for symbol in symbols if symbol.strip())


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Every configurable pre-trade limit (the ``RISK_*`` settings).

    Percentages are 0-100. ``allowlist`` empty means every symbol is allowed; ``denylist`` wins
    over it. ``crypto_min_notional`` is Alpaca's smallest crypto order in USD.
    """

    max_position_pct: Decimal = Decimal(20)
    max_position_notional: Decimal = Decimal(25000)
    max_order_notional: Decimal = Decimal(10000)
    max_open_positions: int = 10
    max_open_stock_positions: int = 8
    max_open_crypto_positions: int = 4
    daily_loss_limit: Decimal = Decimal(2000)
    max_drawdown_pct: Decimal = Decimal(10)
    max_orders_per_minute: int = 30
    allowlist: frozenset[str] = field(default_factory=frozenset)
    denylist: frozenset[str] = field(default_factory=frozenset)
    crypto_min_notional: Decimal = Decimal(1)

    def __post_init__(self) -> None:
        # Intents carry the order spelling (BTC/USD, AAPL): so must the lists, however given,
        # or a list built by hand with "BTCUSD" or "aapl" would silently never match.
        object.__setattr__(self, "allowlist", _canonical(self.allowlist))
        object.__setattr__(self, "denylist", _canonical(self.denylist))

    @classmethod
    def from_settings(cls, settings: Settings) -> RiskLimits:
        """The limits the ``RISK_*`` settings describe."""
        return cls(
            max_position_pct=settings.risk_max_position_pct,
            max_position_notional=settings.risk_max_position_notional,
            max_order_notional=settings.risk_max_order_notional,
            max_open_positions=settings.risk_max_open_positions,
            max_open_stock_positions=settings.risk_max_open_stock_positions,
            max_open_crypto_positions=settings.risk_max_open_crypto_positions,
            daily_loss_limit=settings.risk_daily_loss_limit,
            max_drawdown_pct=settings.risk_max_drawdown_pct,
            max_orders_per_minute=settings.risk_max_orders_per_minute,
            allowlist=_symbols(settings.risk_symbol_allowlist),
            denylist=_symbols(settings.risk_symbol_denylist),
        )
