"""Property 12, comprehensive logging.

Over any sequence of order submissions, fills (whole and partial), broker rejections (injected
4xx), risk denials and broker errors (injected 5xx), with logging configured as the engine
configures it (:func:`pulsetrader.logging.setup_logging`, the keys registered as secrets):

* every submission leaves a record with its side, quantity, symbol and client_order_id;
* every execution one with its price and quantity (and the order it belongs to);
* every rejection, by the broker or by the risk manager, one with its reason;
* every error one with its context (the order) and its traceback, and every ERROR record
  carries a traceback;
* no record holds a secret: neither the sim's secret key nor its key id, and nothing was even
  handed to the logger for redaction.

Each example runs a fresh simulator on its own event loop and a fresh order stack.
"""

from __future__ import annotations

import asyncio
import logging as std_logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pulsetrader.domain.enums import OrderStatus
from pulsetrader.domain.intents import OrderIntent
from pulsetrader.domain.money import decimal_str
from pulsetrader.domain.orders import Order
from pulsetrader.logging import logger, setup_logging
from pulsetrader.risk import Denied
from pulsetrader.secrets import REDACTED, redactor
from pulsetrader.sim.faults import FaultProfile
from pulsetrader.sim.service import Simulator
from tests.helpers import eventually
from tests.integration.execution.conftest import Stack, build_stack
from tests.simulator import TEST_DEFAULTS, sim_config

SYMBOLS = ("AAPL", "MSFT")
POST_ORDERS = {"method": "POST", "path": "/v2/orders"}
REFUSAL = "potential wash trade detected"

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("submit"), st.sampled_from(SYMBOLS), st.integers(1, 10)),
        st.tuples(st.just("reject"), st.sampled_from(SYMBOLS), st.integers(1, 10)),
        st.tuples(st.just("error"), st.sampled_from(SYMBOLS), st.integers(1, 10)),
        st.tuples(st.just("deny"), st.sampled_from(SYMBOLS), st.integers(1000, 5000)),
        st.tuples(st.just("advance"), st.integers(5, 60)),
    ),
    min_size=1,
    max_size=7,
)

