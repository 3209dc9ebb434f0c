"""The live terminal view of ``pulsetrader run`` draws the engine's state from its caches."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from rich.console import Console

from pulsetrader.domain.enums import OrderSide
from pulsetrader.domain.intents import OrderIntent
from pulsetrader.domain.orders import Order
from pulsetrader.engine import Engine
from pulsetrader.view import render
from tests.helpers import eventually
from tests.integration.engine.conftest import STRATEGY

pytestmark = pytest.mark.sim_config(speed=60)


def draw(running: Engine) -> str:
    out = io.StringIO()
    Console(file=out, width=140, color_system=None).print(render(running, running.now))
    return out.getvalue()


async def test_the_view_shows_equity_positions_strategies_and_state(engine: Engine) -> None:
    placed = await engine.orders.submit_order(
        OrderIntent(symbol="MSFT", side=OrderSide.BUY, qty=Decimal(3))
    )
    assert isinstance(placed, Order)
    await eventually(
        lambda: "MSFT" in engine.accounts.last_positions,
        timeout=10,
        message="the position in the account cache",
    )
    screen = draw(engine)
    assert "ACTIVE" in screen
    assert "healthy" in screen
    assert STRATEGY in screen
    assert "RUNNING" in screen
    row = next(line for line in screen.splitlines() if "MSFT" in line and " 3 " in line)
    assert row

    def shows_equity() -> bool:  # the account may be reloaded between two reads: draw again
        account = engine.accounts.last_account
        return account is not None and f"{account.equity.quantize(Decimal('0.01')):,}" in draw(
            engine
        )

    await eventually(shows_equity, timeout=5, message="the equity on screen")
    engine.control.halt("ann", "testing the view")
    assert "HALTED" in draw(engine)
