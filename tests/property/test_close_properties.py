"""Property 9: position close order accuracy.

For any position (long or short, whole or fractional, stock or crypto), the order that closes it
(:meth:`OrderManager.close_intent`) is on the opposite side, for exactly the quantity asked (all
of it, a quantity capped at what is held, or a percentage of it), a market order with gtc for
crypto and day for stocks, and reduce-only; and the risk manager approves it as an exit in every
trading state, HALTED included (closing by hand is what HALTED still allows).
"""

from __future__ import annotations

import asyncio
import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pulsetrader.domain import (
    AssetClass,
    Order,
    OrderClass,
    OrderSide,
    OrderType,
    TimeInForce,
    TradingState,
)
from pulsetrader.domain.snapshots import PositionSnapshot
from pulsetrader.domain.symbols import asset_class_of
from pulsetrader.risk import Approved, MemoryStateStore, RiskLimits, RiskManager
from tests.unit.risk.builders import FakeClock, FakeMonotonic, account, position
from tests.unit.risk.fakes import Rig, build_rig

SYMBOLS = ("AAPL", "MSFT", "BRK.B", "BTC/USD", "ETH/USD", "DOGE/USD")
TIGHT = RiskLimits(  # tight entry limits: a close must not depend on any of them
    max_position_pct=Decimal("0.01"),
    max_position_notional=Decimal(1),
    max_order_notional=Decimal(1),
    max_open_positions=0,
    max_open_stock_positions=0,
    max_open_crypto_positions=0,
    daily_loss_limit=Decimal(1),
    max_drawdown_pct=Decimal("0.01"),
    crypto_min_notional=Decimal(1000),
)


def scaled(low: int, high: int, places: int) -> st.SearchStrategy[Decimal]:
    return st.integers(low, high).map(lambda n: Decimal(n).scaleb(-places))


@st.composite
def positions(draw: st.DrawFn) -> PositionSnapshot:
    symbol = draw(st.sampled_from(SYMBOLS))
    if draw(st.booleans()):
        qty = Decimal(draw(st.integers(1, 10_000)))  # whole
    else:
        qty = draw(scaled(1, 10**9, draw(st.integers(1, 9))))  # fractional, up to 9 places
    if draw(st.booleans()):
        qty = -qty
    price = draw(scaled(1, 10**8, 2).filter(lambda p: p > 0))
    return position(symbol, qty, price)


# How much to close: everything, a quantity (possibly more than held), or a percentage.
amounts = st.one_of(
    st.just(("all", None)),
    st.tuples(st.just("qty"), scaled(1, 10**12, 4)),
    st.tuples(st.just("percentage"), scaled(1, 10_000, 2)),  # 0.01% .. 100%
)


def rig_for(pos: PositionSnapshot, state: TradingState = TradingState.ACTIVE) -> Rig:
    clock = FakeClock()
    risk = RiskManager(TIGHT, store=MemoryStateStore(), clock=clock, monotonic=FakeMonotonic())
    if state is not TradingState.ACTIVE:
        risk.set_state(state, "property test")
    return build_rig(
        risk,
        acct=account(equity="50", last_equity="100000", cash="0", buying_power="0"),
        positions=[pos],
        clock=clock,
    )


@given(pos=positions(), amount=amounts, state=st.sampled_from(TradingState))
def test_close_intent_is_the_exact_opposite_market_order_and_risk_approves_it(
    pos: PositionSnapshot, amount: tuple[str, Decimal | None], state: TradingState
) -> None:
    kind, value = amount
    rig = rig_for(pos, state)
    held = abs(pos.qty)
    if kind == "all":
        expected = Fraction(held)
    elif kind == "qty":
        assert value is not None
        expected = min(Fraction(value), Fraction(held))
    else:
        assert value is not None
        expected = Fraction(held) * Fraction(value) / 100
        # Rounded down to what can be traded: whole shares of a whole-share position, crypto
        # to 9 places; a fractional stock position keeps the exact share.
        if pos.asset_class is AssetClass.CRYPTO:
            expected = Fraction(math.floor(expected * 10**9), 10**9)
        elif held == held.to_integral_value():
            expected = Fraction(math.floor(expected))
    if expected == 0:
        with pytest.raises(ValueError, match="nothing to close"):
            rig.manager.close_intent(pos, percentage=value)
        return
    intent = rig.manager.close_intent(
        pos,
        qty=value if kind == "qty" else None,
        percentage=value if kind == "percentage" else None,
    )
    # Exact: compared as fractions.
    assert intent.qty is not None
    assert Fraction(intent.qty) == expected
    assert 0 < intent.qty <= held
    assert intent.notional is None
    assert intent.side is (OrderSide.SELL if pos.qty > 0 else OrderSide.BUY)
    assert intent.side.sign * pos.qty < 0
    assert intent.symbol == pos.symbol
    assert intent.type is OrderType.MARKET
    assert intent.order_class is OrderClass.SIMPLE
    crypto = asset_class_of(pos.symbol) is AssetClass.CRYPTO
    assert intent.time_in_force is (TimeInForce.GTC if crypto else TimeInForce.DAY)
    assert intent.reduce_only is True
    assert intent.strategy is None
    assert intent.limit_price is None
    assert intent.stop_price is None
    assert not intent.extended_hours

    # The risk manager sees an exit and lets it through whatever the state and the limits,
    # with the market price or without one (the position's last price values it).
    for price in (pos.current_price, None):
        decision = rig.risk.validate_trade(intent, rig.accounts.account, [pos], price=price)
        assert isinstance(decision, Approved), decision
        assert decision.exit


@given(pos=positions(), state=st.sampled_from(TradingState))
def test_close_position_sends_the_close_through_the_order_path(
    pos: PositionSnapshot, state: TradingState
) -> None:
    """End to end on fakes: one approved, reduce-only order for the whole position."""
    rig = rig_for(pos, state)
    rig.manager.reconciled = False  # reduce-only exits do not wait for reconciliation

    result = asyncio.run(rig.manager.close_position(pos.symbol))
    assert isinstance(result, Order), result
    assert rig.broker.calls == [result.client_order_id]
    (sent,) = rig.broker.intents
    assert sent.qty == abs(pos.qty)
    assert sent.side.sign * pos.qty < 0
    assert sent.reduce_only
    (record,) = rig.journal.decisions
    assert record.approved
    assert record.client_order_id == result.client_order_id


@given(pos=positions())
def test_close_intent_refuses_contradictory_or_impossible_amounts(pos: PositionSnapshot) -> None:
    manager = rig_for(pos).manager
    with pytest.raises(ValueError, match="not both"):
        manager.close_intent(pos, qty=Decimal(1), percentage=Decimal(50))
    for bad in (Decimal(0), Decimal(-5), Decimal("100.01")):
        with pytest.raises(ValueError, match="percentage"):
            manager.close_intent(pos, qty=None, percentage=bad)
