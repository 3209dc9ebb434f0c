"""The order stack wired to the test's simulator: client, caches, risk, journal, order manager,
and the trade_updates stream feeding it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import pytest

from pulsetrader.account import AccountManager
from pulsetrader.broker import AlpacaClient
from pulsetrader.execution import OrderManager
from pulsetrader.market_data.feed import MarketDataFeed
from pulsetrader.persistence import Journal
from pulsetrader.risk import RiskLimits, RiskManager
from pulsetrader.sim.service import Simulator
from pulsetrader.streaming import ReconnectPolicy, StreamEvent, WebSocketClient
from tests.helpers import eventually
from tests.integration.broker.conftest import make_client

FAST_RECONNECT = ReconnectPolicy(
    base_delay=0.05, max_delay=0.2, limit_delay=0.2, limit_max_delay=0.5
)


@dataclass
class Stack:
    """Everything between a strategy and the broker, as the engine wires it."""

    sim: Simulator
    client: AlpacaClient
    journal: Journal
    accounts: AccountManager
    feed: MarketDataFeed
    risk: RiskManager
    orders: OrderManager
    streams: WebSocketClient
    events: list[StreamEvent] = field(default_factory=list)

    async def start(self) -> None:
        self.streams.on_order_update(self.orders.on_order_update)
        self.streams.add_hook(self.events.append)
        self.streams.add_hook(self.orders.on_stream_event)
        await self.streams.connect()
        await self.streams.trade_updates.wait_connected()
        await self.orders.reconcile("start-up")
        self.orders.start()

    async def stop(self) -> None:
        await self.orders.stop()
        await self.streams.disconnect()
        await self.client.close()
        self.journal.close()

    async def settled(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until the journal agrees with the broker (see :func:`matches_broker`)."""
        await eventually(lambda: matches_broker(self), timeout=timeout, message="journal == broker")


def build_stack(
    sim: Simulator,
    journal_path: Path | str = ":memory:",
    *,
    limits: RiskLimits | None = None,
    **client_kw: Any,
) -> Stack:
    client = make_client(sim, **client_kw)
    journal = Journal(journal_path)
    accounts = AccountManager(client, ttl=0.5)
    feed = MarketDataFeed(client)
    risk = RiskManager(limits, store=journal, clock=sim.now)
    orders = OrderManager(client, accounts, feed, risk, journal, poll_interval=0.2)
    streams = WebSocketClient(
        sim.key_id,
        sim.secret_key,
        stream_url=sim.ws_url,
        trade_stream_url=sim.ws_url + "/stream",
        now=sim.now,
        policy=FAST_RECONNECT,
    )
    return Stack(sim, client, journal, accounts, feed, risk, orders, streams)


class OrderStackLike(Protocol):
    """What :func:`matches_broker` reads: a :class:`Stack`, or the engine itself."""

    @property
    def client(self) -> AlpacaClient: ...

    @property
    def journal(self) -> Journal: ...

    @property
    def orders(self) -> OrderManager: ...


async def matches_broker(stack: OrderStackLike) -> bool:
    """True when every order the broker has is journaled with its status and filled quantity,
    no journaled open order is unknown to it, and the book's positions equal the broker's."""
    broker_orders = await stack.client.list_orders("all", nested=False, limit=500)
    journaled = {o.client_order_id: o for o in stack.journal.load_orders()}
    for snap in broker_orders:
        mine = journaled.get(snap.client_order_id)
        if mine is None or mine.status != snap.status or mine.filled_qty != snap.filled_qty:
            return False
    known = {o.client_order_id for o in broker_orders}
    if any(o.is_open and o.client_order_id not in known for o in journaled.values()):
        return False
    broker_positions = {p.symbol: p.qty for p in await stack.client.get_positions()}
    book = {p.symbol: p.qty for p in stack.orders.positions()}
    saved = {s: p.qty for s, p in stack.journal.load_positions().items() if p.qty != 0}
    return broker_positions == book == saved


@pytest.fixture
async def stack(simulator: Simulator, tmp_path: Path) -> AsyncIterator[Stack]:
    s = build_stack(simulator, tmp_path / "journal.db")
    await s.start()
    yield s
    await s.stop()


def qty(value: str) -> Decimal:
    return Decimal(value)
