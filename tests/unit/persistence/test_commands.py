"""The journal's command queue: the CLI posts, the engine claims once and answers."""

from __future__ import annotations

from pathlib import Path

from pulsetrader.persistence import Journal
from pulsetrader.persistence.commands import CommandStatus


def test_a_command_is_claimed_once_and_its_result_kept(journal: Journal) -> None:
    first = journal.post_command("cli:ann", "halt", {"reason": "lunch"})
    second = journal.post_command("cli:ann", "resume")
    claimed = journal.claim_commands()
    assert [(c.id, c.command, c.args) for c in claimed] == [
        (first, "halt", {"reason": "lunch"}),
        (second, "resume", {}),
    ]
    assert all(c.status is CommandStatus.RUNNING for c in claimed)
    assert journal.claim_commands() == []  # never handed out twice
    journal.finish_command(first, True, {"state": "halted"})
    journal.finish_command(second, False, {"error": "unhealthy"})
    done, failed = journal.get_command(first), journal.get_command(second)
    assert done is not None
    assert done.status is CommandStatus.DONE
    assert done.finished
    assert done.result == {"state": "halted"}
    assert done.done_at is not None
    assert failed is not None
    assert failed.status is CommandStatus.FAILED
    assert journal.get_command(9999) is None


def test_a_withdrawn_command_never_runs(journal: Journal) -> None:
    posted = journal.post_command("cli:ann", "close_all")
    assert journal.withdraw_command(posted)
    assert journal.claim_commands() == []
    assert not journal.withdraw_command(posted)  # already ended
    withdrawn = journal.get_command(posted)
    assert withdrawn is not None
    assert withdrawn.status is CommandStatus.FAILED


def test_commands_cross_processes_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    with Journal(path) as cli, Journal(path) as engine:
        posted = cli.post_command("cli:ann", "halt")
        (claimed,) = engine.claim_commands()
        assert claimed.id == posted
        engine.finish_command(posted, True, {"changed": True})
        answer = cli.get_command(posted)
        assert answer is not None
        assert answer.result == {"changed": True}
