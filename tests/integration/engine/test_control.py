"""Steering the running engine: EngineControl, and the CLI's commands through the journal."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pulsetrader.control import ControlError
from pulsetrader.domain.enums import OrderSide, TradingState
from pulsetrader.domain.intents import OrderIntent
from pulsetrader.engine import Engine
from pulsetrader.persistence import Journal
from pulsetrader.persistence.commands import ENGINE_HEARTBEAT_KEY, CommandStatus
from pulsetrader.risk.decisions import Denied
from pulsetrader.sim.faults import FaultProfile
from pulsetrader.sim.service import Simulator
from tests.helpers import eventually
from tests.integration.engine.conftest import STRATEGY

pytestmark = pytest.mark.sim_config(speed=60)


def state_rows(running: Engine) -> list[tuple[str, str]]:
    return [
        (a["actor"], a["detail"]["to"])
        for a in reversed(running.journal.actions(limit=500))
        if a["action"] == "trading_state"
    ]


async def test_halt_and_resume_name_the_operator_and_gate_entries(engine: Engine) -> None:
    answer = engine.control.halt("ann", "lunch")
    assert answer == {"changed": True, "state": "HALTED", "reason": "lunch"}
    assert engine.control.halt("ann")["changed"] is False
    denied = await engine.orders.submit_order(
        OrderIntent(symbol="MSFT", side=OrderSide.BUY, qty=Decimal(1))
    )
    assert isinstance(denied, Denied)
    assert denied.rule == "halted"
    assert engine.control.resume("bob")["state"] == "ACTIVE"
    assert state_rows(engine)[-2:] == [("ann", "HALTED"), ("bob", "ACTIVE")]


async def test_resume_is_refused_while_the_broker_is_unhealthy(
    engine: Engine,
    simulator: Simulator,
) -> None:
    rule = {"effect": "status", "status": 503, "count": 50, "match": {"path_prefix": "/v2/"}}
    simulator.faults.load(FaultProfile.parse({"seed": 1, "rules": [rule]}))

    async def reducing() -> bool:
        await engine.monitor.check()
        return engine.risk.state is TradingState.REDUCING

    await eventually(reducing, timeout=5, message="preservation mode")
    with pytest.raises(ControlError) as refused:
        engine.control.resume("ann")
    assert refused.value.kind == "conflict"
    assert engine.risk.state is TradingState.REDUCING
    simulator.faults.clear()


async def test_strategies_pause_and_resume_and_unknown_names_are_not_found(
    engine: Engine,
) -> None:
    assert engine.control.pause_strategy(STRATEGY, "ann")["state"] == "PAUSED"
    assert engine.control.resume_strategy(STRATEGY, "ann")["state"] == "RUNNING"
    for action in (engine.control.pause_strategy, engine.control.resume_strategy):
        with pytest.raises(ControlError) as missing:
            action("nope", "ann")
        assert missing.value.kind == "not_found"
    with pytest.raises(ControlError) as no_order:
        await engine.control.cancel_order("no-such-order", "ann")
    assert no_order.value.kind == "not_found"
    with pytest.raises(ControlError) as flat:
        await engine.control.close_position("NVDA", "ann")
    assert flat.value.kind == "not_found"
    journaled = [(a["actor"], a["action"]) for a in engine.journal.actions(limit=50)]
    assert ("ann", "strategy_paused") in journaled
    assert ("ann", "strategy_resumed") in journaled


async def test_commands_posted_to_the_journal_file_are_carried_out(engine: Engine) -> None:
    path = engine.journal.path
    assert path is not None
    with Journal(path) as cli:  # what `pulsetrader halt` opens: the same file, another handle
        await eventually(
            lambda: cli.get_state(ENGINE_HEARTBEAT_KEY) is not None,
            timeout=5,
            message="the engine's heartbeat",
        )
        halt = cli.post_command("cli:ann", "halt", {"reason": "from the CLI"})
        bogus = cli.post_command("cli:ann", "launch_rockets")

        def finished(command_id: int) -> bool:
            command = cli.get_command(command_id)
            return command is not None and command.finished

        await eventually(lambda: finished(halt) and finished(bogus), timeout=5, message="done")
        done, refused = cli.get_command(halt), cli.get_command(bogus)
        assert done is not None
        assert done.status is CommandStatus.DONE
        assert done.result is not None
        assert done.result["state"] == "HALTED"
        assert refused is not None
        assert refused.status is CommandStatus.FAILED
        assert refused.result is not None
        assert "unknown command" in refused.result["error"]
    assert engine.risk.state is TradingState.HALTED
    assert state_rows(engine)[-1] == ("cli:ann", "HALTED")
