"""The SQLite engine behind the journal: WAL, pragmas on every connection, explicit BEGIN.

Durability: the journal runs in WAL mode with ``synchronous=NORMAL``. A transaction is durable
once its commit returns as far as the *process* is concerned: its pages are in the WAL file (the
OS page cache), so ``kill -9``, an unhandled exception or an OOM kill of PulseTrader loses
nothing committed. Only an OS crash or power loss can lose the last few commits (never corrupt the
file), which is the trade SQLite documents for NORMAL in WAL mode; FULL would fsync on every
commit and cost milliseconds per order. ``foreign_keys=ON`` and a ``busy_timeout`` are set on
every connection by a ``connect`` event listener, since SQLite does not persist them.

Transactions: Python's sqlite3 module opens transactions implicitly and only before DML, so DDL
in a migration would run outside its transaction. The driver is put in autocommit
(``isolation_level = None``) and a ``begin`` listener emits ``BEGIN`` itself, making every
SQLAlchemy transaction a real SQLite one. Writers ask for ``BEGIN IMMEDIATE`` (the engine from
:func:`writer`) so they take the write lock up front and wait ``busy_timeout`` for it, instead of
failing with SQLITE_BUSY when a read lock cannot be upgraded.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, TextClause, create_engine, event, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL, Connection
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool
from sqlalchemy.sql.expression import ClauseElement

MEMORY = ":memory:"
BUSY_TIMEOUT_MS = 5000
_BEGIN_OPTION = "pulsetrader_begin"
_NAMED = sqlite.dialect(paramstyle="named")


def is_memory(path: Path | str) -> bool:
    """True for the in-memory journal used by tests."""
    return str(path) in (MEMORY, "")


def make_engine(path: Path | str) -> Engine:
    """An Engine for the journal at ``path`` (``":memory:"`` for a private in-memory one).

    An in-memory journal uses a StaticPool: one connection shared by every caller, because each
    new connection to ``:memory:`` would be a different, empty database.
    """
    if is_memory(path):
        engine = create_engine(
            URL.create("sqlite", database=MEMORY),
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
        )
    else:
        engine = create_engine(
            URL.create("sqlite", database=str(path)),
            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


def writer(engine: Engine) -> Engine:
    """``engine`` sharing its pool, whose transactions start with ``BEGIN IMMEDIATE``."""
    return engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})


def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    assert isinstance(dbapi_connection, sqlite3.Connection)
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see module docstring)
    cursor = dbapi_connection.cursor()
    try:
        # A commit writes every page it touched to the WAL, whole: an order's life (intent,
        # answer, events, fill, positions) touched about 38 pages of 4 KiB, 155 KB of WAL that
        # each checkpoint must fsync while commits wait. 1 KiB pages cut that to 55 KB per order
        # (benchmarks/bench_tick_to_order.py). The row JSON spills into overflow pages, which
        # reads did not notice: 5,000 orders load in 141 ms against 138 with 4 KiB pages.
        # Takes effect only on a new, empty file; an existing journal keeps its page size.
        cursor.execute("PRAGMA page_size=1024")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # Checkpoints (copying the WAL into the main file, with an fsync) are run by the
        # journal's Checkpointer thread, not inside whichever commit crosses 1000 WAL pages.
        cursor.execute("PRAGMA wal_autocheckpoint=0")
    finally:
        cursor.close()


def _on_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
    # Straight to the driver: this runs on every transaction, and BEGIN needs no result handling.
    connection.connection.driver_connection.execute(f"BEGIN {mode}")  # type: ignore[union-attr]


def precompiled(statement: ClauseElement) -> TextClause:
    """``statement`` compiled once to SQLite SQL with named parameters, as a cacheable text().

    SQLAlchemy 2.0 does not cache the compilation of the SQLite dialect's ``INSERT ... ON
    CONFLICT`` construct, so every execution would compile it afresh (about 0.8 ms for the
    orders upsert). The statement is still built with Core against the tables in
    :mod:`~pulsetrader.persistence.schema`; only its SQL text is frozen, at import.
    """
    return text(str(statement.compile(dialect=_NAMED)))