EXAMPLES = settings(
    max_examples=min(10, settings.default.max_examples),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

Record = dict[str, Any]


@contextmanager
def captured_logs(*secrets: str) -> Iterator[list[Record]]:
    """Logging set up as the engine does (secrets registered), plus a sink keeping every record
    as the sinks see it. The previous configuration is restored afterwards."""
    records: list[Record] = []
    root_handlers, root_level = std_logging.root.handlers[:], std_logging.root.level
    setup_logging("DEBUG", None, console=False, secrets=secrets)
    logger.add(lambda message: records.append(message.record), level="DEBUG")
    try:
        yield records
    finally:
        logger.remove()
        logger.add(sys.stderr, level="DEBUG")
        redactor.clear()
        std_logging.root.handlers[:] = root_handlers
        std_logging.root.setLevel(root_level)


def text_of(record: Record) -> str:
    """Everything of a record a sink could write: message, extras (traceback included)."""
    extra = {k: v for k, v in record["extra"].items() if k != "_extras"}
    return f"{record['message']} {extra}"


def having(records: list[Record], *parts: str, level: str | None = None) -> list[Record]:
    return [
        r
        for r in records
        if all(p in r["message"] for p in parts) and (level is None or r["level"].name == level)
    ]


@EXAMPLES
@example(
    ops=[
        ("submit", "AAPL", 3),
        ("reject", "MSFT", 2),
        ("error", "AAPL", 1),
        ("deny", "MSFT", 4000),
    ],
    partial_fill_rate=1.0,
)
@given(ops=OPS, partial_fill_rate=st.sampled_from([0.0, 1.0]))
def test_property_12_every_event_leaves_a_detailed_record_and_no_secret(
    ops: list[tuple[Any, ...]], partial_fill_rate: float
) -> None:
    key_id, secret = TEST_DEFAULTS["key_id"], TEST_DEFAULTS["secret_key"]
    with captured_logs(key_id, secret) as records:
        asyncio.run(_scenario(ops, partial_fill_rate, records))
    assert records
    for record in records:
        text = text_of(record)
        assert secret not in text, text
        assert key_id not in text, text
        assert REDACTED not in text, f"a secret was handed to the logger: {text}"
        if record["level"].no >= std_logging.ERROR:
            assert "Traceback" in str(record["extra"].get("traceback", "")), text


async def _scenario(
    ops: list[tuple[Any, ...]], partial_fill_rate: float, records: list[Record]
) -> None:
    async with Simulator(sim_config(partial_fill_rate=partial_fill_rate)) as sim:
        stack = build_stack(sim)
        await stack.start()
        try:
            accepted: list[Order] = []
            for op in ops:
                order = await _apply(stack, sim, op, records)
                if order is not None:
                    accepted.append(order)
            await _fills_are_logged(stack, sim, accepted, records)
        finally:
            await stack.stop()


def _faults(sim: Simulator, *rules: dict[str, Any]) -> None:
    sim.faults.load(FaultProfile.parse({"seed": 1, "rules": list(rules)}))


async def _apply(
    stack: Stack, sim: Simulator, op: tuple[Any, ...], records: list[Record]
) -> Order | None:
    """Run one operation and check the records it left; the order when one was accepted."""
    kind = op[0]
    if kind == "advance":
        await sim.advance(timedelta(seconds=op[1]))
        return None
    _, symbol, qty = op
    intent = OrderIntent(symbol=symbol, side="buy", qty=Decimal(qty))
    start = len(records)
    if kind == "reject":
        body = {"code": 42210000, "message": REFUSAL}
        _faults(sim, {"match": POST_ORDERS, "effect": "status", "status": 422, "body": body})
    elif kind == "error":
        # Every attempt fails and is not found afterwards: the outcome stays unknown.
        _faults(sim, {"match": POST_ORDERS, "effect": "status", "status": 500})
    try:
        result = await stack.orders.submit_order(intent)
    finally:
        sim.faults.clear()
    new = records[start:]

    if isinstance(result, Denied):
        assert kind == "deny" or result.rule != "order_notional", result
        assert having(new, result.rule, result.reason, symbol), "the denial's reason"
        return None
    coid = result.client_order_id
    assert having(new, "submitting", f"buy {qty} {symbol}", f"coid={coid}"), "the submission"
    if kind == "reject":
        assert result.status is OrderStatus.REJECTED
        assert having(new, coid, "rejected", REFUSAL, level="WARNING"), "the rejection's reason"
        return None
    if kind == "error":
        errors = having(new, coid, "buy", str(qty), symbol, level="ERROR")
        assert errors, "the error, with the order it concerns"
        assert "OrderStatusUnknown" in errors[-1]["extra"]["traceback"]
        # Reconciliation settles it (never received: nothing was created), and says so.
        await eventually(
            lambda: result.status is OrderStatus.REJECTED and stack.orders.reconciled,
            message="the unknown order settled",
        )
        assert having(records[start:], coid, "never received", level="WARNING")
        return None
    assert kind in ("submit", "deny"), kind
    assert having(new, coid, "accepted by the broker", result.broker_order_id or "?")
    return result


async def _fills_are_logged(
    stack: Stack, sim: Simulator, accepted: list[Order], records: list[Record]
) -> None:
    async def all_filled() -> bool:
        if all(o.status is OrderStatus.FILLED for o in accepted):
            return True
        await sim.advance(timedelta(seconds=15))  # partial fills trade on the market's ticks
        return False

    await eventually(all_filled, timeout=15, message="every order filled")
    await stack.settled()
    fills = [r.fill for r in stack.journal.fills()]
    assert sum(f.qty for f in fills) == sum(o.qty or 0 for o in accepted)
    for fill in fills:
        detail = f"{decimal_str(fill.qty)} {fill.symbol} @ {decimal_str(fill.price)}"
        assert having(records, "fill", detail, fill.client_order_id), f"the fill {detail}"
