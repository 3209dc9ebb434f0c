"""Trading state (ACTIVE / REDUCING / HALTED), reduce-only, what counts as an exit, listeners
and the HALTED state surviving a restart."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pulsetrader.domain import OrderClass, OrderIntent, OrderSide, OrderStatus, TradingState
from pulsetrader.domain.enums import OrderType
from pulsetrader.risk import Approved, Denied, MemoryStateStore, RiskManager
from tests.unit.risk.builders import account, position, risk_manager, working_order

PRICE = Decimal(100)
LONG_AAPL = [position("AAPL", 10)]
SHORT_AAPL = [position("AAPL", -10)]


def buy(qty: int | str = 5, symbol: str = "AAPL", **kw: object) -> OrderIntent:
    return OrderIntent(symbol=symbol, side=OrderSide.BUY, qty=Decimal(qty), **kw)  # type: ignore[arg-type]


def sell(qty: int | str = 5, symbol: str = "AAPL", **kw: object) -> OrderIntent:
    return OrderIntent(symbol=symbol, side=OrderSide.SELL, qty=Decimal(qty), **kw)  # type: ignore[arg-type]


def check(rm: RiskManager, intent: OrderIntent, positions=(), **kw: object) -> Approved | Denied:
    return rm.validate_trade(intent, account(), list(positions), price=PRICE, **kw)  # type: ignore[arg-type]


def assert_denied(decision: Approved | Denied, rule: str) -> None:
    assert isinstance(decision, Denied), decision
    assert decision.rule == rule, decision.reason
    assert decision.reason


# -- ACTIVE -------------------------------------------------------------------------------------


def test_active_approves_entries_and_exits() -> None:
    rm = risk_manager()
    assert rm.state is TradingState.ACTIVE
    entry = check(rm, buy())
    assert isinstance(entry, Approved)
    assert not entry.exit
    assert entry.to_dict()["approved"] is True
    exit_ = check(rm, sell(10), LONG_AAPL)
    assert isinstance(exit_, Approved)
    assert exit_.exit


# -- HALTED -------------------------------------------------------------------------------------


def test_halted_denies_entries_from_anyone() -> None:
    rm = risk_manager()
    rm.set_state(TradingState.HALTED, "kill switch")
    assert_denied(check(rm, buy(strategy="momo")), "halted")
    assert_denied(check(rm, buy()), "halted")  # the operator cannot open either
    denial = check(rm, buy())
    assert "kill switch" in denial.reason
    assert denial.to_dict()["rule"] == "halted"


def test_halted_denies_strategy_exits() -> None:
    rm = risk_manager()
    rm.set_state(TradingState.HALTED, "kill switch")
    assert_denied(check(rm, sell(5, strategy="momo"), LONG_AAPL), "halted")
    assert_denied(check(rm, sell(5, strategy="momo", reduce_only=True), LONG_AAPL), "halted")


def test_halted_lets_operator_exits_through() -> None:
    rm = risk_manager()
    rm.set_state(TradingState.HALTED, "kill switch")
    for intent, positions in [
        (sell(10), LONG_AAPL),
        (sell(4, reduce_only=True), LONG_AAPL),
        (buy(10, reduce_only=True), SHORT_AAPL),
    ]:
        decision = check(rm, intent, positions)
        assert isinstance(decision, Approved), decision
        assert decision.exit


def test_halted_denies_an_operator_order_that_would_flip_the_position() -> None:
    rm = risk_manager()
    rm.set_state(TradingState.HALTED, "kill switch")
    assert_denied(check(rm, sell(11), LONG_AAPL), "halted")


# -- REDUCING -----------------------------------------------------------------------------------


def test_reducing_denies_entries() -> None:
    rm = risk_manager()
    rm.set_state(TradingState.REDUCING, "stream down")
    assert_denied(check(rm, buy(strategy="momo")), "reducing")
    assert_denied(check(rm, buy(5), LONG_AAPL), "reducing")  # adding to a long
    assert_denied(check(rm, sell(5), SHORT_AAPL), "reducing")  # adding to a short
    assert_denied(check(rm, sell(11), LONG_AAPL), "reducing")  # flipping
    assert "stream down" in check(rm, buy()).reason


def test_reducing_approves_exits_even_from_strategies() -> None:
    rm = risk_manager()
    rm.set_state(TradingState.REDUCING, "stream down")
    for intent, positions in [
        (sell(10, strategy="momo"), LONG_AAPL),
        (sell(3), LONG_AAPL),
        (buy(10, strategy="momo"), SHORT_AAPL),
    ]:
        decision = check(rm, intent, positions)
        assert isinstance(decision, Approved), decision
        assert decision.exit


def test_a_notional_exit_is_measured_at_the_price() -> None:
    rm = risk_manager()
    rm.set_state(TradingState.REDUCING, "stream down")
    ok = OrderIntent(symbol="AAPL", side=OrderSide.SELL, notional=Decimal(1000))  # 10 shares
    too_much = OrderIntent(symbol="AAPL", side=OrderSide.SELL, notional=Decimal(1001))
    assert isinstance(check(rm, ok, LONG_AAPL), Approved)
    assert_denied(check(rm, too_much, LONG_AAPL), "reducing")


# -- reduce_only and what an exit is ------------------------------------------------------------


def test_reduce_only_that_would_not_shrink_the_position_is_denied() -> None:
    rm = risk_manager()
    assert_denied(check(rm, sell(5, reduce_only=True)), "reduce_only")  # flat
    assert_denied(check(rm, buy(5, reduce_only=True), LONG_AAPL), "reduce_only")  # adds
    assert_denied(check(rm, sell(11, reduce_only=True), LONG_AAPL), "reduce_only")  # flips
    decision = check(rm, sell(10, reduce_only=True), LONG_AAPL)
    assert isinstance(decision, Approved)
    assert decision.exit


def test_quantity_already_being_closed_is_not_available_to_another_exit() -> None:
    rm = risk_manager()
    working = [working_order("AAPL", OrderSide.SELL, 6)]
    assert isinstance(
        check(rm, sell(4, reduce_only=True), LONG_AAPL, open_orders=working), Approved
    )
    assert_denied(
        check(rm, sell(5, reduce_only=True), LONG_AAPL, open_orders=working), "reduce_only"
    )
    # Partly filled already: only what is left of it still holds quantity (broker's position
    # snapshot already shows the part that filled).
    partial = [
        working_order("AAPL", OrderSide.SELL, 6, filled_qty=4, status=OrderStatus.PARTIALLY_FILLED)
    ]
    assert isinstance(
        check(rm, sell(8, reduce_only=True), LONG_AAPL, open_orders=partial), Approved
    )


def test_a_held_bracket_leg_does_not_count_twice() -> None:
    rm = risk_manager()
    legs = [
        working_order("AAPL", OrderSide.SELL, 10, type=OrderType.LIMIT, limit_price=Decimal(120)),
        working_order(
            "AAPL",
            OrderSide.SELL,
            10,
            type=OrderType.STOP,
            stop_price=Decimal(90),
            status=OrderStatus.HELD,
        ),
    ]
    positions = [position("AAPL", 20)]
    assert isinstance(check(rm, sell(10, reduce_only=True), positions, open_orders=legs), Approved)
    assert_denied(check(rm, sell(11, reduce_only=True), positions, open_orders=legs), "reduce_only")


def test_orders_on_other_symbols_or_finished_do_not_hold_quantity() -> None:
    rm = risk_manager()
    others = [
        working_order("MSFT", OrderSide.SELL, 10),
        working_order("AAPL", OrderSide.SELL, 10, status=OrderStatus.CANCELED),
        working_order("AAPL", OrderSide.BUY, 10),
    ]
    decision = check(rm, sell(10, reduce_only=True), LONG_AAPL, open_orders=others)
    assert isinstance(decision, Approved)


def test_a_bracket_against_the_position_is_not_an_exit() -> None:
    """Its legs would reopen the position the other way once the parent fills."""
    rm = risk_manager()
    rm.set_state(TradingState.REDUCING, "stream down")
    bracket = sell(
        10,
        order_class=OrderClass.BRACKET,
        take_profit_limit_price=Decimal(90),
        stop_loss_stop_price=Decimal(110),
    )
    assert_denied(check(rm, bracket, LONG_AAPL), "reducing")


def test_positions_may_be_given_as_a_mapping_in_either_spelling() -> None:
    rm = risk_manager()
    rm.set_state(TradingState.REDUCING, "stream down")
    btc = position("BTC/USD", "0.5", 60000)
    intent = OrderIntent(
        symbol="BTC/USD", side=OrderSide.SELL, qty=Decimal("0.5"), time_in_force="gtc"
    )
    for positions in ({"BTCUSD": btc}, {"BTC/USD": btc}):
        decision = rm.validate_trade(intent, account(), positions, price=Decimal(60000))
        assert isinstance(decision, Approved), decision
        assert decision.exit


# -- persistence and listeners ------------------------------------------------------------------


def test_halted_survives_a_new_risk_manager_on_the_same_store() -> None:
    store = MemoryStateStore()
    first = risk_manager(store=store)
    first.set_state(TradingState.HALTED, "operator")
    second = RiskManager(store=store)
    assert second.state is TradingState.HALTED
    assert second.state_reason
    assert_denied(check(second, buy()), "halted")
    # Only a person lifts it; once lifted, that survives too.
    second.set_state(TradingState.ACTIVE, "operator resumed")
    assert RiskManager(store=store).state is TradingState.ACTIVE


def test_reducing_does_not_survive_a_restart() -> None:
    """REDUCING follows the engine's health, which a restart measures afresh."""
    store = MemoryStateStore()
    risk_manager(store=store).set_state(TradingState.REDUCING, "stream down")
    assert RiskManager(store=store).state is TradingState.ACTIVE


