"""Schema versions: a new file, an older journal upgraded in place, a newer one refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.engine import Connection

from pulsetrader.persistence import LATEST_VERSION, Journal, JournalError, JournalVersionError
from pulsetrader.persistence import migrations as migrations_module
from pulsetrader.persistence.db import make_engine
from pulsetrader.persistence.migrations import Migration, migrate, sql
from pulsetrader.persistence.order_store import order_row
from pulsetrader.persistence.schema import metadata
from tests.unit.persistence.factories import T0, D, make_order


def _columns(path: Path) -> dict[str, list[tuple[str, str, int]]]:
    with sqlite3.connect(path) as raw:
        tables = [
            name
            for (name,) in raw.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        result = {
            table: [(row[1], row[2], row[3]) for row in raw.execute(f"PRAGMA table_info({table})")]
            for table in tables
        }
    raw.close()
    return result


def _versions(path: Path) -> list[int]:
    with sqlite3.connect(path) as raw:
        versions = [v for (v,) in raw.execute("SELECT version FROM schema_version ORDER BY 1")]
    raw.close()
    return versions


def test_new_journal_is_migrated_to_the_latest_version(db_path: Path) -> None:
    assert not db_path.parent.exists()
    with Journal(db_path) as journal:
        assert journal.schema_version == LATEST_VERSION
        assert journal.path == db_path
    assert _versions(db_path) == list(range(1, LATEST_VERSION + 1))


def test_empty_file_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with Journal(path) as journal:
        assert journal.schema_version == LATEST_VERSION


def test_migrated_schema_matches_the_table_definitions(db_path: Path) -> None:
    Journal(db_path).close()
    on_disk = _columns(db_path)
    assert set(on_disk) == set(metadata.tables)
    for name, table in metadata.tables.items():
        assert [c for c, _, _ in on_disk[name]] == [c.name for c in table.columns], name
        # NOT NULL must agree too (primary keys included: SQLite allows NULL in a TEXT key).
        declared = {c.name: not c.nullable for c in table.columns}
        assert {c: bool(notnull) for c, _, notnull in on_disk[name]} == declared, name
    types = {kind for columns in on_disk.values() for _, kind, _ in columns}
    assert types == {"TEXT", "INTEGER"}  # no REAL, ever


def test_memory_journal_has_the_same_schema(journal: Journal) -> None:
    assert journal.schema_version == LATEST_VERSION
    assert journal.path is None


def test_version_1_journal_upgrades_in_place_keeping_its_data(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    engine = make_engine(db_path)
    assert migrate(engine, str(db_path), target=1) == 1
    engine.dispose()
    order, intent = make_order("c1", strategy="momentum")
    row = order_row(order, intent)
    with sqlite3.connect(db_path) as raw:
        raw.execute(
            f"INSERT INTO orders ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            list(row.values()),
        )
        # Late evening in New York: the backfilled trade date must be the New York one.
        raw.execute(
            "INSERT INTO fills VALUES ('x1', 'c1', 'b1', 'AAPL', 'buy', '1.5', '100.25',"
            " '2024-03-02T02:00:00.000000Z')"
        )
    raw.close()
    assert _versions(db_path) == [1]

    with Journal(db_path) as journal:
        assert journal.schema_version == LATEST_VERSION
        assert journal.get_order("c1") == order
        assert journal.intent_of("c1") == intent
        [stored] = journal.fills()
        assert (stored.fill.qty, stored.fill.price) == (D("1.5"), D("100.25"))
        assert stored.strategy == "momentum"
        assert stored.realized_pl is None
        assert journal.realized_pl(by="day") == {}
        journal.record_fill(stored.fill, realized_pl=D(1))  # still a duplicate after upgrade
        assert len(journal.fills()) == 1
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("SELECT trade_date FROM fills").fetchone() == ("2024-03-01",)
    raw.close()
    assert _versions(db_path) == list(range(1, LATEST_VERSION + 1))


def test_journal_from_a_newer_version_is_refused_untouched(db_path: Path) -> None:
    Journal(db_path).close()
    with sqlite3.connect(db_path) as raw:
        raw.execute(
            "INSERT INTO schema_version VALUES (?, 'from the future', '2099-01-01T00:00:00Z')",
            (LATEST_VERSION + 1,),
        )
    raw.close()
    before = _columns(db_path)
    with pytest.raises(JournalVersionError) as info:
        Journal(db_path)
    assert (info.value.found, info.value.supported) == (LATEST_VERSION + 1, LATEST_VERSION)
    assert "upgrade PulseTrader" in str(info.value)
    assert _columns(db_path) == before


def test_failed_migration_rolls_back_whole(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Journal(db_path).close()

    def broken(connection: Connection) -> None:
        sql("CREATE TABLE half_done (x TEXT)")(connection)
        connection.exec_driver_sql("SELECT * FROM no_such_table")

    steps = (*migrations_module.MIGRATIONS, Migration(LATEST_VERSION + 1, "broken", broken))
    monkeypatch.setattr(migrations_module, "MIGRATIONS", steps)
    monkeypatch.setattr(migrations_module, "LATEST_VERSION", LATEST_VERSION + 1)
    with pytest.raises(JournalError, match="broken"):
        Journal(db_path)
    assert "half_done" not in _columns(db_path)  # DDL is rolled back with the step
    assert _versions(db_path)[-1] == LATEST_VERSION


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is not a database, just text that is long enough" * 100)
    with pytest.raises(JournalError, match="cannot open journal"):
        Journal(path)


def test_two_journals_may_open_the_same_file(db_path: Path) -> None:
    with Journal(db_path) as first, Journal(db_path) as second:
        order, intent = make_order("c1")
        first.record_intent(order, intent)
        assert second.get_order("c1") == order
        assert second.schema_version == LATEST_VERSION


def test_wal_and_connection_pragmas(file_journal: Journal, db_path: Path) -> None:
    assert file_journal.pragmas() == {
        "journal_mode": "wal",
        "synchronous": 1,  # NORMAL
        "foreign_keys": 1,
        "busy_timeout": 5000,
    }
    with sqlite3.connect(db_path) as raw:  # WAL is a property of the file, seen by anyone
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    raw.close()


def test_close_folds_the_wal_into_the_file(db_path: Path) -> None:
    journal = Journal(db_path)
    order, intent = make_order("c1", at=T0)
    journal.record_intent(order, intent)
    journal.close()
    journal.close()  # idempotent
    assert journal.closed
    wal = Path(f"{db_path}-wal")
    assert not wal.exists() or wal.stat().st_size == 0
