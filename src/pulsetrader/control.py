"""Steering a running engine: halt, resume, pause a strategy, cancel, close. One path for all.

The API (a logged-in user), the CLI (through the journal's command queue, see
:mod:`pulsetrader.persistence.commands`) and the terminal all call :class:`EngineControl`, so
every operator action is checked the same way, journaled once with who did it (the ``actions``
table; a trading-state change is its ``trading_state`` row, with the operator as actor) and
answered with a JSON-able result. Refusals raise :class:`ControlError` with a ``kind`` the API
maps to a status code: ``not_found`` (404), ``conflict`` (409), ``invalid`` (422).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from loguru import logger

from pulsetrader.domain.enums import TradingState
from pulsetrader.domain.orders import Order
from pulsetrader.persistence.commands import ENGINE_HEARTBEAT_KEY, Command
from pulsetrader.risk.decisions import Denied
from pulsetrader.strategy.errors import StrategyNotFound, StrategyStateError

if TYPE_CHECKING:
    from pulsetrader.engine import Engine

ControlErrorKind = Literal["not_found", "conflict", "invalid"]


class ControlError(Exception):
    """An operator action that cannot be done; ``kind`` says why (see the module docstring)."""

    def __init__(self, message: str, kind: ControlErrorKind = "invalid") -> None:
        super().__init__(message)
        self.kind: ControlErrorKind = kind


def outcome(result: Order | Denied | None) -> dict[str, Any]:
    """An order, a risk denial or nothing, as the JSON an operator sees."""
    if result is None:
        return {"submitted": False}
    if isinstance(result, Denied):
        return {"submitted": False, "denied": {"rule": result.rule, "reason": result.reason}}
    return {"submitted": True, "order": result.to_dict()}


class EngineControl:
    """The operator's actions on ``engine`` (built and started)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        #: The operator whose action is changing the trading state (read by the journal hook).
        self.acting: str | None = None

    @contextlib.contextmanager
    def _as(self, actor: str) -> Iterator[None]:
        previous, self.acting = self.acting, actor
        try:
            yield
        finally:
            self.acting = previous

    def _record(self, actor: str, action: str, detail: Mapping[str, Any]) -> None:
        self.engine.journal.record_action(actor, action, dict(detail), self.engine.now())
        logger.info("{} by {}: {}", action, actor, dict(detail))

    # -- trading state ------------------------------------------------------------------------

    def trading_state(self) -> dict[str, Any]:
        risk = self.engine.risk
        return {"state": risk.state.value, "reason": risk.state_reason or None}

    def halt(self, actor: str, reason: str | None = None) -> dict[str, Any]:
        """Stop all new trading (exits too are refused until resumed); persisted across restarts."""
        why = (reason or "").strip() or f"halted by {actor}"
        with self._as(actor):
            changed = self.engine.risk.set_state(TradingState.HALTED, why)
        if not changed:
            logger.info("halt by {}: already halted", actor)
        return {"changed": changed, **self.trading_state()}

    def resume(self, actor: str) -> dict[str, Any]:
        """Return to ACTIVE from HALTED or REDUCING, unless the broker connection is unhealthy:
        then preservation mode stays, and the health monitor lifts it when health returns."""
        engine = self.engine
        if engine.risk.state is TradingState.ACTIVE:
            return {"changed": False, **self.trading_state()}
        if engine.monitor.preservation:
            raise ControlError(
                "the broker connection is unhealthy: preservation mode stays until health "
                "returns (the health monitor then resumes by itself)",
                "conflict",
            )
        with self._as(actor):
            changed = engine.risk.set_state(TradingState.ACTIVE, f"resumed by {actor}")
        return {"changed": changed, **self.trading_state()}

    # -- strategies ---------------------------------------------------------------------------

    def _strategy_call(self, name: str, action: Callable[[str], None]) -> None:
        runner = self.engine.runner
        if runner is None:
            raise ControlError("no strategies are running", "not_found")
        try:
            action(name)
        except StrategyNotFound as exc:
            raise ControlError(str(exc), "not_found") from exc
        except StrategyStateError as exc:
            raise ControlError(str(exc), "conflict") from exc

    def strategy_status(self, name: str) -> dict[str, Any]:
        runner = self.engine.runner
        assert runner is not None
        return next(s for s in runner.status() if s["name"] == name)

    def pause_strategy(self, name: str, actor: str) -> dict[str, Any]:
        """Stop delivering market data to strategy ``name``; its orders stay as they are."""
        runner = self.engine.runner
        self._strategy_call(name, lambda n: runner.pause(n, f"paused by {actor}"))  # type: ignore[union-attr]
        self._record(actor, "strategy_paused", {"strategy": name})
        return self.strategy_status(name)

    def resume_strategy(self, name: str, actor: str) -> dict[str, Any]:
        """Deliver market data to a paused strategy ``name`` again."""
        runner = self.engine.runner
        self._strategy_call(name, lambda n: runner.resume(n))  # type: ignore[union-attr]
        self._record(actor, "strategy_resumed", {"strategy": name})
        return self.strategy_status(name)

    # -- orders and positions -----------------------------------------------------------------

    async def cancel_order(self, order_id: str, actor: str) -> dict[str, Any]:
        """Cancel an open order, named by its client order id or the broker's id."""
        orders = self.engine.orders
        order = orders.find(client_order_id=order_id, broker_order_id=order_id)
        if order is None:
            raise ControlError(f"no order {order_id!r}", "not_found")
        if order.is_terminal:
            raise ControlError(
                f"order {order.client_order_id} is already {order.status.value}", "conflict"
            )
        requested = await orders.cancel_order(order.client_order_id)
        self._record(
            actor,
            "cancel_order",
            {"client_order_id": order.client_order_id, "requested": requested},
        )
        return {"requested": requested, "order": order.to_dict()}

    async def cancel_all(self, actor: str) -> dict[str, Any]:
        """Cancel every open order."""
        count = await self.engine.orders.cancel_all_orders()
        self._record(actor, "cancel_all", {"requested": count})
        return {"requested": count}

    async def close_position(self, symbol: str, actor: str) -> dict[str, Any]:
        """Close the whole position in ``symbol`` with a market order (risk-checked)."""
        cleaned = symbol.strip().upper()
        if not cleaned:
            raise ControlError("a symbol is needed", "invalid")
        result = await self.engine.orders.close_position(cleaned)
        if result is None:
            raise ControlError(f"no open position in {cleaned}", "not_found")
        answer = outcome(result)
        self._record(actor, "close_position", {"symbol": cleaned, **_brief(answer)})
        return answer

    async def close_all(self, actor: str) -> dict[str, Any]:
        """Cancel every open order, then close every position."""
        results = [outcome(r) for r in await self.engine.orders.close_all_positions()]
        self._record(
            actor, "close_all", {"closing": [_brief(r) for r in results], "count": len(results)}
        )
        return {"count": len(results), "results": results}

    # -- commands from other processes --------------------------------------------------------

    async def run_command(self, command: Command) -> dict[str, Any]:
        """Carry out one queued command (see :mod:`pulsetrader.persistence.commands`)."""
        actor, args = command.actor, command.args
        handlers: dict[str, Callable[[], Awaitable[dict[str, Any]] | dict[str, Any]]] = {
            "halt": lambda: self.halt(actor, args.get("reason")),
            "resume": lambda: self.resume(actor),
            "pause_strategy": lambda: self.pause_strategy(str(args.get("name", "")), actor),
            "resume_strategy": lambda: self.resume_strategy(str(args.get("name", "")), actor),
            "cancel_order": lambda: self.cancel_order(str(args.get("order_id", "")), actor),
            "cancel_all": lambda: self.cancel_all(actor),
            "close_position": lambda: self.close_position(str(args.get("symbol", "")), actor),
            "close_all": lambda: self.close_all(actor),
        }
        handler = handlers.get(command.command)
        if handler is None:
            raise ControlError(f"unknown command {command.command!r}", "invalid")
        result = handler()
        if not isinstance(result, dict):
            result = await result
        return result

    async def process_commands(self) -> int:
        """Claim and carry out every pending command; refresh the heartbeat. How many ran."""
        journal = self.engine.journal
        # Wall-clock time, not the broker's: the CLI compares it with its own clock.
        journal.set_state(ENGINE_HEARTBEAT_KEY, datetime.now(UTC).isoformat())
        done = 0
        for command in journal.claim_commands():
            try:
                result = await self.run_command(command)
            except ControlError as exc:
                journal.finish_command(command.id, False, {"error": str(exc), "kind": exc.kind})
            except Exception as exc:  # report it to the CLI; the loop goes on
                logger.exception("command {} ({}) failed", command.id, command.command)
                journal.finish_command(command.id, False, {"error": f"{type(exc).__name__}: {exc}"})
            else:
                journal.finish_command(command.id, True, result)
            done += 1
        return done


def _brief(answer: Mapping[str, Any]) -> dict[str, Any]:
    """What the audit trail keeps of an order outcome: its ids and status, or the denial."""
    order = answer.get("order")
    if order is not None:
        return {
            "client_order_id": order.get("client_order_id"),
            "side": order.get("side"),
            "qty": order.get("qty"),
            "status": order.get("status"),
        }
    return {"denied": answer.get("denied")}
