"""Small builders for the risk tests: accounts, positions, assets, working orders, clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pulsetrader.domain import Account, AssetClass, Order, OrderSide, OrderStatus, PositionSide
from pulsetrader.domain.enums import OrderType, TimeInForce
from pulsetrader.domain.snapshots import AssetInfo, PositionSnapshot
from pulsetrader.domain.symbols import asset_class_of, order_symbol
from pulsetrader.risk import MemoryStateStore, RiskLimits, RiskManager

# Monday 2024-03-04, 10:00 in New York (EST, UTC-5).
T0 = datetime(2024, 3, 4, 15, 0, tzinfo=UTC)


def account(**overrides: Any) -> Account:
    """A healthy margin account: $100k equity flat on the day, $200k buying power."""
    fields: dict[str, Any] = {
        "account_id": "acc-1",
        "status": "ACTIVE",
        "currency": "USD",
        "cash": "100000",
        "equity": "100000",
        "buying_power": "200000",
        "last_equity": "100000",
        "long_market_value": "0",
        "short_market_value": "0",
        "portfolio_value": "100000",
        "multiplier": "2",
        "shorting_enabled": True,
        "trading_blocked": False,
        "as_of": T0,
    }
    fields.update(overrides)
    return Account(**fields)


def position(symbol: str, qty: Any, price: Any = 100, **overrides: Any) -> PositionSnapshot:
    """The broker's view of ``qty`` (signed) of ``symbol``, entered and marked at ``price``."""
    q, p = Decimal(qty), Decimal(price)
    fields: dict[str, Any] = {
        "symbol": symbol,
        "qty": q,
        "side": PositionSide.LONG if q > 0 else PositionSide.SHORT,
        "avg_entry_price": p,
        "market_value": q * p,
        "cost_basis": q * p,
        "unrealized_pl": Decimal(0),
        "unrealized_plpc": Decimal(0),
        "current_price": p,
        "lastday_price": p,
        "asset_class": asset_class_of(symbol),
        "qty_available": q,
    }
    fields.update(overrides)
    return PositionSnapshot(**fields)


def asset(symbol: str, **overrides: Any) -> AssetInfo:
    """A tradable, shortable, fractionable instrument."""
    sym = order_symbol(symbol)
    crypto = asset_class_of(sym) is AssetClass.CRYPTO
    fields: dict[str, Any] = {
        "symbol": sym,
        "asset_id": f"id-{sym}",
        "asset_class": asset_class_of(sym),
        "exchange": "CRYPTO" if crypto else "NASDAQ",
        "name": sym,
        "status": "active",
        "tradable": True,
        "marginable": not crypto,
        "shortable": not crypto,
        "easy_to_borrow": not crypto,
        "fractionable": True,
    }
    fields.update(overrides)
    return AssetInfo(**fields)


_order_ids = iter(range(1, 1_000_000))


def working_order(
    symbol: str,
    side: OrderSide,
    qty: Any = None,
    *,
    notional: Any = None,
    status: OrderStatus = OrderStatus.NEW,
    filled_qty: Any = 0,
    filled_avg_price: Any = None,
    reduce_only: bool = False,
    **overrides: Any,
) -> Order:
    """An order at the broker that has not finished (``new`` unless told)."""
    crypto = asset_class_of(symbol) is AssetClass.CRYPTO
    fields: dict[str, Any] = {
        "client_order_id": f"open-{next(_order_ids)}",
        "symbol": symbol,
        "side": side,
        "type": OrderType.MARKET,
        "time_in_force": TimeInForce.GTC if crypto else TimeInForce.DAY,
        "created_at": T0 - timedelta(minutes=1),
        "updated_at": T0 - timedelta(minutes=1),
        "qty": None if qty is None else Decimal(qty),
        "notional": None if notional is None else Decimal(notional),
        "status": status,
        "filled_qty": Decimal(filled_qty),
        "filled_avg_price": filled_avg_price,
        "reduce_only": reduce_only,
    }
    fields.update(overrides)
    return Order(**fields)


class FakeClock:
    """A settable wall clock (aware UTC), for ``RiskManager(clock=...)``."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class FakeMonotonic:
    """A settable monotonic clock in seconds, for the runaway guard."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def risk_manager(
    limits: RiskLimits | None = None,
    *,
    store: MemoryStateStore | None = None,
    clock: FakeClock | None = None,
    monotonic: FakeMonotonic | None = None,
) -> RiskManager:
    """A RiskManager on fake clocks (T0) and an in-memory store."""
    return RiskManager(
        limits,
        store=store or MemoryStateStore(),
        clock=clock or FakeClock(),
        monotonic=monotonic or FakeMonotonic(),
    )
