"""Risk decisions, the audit trail, trading state and key-value state in the journal."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from pulsetrader.domain import TradingState
from pulsetrader.persistence import TRADING_STATE_KEY, Journal
from pulsetrader.secrets import REDACTED, redactor
from tests.unit.persistence.factories import T0, D, make_intent


def test_decisions_round_trip_newest_first(journal: Journal) -> None:
    approved = make_intent("c1", qty=D("1.25"))
    denied = make_intent(None, symbol="MSFT", qty=D(500))
    journal.record_decision(approved, True, "within limits", None, T0, "c1")
    journal.record_decision(
        denied, False, "position would exceed 10% of equity", "max_position_pct", T0 + timedelta(1)
    )
    newest, oldest = journal.decisions()
    assert newest["approved"] is False
    assert newest["rule"] == "max_position_pct"
    assert newest["reason"] == "position would exceed 10% of equity"
    assert newest["at"] == T0 + timedelta(1)
    assert newest["client_order_id"] is None
    assert (newest["symbol"], newest["side"], newest["strategy"]) == ("MSFT", "buy", "momentum")
    assert newest["intent"] == denied.to_dict()
    assert oldest["approved"] is True
    assert oldest["client_order_id"] == "c1"
    assert oldest["intent"]["qty"] == "1.25"
    assert [d["approved"] for d in journal.decisions(denied_only=True)] == [False]
    assert [d["approved"] for d in journal.decisions(limit=1, offset=1)] == [True]


def test_actions_are_journaled_with_who_did_them(journal: Journal) -> None:
    journal.record_action("alice", "close_all", {"symbols": ["AAPL"], "qty": D("1.5")}, T0)
    journal.record_action("bob", "halt", None, T0 + timedelta(seconds=1))
    newest, oldest = journal.actions()
    assert (newest["actor"], newest["action"], newest["detail"]) == ("bob", "halt", None)
    assert oldest["detail"] == {"symbols": ["AAPL"], "qty": "1.5"}
    assert oldest["at"] == T0
    assert [a["actor"] for a in journal.actions(actor="alice")] == ["alice"]
    assert [a["actor"] for a in journal.actions(limit=1, offset=1)] == ["alice"]


def test_secrets_never_reach_the_journal(file_journal: Journal) -> None:
    redactor.add("PKSECRETKEYVALUE1234")
    try:
        file_journal.record_action(
            "alice",
            "login",
            {
                "password": "hunter2-long-enough",
                "nested": {"api_secret": "s3cr3t-value", "JWT": "eyJ.x.y"},
                "note": "used key PKSECRETKEYVALUE1234",
                "ratio": 0.1,
            },
            T0,
        )
        file_journal.record_decision(
            make_intent("c1"), False, "broker said PKSECRETKEYVALUE1234 invalid", "broker", T0
        )
    finally:
        redactor.clear()
    detail = file_journal.actions()[0]["detail"]
    assert detail == {
        "password": REDACTED,
        "nested": {"api_secret": REDACTED, "JWT": REDACTED},
        "note": f"used key {REDACTED}",
        "ratio": "0.1",  # floats become exact decimal text
    }
    path = file_journal.path
    assert path is not None
    file_journal.close()
    files = [p for p in (Path(path), Path(f"{path}-wal")) if p.exists()]
    raw = b"".join(p.read_bytes() for p in files)
    for secret in (b"hunter2", b"s3cr3t", b"PKSECRETKEYVALUE1234"):
        assert secret not in raw


def test_trading_state_transition_is_an_action_and_state(journal: Journal) -> None:
    journal.record_trading_state(None, TradingState.ACTIVE, "startup", at=T0)
    journal.record_trading_state(
        TradingState.ACTIVE, TradingState.REDUCING, "daily loss limit", actor="risk", at=T0
    )
    assert journal.get_state(TRADING_STATE_KEY) == "REDUCING"
    latest = journal.actions()[0]
    assert (latest["actor"], latest["action"]) == ("risk", "trading_state")
    assert latest["detail"] == {"from": "ACTIVE", "to": "REDUCING", "reason": "daily loss limit"}


def test_state_set_get_replace_delete(journal: Journal) -> None:
    assert journal.get_state("day_start_equity") is None
    journal.set_state("day_start_equity", "100000.25")
    journal.set_state("day_start_equity", "99000.5", T0)
    assert Decimal(journal.get_state("day_start_equity") or "0") == D("99000.5")
    journal.delete_state("day_start_equity")
    journal.delete_state("never_set")
    assert journal.get_state("day_start_equity") is None


def test_decision_booleans_are_integers_on_disk(file_journal: Journal) -> None:
    file_journal.record_decision(make_intent("c1"), True, "ok", None, T0)
    path = file_journal.path
    assert path is not None
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT approved, typeof(approved) FROM risk_decisions").fetchone() == (
            1,
            "integer",
        )
    raw.close()
