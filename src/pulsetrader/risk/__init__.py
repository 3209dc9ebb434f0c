"""Pre-trade risk: limits, Alpaca's order rules, the trading state, Approved or Denied."""

from pulsetrader.risk.decisions import Approved, Denied, RiskDecision
from pulsetrader.risk.limits import RiskLimits
from pulsetrader.risk.manager import (
    MemoryStateStore,
    RiskManager,
    RiskStateStore,
    count_positions_by_type,
    trading_day,
)

__all__ = [
    "Approved",
    "Denied",
    "MemoryStateStore",
    "RiskDecision",
    "RiskLimits",
    "RiskManager",
    "RiskStateStore",
    "count_positions_by_type",
    "trading_day",
]
