"""When the WAL checkpointer decides a checkpoint is worth its fsync."""

from __future__ import annotations

import time
from pathlib import Path

from pulsetrader.persistence import Journal
from pulsetrader.persistence.checkpoint import Checkpointer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Writes:
    """What the journal reports: how many write transactions, and when the latest was."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.count = 0
        self.at = 0.0

    def add(self, n: int = 1) -> None:
        self.count += n
        self.at = self.clock.now


def make(tmp_path: Path) -> tuple[Checkpointer, Writes, Clock, Journal]:
    journal = Journal(tmp_path / "j.db")
    clock = Clock()
    writes = Writes(clock)
    checkpointer = Checkpointer(
        journal._engine,
        lambda: writes.count,
        lambda: writes.at,
        min_writes=10,
        max_age=60.0,
        quiet=0.25,
        max_writes=100,
        monotonic=clock,
    )
    return checkpointer, writes, clock, journal


def test_nothing_written_means_no_checkpoint_however_long(tmp_path: Path) -> None:
    checkpointer, _, clock, journal = make(tmp_path)
    clock.now = 3600.0
    assert not checkpointer.due()
    journal.close()


def test_enough_writes_make_one_due_once_the_journal_is_quiet(tmp_path: Path) -> None:
    checkpointer, writes, clock, journal = make(tmp_path)
    writes.add(9)
    clock.now = 1.0
    assert not checkpointer.due()
    writes.add()  # the tenth, just now: an order may be mid-commit
    assert not checkpointer.due()
    clock.now = 1.25
    assert checkpointer.due()
    journal.close()


def test_a_few_writes_wait_for_the_age_limit(tmp_path: Path) -> None:
    checkpointer, writes, clock, journal = make(tmp_path)
    writes.add()
    clock.now = 59.0
    assert not checkpointer.due()
    clock.now = 60.0
    assert checkpointer.due()
    journal.close()


def test_writes_that_never_pause_still_get_a_checkpoint_when_overdue(tmp_path: Path) -> None:
    checkpointer, writes, clock, journal = make(tmp_path)
    for step in range(99):
        clock.now = step * 0.01
        writes.add()
        assert not checkpointer.due()
    writes.add()  # the hundredth, with no pause at all
    assert checkpointer.due()
    journal.close()


def test_the_journal_counts_its_write_transactions(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db") as journal:
        before = journal.writes
        journal.set_state("k", "v")
        journal.set_state("k", "w")
        assert journal.writes == before + 2
        assert journal.last_write <= time.monotonic()
