"""Property 8: realized P/L accuracy, at the order manager.

For any sequence of executions (buys and sells of several orders in several symbols, long and
short, crossing zero, whole and fractional quantities, orders of several strategies and orders
the engine did not place) delivered the way the broker delivers them (each on the
``trade_updates`` stream, :meth:`OrderManager.on_order_update`, unless the stream missed it;
re-sent duplicates; and every execution again in the account's FILL activities read at
reconciliation points, :meth:`OrderManager.book_activities`), the manager counts each execution
exactly once, and its realized P/L per symbol, per strategy and per New York day (from the
journal, :meth:`Journal.realized_pl`) and in total equals an independent computation here:
weighted average cost in exact fractions, the fills replayed in the order the manager booked
them, which is the order it first received them in unless an activities read lagged the stream
(then an execution whose order's later executions came first may wait for the next read; a
book built incrementally cannot average a late fill where the broker's time puts it). Adding
to a position re-averages its entry, reducing realizes ``(exit - avg) * qty`` on a long and
``(avg - exit) * qty`` on a short, and crossing zero closes the position and opens the rest at
the fill price.

The manager's averages are Decimals of 28 significant digits, so amounts are compared to within
``TOLERANCE``; execution counts and the groups present are compared exactly.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from loguru import logger

from pulsetrader.domain import Order, OrderIntent, OrderSide, OrderStatus
from pulsetrader.domain.enums import OrderType, TimeInForce
from pulsetrader.domain.events import OrderUpdate
from pulsetrader.domain.fills import Fill
from pulsetrader.domain.snapshots import FillActivity
from pulsetrader.domain.symbols import asset_class_of
from pulsetrader.execution import OrderManager
from pulsetrader.persistence import UNATTRIBUTED, Journal
from pulsetrader.risk import MemoryStateStore, RiskManager

NEW_YORK = ZoneInfo("America/New_York")
SYMBOLS = ("AAPL", "MSFT", "BTC/USD")
STRATEGIES = ("alpha", "beta")
#: Monday 2024-03-04, 23:00 New York: the first executions straddle New York midnight.
START = datetime(2024, 3, 5, 4, 0, tzinfo=UTC)
TOLERANCE = Fraction(1, 10**12)


@pytest.fixture(autouse=True, scope="module")
def _quiet() -> Iterator[None]:
    """The manager logs every fill; thousands of examples need none of it."""
    logger.disable("pulsetrader")
    yield
    logger.enable("pulsetrader")


# -- hand-written collaborators (the manager calls none of them on these paths) -------------------


class FakeBroker:
    """The AlpacaClient surface the manager's constructor touches."""

    def __init__(self) -> None:
        self.now = START

    def clock(self) -> datetime:
        return self.now


class FakeAccounts:
    """AccountManager: the manager invalidates it after every fill; that is all it uses here."""

    def __init__(self) -> None:
        self.invalidations = 0

    def invalidate(self) -> None:
        self.invalidations += 1

    def mark_changed(self) -> None:
        self.invalidate()


class FakeFeed:
    """MarketDataFeed: unused on the fill paths."""


# -- the scenario ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderSpec:
    symbol: str
    side: OrderSide
    strategy: str | None  # None: an order placed elsewhere, adopted from the broker
    executions: tuple[tuple[Decimal, Decimal], ...]  # (qty, price)

    @property
    def qty(self) -> Decimal:
        return sum((q for q, _ in self.executions), Decimal(0))


@dataclass(frozen=True)
class Execution:
    fill: Fill
    cum_qty: Decimal
    cum_notional: Decimal
    spec: OrderSpec
    client_order_id: str


@dataclass(frozen=True)
class Read:
    """One read of the FILL activities after some execution: from ``back`` executions before
    the earliest one the manager has not booked (re-delivering up to that many; the manager's
    watermark asks for a window reaching back so far), and missing the newest ``lag`` ones
    (the activities may trail the stream a little)."""

    back: int = 0
    lag: int = 0


