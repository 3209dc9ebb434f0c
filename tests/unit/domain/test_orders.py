"""Order intents, the status transition table, fills and broker snapshots on orders."""

from __future__ import annotations

import pickle
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from pulsetrader.domain import (
    ALLOWED_TRANSITIONS,
    TERMINAL_STATUSES,
    AssetClass,
    DomainError,
    Fill,
    InvalidTransition,
    Order,
    OrderClass,
    OrderIntent,
    OrderSide,
    OrderStatus,
    OrderType,
    OverfillError,
    PulseTraderError,
    TimeInForce,
    can_reach,
    can_transition,
)
from pulsetrader.domain import orders as orders_module

T0 = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)
D = Decimal


def intent(**overrides: Any) -> OrderIntent:
    fields: dict[str, Any] = {"symbol": "AAPL", "side": OrderSide.BUY, "qty": D(10)}
    fields.update(overrides)
    return OrderIntent(**fields)


def new_order(qty: str | None = "10", **overrides: Any) -> Order:
    fields: dict[str, Any] = {"qty": None if qty is None else D(qty)}
    if qty is None:
        fields["notional"] = D(500)
    fields.update(overrides)
    return Order.from_intent(intent(**fields), "coid-1", T0)


def fill(qty: str, price: str = "100", execution_id: str = "x1", seconds: int = 1) -> Fill:
    return Fill(
        execution_id=execution_id,
        order_id="broker-1",
        client_order_id="coid-1",
        symbol="AAPL",
        side=OrderSide.BUY,
        qty=D(qty),
        price=D(price),
        timestamp=T0 + timedelta(seconds=seconds),
    )


# --- OrderIntent --------------------------------------------------------------------------


def test_market_intent_defaults_to_day_simple_and_canonical_symbol() -> None:
    i = intent(symbol="btcusd", qty="0.5")
    assert i.symbol == "BTC/USD"
    assert i.qty == D("0.5")
    assert (i.type, i.time_in_force, i.order_class) == (
        OrderType.MARKET,
        TimeInForce.DAY,
        OrderClass.SIMPLE,
    )
    assert i.asset_class is AssetClass.CRYPTO
    assert intent().asset_class is AssetClass.US_EQUITY


@pytest.mark.parametrize(
    "overrides",
    [
        {"qty": None},
        {"notional": D(100)},
        {"qty": D(0)},
        {"qty": D(-1)},
        {"qty": None, "notional": D(0)},
    ],
)
def test_intent_needs_exactly_one_positive_amount(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"qty|notional"):
        intent(**overrides)


def test_notional_market_intent_is_valid() -> None:
    assert intent(qty=None, notional="250.50").notional == D("250.5")


def test_invalid_symbol_intent_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid symbol"):
        intent(symbol="NOT A SYMBOL")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"type": OrderType.LIMIT}, "limit orders need limit_price"),
        ({"type": OrderType.STOP_LIMIT, "stop_price": D(9)}, "need limit_price"),
        ({"limit_price": D(10)}, "limit_price is not allowed for market"),
        ({"type": OrderType.STOP}, "stop orders need stop_price"),
        ({"type": OrderType.STOP_LIMIT, "limit_price": D(10)}, "need stop_price"),
        ({"type": OrderType.LIMIT, "limit_price": D(10), "stop_price": D(9)}, "stop_price is not"),
        ({"type": OrderType.TRAILING_STOP}, "exactly one of trail_price"),
        (
            {"type": OrderType.TRAILING_STOP, "trail_price": D(1), "trail_percent": D(1)},
            "exactly one of trail_price",
        ),
        ({"trail_percent": D(2)}, "not allowed for market"),
        ({"type": OrderType.LIMIT, "limit_price": D(0)}, "limit_price must be positive"),
        ({"type": OrderType.STOP, "stop_price": D(-5)}, "stop_price must be positive"),
        ({"extended_hours": True}, "extended_hours orders must be limit"),
        ({"client_order_id": "x" * 129}, "client_order_id"),
        ({"client_order_id": ""}, "client_order_id"),
    ],
)
def test_intent_with_wrong_price_fields_is_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        intent(**overrides)


@pytest.mark.parametrize(
    "overrides",
    [
        {"type": OrderType.LIMIT, "limit_price": "10.5"},
        {"type": OrderType.STOP, "stop_price": D(9)},
        {"type": OrderType.STOP_LIMIT, "stop_price": D(9), "limit_price": D("8.9")},
        {"type": OrderType.TRAILING_STOP, "trail_percent": D("1.5")},
        {"type": OrderType.TRAILING_STOP, "trail_price": D("0.25")},
        {"type": OrderType.LIMIT, "limit_price": D(10), "extended_hours": True},
    ],
)
def test_intent_with_the_prices_its_type_needs_is_valid(overrides: dict[str, Any]) -> None:
    assert intent(**overrides).type == OrderType(overrides["type"])


