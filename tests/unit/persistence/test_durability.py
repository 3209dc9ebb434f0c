"""A committed write survives ``kill -9`` of the process that made it."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pulsetrader.domain import OrderStatus
from pulsetrader.persistence import Journal
from tests.unit.persistence.factories import D

_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import UTC, datetime
    from decimal import Decimal
    from pulsetrader.domain import Fill, Order, OrderIntent, OrderSide
    from pulsetrader.persistence import Journal

    journal = Journal(sys.argv[1])
    intent = OrderIntent(symbol="AAPL", side=OrderSide.BUY, qty=Decimal("3.5"),
                         client_order_id="before-kill", strategy="momentum")
    journal.record_intent(Order.from_intent(intent, now=datetime.now(UTC)), intent)
    fill = Fill("x1", "b1", "before-kill", "AAPL", OrderSide.BUY, Decimal("1"),
                Decimal("187.25"), datetime.now(UTC))
    journal.record_fill(fill, realized_pl=Decimal("0.01"))
    # No close(), no checkpoint, no atexit: the process dies right after its commits.
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_intent_survives_sigkill(db_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(db_path)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()
    with Journal(db_path) as journal:
        order = journal.get_order("before-kill")
        assert order is not None
        assert order.status is OrderStatus.PENDING_NEW
        assert order.qty == D("3.5")
        intent = journal.intent_of("before-kill")
        assert intent is not None
        assert intent.strategy == "momentum"
        assert journal.total_realized_pl() == D("0.01")
        assert order.applied_execution_ids == {"x1"}