@dataclass(frozen=True)
class Scenario:
    specs: tuple[OrderSpec, ...]
    executions: tuple[Execution, ...]  # broker time order
    missed: frozenset[int]  # executions the stream never delivered
    resent: frozenset[int]  # executions the stream delivered twice
    reads: Mapping[int, Read]  # after these executions, FILL activities are read


def decimals(low: int, high: int, places: int) -> st.SearchStrategy[Decimal]:
    return st.integers(low, high).map(lambda n: Decimal(n).scaleb(-places))


@st.composite
def order_specs(draw: st.DrawFn) -> OrderSpec:
    symbol = draw(st.sampled_from(SYMBOLS))
    crypto = asset_class_of(symbol).value == "crypto"
    fractional = crypto or draw(st.booleans())
    qty = decimals(1, 500_000, 4) if fractional else st.integers(1, 200).map(Decimal)
    price = decimals(50, 100_000, draw(st.sampled_from((2, 4))))
    executions = draw(st.lists(st.tuples(qty, price), min_size=1, max_size=4))
    return OrderSpec(
        symbol=symbol,
        side=draw(st.sampled_from(OrderSide)),
        strategy=draw(st.sampled_from((*STRATEGIES, None))),
        executions=tuple(executions),
    )


def build_scenario(
    specs: list[OrderSpec],
    sequence: list[int],
    gaps: list[int],
    *,
    missed: frozenset[int] = frozenset(),
    resent: frozenset[int] = frozenset(),
    reads: Mapping[int, Read] | None = None,
) -> Scenario:
    """Order ``sequence[n]`` executes its next execution ``gaps[n]`` minutes after the last."""
    at = START
    done: defaultdict[int, int] = defaultdict(int)
    cum: defaultdict[int, tuple[Decimal, Decimal]] = defaultdict(lambda: (Decimal(0),) * 2)
    executions = []
    for n, (index, gap) in enumerate(zip(sequence, gaps, strict=True)):
        spec = specs[index]
        qty, price = spec.executions[done[index]]
        done[index] += 1
        at += timedelta(minutes=gap)
        filled, notional = cum[index]
        cum[index] = (filled + qty, notional + qty * price)
        fill = Fill(
            execution_id=f"exec-{n}",
            order_id=f"broker-{index}",
            client_order_id="",
            symbol=spec.symbol,
            side=spec.side,
            qty=qty,
            price=price,
            timestamp=at,
        )
        executions.append(Execution(fill, *cum[index], spec, f"coid-{index}"))
    return Scenario(tuple(specs), tuple(executions), missed, resent, dict(reads or {}))


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    specs = draw(st.lists(order_specs(), min_size=1, max_size=8))
    # Which order executes next: each order's executions in their own order, orders interleaved.
    slots = [i for i, spec in enumerate(specs) for _ in spec.executions]
    sequence = draw(st.permutations(slots))
    # Gaps from a minute to most of a day: the executions cross New York dates, and midnight.
    n = len(sequence)
    gaps = draw(st.lists(st.integers(1, 20 * 60), min_size=n, max_size=n))
    some = st.frozensets(st.integers(0, n - 1))
    return build_scenario(
        specs,
        sequence,
        gaps,
        missed=draw(some),
        resent=draw(some),
        reads=draw(
            st.dictionaries(
                st.integers(0, n - 1),
                st.builds(Read, back=st.integers(0, 3), lag=st.integers(0, 2)),
            )
        ),
    )


# -- delivering it to the manager -----------------------------------------------------------------


