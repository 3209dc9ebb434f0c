"""The SQLite journal (SQLAlchemy 2 Core, WAL, versioned migrations): orders, fills, risk
decisions, positions, equity curve, daily P/L and the audit trail. Start at :class:`Journal`."""

from pulsetrader.persistence.audit import TRADING_STATE_KEY
from pulsetrader.persistence.errors import (
    DuplicateClientOrderId,
    JournalError,
    JournalVersionError,
)
from pulsetrader.persistence.journal import Journal
from pulsetrader.persistence.ledger import EQUITY_MIN_INTERVAL
from pulsetrader.persistence.migrations import LATEST_VERSION
from pulsetrader.persistence.records import UNATTRIBUTED, DailyPnL, JournalFill

__all__ = [
    "EQUITY_MIN_INTERVAL",
    "LATEST_VERSION",
    "TRADING_STATE_KEY",
    "UNATTRIBUTED",
    "DailyPnL",
    "DuplicateClientOrderId",
    "Journal",
    "JournalError",
    "JournalFill",
    "JournalVersionError",
]
