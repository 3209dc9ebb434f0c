"""Property: replayed executions are stored once and P/L sums are exact."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from pulsetrader.persistence import UNATTRIBUTED, Journal
from tests.unit.persistence.factories import T0, make_fill

amounts = st.decimals(
    min_value=Decimal("-100000"), max_value=Decimal("100000"), places=6, allow_nan=False
)
events = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=15),  # execution id: small range, many repeats
        st.sampled_from(["AAPL", "MSFT", "BTC/USD"]),
        st.sampled_from(["s1", "s2", None]),
        st.one_of(st.none(), amounts),
        st.integers(min_value=0, max_value=3 * 24 * 3600),  # seconds: spans New York dates
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(events)
def test_each_execution_is_stored_once_and_sums_are_exact(
    sequence: list[tuple[int, str, str | None, Decimal | None, int]],
) -> None:
    expected: dict[str, tuple[str, str | None, Decimal | None]] = {}
    with Journal(":memory:") as journal:
        for n, symbol, strategy, realized, seconds in sequence:
            execution_id = f"x{n}"
            fill = make_fill(
                execution_id, symbol=symbol, coid="none", at=T0 + timedelta(seconds=seconds)
            )
            stored = journal.record_fill(fill, realized_pl=realized, strategy=strategy)
            assert stored is (execution_id not in expected)
            expected.setdefault(execution_id, (symbol, strategy, realized))

        records = journal.fills()
        assert sorted(r.fill.execution_id for r in records) == sorted(expected)
        by_symbol: dict[str, Decimal] = defaultdict(Decimal)
        by_strategy: dict[str, Decimal] = defaultdict(Decimal)
        for symbol, strategy, realized in expected.values():
            if realized is not None:
                by_symbol[symbol] += realized
                by_strategy[strategy or UNATTRIBUTED] += realized
        assert journal.realized_pl(by="symbol") == dict(by_symbol)
        assert journal.realized_pl(by="strategy") == dict(by_strategy)
        assert journal.total_realized_pl() == sum(by_symbol.values(), Decimal(0))
        assert sum(journal.realized_pl(by="day").values(), Decimal(0)) == sum(
            by_symbol.values(), Decimal(0)
        )
