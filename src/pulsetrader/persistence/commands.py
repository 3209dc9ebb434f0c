"""Operator commands passed through the journal: the CLI posts, the running engine carries out.

The journal is the one file both processes already share (SQLite in WAL mode takes a writer and
readers in several processes), so ``pulsetrader halt`` needs no socket, no port and no token to
reach an engine on the same machine: whoever may write the journal file may steer the engine.
A command is a row ``pending -> done | failed``; the engine claims each pending row in one
transaction (so a command is carried out once even if two engines share a file by mistake) and
writes back the result. Rows are kept: with the actions table they are the audit trail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select, update

from pulsetrader.domain.money import utcnow
from pulsetrader.persistence import codec
from pulsetrader.persistence.base import JournalCore
from pulsetrader.persistence.schema import commands

#: The state key the running engine refreshes while it takes commands (its heartbeat).
ENGINE_HEARTBEAT_KEY = "engine.heartbeat"


class CommandStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Command:
    """One operator command and, once carried out, its result."""

    id: int
    at: datetime
    actor: str
    command: str
    args: dict[str, Any]
    status: CommandStatus
    result: dict[str, Any] | None
    done_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status in (CommandStatus.DONE, CommandStatus.FAILED)


def _command(row: Mapping[Any, Any]) -> Command:
    return Command(
        id=int(row["id"]),
        at=codec.to_ts(row["at"]),
        actor=row["actor"],
        command=row["command"],
        args=codec.loads(row["args_json"]),
        status=CommandStatus(row["status"]),
        result=None if row["result_json"] is None else codec.loads(row["result_json"]),
        done_at=None if row["done_at"] is None else codec.to_ts(row["done_at"]),
    )


class CommandQueue(JournalCore):
    """The ``commands`` table."""

    def post_command(self, actor: str, command: str, args: Mapping[str, Any] | None = None) -> int:
        """Queue ``command`` (with JSON-able ``args``) from ``actor``; return its id."""
        row = {
            "at": codec.ts(utcnow()),
            "actor": actor,
            "command": command,
            "args_json": codec.dumps(dict(args or {})),
            "status": CommandStatus.PENDING.value,
        }
        with self._write() as connection:
            result = connection.execute(insert(commands), row)
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def claim_commands(self) -> list[Command]:
        """Take every pending command (oldest first), marking them running in one transaction."""
        # Asked twice a second and nearly always empty: a read answers that without taking the
        # writer's lock from the order path.
        with self._read() as connection:
            waiting = connection.execute(
                select(commands.c.id)
                .where(commands.c.status == CommandStatus.PENDING.value)
                .limit(1)
            ).first()
        if waiting is None:
            return []
        with self._write() as connection:
            rows = (
                connection.execute(
                    select(commands)
                    .where(commands.c.status == CommandStatus.PENDING.value)
                    .order_by(commands.c.id)
                )
                .mappings()
                .all()
            )
            if rows:
                connection.execute(
                    update(commands)
                    .where(commands.c.id.in_([row["id"] for row in rows]))
                    .values(status=CommandStatus.RUNNING.value)
                )
        return [_command({**row, "status": CommandStatus.RUNNING.value}) for row in rows]

    def finish_command(self, command_id: int, ok: bool, result: Mapping[str, Any]) -> None:
        """Record the outcome of a claimed command."""
        status = CommandStatus.DONE if ok else CommandStatus.FAILED
        with self._write() as connection:
            connection.execute(
                update(commands)
                .where(commands.c.id == command_id)
                .values(
                    status=status.value,
                    result_json=codec.dumps(codec.scrub(dict(result))),
                    done_at=codec.ts(utcnow()),
                )
            )

    def get_command(self, command_id: int) -> Command | None:
        """The command ``command_id``, or None."""
        with self._read() as connection:
            row = (
                connection.execute(select(commands).where(commands.c.id == command_id))
                .mappings()
                .first()
            )
        return None if row is None else _command(row)

    def withdraw_command(self, command_id: int) -> bool:
        """Withdraw a command nobody has claimed yet (the CLI gave up waiting); True if it was
        still pending, so it will never run."""
        with self._write() as connection:
            result = connection.execute(
                update(commands)
                .where(commands.c.id == command_id)
                .where(commands.c.status == CommandStatus.PENDING.value)
                .values(
                    status=CommandStatus.FAILED.value,
                    result_json=codec.dumps({"error": "withdrawn: no engine took it"}),
                    done_at=codec.ts(utcnow()),
                )
            )
        return bool(result.rowcount)
