"""The journal: PulseTrader's durable record of orders, fills, risk decisions and P/L.

One SQLite file (``PULSETRADER_DB``): one row per order keyed by its unique ``client_order_id``,
one row per fill keyed by its execution id, plus risk decisions, the positions snapshot, the
equity curve, the audit trail and a little key-value state. See :mod:`.db` for durability (WAL,
``synchronous=NORMAL``: every committed write survives ``kill -9``) and :mod:`.migrations` for
schema versions.

The journal is synchronous on purpose. The order manager calls :meth:`Journal.record_intent`
inline on the event loop, so the intent is committed before the broker is called; a WAL commit
takes tens of microseconds, far less than handing the write to a thread would cost. Every
method is one short transaction; none holds a lock across calls.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import TracebackType

from sqlalchemy.exc import DatabaseError

from pulsetrader.persistence.audit import AuditLog
from pulsetrader.persistence.checkpoint import Checkpointer
from pulsetrader.persistence.commands import CommandQueue
from pulsetrader.persistence.db import is_memory, make_engine
from pulsetrader.persistence.errors import JournalError
from pulsetrader.persistence.ledger import Ledger
from pulsetrader.persistence.migrations import LATEST_VERSION, migrate
from pulsetrader.persistence.order_store import OrderStore


class Journal(OrderStore, Ledger, AuditLog, CommandQueue):
    """The SQLite journal at ``path`` (or ``":memory:"`` for tests), migrated on open.

    Opening creates the parent directories and the file if needed, then applies every pending
    migration; a journal written by a newer PulseTrader is refused with JournalVersionError and
    an unreadable file with JournalError. Usable as a context manager (closes on exit).
    Methods come from :class:`OrderStore` (orders, intents, order events), :class:`Ledger`
    (fills, realized P/L, positions, equity, daily P/L) and :class:`AuditLog` (risk decisions,
    user actions, trading state, key-value state) and :class:`CommandQueue` (operator
    commands from the CLI).
    """

    def __init__(self, path: Path | str) -> None:
        memory = is_memory(path)
        self._path: Path | None = None if memory else Path(path)
        label = ":memory:" if self._path is None else str(self._path)
        if self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        engine = make_engine(path)
        super().__init__(engine, shared_connection=memory)
        try:
            self._version = migrate(engine, label)
        except (DatabaseError, sqlite3.Error) as exc:
            engine.dispose()
            reason = exc.orig if isinstance(exc, DatabaseError) else exc
            raise JournalError(f"cannot open journal {label}: {reason}") from exc
        except BaseException:
            engine.dispose()
            raise
        self._checkpointer = None if memory else Checkpointer(engine, lambda: self.writes)
        if self._checkpointer is not None:
            self._checkpointer.start()

    @property
    def path(self) -> Path | None:
        """The journal file; None for an in-memory journal."""
        return self._path

    @property
    def schema_version(self) -> int:
        """The schema version of the open journal (:data:`LATEST_VERSION` once migrated)."""
        return self._version

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def pragmas(self) -> dict[str, str | int]:
        """The connection settings in force (``journal_mode``, ``synchronous``, ``foreign_keys``,
        ``busy_timeout``), for diagnostics such as ``pulsetrader check``."""
        names = ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        result: dict[str, str | int] = {}
        with self._read() as connection:
            for name in names:
                value = connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                result[name] = value if isinstance(value, int) else str(value)
        return result

    def close(self) -> None:
        """Checkpoint the WAL into the file and close every connection (idempotent).

        An in-memory journal's data is gone. Not closing loses nothing committed either: the
        next open replays the WAL.
        """
        if not self._closed:
            self._release_writer()
            self._closed = True
            if self._checkpointer is not None:
                self._checkpointer.stop()
            self._engine.dispose()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        where = ":memory:" if self._path is None else str(self._path)
        return f"Journal({where!r}, schema_version={self._version})"


__all__ = ["LATEST_VERSION", "Journal"]
