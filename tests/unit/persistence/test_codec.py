"""Text forms of amounts and times, and rebuilding orders and intents from their dicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from pulsetrader.domain import Order, OrderStatus
from pulsetrader.persistence import codec
from tests.unit.persistence.factories import T0, D, make_fill, make_intent, make_order


def test_times_are_fixed_width_utc_text_that_sorts() -> None:
    whole = T0 + timedelta(seconds=1)
    fraction = T0 + timedelta(milliseconds=500)
    assert codec.ts(whole) == "2024-03-01T14:30:01.000000Z"
    assert codec.ts(fraction) < codec.ts(whole)  # isoformat_z would sort these the other way
    eastern = datetime(2024, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert codec.ts(eastern) == "2024-03-01T14:30:00.000000Z"
    assert codec.to_ts(codec.ts(fraction)) == fraction
    assert codec.to_ts(codec.ts(fraction)).tzinfo is UTC
    with pytest.raises(ValueError, match="naive"):
        codec.ts(datetime(2024, 3, 1))  # naive: the point of the test


def test_amounts_are_exact_text() -> None:
    assert codec.dec(D("1.2300")) == "1.23"
    assert codec.dec(D("1E+3")) == "1000"
    assert codec.to_dec("0.1") + codec.to_dec("0.2") == D("0.3")
    assert codec.opt_dec(None) is None
    assert codec.opt_to_dec(None) is None


def test_json_never_yields_floats() -> None:
    assert codec.loads('{"a": 0.1, "b": 2}') == {"a": Decimal("0.1"), "b": 2}
    with pytest.raises(TypeError):
        codec.dumps({"a": object()})


def test_new_york_dates_follow_dst() -> None:
    assert codec.ny_date(datetime(2024, 1, 2, 4, 59, tzinfo=UTC)) == "2024-01-01"  # EST
    assert codec.ny_date(datetime(2024, 1, 2, 5, 0, tzinfo=UTC)) == "2024-01-02"
    assert codec.ny_date(datetime(2024, 7, 2, 3, 59, tzinfo=UTC)) == "2024-07-01"  # EDT
    assert codec.ny_date(datetime(2024, 7, 2, 4, 0, tzinfo=UTC)) == "2024-07-02"


def test_order_from_dict_round_trips_a_filled_order() -> None:
    order, _ = make_order("c1")
    order.broker_order_id = "b1"
    order.apply_fill(make_fill("x1", "10", "101.5", at=T0 + timedelta(seconds=3)))
    rebuilt = codec.order_from_dict(codec.loads(codec.dumps(order.to_dict())))
    assert rebuilt == order
    assert rebuilt.to_dict() == order.to_dict()
    assert rebuilt.status is OrderStatus.FILLED
    assert rebuilt.filled_at == order.filled_at
    assert rebuilt.applied_execution_ids == frozenset()  # restored from fills, not the dict


def test_rebuilding_ignores_unknown_keys() -> None:
    order, intent = make_order("c1")
    data = {**order.to_dict(), "added_by_a_later_version": 1}
    assert codec.order_from_dict(data) == order
    assert codec.intent_from_dict({**intent.to_dict(), "future": True}) == intent
    assert isinstance(codec.order_from_dict(order.to_dict()), Order)


def test_scrub_redacts_credential_keys_and_converts_values() -> None:
    cleaned = codec.scrub(
        {
            "token": "abc",
            "API_KEY": "x",
            "who": "alice",
            "n": 3,
            "ok": True,
            "at": T0,
            "status": OrderStatus.NEW,
            "items": (D("1.50"), 0.25),
        }
    )
    assert cleaned == {
        "token": "[REDACTED]",
        "API_KEY": "[REDACTED]",
        "who": "alice",
        "n": 3,
        "ok": True,
        "at": "2024-03-01T14:30:00.000000Z",
        "status": "new",
        "items": ["1.5", "0.25"],
    }
    assert codec.intent_from_dict(make_intent("c1").to_dict()) == make_intent("c1")