def snapshot(execution: Execution) -> Order:
    """The broker's order as a fill event carries it: cumulative quantity and average so far."""
    spec = execution.spec
    complete = execution.cum_qty == spec.qty
    return Order(
        client_order_id=execution.client_order_id,
        broker_order_id=execution.fill.order_id,
        symbol=spec.symbol,
        side=spec.side,
        type=OrderType.MARKET,
        time_in_force=TimeInForce.GTC,
        created_at=START,
        updated_at=execution.fill.timestamp,
        qty=spec.qty,
        status=OrderStatus.FILLED if complete else OrderStatus.PARTIALLY_FILLED,
        filled_qty=execution.cum_qty,
        filled_avg_price=execution.cum_notional / execution.cum_qty,
    )


def update(execution: Execution) -> OrderUpdate:
    order = snapshot(execution)
    return OrderUpdate(
        event="fill" if order.status is OrderStatus.FILLED else "partial_fill",
        order=order,
        timestamp=execution.fill.timestamp,
        execution_id=execution.fill.execution_id,
        price=execution.fill.price,
        qty=execution.fill.qty,
    )


def activity(execution: Execution) -> FillActivity:
    complete = execution.cum_qty == execution.spec.qty
    return FillActivity(
        activity_id=f"{execution.fill.timestamp:%Y%m%d%H%M%S}000::{execution.fill.execution_id}",
        fill=execution.fill,  # activities carry the broker's order id only
        cum_qty=execution.cum_qty,
        order_status="filled" if complete else "partially_filled",
    )


def new_manager(scenario: Scenario, journal: Journal) -> OrderManager:
    """An OrderManager whose journal knows the orders the engine placed (those with a strategy),
    as after ``submit_order``; the others it learns from the broker."""
    broker = FakeBroker()
    for index, spec in enumerate(scenario.specs):
        if spec.strategy is None:
            continue
        intent = OrderIntent(
            symbol=spec.symbol,
            side=spec.side,
            qty=spec.qty,
            time_in_force=TimeInForce.GTC,
            strategy=spec.strategy,
        )
        order = Order.from_intent(intent, f"coid-{index}", now=START)
        order.broker_order_id = f"broker-{index}"
        order.status = OrderStatus.NEW
        journal.record_intent(order, intent)
    risk = RiskManager(store=MemoryStateStore(), clock=broker.clock)
    manager = OrderManager(
        cast(Any, broker), cast(Any, FakeAccounts()), cast(Any, FakeFeed()), risk, journal
    )
    manager.reconciled = True
    return manager


async def deliver(manager: OrderManager, scenario: Scenario) -> tuple[list[str], list[str]]:
    """Feed the scenario to ``manager``: each execution on the stream unless it was missed
    (twice if re-sent), and after the executions :attr:`Scenario.reads` names the FILL
    activities from a little before the earliest one the manager has not booked (as its
    watermark asks), the last read complete. The execution ids in the order the manager first
    received them, and in the order it booked them."""
    executions = scenario.executions
    received: dict[str, None] = {}
    booked: list[str] = []
    manager.on_fill(lambda fill, order: booked.append(fill.fill.execution_id))
    for n, execution in enumerate(executions):
        if n not in scenario.missed:
            for _ in range(2 if n in scenario.resent else 1):
                received.setdefault(execution.fill.execution_id)
                await manager.on_order_update(update(execution))
        read = scenario.reads.get(n)
        if n == len(executions) - 1:
            read = Read(back=read.back if read else 0, lag=0)
        if read is None:
            continue
        end = n + 1 - read.lag
        known = manager.book.execution_ids
        pending = next((i for i in range(end) if executions[i].fill.execution_id not in known), end)
        batch = executions[max(0, pending - read.back) : end]
        received.update(dict.fromkeys(e.fill.execution_id for e in batch))
        manager.book_activities([activity(e) for e in batch])
    return list(received), booked


# -- the independent computation ------------------------------------------------------------------


@dataclass
class Expected:
    by_symbol: dict[str, Fraction] = field(default_factory=dict)
    by_strategy: dict[str, Fraction] = field(default_factory=dict)
    by_day: dict[str, Fraction] = field(default_factory=dict)

    @property
    def total(self) -> Fraction:
        return sum(self.by_symbol.values(), Fraction(0))


