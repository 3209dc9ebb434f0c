"""Fills, realized P/L, positions, the equity curve and daily P/L in the journal."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from pulsetrader.domain import OrderSide, Position
from pulsetrader.persistence import UNATTRIBUTED, DailyPnL, Journal, JournalFill
from tests.unit.persistence.factories import T0, D, make_fill, make_order


def test_fill_round_trips_exactly(journal: Journal) -> None:
    fill = make_fill("x1", "0.000001", "64123.123456789", symbol="BTC/USD")
    assert journal.record_fill(fill, realized_pl=D("-12.0000001"), strategy="grid") is True
    [stored] = journal.fills()
    assert stored.fill.execution_id == "x1"
    assert stored.fill.qty == D("0.000001")
    assert stored.fill.price == D("64123.123456789")
    assert stored.fill.timestamp == T0
    assert stored.fill.timestamp.tzinfo is not None
    assert stored.realized_pl == D("-12.0000001")
    assert stored.strategy == "grid" == stored.fill.strategy
    assert stored.to_dict() == {**fill.to_dict(), "strategy": "grid", "realized_pl": "-12.0000001"}


def test_duplicate_execution_id_is_ignored(journal: Journal) -> None:
    assert journal.record_fill(make_fill("x1", "1", "100"), realized_pl=D(5)) is True
    assert journal.record_fill(make_fill("x1", "9", "999"), realized_pl=D(50)) is False
    [stored] = journal.fills()
    assert (stored.fill.qty, stored.realized_pl) == (D(1), D(5))
    assert journal.has_fill("x1")
    assert not journal.has_fill("x2")


def test_strategy_comes_from_the_caller_the_fill_or_the_order(journal: Journal) -> None:
    order, intent = make_order("c1", strategy="momentum")
    journal.record_intent(order, intent)
    journal.record_fill(make_fill("x1"))  # from the order
    journal.record_fill(make_fill("x2"), strategy="manual")  # the caller's
    journal.record_fill(make_fill("x3", coid="unknown"))  # nobody knows
    by_id = {f.fill.execution_id: f.strategy for f in journal.fills()}
    assert by_id == {"x1": "momentum", "x2": "manual", "x3": None}


def test_fills_filter_sort_and_paginate(journal: Journal) -> None:
    for n, symbol in enumerate(["AAPL", "MSFT", "AAPL", "MSFT"]):
        fill = make_fill(f"x{n}", coid=f"c{n % 2}", symbol=symbol, at=T0 + timedelta(seconds=n))
        journal.record_fill(fill, strategy="s1" if n < 2 else "s2")

    def ids(records: list[JournalFill]) -> list[str]:
        return [r.fill.execution_id for r in records]

    assert ids(journal.fills()) == ["x0", "x1", "x2", "x3"]
    assert ids(journal.fills(newest_first=True, limit=2)) == ["x3", "x2"]
    assert ids(journal.fills(offset=3)) == ["x3"]
    assert ids(journal.fills(symbol="AAPL")) == ["x0", "x2"]
    assert ids(journal.fills(strategy="s2")) == ["x2", "x3"]
    assert ids(journal.fills(client_order_id="c1")) == ["x1", "x3"]
    assert ids(journal.fills(since=T0 + timedelta(seconds=2))) == ["x2", "x3"]
    assert ids(journal.fills(until=T0 + timedelta(seconds=1))) == ["x0"]


def test_realized_pl_sums_exactly_by_symbol_strategy_and_new_york_day(journal: Journal) -> None:
    # 2024-03-11 03:30Z is still 2024-03-10 in New York (EDT began that morning: UTC-4).
    late_evening = datetime(2024, 3, 11, 3, 30, tzinfo=UTC)
    after_midnight = datetime(2024, 3, 11, 4, 30, tzinfo=UTC)
    rows = [
        ("x1", "AAPL", "s1", "0.1", late_evening),
        ("x2", "AAPL", "s2", "0.2", late_evening),
        ("x3", "MSFT", None, "-0.05", after_midnight),
        ("x4", "MSFT", "s1", None, after_midnight),  # opened a position: nothing realized
    ]
    for execution_id, symbol, strategy, realized, at in rows:
        journal.record_fill(
            make_fill(execution_id, symbol=symbol, at=at, coid="none"),
            realized_pl=None if realized is None else D(realized),
            strategy=strategy,
        )
    assert journal.realized_pl(by="symbol") == {"AAPL": D("0.3"), "MSFT": D("-0.05")}
    assert journal.realized_pl(by="strategy") == {
        UNATTRIBUTED: D("-0.05"),
        "s1": D("0.1"),
        "s2": D("0.2"),
    }
    assert journal.realized_pl(by="day") == {"2024-03-10": D("0.3"), "2024-03-11": D("-0.05")}
    assert journal.realized_pl(by="day", since=date(2024, 3, 11)) == {"2024-03-11": D("-0.05")}
    assert journal.total_realized_pl() == D("0.25")
    assert str(journal.total_realized_pl()) == "0.25"  # exact: 0.1 + 0.2 is not 0.30000000000000004


def test_positions_are_replaced_as_a_whole(journal: Journal) -> None:
    long = Position("AAPL", qty=D("10.5"), avg_entry_price=D("187.123"), realized_pl=D("1.5"))
    short = Position("BTC/USD", qty=D("-0.25"), avg_entry_price=D("64000.5"))
    flat = Position("MSFT", realized_pl=D("-3.25"))
    journal.save_positions([long, short, flat], T0)
    assert journal.load_positions() == {"AAPL": long, "BTC/USD": short, "MSFT": flat}
    journal.save_positions([short], T0 + timedelta(seconds=1))
    assert journal.load_positions() == {"BTC/USD": short}
    journal.save_positions([], T0 + timedelta(seconds=2))
    assert journal.load_positions() == {}


def test_equity_samples_closer_than_a_second_are_dropped(journal: Journal) -> None:
    assert journal.record_equity(T0, D("100000.01"), cash=D("50000")) is True
    assert journal.record_equity(T0 + timedelta(milliseconds=999), D("1")) is False
    assert journal.record_equity(T0 - timedelta(minutes=1), D("1")) is False
    assert journal.record_equity(T0 + timedelta(seconds=1), D("100001.5")) is True
    assert journal.equity_curve() == [
        (T0, D("100000.01")),
        (T0 + timedelta(seconds=1), D("100001.5")),
    ]
    assert journal.equity_curve(limit=1) == [(T0 + timedelta(seconds=1), D("100001.5"))]
    assert journal.equity_curve(since=T0 + timedelta(milliseconds=1)) == [
        (T0 + timedelta(seconds=1), D("100001.5"))
    ]
    assert journal.equity_samples() == [
        (T0, D("100000.01"), D("50000")),
        (T0 + timedelta(seconds=1), D("100001.5"), None),
    ]


def test_equity_interval_holds_across_a_reopen(db_path: Path) -> None:
    with Journal(db_path) as journal:
        journal.record_equity(T0, D(100))
    with Journal(db_path) as journal:
        assert journal.record_equity(T0 + timedelta(milliseconds=10), D(101)) is False
        assert journal.record_equity(T0 + timedelta(seconds=2), D(102)) is True
        assert [value for _, value in journal.equity_curve()] == [D(100), D(102)]


def test_daily_pnl_per_new_york_date(journal: Journal) -> None:
    day1 = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)
    day2 = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)
    for at, value in [
        (day1, "100000"),
        (day1 + timedelta(hours=3), "100250.5"),
        (day1 + timedelta(hours=6, minutes=29), "99990.25"),  # 20:59 UTC, still Mar 1
        (day2, "99990.25"),
    ]:
        journal.record_equity(at, D(value))
    journal.record_fill(make_fill("x1", at=day1), realized_pl=D("12.5"))
    journal.record_fill(make_fill("x2", at=day1), realized_pl=D("-2.25"))
    journal.record_fill(make_fill("x3", at=datetime(2024, 3, 5, 15, tzinfo=UTC)), realized_pl=D(1))
    rows = journal.daily_pnl()
    assert rows == [
        DailyPnL(date(2024, 3, 1), D("100000"), D("99990.25"), D("-9.75"), D("10.25")),
        DailyPnL(date(2024, 3, 4), D("99990.25"), D("99990.25"), D(0), D(0)),
        DailyPnL(date(2024, 3, 5), None, None, None, D(1)),
    ]
    assert rows[0].to_dict() == {
        "date": "2024-03-01",
        "start_equity": "100000",
        "end_equity": "99990.25",
        "change": "-9.75",
        "realized": "10.25",
    }
    assert [r.date for r in journal.daily_pnl(since=date(2024, 3, 4))] == [
        date(2024, 3, 4),
        date(2024, 3, 5),
    ]


def test_sell_fill_side_round_trips(journal: Journal) -> None:
    journal.record_fill(make_fill("x1", side=OrderSide.SELL))
    assert journal.fills()[0].fill.side is OrderSide.SELL


def test_a_batch_is_one_commit_and_all_or_nothing(journal: Journal) -> None:
    before = journal.writes
    with journal.batch():
        assert journal.record_fill(make_fill("e1")) is True
        journal.set_state("watermark", "1")
    assert journal.writes == before + 1
    assert [r.fill.execution_id for r in journal.fills()] == ["e1"]

    def fail_midway() -> None:
        with journal.batch():
            journal.record_fill(make_fill("e2"))
            journal.set_state("watermark", "2")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_midway()
    assert [r.fill.execution_id for r in journal.fills()] == ["e1"]
    assert journal.get_state("watermark") == "1"
