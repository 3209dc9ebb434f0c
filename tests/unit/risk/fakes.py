"""Hand-written fakes for building an OrderManager without a broker, a feed or a database.

Not mocks: each is a tiny working implementation of what the order manager uses, recording what
it was asked so tests can check it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from pulsetrader.broker.errors import BrokerError, NotFound
from pulsetrader.domain import Account, Fill, Order, OrderIntent, OrderStatus, Position
from pulsetrader.domain.events import OrderUpdate
from pulsetrader.domain.snapshots import AssetInfo, PositionSnapshot
from pulsetrader.domain.symbols import order_symbol
from pulsetrader.execution.order_manager import OrderManager
from pulsetrader.risk import RiskManager
from tests.unit.risk.builders import T0, FakeClock, account


class FakeBroker:
    """``submit_order`` records every call and acknowledges the order as ``new`` (or raises
    the error :attr:`fail_next` holds, once)."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.calls: list[str] = []
        self.intents: list[OrderIntent] = []
        self.fail_next: BrokerError | None = None

    async def get_asset(self, symbol: str) -> AssetInfo:
        raise NotFound(f"asset not found for {symbol}")

    async def submit_order(self, intent: OrderIntent, client_order_id: str) -> Order:
        self.calls.append(client_order_id)
        self.intents.append(intent)
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        order = Order.from_intent(intent, client_order_id, now=self.clock())
        order.broker_order_id = f"broker-{len(self.calls)}"
        order.status = OrderStatus.NEW
        order.submitted_at = self.clock()
        return order


class FakeAccounts:
    """The AccountManager surface the order manager reads: a fixed account and positions."""

    def __init__(
        self, acct: Account | None = None, positions: Iterable[PositionSnapshot] = ()
    ) -> None:
        self.account = acct or account()
        self.positions = {p.symbol: p for p in positions}
        self.invalidations = 0

    async def get_account(self, *, fresh: bool = False) -> Account:
        return self.account

    async def get_positions(self, *, fresh: bool = False) -> list[PositionSnapshot]:
        return list(self.positions.values())

    async def get_position(self, symbol: str) -> PositionSnapshot | None:
        return self.positions.get(order_symbol(symbol))

    async def risk_snapshot(self) -> tuple[Account, dict[str, PositionSnapshot], int]:
        # The test sets the broker's truth: it includes every change made so far.
        return self.account, dict(self.positions), self.invalidations

    def invalidate(self) -> None:
        self.invalidations += 1

    def mark_changed(self) -> int:
        self.invalidate()
        return self.invalidations


class FakeFeed:
    """Current prices from a dict (None when a symbol has none)."""

    def __init__(self, prices: dict[str, Decimal] | None = None) -> None:
        self.prices = dict(prices or {})

    async def get_current_price(
        self, symbol: str, *, max_age: float | None = None
    ) -> Decimal | None:
        return self.prices.get(order_symbol(symbol))


@dataclass(frozen=True)
class DecisionRecord:
    intent: OrderIntent
    approved: bool
    reason: str
    rule: str | None
    at: datetime | None
    client_order_id: str | None


@dataclass(frozen=True)
class FillRecord:
    fill: Fill
    realized_pl: Decimal | None
    strategy: str | None


class FakeJournal:
    """An in-memory :class:`~pulsetrader.execution.ports.OrderJournal` (and risk state store).

    ``fills()`` returns records with a ``fill`` attribute, as the journal does; ``all_fills()``
    the bare fills, for callers of the older API."""

    def __init__(self) -> None:
        self.intents: dict[str, OrderIntent] = {}
        self.orders: dict[str, Order] = {}
        self.executions: list[FillRecord] = []
        self.events: list[tuple[OrderUpdate, Order | None]] = []
        self.decisions: list[DecisionRecord] = []
        self.positions: dict[str, Position] = {}
        self.state: dict[str, str] = {}
        self.actions: list[tuple[str, str, Mapping[str, Any] | None, datetime | None]] = []

    def record_intent(
        self,
        order: Order,
        intent: OrderIntent,
        *,
        approved_at: datetime | None = None,
    ) -> None:
        self.intents[order.client_order_id] = intent
        self.orders[order.client_order_id] = order
        if approved_at is not None:
            self.record_decision(intent, True, "approved", None, approved_at, order.client_order_id)

    def record_order(self, order: Order) -> None:
        self.orders[order.client_order_id] = order

    def batch(self) -> AbstractContextManager[None]:
        return nullcontext()

    def load_orders(self, *, open_only: bool = False) -> list[Order]:
        return [o for o in self.orders.values() if o.is_open or not open_only]

    def record_fill(
        self, fill: Fill, *, realized_pl: Decimal | None = None, strategy: str | None = None
    ) -> bool:
        if any(r.fill.execution_id == fill.execution_id for r in self.executions):
            return False
        self.executions.append(FillRecord(fill, realized_pl, strategy))
        return True

    def fills(self) -> list[FillRecord]:
        return list(self.executions)

    def all_fills(self) -> list[Fill]:
        return [r.fill for r in self.executions]

    def record_event(self, update: OrderUpdate, order: Order | None = None) -> bool:
        self.events.append((update, order))
        return True

    def record_decision(
        self,
        intent: OrderIntent,
        approved: bool,
        reason: str,
        rule: str | None = None,
        at: datetime | None = None,
        client_order_id: str | None = None,
    ) -> None:
        self.decisions.append(DecisionRecord(intent, approved, reason, rule, at, client_order_id))

    def save_positions(self, positions: Iterable[Position], at: datetime) -> None:
        self.positions = {p.symbol: p for p in positions}

    def load_positions(self) -> dict[str, Position]:
        return dict(self.positions)

    def get_state(self, key: str) -> str | None:
        return self.state.get(key)

    def set_state(self, key: str, value: str) -> None:
        self.state[key] = value

    def record_action(
        self,
        actor: str,
        action: str,
        detail: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> None:
        self.actions.append((actor, action, detail, at))


@dataclass
class Rig:
    """An OrderManager on fakes, and the fakes, for tests to drive and inspect."""

    manager: OrderManager
    broker: FakeBroker
    accounts: FakeAccounts
    feed: FakeFeed
    journal: FakeJournal
    risk: RiskManager
    clock: FakeClock


def build_rig(
    risk: RiskManager | None = None,
    *,
    acct: Account | None = None,
    positions: Iterable[PositionSnapshot] = (),
    prices: dict[str, Decimal] | None = None,
    clock: FakeClock | None = None,
) -> Rig:
    """An OrderManager wired to fakes, already reconciled (ready to take entries)."""
    clock = clock or FakeClock(T0)
    journal = FakeJournal()
    risk = risk or RiskManager(store=journal, clock=clock, monotonic=lambda: 0.0)
    broker = FakeBroker(clock)
    accounts = FakeAccounts(acct, positions)
    feed = FakeFeed(prices)
    manager = OrderManager(
        cast(Any, broker), cast(Any, accounts), cast(Any, feed), risk, journal, clock=clock
    )
    manager.reconciled = True
    return Rig(manager, broker, accounts, feed, journal, risk, clock)