def expected_pl(executions: Iterable[Execution]) -> Expected:
    """Weighted-average-cost realized P/L of ``executions`` in this order, in exact fractions,
    grouped as the journal groups it (every group with a fill appears, even at zero)."""
    qty: defaultdict[str, Fraction] = defaultdict(Fraction)
    avg: dict[str, Fraction] = {}
    result = Expected()
    for execution in executions:
        fill = execution.fill
        q, p = Fraction(fill.qty), Fraction(fill.price)
        delta = q if fill.side is OrderSide.BUY else -q
        held = qty[fill.symbol]
        realized = Fraction(0)
        if held == 0 or (held > 0) == (delta > 0):
            avg[fill.symbol] = (abs(held) * avg.get(fill.symbol, Fraction(0)) + q * p) / abs(
                held + delta
            )
        else:
            closed = min(q, abs(held))
            entry = avg[fill.symbol]
            realized = (p - entry if held > 0 else entry - p) * closed
            if abs(delta) > abs(held):  # crossed zero: the rest opens at this price
                avg[fill.symbol] = p
        qty[fill.symbol] = held + delta
        strategy = execution.spec.strategy or UNATTRIBUTED
        day = fill.timestamp.astimezone(NEW_YORK).date().isoformat()
        for groups, key in (
            (result.by_symbol, fill.symbol),
            (result.by_strategy, strategy),
            (result.by_day, day),
        ):
            groups[key] = groups.get(key, Fraction(0)) + realized
    return result


def assert_close(actual: dict[str, Decimal], expected: dict[str, Fraction], what: str) -> None:
    assert set(actual) == set(expected), f"{what} groups: {sorted(actual)} != {sorted(expected)}"
    for key, value in expected.items():
        error = abs(Fraction(actual[key]) - value)
        assert error <= TOLERANCE, f"{what} {key}: {actual[key]} != {float(value)}"


# -- the properties -------------------------------------------------------------------------------


@given(scenarios())
def test_realized_pl_matches_weighted_average_cost(scenario: Scenario) -> None:
    with Journal(":memory:") as journal:
        manager = new_manager(scenario, journal)
        received, booked = asyncio.run(deliver(manager, scenario))
        if not any(read.lag for read in scenario.reads.values()):
            # Everything the activities showed was complete: nothing to hold back, so each
            # execution is booked as it first arrives. (With a lag, one whose order's later
            # executions came first on the stream may wait for the next read.)
            assert booked == received
        by_id = {e.fill.execution_id: e for e in scenario.executions}
        expected = expected_pl(by_id[i] for i in booked)
        assert_close(journal.realized_pl(by="symbol"), expected.by_symbol, "symbol")
        assert_close(journal.realized_pl(by="strategy"), expected.by_strategy, "strategy")
        assert_close(journal.realized_pl(by="day"), expected.by_day, "day")
        for total in (manager.realized_pl_total(), journal.total_realized_pl()):
            assert abs(Fraction(total) - expected.total) <= TOLERANCE
        book = {s: p.realized_pl for s, p in manager.book.positions.items()}
        assert_close(book, expected.by_symbol, "book symbol")


