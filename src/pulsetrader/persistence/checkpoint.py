"""WAL checkpoints off the hot path.

SQLite's automatic checkpoint runs inside the commit that pushes the WAL past 1000 pages, and a
checkpoint fsyncs: that one commit of ``record_intent`` would take milliseconds, on the event
loop. The journal turns automatic checkpoints off (see :mod:`.db`) and this daemon thread runs a
PASSIVE checkpoint every ``interval`` seconds on its own connection instead; the sqlite3 module
releases the GIL while SQLite works, and in WAL mode a checkpoint does not block the writer.
Durability does not depend on it: a committed transaction is in the WAL, which SQLite replays
on the next open after a crash. Closing runs a final TRUNCATE checkpoint, leaving an empty WAL.
"""

from __future__ import annotations

import threading

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

DEFAULT_INTERVAL = 1.0


class Checkpointer:
    """Runs ``PRAGMA wal_checkpoint`` on ``engine`` every ``interval`` seconds until stopped."""

    def __init__(self, engine: Engine, interval: float = DEFAULT_INTERVAL) -> None:
        self._engine = engine
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="journal-checkpoint", daemon=True)
        self.failures = 0

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def checkpoint(self, mode: str = "PASSIVE") -> bool:
        """One checkpoint now; False if SQLite could not run it (busy, or the file is gone)."""
        try:
            with self._engine.connect() as connection:
                connection.exec_driver_sql(f"PRAGMA wal_checkpoint({mode})")
        except SQLAlchemyError:
            self.failures += 1  # the next round tries again; the WAL only grows meanwhile
            return False
        return True

    def stop(self) -> None:
        """Stop the thread and fold the WAL into the database file (idempotent)."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.checkpoint("TRUNCATE")

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.checkpoint()
