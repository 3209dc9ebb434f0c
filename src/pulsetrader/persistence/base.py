"""What every part of the journal shares: the engine, and short read and write transactions."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from pulsetrader.persistence.db import writer
from pulsetrader.persistence.errors import JournalError


def _reason(exc: DBAPIError | sqlite3.Error) -> str:
    # BEGIN goes straight to the driver (see db._on_begin), so its errors arrive unwrapped.
    return str(exc.orig if isinstance(exc, DBAPIError) else exc)


class JournalCore:
    """Holds the engine; :meth:`_write` and :meth:`_read` open one short transaction each.

    Writes start with ``BEGIN IMMEDIATE`` on the journal's writer connection and commit when the
    block ends (rolled back on an exception). A database error (disk full, a lock held past
    ``busy_timeout``, a broken file) surfaces as JournalError, with nothing written: the order
    manager must then not call the broker. Reads of a file journal use pooled connections, so
    they never wait for the writer (WAL); an in-memory journal has one shared connection and
    serialises every transaction with the writer's lock.
    """

    def __init__(self, engine: Engine, *, shared_connection: bool) -> None:
        self._engine = engine
        # Writes are serialised by SQLite anyway; one connection kept checked out for them saves
        # a pool checkout and reset per write. The lock makes it safe to share between threads.
        self._write_lock = threading.RLock()
        self._write_connection: Connection | None = None
        self._lock: AbstractContextManager[object] = (
            self._write_lock if shared_connection else nullcontext()
        )
        self._closed = False
        #: Write transactions committed (the checkpointer's measure of WAL growth).
        self.writes = 0
        # The open transaction of batch(), which the order path's writes inside it join.
        self._batch: sqlite3.Connection | None = None

    def _check_open(self) -> None:
        if self._closed:
            raise JournalError("the journal is closed")

    @contextmanager
    def batch(self) -> Iterator[None]:
        """The order path's writes inside the block (those on :meth:`_write_sql`) share one
        transaction: one commit, all or nothing, and each page they touch written to the WAL
        once. A fill, its positions and the fill watermark go together this way."""
        with self._write_sql() as raw:
            self._batch = raw
            try:
                yield
            finally:
                self._batch = None

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        self._check_open()
        with self._write_lock:
            if self._batch is not None:
                raise RuntimeError("this write cannot join a batch() transaction")
            try:
                connection = self._write_connection
                if connection is None:
                    connection = self._write_connection = writer(self._engine).connect()
                with connection.begin():
                    yield connection
                self.writes += 1
            except (DBAPIError, sqlite3.Error) as exc:
                # Rolled back. Start the next write on a fresh connection, in case this one
                # is broken, and tell the caller in PulseTrader's terms: nothing was journaled.
                self._release_writer()
                raise JournalError(f"journal write failed: {_reason(exc)}") from exc

    @contextmanager
    def _write_sql(self) -> Iterator[sqlite3.Connection]:
        """:meth:`_write` for the order and fill paths: the same lock, connection, ``BEGIN
        IMMEDIATE``, commit and errors, but the block runs SQL text (a :func:`~.db.precompiled`
        statement's ``.text``, named parameters) on the sqlite3 connection itself.

        SQLAlchemy's execution and transaction layers cost more than SQLite does for a one-row
        write (about 90 of the 150 us a ``record_intent`` took), and the order path makes three
        such writes per order. Writes here and in :meth:`_write` never nest, so SQLAlchemy's
        connection is outside any transaction of its own while this one runs.
        """
        self._check_open()
        with self._write_lock:
            if self._batch is not None:  # inside batch() (on this thread: the lock is held)
                yield self._batch
                return
            try:
                connection = self._write_connection
                if connection is None:
                    connection = self._write_connection = writer(self._engine).connect()
                raw = connection.connection.driver_connection
                assert isinstance(raw, sqlite3.Connection)
                raw.execute("BEGIN IMMEDIATE")
                try:
                    yield raw
                except BaseException:
                    if raw.in_transaction:
                        raw.execute("ROLLBACK")
                    raise
                raw.execute("COMMIT")
                self.writes += 1
            except (DBAPIError, sqlite3.Error) as exc:
                self._release_writer()
                raise JournalError(f"journal write failed: {_reason(exc)}") from exc

    def _release_writer(self) -> None:
        with self._write_lock:
            if self._write_connection is not None:
                self._write_connection.close()
                self._write_connection = None

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        self._check_open()
        try:
            with self._lock, self._engine.connect() as connection, connection.begin():
                yield connection
        except (DBAPIError, sqlite3.Error) as exc:
            raise JournalError(f"journal read failed: {_reason(exc)}") from exc
