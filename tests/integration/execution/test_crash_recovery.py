"""The process killed in the middle of a submission, then restarted on the same journal.

A child process (``crash_child.py``) builds the order stack against this test's simulator and
SIGKILLs itself either right after the journal committed the intent (the broker never heard of
the order) or right after the broker accepted it (the answer never merged). A fresh stack on
the same journal file then starts: it refuses new entries until reconciliation is done, sends
nothing twice, and ends equal to the broker.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from pulsetrader.domain.enums import OrderStatus
from pulsetrader.domain.orders import Order
from pulsetrader.persistence import Journal
from pulsetrader.risk import Denied
from pulsetrader.sim.service import Simulator

from .conftest import build_stack
from .support import broker_orders, buy

ROOT = Path(__file__).resolve().parents[3]


async def run_child(sim: Simulator, journal: Path, coid: str, die: str) -> str:
    """Run ``crash_child`` until it kills itself; its output."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.execution.crash_child",
        "--base-url",
        sim.base_url,
        "--key-id",
        sim.key_id,
        "--secret-key",
        sim.secret_key,
        "--journal",
        str(journal),
        "--coid",
        coid,
        "--die",
        die,
        "--sim-now",
        sim.now().isoformat(),
        "--wall",
        repr(time.time()),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    output = out.decode() + err.decode()
    assert proc.returncode == -signal.SIGKILL, output[-3000:]
    return out.decode()


def journaled(path: Path, coid: str) -> Order | None:
    with Journal(path) as journal:
        return journal.get_order(coid)


@pytest.mark.parametrize("die", ["before-send", "after-accept"])
async def test_killed_mid_submission_then_restarted_gives_no_duplicate(
    simulator: Simulator, tmp_path: Path, die: str
) -> None:
    path, coid = tmp_path / "journal.db", f"crash-{die}"
    said = await run_child(simulator, path, coid, die)
    where = "before the broker is called" if die == "before-send" else "before the answer"
    assert f"dying {where}" in said, said
    posts = simulator.stats.by_route["POST /v2/orders"]
    assert posts == (0 if die == "before-send" else 1)
    before = journaled(path, coid)
    assert before is not None, "the intent was journaled before the broker was called"
    assert before.status is OrderStatus.PENDING_NEW
    assert before.broker_order_id is None

    stack = build_stack(simulator, path)
    try:
        # Not reconciled yet: new entries are refused, and nothing is sent.
        early = await stack.orders.submit_order(buy("MSFT", 1))
        assert isinstance(early, Denied)
        assert early.rule == "reconciling"
        await stack.start()
        assert stack.orders.reconciled
        assert simulator.stats.by_route["POST /v2/orders"] == posts  # nothing (re)sent

        at_broker = await broker_orders(stack)
        order = stack.orders.orders[coid]
        # Newest first: the restart's start-up reconciliation leads.
        reports = [a["detail"] for a in stack.journal.actions() if a["action"] == "reconcile"]
        if die == "before-send":
            assert at_broker == []
            assert order.status is OrderStatus.REJECTED
            assert order.reject_reason
            assert "never received" in order.reject_reason
            assert reports[0]["never_received"] == [coid]
            assert stack.orders.book.position_qty("AAPL") == 0
        else:
            assert [o.client_order_id for o in at_broker] == [coid]
            assert order.broker_order_id == at_broker[0].broker_order_id
            assert order.status is OrderStatus.FILLED
            assert reports[0]["confirmed"] == [coid]
            assert stack.orders.book.position_qty("AAPL") == 3
        journal_order = stack.journal.get_order(coid)
        assert journal_order is not None
        assert (journal_order.status, journal_order.broker_order_id) == (
            order.status,
            order.broker_order_id,
        )
        denials = [
            d for d in stack.journal.decisions(denied_only=True) if d["rule"] == "reconciling"
        ]
        assert [d["symbol"] for d in denials] == ["MSFT"]
        await stack.settled()

        # Entries resume once reconciled, and the crashed order is still not resent.
        placed = await stack.orders.submit_order(buy("MSFT", 1))
        assert isinstance(placed, Order)
        coids = [o.client_order_id for o in await broker_orders(stack)]
        assert coids.count(coid) == (0 if die == "before-send" else 1)
        assert placed.client_order_id in coids
        await stack.settled()
    finally:
        await stack.stop()
