"""WAL checkpoints off the hot path, and seldom.

SQLite's automatic checkpoint runs inside the commit that pushes the WAL past 1000 pages, and a
checkpoint fsyncs: that one commit of ``record_intent`` would take milliseconds, on the event
loop. The journal turns automatic checkpoints off (see :mod:`.db`) and this daemon thread runs a
PASSIVE checkpoint on its own connection instead; the sqlite3 module releases the GIL while
SQLite works, and in WAL mode a checkpoint does not block the writer's locks.

It still slows the writer: while the checkpoint's fsync runs (about 5 ms here), the file system
holds back the WAL writes of commits made meanwhile. Checkpointing every second put about one
order in a hundred behind such a stall (``benchmarks/bench_tick_to_order.py``: the intent's
commit went from 0.3 to 1.2 ms at p99). So a checkpoint runs only once ``min_writes`` write
transactions have gone into the WAL since the last one, or ``max_age`` seconds have passed with
any: a few seconds apart under heavy trading, a minute apart otherwise, which keeps the WAL to a
few megabytes either way. The stalls remain (a few per minute of heavy trading, a few ms each
on this machine's disk); waiting for a quiet moment between writes was tried and did not help:
under trading that never pauses, the checkpoints it put off grew larger and stalled longer.

Durability does not depend on it: a committed transaction is in the WAL, which SQLite replays
on the next open after a crash. Closing runs a final TRUNCATE checkpoint, leaving an empty WAL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

DEFAULT_INTERVAL = 1.0
#: Write transactions between checkpoints (a commit on the order path adds a few WAL pages).
DEFAULT_MIN_WRITES = 500
#: Seconds at most between checkpoints while anything is written.
DEFAULT_MAX_AGE = 60.0


class Checkpointer:
    """Runs ``PRAGMA wal_checkpoint`` on ``engine`` when enough has been written, until stopped.

    ``writes`` counts the write transactions committed so far (the journal's counter); it is
    looked at every ``interval`` seconds.
    """

    def __init__(
        self,
        engine: Engine,
        writes: Callable[[], int],
        *,
        interval: float = DEFAULT_INTERVAL,
        min_writes: int = DEFAULT_MIN_WRITES,
        max_age: float = DEFAULT_MAX_AGE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._writes = writes
        self._interval = interval
        self.min_writes = min_writes
        self.max_age = max_age
        self._monotonic = monotonic
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="journal-checkpoint", daemon=True)
        self._last_writes = 0
        self._last_at = monotonic()
        self.failures = 0
        self.checkpoints = 0

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
        self.checkpoints += 1
        return True

    def due(self) -> bool:
        """Whether enough was written, or long enough ago, for a checkpoint to earn its fsync."""
        pending = self._writes() - self._last_writes
        if pending <= 0:
            return False
        return pending >= self.min_writes or self._monotonic() - self._last_at >= self.max_age

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
            if self.due():
                writes = self._writes()
                if self.checkpoint():
                    self._last_writes, self._last_at = writes, self._monotonic()
