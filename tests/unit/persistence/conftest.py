"""Journals for the persistence tests: in memory by default, a file where the file matters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pulsetrader.persistence import Journal


@pytest.fixture
def journal() -> Iterator[Journal]:
    with Journal(":memory:") as j:
        yield j


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "journal.db"


@pytest.fixture
def file_journal(db_path: Path) -> Iterator[Journal]:
    with Journal(db_path) as j:
        yield j
