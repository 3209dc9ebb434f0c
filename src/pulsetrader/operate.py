"""What the operator's CLI commands do: read the broker, and steer the running engine.

``account``, ``positions`` and ``orders`` ask the broker directly (the broker is the truth; the
engine need not be running). ``halt``, ``resume`` and ``close-all`` go to the running engine when
there is one: they are posted to the journal's command queue
(:mod:`pulsetrader.persistence.commands`), which the engine reads twice a second, so the action
takes the same checked, journaled path as one from the dashboard. With no engine running:

* ``halt`` and ``resume`` set the trading state the engine starts in (the risk manager keeps a
  halt across restarts), journaled with the operator;
* ``close-all`` cancels every open order and closes every position at the broker itself, and
  journals that it did; the engine reconciles those orders when it next starts.

An engine counts as running while it refreshes its heartbeat (:data:`HEARTBEAT_FRESH` seconds).
"""

from __future__ import annotations

import asyncio
import getpass
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pulsetrader.broker.client import AlpacaClient, BrokerConfig
from pulsetrader.config import Settings
from pulsetrader.domain.enums import TradingState
from pulsetrader.persistence import Journal
from pulsetrader.persistence.commands import ENGINE_HEARTBEAT_KEY, CommandStatus

#: Seconds since its last heartbeat after which an engine is taken to be gone.
HEARTBEAT_FRESH = 5.0
#: The risk manager's persisted state key (see RiskManager.__init__).
RISK_STATE_KEY = "risk.trading_state"


class OperateError(RuntimeError):
    """A CLI action could not be done; the message says why and what to do."""


def cli_actor() -> str:
    """Who the audit trail says acted: ``cli:<login name>``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        user = "unknown"
    return f"cli:{user}"


def heartbeat_now() -> str:
    """The heartbeat's value: the wall-clock time it was written (not the broker's clock)."""
    return datetime.now(UTC).isoformat()


def engine_running(journal: Journal, *, fresh: float = HEARTBEAT_FRESH) -> bool:
    """Whether an engine is taking commands from ``journal`` (its heartbeat is recent)."""
    value = journal.get_state(ENGINE_HEARTBEAT_KEY)
    if value is None:
        return False
    try:
        beat = datetime.fromisoformat(value)
    except ValueError:
        return False
    if beat.tzinfo is None:
        return False
    return (datetime.now(UTC) - beat).total_seconds() <= fresh


# -- reading the broker -----------------------------------------------------------------------


async def _with_client(settings: Settings, action: Any) -> Any:
    client = AlpacaClient(BrokerConfig.from_settings(settings))
    try:
        return await action(client)
    finally:
        await client.close()


async def read_account(settings: Settings) -> dict[str, Any]:
    """The broker's account, as JSON-able data."""
    account = await _with_client(settings, lambda c: c.get_account())
    return account.to_dict()  # type: ignore[no-any-return]


async def read_positions(settings: Settings) -> list[dict[str, Any]]:
    """The broker's open positions."""
    positions = await _with_client(settings, lambda c: c.get_positions())
    return [p.to_dict() for p in positions]


async def read_orders(
    settings: Settings, status: str = "open", limit: int = 50, symbol: str | None = None
) -> list[dict[str, Any]]:
    """The broker's orders by status (open, closed, all), newest first."""
    symbols = [symbol] if symbol else None
    orders = await _with_client(
        settings, lambda c: c.list_orders(status, limit=limit, symbols=symbols)
    )
    return [o.to_dict() for o in orders]


# -- steering the engine ----------------------------------------------------------------------


async def send_command(
    journal: Journal,
    command: str,
    args: dict[str, Any] | None = None,
    *,
    actor: str,
    timeout: float = 30.0,  # noqa: ASYNC109 - withdrawn, not cancelled, when it runs out
) -> dict[str, Any]:
    """Post ``command`` for the running engine and wait for its answer.

    Raises OperateError with the engine's reason when it refused, or when no engine took the
    command within ``timeout`` seconds (the command is then withdrawn, so it never runs late).
    """
    command_id = journal.post_command(actor, command, args)
    deadline = time.monotonic() + timeout
    while True:
        answer = journal.get_command(command_id)
        if answer is not None and answer.finished:
            result = answer.result or {}
            if answer.status is CommandStatus.FAILED:
                raise OperateError(f"the engine refused {command}: {result.get('error')}")
            return result
        if time.monotonic() >= deadline:
            if journal.withdraw_command(command_id):
                raise OperateError(
                    f"no engine took {command} within {timeout:g}s; it was withdrawn"
                )
            # Claimed just now: the engine is carrying it out, so wait for its answer.
            deadline = time.monotonic() + timeout
        await asyncio.sleep(0.1)


def set_offline_state(journal: Journal, state: TradingState, actor: str, reason: str) -> bool:
    """Set the trading state the engine will start in; whether it changed."""
    saved = journal.get_state(RISK_STATE_KEY)
    previous = TradingState.HALTED if saved == TradingState.HALTED else TradingState.ACTIVE
    if previous is state:
        return False
    journal.set_state(RISK_STATE_KEY, state.value)
    journal.record_trading_state(previous, state, reason, actor=actor)
    return True


async def halt(journal: Journal, reason: str | None, *, actor: str) -> dict[str, Any]:
    """Halt the running engine, or make the next one start halted."""
    if engine_running(journal):
        result = await send_command(journal, "halt", {"reason": reason}, actor=actor)
        return {"engine": "running", **result}
    why = (reason or "").strip() or f"halted by {actor}"
    changed = set_offline_state(journal, TradingState.HALTED, actor, why)
    return {"engine": "not running", "changed": changed, "state": "HALTED", "reason": why}


async def resume(journal: Journal, *, actor: str) -> dict[str, Any]:
    """Resume the running engine, or make the next one start active."""
    if engine_running(journal):
        result = await send_command(journal, "resume", actor=actor)
        return {"engine": "running", **result}
    changed = set_offline_state(journal, TradingState.ACTIVE, actor, f"resumed by {actor}")
    return {"engine": "not running", "changed": changed, "state": "ACTIVE", "reason": None}


async def close_all(settings: Settings, journal: Journal, *, actor: str) -> dict[str, Any]:
    """Cancel every open order and close every position (through the engine when it runs)."""
    if engine_running(journal):
        result = await send_command(journal, "close_all", actor=actor, timeout=60.0)
        return {"engine": "running", **result}

    async def direct(client: AlpacaClient) -> list[Any]:
        return await client.close_all_positions(cancel_orders=True)

    orders = await _with_client(settings, direct)
    closing = [o.to_dict() for o in orders]
    journal.record_action(
        actor,
        "close_all",
        {
            "engine": "not running",
            "closing": [
                {"client_order_id": o["client_order_id"], "symbol": o["symbol"], "qty": o["qty"]}
                for o in closing
            ],
        },
    )
    return {"engine": "not running", "count": len(closing), "orders": closing}


def open_journal(settings: Settings, db: Path | None) -> Journal:
    """The journal the engine uses (``PULSETRADER_DB``), or ``db``."""
    return Journal(db or settings.pulsetrader_db)