def test_bracket_intent_with_both_exits_is_valid() -> None:
    i = intent(
        order_class=OrderClass.BRACKET,
        take_profit_limit_price="110",
        stop_loss_stop_price="95",
        stop_loss_limit_price="94.5",
    )
    assert i.take_profit_limit_price == D(110)
    assert i.to_dict()["stop_loss_limit_price"] == "94.5"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"order_class": OrderClass.BRACKET, "take_profit_limit_price": D(110)}, "need take_"),
        ({"order_class": OrderClass.BRACKET, "stop_loss_stop_price": D(95)}, "need take_"),
        ({"order_class": OrderClass.OTO}, "exactly one of take_profit"),
        (
            {
                "order_class": OrderClass.OTO,
                "take_profit_limit_price": D(110),
                "stop_loss_stop_price": D(95),
            },
            "exactly one of take_profit",
        ),
        ({"take_profit_limit_price": D(110)}, "need a bracket, oco or oto"),
        (
            {
                "order_class": OrderClass.OTO,
                "take_profit_limit_price": D(110),
                "stop_loss_limit_price": D(94),
            },
            "stop_loss_limit_price needs stop_loss_stop_price",
        ),
        (
            {
                "order_class": OrderClass.BRACKET,
                "take_profit_limit_price": D(90),
                "stop_loss_stop_price": D(95),
            },
            "long position take_profit must be above",
        ),
        (
            {
                "order_class": OrderClass.OCO,
                "take_profit_limit_price": D(110),
                "stop_loss_stop_price": D(95),
            },
            "oco orders must be limit",
        ),
        (
            {
                "order_class": OrderClass.BRACKET,
                "qty": None,
                "notional": D(100),
                "take_profit_limit_price": D(110),
                "stop_loss_stop_price": D(95),
            },
            "need qty, not notional",
        ),
    ],
)
def test_advanced_order_class_without_proper_exits_is_refused(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        intent(**overrides)


def test_oco_exit_for_a_long_is_a_limit_sell_without_limit_price() -> None:
    i = intent(
        side=OrderSide.SELL,
        type=OrderType.LIMIT,
        order_class=OrderClass.OCO,
        take_profit_limit_price=D(110),
        stop_loss_stop_price=D(95),
    )
    assert i.limit_price is None


def test_short_bracket_takes_profit_below_its_stop() -> None:
    fields = {"side": OrderSide.SELL, "order_class": OrderClass.BRACKET}
    intent(**fields, take_profit_limit_price=D(90), stop_loss_stop_price=D(105))
    with pytest.raises(ValueError, match="short position take_profit must be below"):
        intent(**fields, take_profit_limit_price=D(110), stop_loss_stop_price=D(105))


def test_oto_with_one_exit_is_valid() -> None:
    assert intent(order_class=OrderClass.OTO, stop_loss_stop_price=D(95)).stop_loss_stop_price


# --- transition table ---------------------------------------------------------------------


def _docstring_table() -> dict[OrderStatus, frozenset[OrderStatus]]:
    """Parse the table in the orders module docstring."""
    doc = orders_module.__doc__ or ""
    table: dict[OrderStatus, set[OrderStatus]] = {}
    current: set[OrderStatus] | None = None
    for line in doc.splitlines():
        row = re.match(r"^    (\w+)\s+-> (.*)$", line)
        if row:
            current = table.setdefault(OrderStatus(row.group(1)), set())
            current.update(OrderStatus(s.strip()) for s in row.group(2).split(",") if s.strip())
        elif current is not None and re.match(r"^ {20,}\w", line):
            current.update(OrderStatus(s.strip()) for s in line.split(",") if s.strip())
        else:
            current = None
    return {status: frozenset(targets) for status, targets in table.items()}


def test_transition_table_matches_the_documented_table() -> None:
    documented = _docstring_table()
    for status in TERMINAL_STATUSES:
        documented[status] = frozenset()
    assert documented == dict(ALLOWED_TRANSITIONS)


def test_transition_table_covers_every_status() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(OrderStatus)


def test_terminal_statuses_have_no_way_out() -> None:
    for status in TERMINAL_STATUSES:
        assert ALLOWED_TRANSITIONS[status] == frozenset()
        assert not any(can_reach(status, other) for other in OrderStatus if other is not status)


def test_every_open_status_can_reach_filled_and_canceled() -> None:
    for status in OrderStatus:
        if status.is_open:
            assert can_reach(status, OrderStatus.FILLED)
            assert can_reach(status, OrderStatus.CANCELED)


def test_same_status_is_always_allowed() -> None:
    assert all(can_transition(status, status) for status in OrderStatus)


# --- Order lifecycle ----------------------------------------------------------------------


def test_order_from_intent_is_pending_new_with_intent_fields() -> None:
    order = Order.from_intent(
        intent(type=OrderType.LIMIT, limit_price=D(100), strategy="sma", reduce_only=True),
        "coid-1",
        T0,
    )
    assert order.status is OrderStatus.PENDING_NEW
    assert order.client_order_id == "coid-1"
    assert order.limit_price == D(100)
    assert (order.filled_qty, order.filled_avg_price) == (D(0), None)
    assert order.remaining_qty == D(10)
    assert (order.created_at, order.updated_at) == (T0, T0)
    assert order.strategy == "sma"
    assert order.reduce_only
    assert order.is_open
    assert not order.is_terminal


def test_order_from_intent_uses_the_intent_client_order_id() -> None:
    assert Order.from_intent(intent(client_order_id="mine"), now=T0).client_order_id == "mine"


def test_order_from_intent_without_any_client_order_id_is_refused() -> None:
    with pytest.raises(ValueError, match="client_order_id"):
        Order.from_intent(intent(), now=T0)


def test_order_from_intent_with_contradicting_client_order_ids_is_refused() -> None:
    with pytest.raises(ValueError, match="contradicts"):
        Order.from_intent(intent(client_order_id="a"), "b", T0)


def test_legal_transition_changes_status_and_times() -> None:
    order = new_order()
    assert order.transition(OrderStatus.NEW, T0 + timedelta(seconds=1))
    assert order.transition(OrderStatus.CANCELED, T0 + timedelta(seconds=2))
    assert order.status is OrderStatus.CANCELED
    assert order.canceled_at == T0 + timedelta(seconds=2)
    assert order.updated_at == T0 + timedelta(seconds=2)
    assert order.is_terminal


def test_same_status_transition_is_a_no_op() -> None:
    order = new_order()
    assert not order.transition(OrderStatus.PENDING_NEW, T0 + timedelta(seconds=5))
    assert order.updated_at == T0


def test_illegal_transition_raises_and_changes_nothing() -> None:
    order = new_order()
    order.transition(OrderStatus.FILLED, T0)
    with pytest.raises(InvalidTransition) as info:
        order.transition(OrderStatus.NEW, T0)
    assert (info.value.from_status, info.value.to_status) == (OrderStatus.FILLED, OrderStatus.NEW)
    assert info.value.client_order_id == "coid-1"
    assert order.status is OrderStatus.FILLED


def test_transition_that_skips_a_step_is_illegal_for_a_single_event() -> None:
    order = new_order()
    order.transition(OrderStatus.NEW, T0)
    with pytest.raises(InvalidTransition):
        order.transition(OrderStatus.PENDING_NEW, T0)


def test_rejected_cancel_returns_to_an_open_status() -> None:
    order = new_order()
    order.transition(OrderStatus.NEW, T0)
    order.transition(OrderStatus.PENDING_CANCEL, T0)
    assert order.transition(OrderStatus.NEW, T0)


def test_out_of_order_event_does_not_move_updated_at_backwards() -> None:
    order = new_order()
    order.transition(OrderStatus.NEW, T0 + timedelta(seconds=10))
    order.transition(OrderStatus.PARTIALLY_FILLED, T0 + timedelta(seconds=5))
    assert order.updated_at == T0 + timedelta(seconds=10)


# --- fills --------------------------------------------------------------------------------


def test_partial_then_final_fill_averages_price_and_fills_order() -> None:
    order = new_order()
    assert order.apply_fill(fill("4", "100", "x1", 1))
    assert order.to_dict()["status"] == "partially_filled"
    assert order.filled_qty == D(4)
    assert order.filled_at is None
    assert order.apply_fill(fill("6", "101", "x2", 2))
    assert order.status is OrderStatus.FILLED
    assert order.filled_qty == D(10)
    assert order.filled_avg_price == D("100.6")
    assert order.filled_at == T0 + timedelta(seconds=2)
    assert order.remaining_qty == D(0)


def test_fill_seen_twice_counts_once() -> None:
    order = new_order()
    assert order.apply_fill(fill("4"))
    assert not order.apply_fill(fill("4"))
    assert order.filled_qty == D(4)
    assert order.applied_execution_ids == frozenset({"x1"})


def test_fill_on_terminal_order_is_ignored() -> None:
    order = new_order()
    order.transition(OrderStatus.CANCELED, T0)
    assert not order.apply_fill(fill("4"))
    assert order.filled_qty == D(0)
    assert order.status is OrderStatus.CANCELED


def test_overfill_raises_and_leaves_order_unchanged() -> None:
    order = new_order()
    order.apply_fill(fill("8", execution_id="x1"))
    before = order.to_dict()
    with pytest.raises(OverfillError):
        order.apply_fill(fill("3", execution_id="x2"))
    assert order.to_dict() == before
    assert order.applied_execution_ids == frozenset({"x1"})


def test_notional_order_fills_partially_until_broker_says_filled() -> None:
    order = new_order(qty=None)
    assert order.remaining_qty is None
    assert order.apply_fill(fill("3", "100", "x1"))
    assert order.apply_fill(fill("2", "50", "x2"))
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order.filled_qty == D(5)
    assert order.filled_avg_price == D(80)
    assert order.apply_update(OrderStatus.FILLED, "5", "80", T0 + timedelta(seconds=3))
    assert order.is_terminal


def test_fill_straight_after_submission_skips_acknowledgement() -> None:
    order = new_order()
    assert order.apply_fill(fill("10"))
    assert order.status is OrderStatus.FILLED


def test_fill_of_another_order_is_refused() -> None:
    order = new_order()
    other = Fill("x9", "broker-2", "coid-2", "AAPL", OrderSide.BUY, D(1), D(1), T0)
    with pytest.raises(DomainError, match="does not belong"):
        order.apply_fill(other)
    wrong_side = Fill("x9", "broker-1", "coid-1", "AAPL", OrderSide.SELL, D(1), D(1), T0)
    with pytest.raises(DomainError, match="does not belong"):
        order.apply_fill(wrong_side)


def test_fill_matched_by_broker_order_id_is_accepted() -> None:
    order = new_order()
    order.broker_order_id = "broker-1"
    f = Fill("x1", "broker-1", "someone-else", "AAPL", OrderSide.BUY, D(1), D(1), T0)
    assert order.apply_fill(f)


# --- broker snapshots ---------------------------------------------------------------------


def test_snapshot_may_jump_from_pending_new_to_filled() -> None:
    order = new_order()
    at = T0 + timedelta(seconds=3)
    assert order.apply_update(OrderStatus.FILLED, "10", "99.5", at)
    assert order.status is OrderStatus.FILLED
    assert (order.filled_qty, order.filled_avg_price) == (D(10), D("99.5"))
    assert order.filled_at == at


def test_stale_snapshot_with_less_filled_is_ignored() -> None:
    order = new_order()
    order.apply_fill(fill("6", "100"))
    assert not order.apply_update(OrderStatus.NEW, "0", None, T0 + timedelta(seconds=9))
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order.filled_qty == D(6)


def test_snapshot_after_terminal_is_ignored() -> None:
    order = new_order()
    order.apply_update(OrderStatus.CANCELED, "2", "100", T0)
    assert not order.apply_update(OrderStatus.FILLED, "10", "100", T0 + timedelta(seconds=1))
    assert order.status is OrderStatus.CANCELED
    assert order.filled_qty == D(2)


def test_snapshot_above_order_qty_raises_and_changes_nothing() -> None:
    order = new_order()
    before = order.to_dict()
    with pytest.raises(OverfillError):
        order.apply_update(OrderStatus.FILLED, "11", "100", T0)
    assert order.to_dict() == before


def test_identical_snapshot_changes_nothing() -> None:
    order = new_order()
    order.apply_update(OrderStatus.PARTIALLY_FILLED, "4", "100", T0)
    assert not order.apply_update(OrderStatus.PARTIALLY_FILLED, "4", "100", T0)


def test_fill_already_counted_by_a_snapshot_does_not_double_count() -> None:
    order = new_order()
    order.apply_update(OrderStatus.PARTIALLY_FILLED, "4", "100", T0)
    assert order.apply_fill(fill("4", "100", "x1"))
    assert order.filled_qty == D(4)
    assert order.apply_fill(fill("6", "100", "x2"))
    assert order.filled_qty == D(10)
    assert order.status is OrderStatus.FILLED


def test_fill_event_applied_with_its_order_snapshot_is_exact() -> None:
    order = new_order()
    order.apply_update(OrderStatus.PARTIALLY_FILLED, "4", "100", T0)
    # A new 3-lot execution: on its own it cannot be told apart from the 4 already counted...
    assert order.apply_fill(fill("3", "103", "x9"))
    assert order.filled_qty == D(4)
    # ...but the fill event's cumulative snapshot settles it.
    assert order.apply_update(OrderStatus.PARTIALLY_FILLED, "7", "101.2857", T0)
    assert (order.filled_qty, order.filled_avg_price) == (D(7), D("101.2857"))


def test_fill_arriving_after_the_filled_snapshot_is_ignored() -> None:
    order = new_order()
    order.apply_update(OrderStatus.FILLED, "10", "100", T0)
    assert not order.apply_fill(fill("10"))
    assert order.filled_qty == D(10)


# --- construction and serialisation -------------------------------------------------------


def test_order_needs_qty_or_notional() -> None:
    with pytest.raises(ValueError, match="qty or notional"):
        Order(
            client_order_id="c",
            symbol="AAPL",
            side=OrderSide.BUY,
            type=OrderType.MARKET,
            time_in_force=TimeInForce.DAY,
            created_at=T0,
            updated_at=T0,
        )


def test_order_loaded_with_more_filled_than_ordered_is_refused() -> None:
    with pytest.raises(OverfillError):
        Order(
            client_order_id="c",
            symbol="AAPL",
            side="buy",  # type: ignore[arg-type]
            type="market",  # type: ignore[arg-type]
            time_in_force="day",  # type: ignore[arg-type]
            created_at=T0,
            updated_at=T0,
            qty=D(1),
            filled_qty=D(2),
        )


def test_order_to_dict_is_json_friendly() -> None:
    order = new_order(type=OrderType.LIMIT, limit_price=D("100.50"))
    order.apply_fill(fill("4", "100.25"))
    data = order.to_dict()
    assert data["status"] == "partially_filled"
    assert data["qty"] == "10"
    assert data["filled_qty"] == "4"
    assert data["filled_avg_price"] == "100.25"
    assert data["remaining_qty"] == "6"
    assert data["limit_price"] == "100.5"
    assert data["created_at"] == "2024-03-01T14:30:00Z"
    assert data["submitted_at"] is None
    assert "_executions" not in data


def test_errors_share_the_pulsetrader_root() -> None:
    assert issubclass(InvalidTransition, DomainError)
    assert issubclass(OverfillError, DomainError)
    assert issubclass(DomainError, PulseTraderError)


def test_invalid_transition_survives_pickling() -> None:
    error = InvalidTransition(OrderStatus.FILLED, OrderStatus.NEW, "c1")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.from_status, copy.to_status, copy.client_order_id) == (
        OrderStatus.FILLED,
        OrderStatus.NEW,
        "c1",
    )
    assert str(copy) == str(error)


