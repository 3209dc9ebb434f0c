"""The risk check's view between broker snapshots: the engine's own changes on top of the last."""

from __future__ import annotations

from decimal import Decimal

from pulsetrader.domain import OrderSide
from pulsetrader.execution.unsettled import Unsettled, position_after
from tests.unit.persistence.factories import make_fill
from tests.unit.risk.builders import account, position

D = Decimal


def test_a_fill_after_the_snapshot_moves_the_position_and_the_cash() -> None:
    unsettled = Unsettled()
    unsettled.filled(3, make_fill("e1", qty="10", price="100"))
    acct, held = unsettled.apply(account(), {}, seen=2)
    assert held["AAPL"].qty == 10
    assert held["AAPL"].avg_entry_price == 100
    assert acct.cash == D(100000) - D(1000)
    assert acct.buying_power == D(200000)  # the order's reservation, not the fill, takes it
    assert acct.equity == D(100000)


def test_a_snapshot_requested_after_the_changes_is_taken_as_it_is() -> None:
    unsettled = Unsettled()
    unsettled.filled(3, make_fill("e1", qty="10"))
    unsettled.accepted(2, D(1000))
    snapshot = {"AAPL": position("AAPL", 10)}
    acct, held = unsettled.apply(account(), snapshot, seen=3)
    assert acct == account()
    assert held == snapshot
    assert len(unsettled) == 0  # forgotten: no older snapshot will be asked about


def test_only_the_changes_a_snapshot_may_miss_are_applied() -> None:
    unsettled = Unsettled()
    unsettled.accepted(1, D(500))
    unsettled.accepted(4, D(700))
    acct, _ = unsettled.apply(account(), {}, seen=2)
    assert acct.buying_power == D(200000) - D(700)


def test_a_sale_that_closes_the_position_removes_it() -> None:
    unsettled = Unsettled()
    unsettled.filled(5, make_fill("e1", qty="10", price="110", side=OrderSide.SELL))
    acct, held = unsettled.apply(account(), {"AAPL": position("AAPL", 10)}, seen=4)
    assert "AAPL" not in held
    assert acct.cash == D(100000) + D(1100)


def test_a_fill_that_crosses_zero_opens_the_other_way_at_its_price() -> None:
    after = position_after(
        position("AAPL", 10, 100), make_fill("e1", qty="15", price="90", side=OrderSide.SELL)
    )
    assert after is not None
    assert after.qty == -5
    assert after.side.value == "short"
    assert after.avg_entry_price == 90
    assert after.market_value == D(-450)


def test_adding_to_a_position_averages_its_entry() -> None:
    after = position_after(position("AAPL", 10, 100), make_fill("e1", qty="10", price="110"))
    assert after is not None
    assert after.qty == 20
    assert after.avg_entry_price == 105
    assert after.unrealized_pl == D(100)  # marked at the fill's price
