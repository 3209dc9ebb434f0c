"""AccountManager.risk_snapshot: the newest broker answer, never an older one, and no waiting."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any, cast

from pulsetrader.account import AccountManager
from pulsetrader.broker.client import AlpacaClient
from pulsetrader.domain import Account
from pulsetrader.domain.snapshots import PositionSnapshot
from tests.unit.risk.builders import account


class SlowBroker:
    """Answers each read when the test releases it, with the equity it holds at that moment."""

    def __init__(self) -> None:
        self.equity = Decimal(100000)
        self.gates: list[asyncio.Event] = []

    async def _wait(self) -> None:
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()

    async def get_account(self) -> Account:
        equity = self.equity  # what the broker had when the request arrived
        await self._wait()
        return account(equity=str(equity))

    async def get_positions(self) -> list[PositionSnapshot]:
        await self._wait()
        return []


def manager(broker: SlowBroker) -> AccountManager:
    return AccountManager(cast(AlpacaClient, broker), ttl=60.0, reload_delay=0.0)


async def settle(broker: SlowBroker, count: int) -> None:
    for _ in range(100):
        if len(broker.gates) >= count:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{count} requests expected, {len(broker.gates)} made")


async def test_the_risk_check_does_not_wait_for_the_reload_after_a_change() -> None:
    broker = SlowBroker()
    accounts = manager(broker)
    first = asyncio.ensure_future(accounts.risk_snapshot())
    await settle(broker, 1)  # the account, then the positions
    broker.gates[0].set()
    await settle(broker, 2)
    broker.gates[1].set()
    snapshot, _, seen = await first
    assert seen == 0
    change = accounts.mark_changed()
    await settle(broker, 4)  # the reload is out, and hangs
    again, _, seen_again = await asyncio.wait_for(accounts.risk_snapshot(), 1)
    assert again is snapshot
    assert seen_again == 0 < change  # the caller applies change 1 itself
    await accounts.stop()


async def test_a_late_answer_to_an_earlier_request_does_not_replace_a_newer_one() -> None:
    broker = SlowBroker()
    accounts = manager(broker)
    older = asyncio.ensure_future(accounts._load_account())
    await settle(broker, 1)
    accounts.changes += 1
    broker.equity = Decimal(90000)
    newer = asyncio.ensure_future(accounts._load_account())
    await settle(broker, 2)
    broker.gates[1].set()
    await newer
    broker.gates[0].set()
    await older
    assert accounts.last_account is not None
    assert accounts.last_account.equity == Decimal(90000)
    internals: Any = accounts
    assert internals._account_seen == 1


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_snapshot_within_a_refresh_interval_serves_the_risk_check() -> None:
    """Past the TTL (when strategies' reads would reload) but within the refresh interval the
    risk check still takes it; past both, it waits for a fresh one."""
    broker = SlowBroker()
    clock = Clock()
    accounts = AccountManager(
        cast(AlpacaClient, broker), ttl=5.0, refresh_interval=30.0, monotonic=clock
    )
    assert accounts.risk_max_age == 35.0
    first = asyncio.ensure_future(accounts.risk_snapshot())
    await settle(broker, 1)
    broker.gates[0].set()
    await settle(broker, 2)
    broker.gates[1].set()
    snapshot, _, _ = await first
    clock.now = 20.0
    again, _, _ = await asyncio.wait_for(accounts.risk_snapshot(), 1)
    assert again is snapshot
    assert len(broker.gates) == 2  # nothing asked
    clock.now = 36.0
    later = asyncio.ensure_future(accounts.risk_snapshot())
    await settle(broker, 3)
    assert not later.done()  # too old now: it waits for the broker
    broker.gates[2].set()
    await settle(broker, 4)
    broker.gates[3].set()
    await later