def test_restored_executions_are_not_counted_again() -> None:
    # An order rebuilt from storage: 4 filled at 100, the execution x1 counted in a past run.
    order = Order(
        client_order_id="coid-1",
        symbol="AAPL",
        side=OrderSide.BUY,
        type=OrderType.MARKET,
        time_in_force=TimeInForce.DAY,
        created_at=T0,
        updated_at=T0,
        qty=D(10),
        status=OrderStatus.PARTIALLY_FILLED,
        filled_qty=D(4),
        filled_avg_price=D(100),
    )
    order.restore_executions(["x1"], D(4), D(400))
    assert order.applied_execution_ids == {"x1"}
    assert order.apply_fill(fill("4", "100", execution_id="x1")) is False
    assert order.apply_fill(fill("6", "110", execution_id="x2")) is True
    assert (order.status, order.filled_qty, order.filled_avg_price) == (
        OrderStatus.FILLED,
        D(10),
        D(106),
    )


def test_restoring_ids_only_still_deduplicates() -> None:
    order = new_order("10")
    order.apply_update(OrderStatus.PARTIALLY_FILLED, "4", "100", T0)
    order.restore_executions({"x1"})
    assert order.apply_fill(fill("4", execution_id="x1")) is False
    assert order.filled_qty == D(4)


def test_restoring_more_than_the_order_qty_is_refused() -> None:
    order = new_order("10")
    with pytest.raises(OverfillError):
        order.restore_executions(["x1"], D(11), D(1100))
    with pytest.raises(ValueError, match="negative"):
        order.restore_executions(["x1"], D(-1), D(0))
    assert order.applied_execution_ids == frozenset()
