"""Properties of the domain model that must hold for every sequence of events.

(a) Realized P/L of a Position matches two oracles built differently from the implementation.
(b) Terminal orders never change again, whatever is thrown at them.
(c) An order's filled quantity never exceeds its quantity; an overfill changes nothing.
(d) A fill delivered any number of times, in any interleaving, counts once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from pulsetrader.domain import (
    TERMINAL_STATUSES,
    Fill,
    InvalidTransition,
    Order,
    OrderIntent,
    OrderSide,
    OrderStatus,
    OverfillError,
    Position,
)

T0 = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)

# Quantities with up to 4 decimal places (fractional shares, crypto), prices with 2.
quantities = st.integers(1, 5_000_000).map(lambda n: Decimal(n).scaleb(-4))
prices = st.integers(1, 1_000_000).map(lambda n: Decimal(n).scaleb(-2))
sides = st.sampled_from(OrderSide)

# Averaging divides, so the implementation is exact only to 28 significant digits.
TOLERANCE = Decimal("1e-12")


def make_fill(n: int, side: OrderSide, qty: Decimal, price: Decimal, symbol: str = "AAPL") -> Fill:
    return Fill(
        execution_id=f"x{n}",
        order_id="broker-1",
        client_order_id="coid-1",
        symbol=symbol,
        side=side,
        qty=qty,
        price=price,
        timestamp=T0 + timedelta(seconds=n),
    )


def make_order(qty: Decimal | None) -> Order:
    notional = Decimal(1000) if qty is None else None
    intent = OrderIntent(symbol="AAPL", side=OrderSide.BUY, qty=qty, notional=notional)
    return Order.from_intent(intent, "coid-1", T0)


@st.composite
def fill_sequences(draw: st.DrawFn) -> list[Fill]:
    """Random fills that often close a position exactly or cross through zero."""
    fills: list[Fill] = []
    position = Decimal(0)
    for n in range(draw(st.integers(1, 25))):
        side = draw(sides)
        kind = draw(st.sampled_from(["random", "close", "cross"]))
        qty = draw(quantities)
        if position != 0 and kind != "random":
            # Trade against the position: exactly flat, or through zero by ``qty``.
            side = OrderSide.SELL if position > 0 else OrderSide.BUY
            qty = abs(position) + (qty if kind == "cross" else 0)
        fill = make_fill(n, side, qty, draw(prices), draw(st.sampled_from(["BTC/USD", "BTCUSD"])))
        position += fill.signed_qty
        fills.append(fill)
    return fills


def average_cost_oracle(fills: list[Fill]) -> tuple[Fraction, Fraction, Fraction]:
    """Realized P/L, quantity and total open cost, in exact rational arithmetic.

    Holds the open cost (not the average price) and takes a closed quantity's share of it
    proportionally, so it shares neither representation nor rounding with Position.
    """
    qty = Fraction(0)
    cost = Fraction(0)  # signed: what was paid for a long, minus what was received for a short
    realized = Fraction(0)
    for fill in fills:
        delta = Fraction(fill.signed_qty)
        price = Fraction(fill.price)
        if qty == 0 or (qty > 0) == (delta > 0):
            qty += delta
            cost += delta * price
            continue
        closed = Fraction(min(abs(delta), abs(qty)))
        closed_signed = closed if qty > 0 else -closed
        closed_cost = cost * closed / abs(qty)
        realized += closed_signed * price - closed_cost
        cost -= closed_cost
        qty -= closed_signed
        rest = delta + closed_signed
        if rest != 0:
            qty += rest
            cost += rest * price
    return realized, qty, cost


def assert_close(actual: Decimal, expected: Fraction | Decimal) -> None:
    diff = abs(Fraction(actual) - Fraction(expected))
    assert diff <= Fraction(TOLERANCE) * max(Fraction(1), abs(Fraction(expected))), (
        actual,
        expected,
    )


@given(fill_sequences())
def test_realized_pl_matches_an_exact_average_cost_model(fills: list[Fill]) -> None:
    position = Position("BTC/USD")
    returned = sum((position.apply(fill) for fill in fills), Decimal(0))
    realized, qty, cost = average_cost_oracle(fills)
    assert position.qty == qty  # quantities never divide: exact
    assert_close(position.realized_pl, realized)
    assert_close(returned, realized)
    if qty == 0:
        assert position.avg_entry_price is None
    else:
        assert position.avg_entry_price is not None
        assert_close(position.avg_entry_price, cost / qty)


@given(fill_sequences())
def test_realized_pl_obeys_the_cash_flow_identity(fills: list[Fill]) -> None:
    """Cash in minus cash out equals realized P/L minus the money still tied up in the position.

    Marked at any price m, total P/L is ``cash + qty * m`` and unrealized P/L is
    ``qty * (m - avg)``, so ``realized = cash + qty * avg`` whatever the fill history.
    """
    position = Position("BTC/USD")
    cash = Decimal(0)
    for fill in fills:
        position.apply(fill)
        cash -= fill.signed_qty * fill.price
        held = position.qty * (position.avg_entry_price or 0)
        assert_close(position.realized_pl, cash + held)


# Terminal statuses drawn often, so that sequences reach them and then repeat them.
statuses = st.sampled_from(OrderStatus) | st.sampled_from(sorted(TERMINAL_STATUSES))
order_ops = st.one_of(
    st.tuples(st.just("transition"), statuses),
    st.tuples(
        st.just("update"),
        statuses,
        st.none() | st.integers(0, 12).map(Decimal),
        st.none() | prices,
    ),
    st.tuples(st.just("fill"), st.integers(0, 6), st.integers(1, 6).map(Decimal), prices),
)


def run_op(order: Order, op: tuple[object, ...], step: int) -> None:
    """Apply one operation, swallowing the refusals the domain is allowed to raise."""
    at = T0 + timedelta(seconds=step)
    try:
        if op[0] == "transition":
            order.transition(op[1], at)  # type: ignore[arg-type]
        elif op[0] == "update":
            order.apply_update(op[1], op[2], op[3], at)  # type: ignore[arg-type]
        else:
            n, qty, price = op[1], op[2], op[3]
            order.apply_fill(make_fill(n, OrderSide.BUY, qty, price))  # type: ignore[arg-type]
    except (InvalidTransition, OverfillError):
        pass


@given(st.none() | st.integers(1, 12).map(Decimal), st.lists(order_ops, max_size=40))
def test_terminal_order_never_changes_again(
    qty: Decimal | None, ops: list[tuple[object, ...]]
) -> None:
    order = make_order(qty)
    frozen: dict[str, object] | None = None
    for step, op in enumerate(ops, 1):
        run_op(order, op, step)
        if frozen is not None:
            assert order.to_dict() == frozen
        elif order.is_terminal:
            frozen = order.to_dict()


@given(st.integers(1, 12).map(Decimal), st.lists(order_ops, max_size=40))
def test_filled_qty_never_exceeds_qty_and_refusals_change_nothing(
    qty: Decimal, ops: list[tuple[object, ...]]
) -> None:
    order = make_order(qty)
    for step, op in enumerate(ops, 1):
        before = (order.to_dict(), order.applied_execution_ids)
        previous_filled = order.filled_qty
        at = T0 + timedelta(seconds=step)
        try:
            if op[0] == "fill":
                n, fill_qty, price = op[1], op[2], op[3]
                fill = make_fill(n, OrderSide.BUY, fill_qty, price)  # type: ignore[arg-type]
                if order.apply_fill(fill):
                    # An execution only completes an order by reaching its quantity.
                    assert (order.status is OrderStatus.FILLED) == (order.filled_qty == qty)
            elif op[0] == "update":
                order.apply_update(op[1], op[2], op[3], at)  # type: ignore[arg-type]
            else:
                order.transition(op[1], at)  # type: ignore[arg-type]
        except (OverfillError, InvalidTransition):
            assert (order.to_dict(), order.applied_execution_ids) == before
        assert order.filled_qty <= qty
        assert order.filled_qty >= previous_filled


@st.composite
def fills_with_duplicates(draw: st.DrawFn, side: OrderSide | None) -> tuple[list[Fill], list[int]]:
    """Distinct fills and a delivery order in which each appears at least once, some repeated."""
    count = draw(st.integers(1, 8))
    fills = [
        make_fill(n, side or draw(sides), draw(st.integers(1, 5).map(Decimal)), draw(prices))
        for n in range(count)
    ]
    deliveries = list(range(count)) + draw(st.lists(st.integers(0, count - 1), max_size=12))
    return fills, draw(st.permutations(deliveries))


def first_occurrences(deliveries: list[int]) -> list[int]:
    seen: list[int] = []
    for index in deliveries:
        if index not in seen:
            seen.append(index)
    return seen


@given(fills_with_duplicates(None))
def test_duplicate_fills_count_once_in_a_position(case: tuple[list[Fill], list[int]]) -> None:
    fills, deliveries = case
    with_duplicates = Position("AAPL")
    for index in deliveries:
        with_duplicates.apply(fills[index])
    once = Position("AAPL")
    for index in first_occurrences(deliveries):
        once.apply(fills[index])
    assert with_duplicates.to_dict() == once.to_dict()


@given(fills_with_duplicates(OrderSide.BUY), st.integers(0, 4))
def test_duplicate_fills_count_once_in_an_order(
    case: tuple[list[Fill], list[int]], spare: int
) -> None:
    fills, deliveries = case
    qty = sum((fill.qty for fill in fills), Decimal(spare))
    with_duplicates = make_order(qty)
    for index in deliveries:
        with_duplicates.apply_fill(fills[index])
    once = make_order(qty)
    for index in first_occurrences(deliveries):
        once.apply_fill(fills[index])
    assert with_duplicates.to_dict() == once.to_dict()
    assert with_duplicates.filled_qty == sum(fill.qty for fill in fills)
    assert with_duplicates.applied_execution_ids == {fill.execution_id for fill in fills}
