"""Builders for the exchange tests: a real NYSE calendar, quotes, and order bodies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pulsetrader.domain.market import Quote, Trade
from pulsetrader.domain.symbols import is_crypto
from pulsetrader.sim.assets import AssetRegistry
from pulsetrader.sim.calendar import MarketCalendar
from pulsetrader.sim.exchange import Exchange, ExchangeConfig

CALENDAR = MarketCalendar()

# Wednesday 2024-01-03: the session runs 14:30Z-21:00Z.
IN_SESSION = datetime(2024, 1, 3, 15, 0, tzinfo=UTC)
SESSION_CLOSE = datetime(2024, 1, 3, 21, 0, tzinfo=UTC)
AFTER_CLOSE = datetime(2024, 1, 3, 22, 0, tzinfo=UTC)
NEXT_OPEN = datetime(2024, 1, 4, 14, 30, tzinfo=UTC)
NEXT_CLOSE = datetime(2024, 1, 4, 21, 0, tzinfo=UTC)
SATURDAY = datetime(2024, 1, 6, 12, 0, tzinfo=UTC)


def make_exchange(
    cash: str | int = 100000, partial_fill_rate: float = 0.0, seed: int = 0, **config: Any
) -> Exchange:
    return Exchange(
        CALENDAR,
        AssetRegistry(),
        ExchangeConfig(
            starting_cash=Decimal(cash), partial_fill_rate=partial_fill_rate, seed=seed, **config
        ),
    )


def quote(symbol: str, bid: str | Decimal, ask: str | Decimal, at: datetime = IN_SESSION) -> Quote:
    return Quote(symbol, Decimal(bid), Decimal(10), Decimal(ask), Decimal(10), at)


def trade(symbol: str, price: str, at: datetime = IN_SESSION) -> Trade:
    return Trade(symbol, Decimal(price), Decimal(1), at)


def push(ex: Exchange, symbol: str, bid: str, ask: str, at: datetime = IN_SESSION) -> None:
    """Feed a quote at ``at`` (the exchange's ``now`` is the quote time)."""
    ex.update_quote(quote(symbol, bid, ask, at), at)


def order(symbol: str = "AAPL", qty: Any = 10, side: str = "buy", **extra: Any) -> dict[str, Any]:
    """An order body like alpaca-py sends (market/day unless overridden)."""
    body: dict[str, Any] = {
        "symbol": symbol,
        "side": side,
        "type": "market",
        "time_in_force": "gtc" if is_crypto(symbol) else "day",
    }
    if qty is not None:
        body["qty"] = qty
    body.update(extra)
    return body


def later(at: datetime, **delta: float) -> datetime:
    return at + timedelta(**delta)


def events(ex: Exchange) -> list[tuple[str, str]]:
    """(event, order status at emission) for every queued update, draining the queue."""
    return [(u.event, u.order["status"]) for u in ex.drain_events()]
