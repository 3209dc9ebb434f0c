"""Risk decisions, the audit trail of user actions, and small persistent state."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from pulsetrader.domain.enums import TradingState
from pulsetrader.domain.intents import OrderIntent
from pulsetrader.domain.money import utcnow
from pulsetrader.persistence import codec
from pulsetrader.persistence.base import JournalCore
from pulsetrader.persistence.db import precompiled
from pulsetrader.persistence.schema import actions, risk_decisions, state
from pulsetrader.secrets import redactor

#: The :meth:`AuditLog.get_state` key holding the engine's trading state.
TRADING_STATE_KEY = "trading_state"

_upsert = sqlite_insert(state)
_UPSERT_STATE = precompiled(
    _upsert.on_conflict_do_update(
        index_elements=[state.c.key],
        set_={"value": _upsert.excluded.value, "updated_at": _upsert.excluded.updated_at},
    )
)

INSERT_DECISION = precompiled(
    insert(risk_decisions).values(
        {c.name: bindparam(c.name) for c in risk_decisions.columns if c.name != "id"}
    )
)


def decision_row(
    intent: OrderIntent,
    approved: bool,
    reason: str,
    rule: str | None,
    at: datetime | None,
    client_order_id: str | None,
) -> dict[str, Any]:
    """The ``risk_decisions`` row for a decision on ``intent`` (as
    :meth:`AuditLog.record_decision` writes it)."""
    return {
        "at": codec.ts(utcnow() if at is None else at),
        "approved": bool(approved),
        "reason": redactor.redact(reason),
        "rule": rule,
        "client_order_id": client_order_id or intent.client_order_id,
        "symbol": intent.symbol,
        "side": intent.side.value,
        "strategy": intent.strategy,
        "intent_json": codec.dumps(intent.to_dict()),
    }


def _action_row(
    actor: str, action: str, detail: Mapping[str, Any] | None, at: datetime | None
) -> dict[str, Any]:
    return {
        "at": codec.ts(utcnow() if at is None else at),
        "actor": redactor.redact(actor),
        "action": action,
        "detail_json": None if detail is None else codec.dumps(codec.scrub(detail)),
    }


def _set_state(connection: Connection, key: str, value: str, at: datetime | None) -> None:
    stamp = codec.ts(utcnow() if at is None else at)
    connection.execute(_UPSERT_STATE, {"key": key, "value": value, "updated_at": stamp})


class AuditLog(JournalCore):
    """The ``risk_decisions``, ``actions`` and ``state`` tables."""

    def record_decision(
        self,
        intent: OrderIntent,
        approved: bool,
        reason: str,
        rule: str | None = None,
        at: datetime | None = None,
        client_order_id: str | None = None,
    ) -> None:
        """Journal a risk decision on ``intent``: approved or denied, the reason and the rule
        that decided (None for an approval by default), at ``at`` (default now)."""
        row = decision_row(intent, approved, reason, rule, at, client_order_id)
        with self._write_sql() as connection:
            connection.execute(INSERT_DECISION.text, row)

    def decisions(
        self, limit: int = 100, denied_only: bool = False, offset: int = 0
    ) -> list[dict[str, Any]]:
        """Risk decisions, newest first, as dicts: ``id``, ``at`` (aware UTC), ``approved``,
        ``reason``, ``rule``, ``client_order_id``, ``symbol``, ``side``, ``strategy`` and
        ``intent`` (the intent's ``to_dict``)."""
        t = risk_decisions
        query = select(t).order_by(t.c.id.desc()).limit(limit).offset(offset)
        if denied_only:
            query = query.where(t.c.approved.is_(False))
        with self._read() as connection:
            rows = connection.execute(query).mappings().all()
        result = []
        for row in rows:
            item = {k: v for k, v in row.items() if k != "intent_json"}
            item["at"] = codec.to_ts(row["at"])
            item["approved"] = bool(row["approved"])
            item["intent"] = codec.loads(row["intent_json"])
            result.append(item)
        return result

    def record_action(
        self,
        actor: str,
        action: str,
        detail: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> None:
        """Append to the audit trail: ``actor`` (who: a user name, ``system``, ``risk``) did
        ``action`` at ``at`` (default now). ``detail`` is scrubbed of credentials first (see
        :func:`~pulsetrader.persistence.codec.scrub`); secrets are never stored."""
        row = _action_row(actor, action, detail, at)
        with self._write() as connection:
            connection.execute(insert(actions), row)

    def actions(
        self, limit: int = 100, offset: int = 0, actor: str | None = None
    ) -> list[dict[str, Any]]:
        """The audit trail, newest first: ``id``, ``at`` (aware UTC), ``actor``, ``action`` and
        ``detail`` (a dict, or None)."""
        query = select(actions).order_by(actions.c.id.desc()).limit(limit).offset(offset)
        if actor is not None:
            query = query.where(actions.c.actor == actor)
        with self._read() as connection:
            rows = connection.execute(query).mappings().all()
        return [
            {
                "id": row["id"],
                "at": codec.to_ts(row["at"]),
                "actor": row["actor"],
                "action": row["action"],
                "detail": None if row["detail_json"] is None else codec.loads(row["detail_json"]),
            }
            for row in rows
        ]

    def record_trading_state(
        self,
        previous: TradingState | None,
        current: TradingState,
        reason: str,
        *,
        actor: str = "system",
        at: datetime | None = None,
    ) -> None:
        """Journal a trading-state transition: an audit action ``trading_state`` (detail: from,
        to, reason) and the :data:`TRADING_STATE_KEY` state, in one transaction."""
        detail = {
            "from": None if previous is None else TradingState(previous).value,
            "to": TradingState(current).value,
            "reason": reason,
        }
        row = _action_row(actor, "trading_state", detail, at)
        with self._write() as connection:
            connection.execute(insert(actions), row)
            _set_state(connection, TRADING_STATE_KEY, TradingState(current).value, at)

    def get_state(self, key: str) -> str | None:
        """The value stored under ``key``, or None."""
        with self._read() as connection:
            value = connection.execute(select(state.c.value).where(state.c.key == key)).scalar()
        return None if value is None else str(value)

    def set_state(self, key: str, value: str, at: datetime | None = None) -> None:
        """Store ``value`` under ``key`` (text: use decimal_str for amounts), replacing any."""
        row = {"key": key, "value": value, "updated_at": codec.ts(utcnow() if at is None else at)}
        with self._write_sql() as connection:
            connection.execute(_UPSERT_STATE.text, row)

    def delete_state(self, key: str) -> None:
        """Forget ``key``; nothing happens if it is not set."""
        with self._write() as connection:
            connection.execute(state.delete().where(state.c.key == key))
