"""The journal as a resource: closing, concurrent use from threads, database errors."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from pulsetrader.persistence import Journal, JournalError
from pulsetrader.persistence import db as db_module
from tests.unit.persistence.factories import make_order


def test_a_closed_journal_refuses_reads_and_writes(db_path: Path) -> None:
    journal = Journal(db_path)
    journal.close()
    order, intent = make_order("c1")
    with pytest.raises(JournalError, match="closed"):
        journal.record_intent(order, intent)
    with pytest.raises(JournalError, match="closed"):
        journal.get_order("c1")


@pytest.mark.parametrize("where", ["memory", "file"])
def test_threads_may_share_a_journal(where: str, db_path: Path) -> None:
    journal = Journal(":memory:" if where == "memory" else db_path)
    errors: list[BaseException] = []

    def work(thread: int) -> None:
        try:
            for n in range(25):
                order, intent = make_order(f"t{thread}-{n}")
                journal.record_intent(order, intent)
                journal.record_order(order)
                assert journal.get_order(order.client_order_id) == order
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert journal.count_orders() == 100
    finally:
        journal.close()


def test_a_write_that_cannot_get_the_lock_is_a_journal_error(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_MS", 50)
    with Journal(db_path) as journal:
        other = sqlite3.connect(db_path, isolation_level=None, timeout=0.05)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            order, intent = make_order("c1")
            with pytest.raises(JournalError, match="write failed"):
                journal.record_intent(order, intent)
        finally:
            other.execute("ROLLBACK")
            other.close()
        journal.record_intent(order, intent)  # the next write works again
        assert journal.get_order("c1") == order


def test_opening_a_locked_new_file_is_a_journal_error(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_MS", 50)
    db_path.parent.mkdir(parents=True)
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("PRAGMA journal_mode=WAL")
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(JournalError, match="cannot open journal"):
            Journal(db_path)
    finally:
        other.execute("ROLLBACK")
        other.close()
    with Journal(db_path) as journal:
        assert journal.schema_version > 0


def _page_size(path: Path) -> int:
    with sqlite3.connect(path) as raw:
        return int(raw.execute("PRAGMA page_size").fetchone()[0])


def test_a_new_journal_uses_small_pages(db_path: Path) -> None:
    with Journal(db_path) as journal:
        order, intent = make_order("c1")
        journal.record_intent(order, intent)
    assert _page_size(db_path) == 1024


def test_a_journal_made_with_other_pages_keeps_them_and_its_rows(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(db_path) as raw:
        raw.execute("PRAGMA page_size=4096")
        raw.execute("CREATE TABLE placeholder (x)")  # the file now has its page size
    with Journal(db_path) as journal:
        order, intent = make_order("c1")
        journal.record_intent(order, intent)
    with Journal(db_path) as journal:
        assert journal.get_order("c1") == order
    assert _page_size(db_path) == 4096
