"""Orders and intents in the journal: round trips, duplicates, upserts, queries, executions."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from pulsetrader.domain import (
    Order,
    OrderClass,
    OrderSide,
    OrderStatus,
    OrderType,
    PulseTraderError,
    TimeInForce,
)
from pulsetrader.domain.events import OrderUpdate
from pulsetrader.persistence import DuplicateClientOrderId, Journal, JournalError
from tests.unit.persistence.factories import T0, D, make_fill, make_intent, make_order


def test_intent_round_trips_exactly(journal: Journal) -> None:
    intent = make_intent(
        "c1",
        qty=D("0.000123456789"),
        type=OrderType.LIMIT,
        limit_price=D("187.1234"),
        time_in_force=TimeInForce.GTC,
    )
    order = Order.from_intent(intent, now=T0 + timedelta(microseconds=123456))
    journal.record_intent(order, intent)
    loaded = journal.get_order("c1")
    assert loaded == order
    assert loaded is not None
    assert loaded.to_dict() == order.to_dict()
    assert loaded.qty == D("0.000123456789")
    assert loaded.created_at == order.created_at
    assert loaded.created_at.tzinfo is not None
    assert journal.intent_of("c1") == intent


def test_bracket_order_with_legs_round_trips(journal: Journal) -> None:
    intent = make_intent(
        "parent",
        order_class=OrderClass.BRACKET,
        type=OrderType.LIMIT,
        limit_price=D("100"),
        take_profit_limit_price=D("110.5"),
        stop_loss_stop_price=D("95.25"),
        stop_loss_limit_price=D("95"),
    )
    order = Order.from_intent(intent, now=T0)
    leg = Order(
        client_order_id="leg-1",
        symbol="AAPL",
        side=OrderSide.SELL,
        type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        created_at=T0,
        updated_at=T0,
        qty=D(10),
        limit_price=D("110.5"),
        status=OrderStatus.HELD,
    )
    order.legs.append(leg)
    journal.record_intent(order, intent)
    loaded = journal.get_order("parent")
    assert loaded is not None
    assert loaded.to_dict() == order.to_dict()
    assert loaded.legs == [leg]
    assert journal.intent_of("parent") == intent


def test_duplicate_client_order_id_is_refused_and_changes_nothing(journal: Journal) -> None:
    order, intent = make_order("c1")
    journal.record_intent(order, intent)
    other, other_intent = make_order("c1", qty=D(99))
    with pytest.raises(DuplicateClientOrderId) as info:
        journal.record_intent(other, other_intent)
    assert info.value.client_order_id == "c1"
    assert isinstance(info.value, JournalError)
    assert isinstance(info.value, PulseTraderError)
    stored = journal.get_order("c1")
    assert stored is not None
    assert stored.qty == D(10)
    assert journal.count_orders() == 1


def test_approval_is_written_with_the_intent_in_one_commit(journal: Journal) -> None:
    order, intent = make_order("c1")
    before = journal.writes
    journal.record_intent(order, intent, approved_at=T0)
    assert journal.writes == before + 1
    [decision] = journal.decisions()
    assert decision["approved"] is True
    assert decision["client_order_id"] == "c1"
    assert decision["reason"] == "approved"
    assert decision["at"] == T0
    assert journal.intent_of("c1") == intent


def test_a_duplicate_with_its_approval_writes_neither(journal: Journal) -> None:
    order, intent = make_order("c1")
    journal.record_intent(order, intent)
    other, other_intent = make_order("c1", qty=D(99))
    with pytest.raises(DuplicateClientOrderId):
        journal.record_intent(other, other_intent, approved_at=T0)
    assert journal.decisions() == []
    assert journal.count_orders() == 1


def test_intent_naming_another_order_is_refused(journal: Journal) -> None:
    order, _ = make_order("c1")
    with pytest.raises(ValueError, match="c2"):
        journal.record_intent(order, make_intent("c2"))
    assert journal.get_order("c1") is None


def test_record_order_updates_state_and_keeps_the_intent(journal: Journal) -> None:
    order, intent = make_order("c1")
    journal.record_intent(order, intent)
    order.broker_order_id = "b1"
    order.submitted_at = T0 + timedelta(seconds=1)
    order.transition(OrderStatus.NEW, T0 + timedelta(seconds=1))
    order.apply_fill(make_fill("x1", "4", "100.5", at=T0 + timedelta(seconds=2)))
    journal.record_order(order)
    loaded = journal.get_order("c1")
    assert loaded is not None
    assert loaded.to_dict() == order.to_dict()
    assert loaded.status is OrderStatus.PARTIALLY_FILLED
    assert journal.intent_of("c1") == intent
    assert journal.get_order_by_broker_id("b1") == loaded


def test_record_order_inserts_an_adopted_order_without_intent(journal: Journal) -> None:
    adopted = Order(
        client_order_id="web-1",
        symbol="BTC/USD",
        side=OrderSide.SELL,
        type=OrderType.MARKET,
        time_in_force=TimeInForce.GTC,
        created_at=T0,
        updated_at=T0,
        notional=D("250.75"),
        status=OrderStatus.NEW,
        broker_order_id="b-web",
    )
    journal.record_order(adopted)
    assert journal.get_order("web-1") == adopted
    assert journal.intent_of("web-1") is None
    assert journal.intent_of("unknown") is None
    assert journal.get_order("unknown") is None


def test_reloaded_order_still_deduplicates_its_fills(journal: Journal) -> None:
    order, intent = make_order("c1")
    journal.record_intent(order, intent)
    first = make_fill("x1", "4", "100")
    order.apply_fill(first)
    journal.record_fill(first)
    journal.record_order(order)

    reloaded = journal.get_order("c1")
    assert reloaded is not None
    assert reloaded.applied_execution_ids == {"x1"}
    assert reloaded.apply_fill(first) is False  # a replay after restart counts nothing
    assert reloaded.apply_fill(make_fill("x2", "6", "110")) is True
    assert reloaded.status is OrderStatus.FILLED
    assert reloaded.filled_avg_price == D("106")  # (4*100 + 6*110) / 10: executions restored


def test_fills_found_by_broker_order_id_are_restored(journal: Journal) -> None:
    order, intent = make_order("c1")
    order.broker_order_id = "b1"
    journal.record_intent(order, intent)
    journal.record_fill(make_fill("x1", "1", coid=""), strategy="momentum")
    reloaded = journal.load_orders()[0]
    assert reloaded.applied_execution_ids == {"x1"}


def test_journaled_fills_above_the_order_qty_restore_ids_only(journal: Journal) -> None:
    order, intent = make_order("c1", qty=D(1))
    journal.record_intent(order, intent)
    journal.record_fill(make_fill("x1", "1"))
    journal.record_fill(make_fill("x2", "1"))  # journaled, though the order refused it
    reloaded = journal.get_order("c1")
    assert reloaded is not None
    assert reloaded.applied_execution_ids == {"x1", "x2"}


def _seed(journal: Journal) -> None:
    specs = [
        ("a1", "AAPL", "momentum", OrderStatus.NEW),
        ("a2", "AAPL", "meanrev", OrderStatus.FILLED),
        ("m1", "MSFT", "momentum", OrderStatus.CANCELED),
        ("m2", "MSFT", None, OrderStatus.PARTIALLY_FILLED),
        ("b1", "BTC/USD", "momentum", OrderStatus.PENDING_NEW),
    ]
    for n, (coid, symbol, strategy, status) in enumerate(specs):
        # Sub-second offsets: a whole second must still sort after the fractions before it.
        at = T0 + timedelta(milliseconds=500 * n)
        order, intent = make_order(coid, at=at, symbol=symbol, strategy=strategy)
        journal.record_intent(order, intent)
        order.apply_update(status, None, None, at)
        journal.record_order(order)


def test_load_orders_filters_sorts_and_paginates(journal: Journal) -> None:
    _seed(journal)
    ids = [o.client_order_id for o in journal.load_orders()]
    assert ids == ["b1", "m2", "m1", "a2", "a1"]
    oldest = [o.client_order_id for o in journal.load_orders(newest_first=False)]
    assert oldest == ids[::-1]
    assert [o.client_order_id for o in journal.load_orders(limit=2, offset=1)] == ["m2", "m1"]
    assert [o.client_order_id for o in journal.load_orders(offset=3)] == ["a2", "a1"]
    assert {o.client_order_id for o in journal.load_orders(open_only=True)} == {"a1", "m2", "b1"}
    assert [o.client_order_id for o in journal.load_orders(symbol="AAPL")] == ["a2", "a1"]
    assert [o.client_order_id for o in journal.load_orders(strategy="momentum")] == [
        "b1",
        "m1",
        "a1",
    ]
    assert [o.client_order_id for o in journal.load_orders(status="filled")] == ["a2"]
    both = journal.load_orders(status=[OrderStatus.FILLED, OrderStatus.CANCELED])
    assert [o.client_order_id for o in both] == ["m1", "a2"]
    window = journal.load_orders(since=T0 + timedelta(seconds=1), until=T0 + timedelta(seconds=2))
    assert [o.client_order_id for o in window] == ["m2", "m1"]  # since inclusive, until not


def test_count_orders_matches_load_orders(journal: Journal) -> None:
    _seed(journal)
    assert journal.count_orders() == 5
    assert journal.count_orders(open_only=True) == 3
    assert journal.count_orders(symbol="MSFT", strategy="momentum") == 1
    assert journal.count_orders(status=OrderStatus.REJECTED) == 0


def test_order_events_are_appended_once_and_update_the_order(journal: Journal) -> None:
    order, intent = make_order("c1")
    journal.record_intent(order, intent)
    order.broker_order_id = "b1"
    order.transition(OrderStatus.NEW, T0 + timedelta(seconds=1))
    update = OrderUpdate(event="new", order=order, timestamp=T0 + timedelta(seconds=1))
    assert journal.record_event(update) is True
    assert journal.record_event(update) is False
    events = journal.order_events("c1")
    assert [(e["event"], e["status"], e["at"]) for e in events] == [
        ("new", "new", T0 + timedelta(seconds=1))
    ]
    assert events[0]["update"] == update.to_dict()
    stored = journal.get_order("c1")
    assert stored is not None
    assert stored.status is OrderStatus.NEW
    assert journal.intent_of("c1") == intent


def test_amounts_are_stored_as_text_never_real(file_journal: Journal) -> None:
    order, intent = make_order("c1", qty=D("1.10"))
    file_journal.record_intent(order, intent)
    file_journal.record_fill(make_fill("x1", "0.1", "100.10"), realized_pl=D("-0.30"))
    path = file_journal.path
    assert path is not None
    with sqlite3.connect(path) as raw:
        kinds = raw.execute(
            "SELECT typeof(qty), typeof(filled_qty), qty FROM orders"
            " UNION ALL SELECT typeof(qty), typeof(price), realized_pl FROM fills"
        ).fetchall()
        created = raw.execute("SELECT created_at FROM orders").fetchone()[0]
    raw.close()
    assert kinds == [("text", "text", "1.1"), ("text", "text", "-0.3")]
    assert created == "2024-03-01T14:30:00.000000Z"


def test_events_need_their_order_foreign_keys_are_on(file_journal: Journal) -> None:
    path = file_journal.path
    assert path is not None
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA foreign_keys=ON")  # what the journal sets on every connection
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        raw.execute(
            "INSERT INTO order_events (event_key, client_order_id, event, at, status,"
            " update_json) VALUES ('k', 'nobody', 'new', 't', 'new', '{}')"
        )
    raw.close()
    assert file_journal.pragmas()["foreign_keys"] == 1


def test_event_for_an_order_never_seen_adopts_it(journal: Journal) -> None:
    order, _ = make_order("adopted")
    order.broker_order_id = "b9"
    order.transition(OrderStatus.NEW, T0)
    assert journal.record_event(OrderUpdate(event="new", order=order, timestamp=T0)) is True
    assert journal.get_order("adopted") == order
    assert journal.intent_of("adopted") is None
