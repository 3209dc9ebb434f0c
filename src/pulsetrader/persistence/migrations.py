"""Versioned schema migrations, applied in order, each in its own transaction, at open.

The ``schema_version`` table holds one row per applied migration; the journal's version is the
highest. Opening a journal applies every migration above it, so a file written by an older
PulseTrader upgrades in place; a file from a *newer* PulseTrader (a version above
:data:`LATEST_VERSION`) is refused with :class:`~pulsetrader.persistence.errors.JournalVersionError`
before anything is written.

Rules for adding a migration: append a :class:`Migration` with the next version; never edit one
that has shipped (journals in the field already ran it). Steps are frozen SQL or functions of a
Connection, so later changes to :mod:`~pulsetrader.persistence.schema` never alter them. SQLite
DDL is transactional, and each step runs under ``BEGIN IMMEDIATE`` and re-reads the version
first, so a crash mid-migration leaves the previous version intact and two processes opening the
same file at once do not both apply a step.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from pulsetrader.domain.money import utcnow
from pulsetrader.persistence import codec
from pulsetrader.persistence.db import writer
from pulsetrader.persistence.errors import JournalError, JournalVersionError
from pulsetrader.persistence.schema import schema_version

Step = Callable[[Connection], None]


@dataclass(frozen=True, slots=True)
class Migration:
    """Schema version ``version``: what it does, and the step that gets there from the one below."""

    version: int
    description: str
    apply: Step


def sql(*statements: str) -> Step:
    """A step running ``statements`` in order."""

    def run(connection: Connection) -> None:
        for statement in statements:
            connection.exec_driver_sql(statement)

    return run


def _backfill_fills_v2(connection: Connection) -> None:
    """Give fills recorded before version 2 their New York trade date and their order's strategy."""
    rows = connection.execute(text("SELECT execution_id, timestamp FROM fills")).all()
    for execution_id, timestamp in rows:
        connection.execute(
            text("UPDATE fills SET trade_date = :day WHERE execution_id = :id"),
            {"day": codec.ny_date(codec.to_ts(timestamp)), "id": execution_id},
        )
    connection.exec_driver_sql(
        "UPDATE fills SET strategy = (SELECT strategy FROM orders"
        " WHERE orders.client_order_id = fills.client_order_id) WHERE strategy IS NULL"
    )


def _v2(connection: Connection) -> None:
    sql(
        "ALTER TABLE fills ADD COLUMN trade_date TEXT",
        "ALTER TABLE fills ADD COLUMN strategy TEXT",
        "ALTER TABLE fills ADD COLUMN realized_pl TEXT",
    )(connection)
    _backfill_fills_v2(connection)
    # No indexes on the new columns: every index costs each record_fill a page write, and P/L
    # by day or strategy reads every fill anyway (the sums are done in Python, exactly).


SCHEMA_VERSION_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER NOT NULL PRIMARY KEY,"
    " description TEXT NOT NULL,"
    " applied_at TEXT NOT NULL)"
)

