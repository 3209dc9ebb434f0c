"""The journal's tables as SQLAlchemy Core objects, for building statements.

These describe the schema as the *latest* migration leaves it; the migrations in
:mod:`pulsetrader.persistence.migrations` create it with their own frozen SQL, so editing a table
here never changes what an old migration does (a unit test checks the two agree). Every amount
is TEXT holding exact decimal text and every time TEXT holding fixed-width UTC RFC 3339 (see
:mod:`pulsetrader.persistence.codec`); there is no REAL column.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Integer, MetaData, Table, Text

metadata = MetaData()


def _text(name: str, *, nullable: bool = True, primary_key: bool = False) -> Column[str]:
    return Column(name, Text, nullable=nullable and not primary_key, primary_key=primary_key)


schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    _text("description", nullable=False),
    _text("applied_at", nullable=False),
)

#: One row per order, keyed by its client_order_id; ``order_json`` is the latest Order.to_dict.
orders = Table(
    "orders",
    metadata,
    _text("client_order_id", primary_key=True),
    _text("broker_order_id"),
    _text("status", nullable=False),
    _text("symbol", nullable=False),
    _text("side", nullable=False),
    _text("type", nullable=False),
    _text("qty"),
    _text("notional"),
    _text("filled_qty", nullable=False),
    _text("filled_avg_price"),
    _text("strategy"),
    _text("created_at", nullable=False),
    _text("updated_at", nullable=False),
    _text("submitted_at"),
    _text("intent_json"),
    _text("order_json", nullable=False),
)

#: One row per execution, keyed by its execution id; ``trade_date`` is the New York date.
fills = Table(
    "fills",
    metadata,
    _text("execution_id", primary_key=True),
    _text("client_order_id", nullable=False),
    _text("order_id", nullable=False),
    _text("symbol", nullable=False),
    _text("side", nullable=False),
    _text("qty", nullable=False),
    _text("price", nullable=False),
    _text("timestamp", nullable=False),
    _text("trade_date"),
    _text("strategy"),
    _text("realized_pl"),
)

#: Every risk decision, approved or denied, with the rule and reason.
risk_decisions = Table(
    "risk_decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _text("at", nullable=False),
    Column("approved", Boolean(create_constraint=False), nullable=False),
    _text("reason", nullable=False),
    _text("rule"),
    _text("client_order_id"),
    _text("symbol", nullable=False),
    _text("side", nullable=False),
    _text("strategy"),
    _text("intent_json", nullable=False),
)

#: The latest positions snapshot, one row per symbol, replaced as a whole.
positions = Table(
    "positions",
    metadata,
    _text("symbol", primary_key=True),
    _text("qty", nullable=False),
    _text("avg_entry_price"),
    _text("realized_pl", nullable=False),
    _text("updated_at", nullable=False),
)

#: Small key-value state (the risk manager's day-start equity, high-water mark, ...).
state = Table(
    "state",
    metadata,
    _text("key", primary_key=True),
    _text("value", nullable=False),
    _text("updated_at", nullable=False),
)

#: The audit trail: who did what, when. Details are scrubbed of credentials before writing.
actions = Table(
    "actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _text("at", nullable=False),
    _text("actor", nullable=False),
    _text("action", nullable=False),
    _text("detail_json"),
)

#: The equity curve: one sample per row, at least a second apart.
equity = Table(
    "equity",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _text("at", nullable=False),
    _text("trade_date", nullable=False),
    _text("equity", nullable=False),
    _text("cash"),
)

#: Every broker event applied to an order (OrderUpdate.to_dict), keyed by the update's key.
order_events = Table(
    "order_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _text("event_key", nullable=False),
    Column("client_order_id", Text, ForeignKey("orders.client_order_id"), nullable=False),
    _text("event", nullable=False),
    _text("at", nullable=False),
    _text("status", nullable=False),
    _text("update_json", nullable=False),
)

#: Operator commands posted by another process (the CLI) for the running engine to carry out:
#: ``status`` is pending, done or failed; ``result_json`` is what the engine answered.
commands = Table(
    "commands",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _text("at", nullable=False),
    _text("actor", nullable=False),
    _text("command", nullable=False),
    _text("args_json", nullable=False),
    _text("status", nullable=False),
    _text("result_json"),
    _text("done_at"),
)