@given(scenarios())
def test_each_execution_is_counted_once(scenario: Scenario) -> None:
    with Journal(":memory:") as journal:
        manager = new_manager(scenario, journal)
        asyncio.run(deliver(manager, scenario))
        journaled = [f.fill.execution_id for f in journal.fills()]
        every = {e.fill.execution_id for e in scenario.executions}
        assert sorted(journaled) == sorted(every), "an execution missing or counted twice"
        assert manager.book.execution_ids == every
        net: defaultdict[str, Decimal] = defaultdict(Decimal)
        for e in scenario.executions:
            net[e.fill.symbol] += e.fill.signed_qty
        for symbol, qty in net.items():
            assert manager.book.position_qty(symbol) == qty, symbol
        # Every order the engine placed ends with exactly its executions, whichever path brought
        # them. (One placed elsewhere is adopted from the first stream event that mentions it;
        # executions booked from the activities before that are not in the adopted order's
        # count, which the next snapshot of it, at reconciliation, corrects.)
        for index, spec in enumerate(scenario.specs):
            order = manager.find(f"coid-{index}", f"broker-{index}")
            if spec.strategy is None:
                assert order is None or order.filled_qty <= spec.qty
                continue
            assert order is not None, f"order {index} forgotten"
            assert order.filled_qty == spec.qty, f"order {index}: {order.filled_qty}/{spec.qty}"
            assert order.status is OrderStatus.FILLED
            strategy = {f.strategy for f in journal.fills(client_order_id=order.client_order_id)}
            assert strategy <= {spec.strategy}, f"order {index} fills attributed to {strategy}"


def _known_specs() -> list[OrderSpec]:
    def one(side: OrderSide, qty: str, price: str, strategy: str | None) -> OrderSpec:
        return OrderSpec("AAPL", side, strategy, ((Decimal(qty), Decimal(price)),))

    return [
        one(OrderSide.BUY, "10", "100", "alpha"),  # long 10 @ 100 (23:01 NY, 4 March)
        one(OrderSide.BUY, "10", "110", "beta"),  # long 20 @ 105
        one(OrderSide.SELL, "5", "120", "alpha"),  # +75, long 15 @ 105
        one(OrderSide.SELL, "20", "100", None),  # -75 on 15, short 5 @ 100 (01:03 NY, 5 March)
        one(OrderSide.BUY, "5", "90.5", "beta"),  # +47.5, flat
    ]


def run_known(missed: frozenset[int]) -> tuple[Journal, OrderManager, list[str]]:
    scenario = build_scenario(_known_specs(), [0, 1, 2, 3, 4], [1, 1, 1, 120, 1], missed=missed)
    journal = Journal(":memory:")
    manager = new_manager(scenario, journal)
    received, booked = asyncio.run(deliver(manager, scenario))
    assert booked == received
    return journal, manager, booked


def test_a_known_sequence() -> None:
    """A hand-checked case: long, add, partial exit, cross to short, cover, over two New York
    dates, by three strategies (the crossing sell placed elsewhere)."""
    journal, manager, booked = run_known(frozenset())
    with journal:
        assert booked == ["exec-0", "exec-1", "exec-2", "exec-3", "exec-4"]
        assert journal.realized_pl(by="symbol") == {"AAPL": Decimal("47.5")}
        assert journal.realized_pl(by="strategy") == {
            "alpha": Decimal(75),
            "beta": Decimal("47.5"),
            UNATTRIBUTED: Decimal(-75),
        }
        assert journal.realized_pl(by="day") == {
            date(2024, 3, 4).isoformat(): Decimal(75),
            date(2024, 3, 5).isoformat(): Decimal("-27.5"),
        }
        assert manager.book.position_qty("AAPL") == 0


def test_a_late_execution_is_averaged_where_it_arrives() -> None:
    """The same executions with the crossing sell missed by the stream and booked from the
    activities after the cover: the book averages fills in the order it learns them, so the
    cover adds to the long (at 101.375) and the sell then realizes -27.5 on all 20. The total
    of a round trip to flat is the same either way; how it splits between strategies is not."""
    journal, manager, booked = run_known(frozenset({3}))
    with journal:
        assert booked == ["exec-0", "exec-1", "exec-2", "exec-4", "exec-3"]
        assert journal.realized_pl(by="symbol") == {"AAPL": Decimal("47.5")}
        assert journal.realized_pl(by="strategy") == {
            "alpha": Decimal(75),
            "beta": Decimal(0),
            UNATTRIBUTED: Decimal("-27.5"),
        }
        assert manager.book.position_qty("AAPL") == 0
