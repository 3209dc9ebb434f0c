"""When the WAL checkpointer decides a checkpoint is worth its fsync."""

from __future__ import annotations

from pathlib import Path

from pulsetrader.persistence import Journal
from pulsetrader.persistence.checkpoint import Checkpointer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make(tmp_path: Path) -> tuple[Checkpointer, list[int], Clock, Journal]:
    journal = Journal(tmp_path / "j.db")
    writes = [0]
    clock = Clock()
    checkpointer = Checkpointer(
        journal._engine, lambda: writes[0], min_writes=10, max_age=60.0, monotonic=clock
    )
    return checkpointer, writes, clock, journal


def test_nothing_written_means_no_checkpoint_however_long(tmp_path: Path) -> None:
    checkpointer, _, clock, journal = make(tmp_path)
    clock.now = 3600.0
    assert not checkpointer.due()
    journal.close()


def test_enough_writes_make_one_due_at_once(tmp_path: Path) -> None:
    checkpointer, writes, _, journal = make(tmp_path)
    writes[0] = 9
    assert not checkpointer.due()
    writes[0] = 10
    assert checkpointer.due()
    journal.close()


def test_a_few_writes_wait_for_the_age_limit(tmp_path: Path) -> None:
    checkpointer, writes, clock, journal = make(tmp_path)
    writes[0] = 1
    clock.now = 59.0
    assert not checkpointer.due()
    clock.now = 60.0
    assert checkpointer.due()
    journal.close()


def test_the_journal_counts_its_write_transactions(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db") as journal:
        before = journal.writes
        journal.set_state("k", "v")
        journal.set_state("k", "w")
        assert journal.writes == before + 2