def test_state_listeners_are_called_on_transitions_only() -> None:
    rm = risk_manager()
    seen: list[tuple[TradingState, TradingState, str]] = []
    rm.on_state_change(lambda old, new, reason: seen.append((old, new, reason)))
    assert rm.set_state(TradingState.REDUCING, "stream down") is True
    assert rm.set_state(TradingState.REDUCING, "still down") is False
    assert rm.set_state(TradingState.HALTED, "kill") is True
    assert rm.set_state(TradingState("ACTIVE"), "resumed") is True
    assert seen == [
        (TradingState.ACTIVE, TradingState.REDUCING, "stream down"),
        (TradingState.REDUCING, TradingState.HALTED, "kill"),
        (TradingState.HALTED, TradingState.ACTIVE, "resumed"),
    ]
    assert rm.state_reason == "resumed"


def test_a_failing_listener_does_not_stop_the_others_or_the_transition() -> None:
    rm = risk_manager()
    seen: list[TradingState] = []

    def broken(old: TradingState, new: TradingState, reason: str) -> None:
        raise RuntimeError("listener bug")

    rm.on_state_change(broken)
    rm.on_state_change(lambda old, new, reason: seen.append(new))
    assert rm.set_state(TradingState.HALTED, "kill")
    assert rm.state is TradingState.HALTED
    assert seen == [TradingState.HALTED]


def test_an_unknown_state_is_refused() -> None:
    with pytest.raises(ValueError, match="PAUSED"):
        risk_manager().set_state("PAUSED", "?")  # type: ignore[arg-type]