MIGRATIONS: Sequence[Migration] = (
    Migration(
        1,
        "orders keyed by client_order_id; fills keyed by execution id",
        sql(
            "CREATE TABLE orders ("
            " client_order_id TEXT NOT NULL PRIMARY KEY,"
            " broker_order_id TEXT,"
            " status TEXT NOT NULL,"
            " symbol TEXT NOT NULL,"
            " side TEXT NOT NULL,"
            " type TEXT NOT NULL,"
            " qty TEXT,"
            " notional TEXT,"
            " filled_qty TEXT NOT NULL,"
            " filled_avg_price TEXT,"
            " strategy TEXT,"
            " created_at TEXT NOT NULL,"
            " updated_at TEXT NOT NULL,"
            " submitted_at TEXT,"
            " intent_json TEXT,"
            " order_json TEXT NOT NULL)",
            "CREATE INDEX ix_orders_created_at ON orders (created_at)",
            "CREATE INDEX ix_orders_broker_order_id ON orders (broker_order_id)",
            "CREATE INDEX ix_orders_status ON orders (status)",
            "CREATE INDEX ix_orders_symbol ON orders (symbol, created_at)",
            "CREATE INDEX ix_orders_strategy ON orders (strategy, created_at)",
            "CREATE TABLE fills ("
            " execution_id TEXT NOT NULL PRIMARY KEY,"
            " client_order_id TEXT NOT NULL,"
            " order_id TEXT NOT NULL,"
            " symbol TEXT NOT NULL,"
            " side TEXT NOT NULL,"
            " qty TEXT NOT NULL,"
            " price TEXT NOT NULL,"
            " timestamp TEXT NOT NULL)",
            "CREATE INDEX ix_fills_client_order_id ON fills (client_order_id)",
            "CREATE INDEX ix_fills_symbol ON fills (symbol, timestamp)",
            "CREATE INDEX ix_fills_timestamp ON fills (timestamp)",
        ),
    ),
    Migration(2, "fills: New York trade date, strategy and realized P/L", _v2),
    Migration(
        3,
        "risk decisions, positions snapshot, key-value state, audit trail",
        sql(
            "CREATE TABLE risk_decisions ("
            " id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,"
            " at TEXT NOT NULL,"
            " approved INTEGER NOT NULL,"
            " reason TEXT NOT NULL,"
            " rule TEXT,"
            " client_order_id TEXT,"
            " symbol TEXT NOT NULL,"
            " side TEXT NOT NULL,"
            " strategy TEXT,"
            " intent_json TEXT NOT NULL)",
            "CREATE INDEX ix_risk_decisions_approved ON risk_decisions (approved, id)",
            "CREATE TABLE positions ("
            " symbol TEXT NOT NULL PRIMARY KEY,"
            " qty TEXT NOT NULL,"
            " avg_entry_price TEXT,"
            " realized_pl TEXT NOT NULL,"
            " updated_at TEXT NOT NULL)",
            "CREATE TABLE state ("
            " key TEXT NOT NULL PRIMARY KEY,"
            " value TEXT NOT NULL,"
            " updated_at TEXT NOT NULL)",
            "CREATE TABLE actions ("
            " id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,"
            " at TEXT NOT NULL,"
            " actor TEXT NOT NULL,"
            " action TEXT NOT NULL,"
            " detail_json TEXT)",
        ),
    ),
    Migration(
        4,
        "equity curve; order event history",
        sql(
            "CREATE TABLE equity ("
            " id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,"
            " at TEXT NOT NULL,"
            " trade_date TEXT NOT NULL,"
            " equity TEXT NOT NULL,"
            " cash TEXT)",
            "CREATE INDEX ix_equity_at ON equity (at)",
            "CREATE INDEX ix_equity_trade_date ON equity (trade_date, at)",
            "CREATE TABLE order_events ("
            " id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,"
            " event_key TEXT NOT NULL UNIQUE,"
            " client_order_id TEXT NOT NULL REFERENCES orders (client_order_id),"
            " event TEXT NOT NULL,"
            " at TEXT NOT NULL,"
            " status TEXT NOT NULL,"
            " update_json TEXT NOT NULL)",
            "CREATE INDEX ix_order_events_client_order_id ON order_events (client_order_id, id)",
        ),
    ),
    Migration(
        5,
        "operator commands from other processes (the CLI)",
        sql(
            "CREATE TABLE commands ("
            " id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,"
            " at TEXT NOT NULL,"
            " actor TEXT NOT NULL,"
            " command TEXT NOT NULL,"
            " args_json TEXT NOT NULL,"
            " status TEXT NOT NULL,"
            " result_json TEXT,"
            " done_at TEXT)",
            "CREATE INDEX ix_commands_status ON commands (status, id)",
        ),
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version
assert [m.version for m in MIGRATIONS] == list(range(1, LATEST_VERSION + 1)), "gap in migrations"


def current_version(connection: Connection) -> int:
    """The highest applied version; 0 for a new file."""
    version = connection.execute(select(func.max(schema_version.c.version))).scalar()
    return int(version or 0)


def migrate(engine: Engine, label: str, *, target: int | None = None) -> int:
    """Bring the journal behind ``engine`` to ``target`` (default: the latest); return its version.

    ``label`` names the file in errors. Raises JournalVersionError for a journal newer than this
    code, and JournalError (chaining the database error) when a step fails; a failed step is
    rolled back whole, leaving the journal at the version below it.
    """
    goal = LATEST_VERSION if target is None else target
    if not 0 <= goal <= LATEST_VERSION:
        raise ValueError(f"no schema version {goal}; the latest is {LATEST_VERSION}")
    write = writer(engine)
    with write.begin() as connection:
        connection.exec_driver_sql(SCHEMA_VERSION_DDL)
        version = current_version(connection)
    if version > LATEST_VERSION:
        raise JournalVersionError(label, version, LATEST_VERSION)
    for migration in MIGRATIONS:
        if migration.version <= version or migration.version > goal:
            continue
        try:
            with write.begin() as connection:
                # Another process may have migrated since we looked; the write lock is ours now.
                if current_version(connection) >= migration.version:
                    continue
                migration.apply(connection)
                connection.execute(
                    insert(schema_version).values(
                        version=migration.version,
                        description=migration.description,
                        applied_at=codec.ts(utcnow()),
                    )
                )
        except (SQLAlchemyError, sqlite3.Error) as exc:
            raise JournalError(
                f"journal {label}: migration to version {migration.version} "
                f"({migration.description}) failed: {exc}"
            ) from exc
        version = migration.version
    with engine.connect() as connection:
        return current_version(connection)
