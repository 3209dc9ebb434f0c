"""WAL checkpoints off the hot path: seldom, and in the quiet moments between writes.

SQLite's automatic checkpoint runs inside the commit that pushes the WAL past 1000 pages, and a
checkpoint fsyncs: that one commit of ``record_intent`` would take milliseconds, on the event
loop. The journal turns automatic checkpoints off (see :mod:`.db`) and this daemon thread runs a
PASSIVE checkpoint on its own connection instead; the sqlite3 module releases the GIL while
SQLite works, and in WAL mode a checkpoint does not take the writer's lock.

It still stalls the writer: while a checkpoint's fsyncs run (5 to 20 ms here), the file system
holds back the WAL writes of commits made meanwhile. Checkpointing every second put one order in
a hundred behind such a stall (``benchmarks/bench_tick_to_order.py``: the intent's commit went
from 0.4 to 1.2 ms at p99, 5 ms at worst; with the fsyncs switched off, for the experiment, the
stalls were gone). So a checkpoint runs when

* it is worth one: ``min_writes`` write transactions have gone into the WAL since the last, or
  ``max_age`` seconds have passed with any; and
* the journal has been quiet for ``quiet`` seconds, so no order is likely to be mid-commit;

or, quiet or not, when it is overdue: ``max_writes`` transactions, or five times ``max_age``.
That bounds the WAL (a few tens of megabytes at the most) under trading that never pauses.

Durability does not depend on it: a committed transaction is in the WAL, which SQLite replays
on the next open after a crash. Closing runs a final TRUNCATE checkpoint, leaving an empty WAL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

DEFAULT_INTERVAL = 0.1
#: Write transactions worth a checkpoint (a commit on the order path adds a few WAL pages).
DEFAULT_MIN_WRITES = 500
#: Seconds after which any write is worth a checkpoint.
DEFAULT_MAX_AGE = 60.0
#: Seconds without a write before a checkpoint may start.
DEFAULT_QUIET = 0.25
#: Write transactions past which a checkpoint runs, quiet or not.
DEFAULT_MAX_WRITES = 5000


class Checkpointer:
    """Runs ``PRAGMA wal_checkpoint`` on ``engine`` when :meth:`due`, until stopped.

    ``writes`` counts the write transactions committed so far and ``last_write`` is when the
    latest was (monotonic seconds; the journal keeps both); they are looked at every
    ``interval`` seconds.
    """

    def __init__(
        self,
        engine: Engine,
        writes: Callable[[], int],
        last_write: Callable[[], float],
        *,
        interval: float = DEFAULT_INTERVAL,
        min_writes: int = DEFAULT_MIN_WRITES,
        max_age: float = DEFAULT_MAX_AGE,
        quiet: float = DEFAULT_QUIET,
        max_writes: int = DEFAULT_MAX_WRITES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._writes = writes
        self._last_write = last_write
        self._interval = interval
        self.min_writes = min_writes
        self.max_age = max_age
        self.quiet = quiet
        self.max_writes = max_writes
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
        """Whether a checkpoint should run now (see the module docstring for the rule)."""
        pending = self._writes() - self._last_writes
        if pending <= 0:
            return False
        now = self._monotonic()
        age = now - self._last_at
        if pending >= self.max_writes or age >= self.max_age * 5:
            return True
        worth_it = pending >= self.min_writes or age >= self.max_age
        return worth_it and now - self._last_write() >= self.quiet

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
