"""The runaway guard and the entry-only rules: daily loss, drawdown, pricing, order and position
size, position counts and buying power; exits skip the latter."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from pulsetrader.domain import (
    AssetClass,
    Order,
    OrderIntent,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from pulsetrader.domain.snapshots import PositionSnapshot
from pulsetrader.risk import (
    Approved,
    Denied,
    MemoryStateStore,
    RiskDecision,
    RiskLimits,
    RiskManager,
    count_positions_by_type,
    trading_day,
)
from tests.unit.risk.builders import (
    T0,
    FakeClock,
    FakeMonotonic,
    account,
    position,
    risk_manager,
    working_order,
)

PRICE = Decimal(100)
BTC = "BTC/USD"
# Generous limits, so a test trips only the one it lowers.
ROOMY = RiskLimits(
    max_position_pct=Decimal(100),
    max_position_notional=Decimal(10**9),
    max_order_notional=Decimal(10**9),
    max_open_positions=100,
    max_open_stock_positions=100,
    max_open_crypto_positions=100,
    daily_loss_limit=Decimal(10**9),
    max_drawdown_pct=Decimal(100),
    max_orders_per_minute=1000,
)


def limits(**overrides: Any) -> RiskLimits:
    return dataclasses.replace(ROOMY, **overrides)


def buy(qty: Any = 10, symbol: str = "AAPL", **kw: Any) -> OrderIntent:
    if symbol == BTC:
        kw.setdefault("time_in_force", TimeInForce.GTC)
    amount = (
        {"notional": Decimal(kw.pop("notional"))} if "notional" in kw else {"qty": Decimal(qty)}
    )
    return OrderIntent(symbol=symbol, side=OrderSide.BUY, **amount, **kw)


def sell(qty: Any = 10, symbol: str = "AAPL", **kw: Any) -> OrderIntent:
    if symbol == BTC:
        kw.setdefault("time_in_force", TimeInForce.GTC)
    return OrderIntent(symbol=symbol, side=OrderSide.SELL, qty=Decimal(qty), **kw)


def check(
    rm: RiskManager,
    order: OrderIntent,
    positions: list[PositionSnapshot] | None = None,
    *,
    price: Decimal | None = PRICE,
    open_orders: Any = (),
    **account_fields: Any,
) -> RiskDecision:
    return rm.validate_trade(
        order, account(**account_fields), positions or [], price=price, open_orders=open_orders
    )


def approved(decision: RiskDecision) -> Approved:
    assert isinstance(decision, Approved), decision
    return decision


def denied(decision: RiskDecision, rule: str) -> Denied:
    assert isinstance(decision, Denied), decision
    assert decision.rule == rule, decision.reason
    assert decision.reason
    return decision


# -- runaway guard ------------------------------------------------------------------------------


def test_orders_per_minute_counts_approvals_in_a_sliding_minute() -> None:
    tick = FakeMonotonic(1000.0)
    rm = risk_manager(limits(max_orders_per_minute=3), monotonic=tick)
    for step in range(3):
        tick.now = 1000.0 + step * 10
        approved(check(rm, buy(1)))
    tick.now = 1030.0
    denied(check(rm, buy(1)), "orders_per_minute")
    tick.now = 1059.9  # the first approval is still inside the window
    denied(check(rm, buy(1)), "orders_per_minute")
    tick.now = 1060.0  # ... and now it is not
    approved(check(rm, buy(1)))
    denied(check(rm, buy(1)), "orders_per_minute")


def test_denials_do_not_use_up_the_rate_and_strategy_exits_count() -> None:
    tick = FakeMonotonic()
    rm = risk_manager(
        limits(max_orders_per_minute=2, max_order_notional=Decimal(500)), monotonic=tick
    )
    for _ in range(5):
        denied(check(rm, buy(10)), "order_notional")  # $1000
    held = [position("AAPL", 10)]
    assert approved(check(rm, sell(1, strategy="s1"), held)).exit
    approved(check(rm, buy(1)))
    denied(check(rm, sell(1, strategy="s1"), held), "orders_per_minute")
    # Closing by hand (no strategy) is never throttled: it is how a runaway is stopped.
    assert approved(check(rm, sell(1), held)).exit


# -- daily loss ---------------------------------------------------------------------------------


def test_daily_loss_from_the_previous_close() -> None:
    rm = risk_manager(limits(daily_loss_limit=Decimal(2000)))
    approved(check(rm, buy(1), equity="98001", last_equity="100000"))
    denied(check(rm, buy(1), equity="98000", last_equity="100000"), "daily_loss")
    assert rm.day == datetime(2024, 3, 4).date()
    assert rm.day_start_equity == Decimal(100000)


def test_daily_loss_baseline_persists_across_a_new_manager() -> None:
    store = MemoryStateStore()
    clock = FakeClock()
    first = risk_manager(limits(daily_loss_limit=Decimal(2000)), store=store, clock=clock)
    approved(check(first, buy(1), equity="100000", last_equity="100000"))
    # The restarted engine sees an account whose last_equity moved (a deposit, a broker quirk):
    # the day's baseline is the one recorded when the day began.
    second = risk_manager(limits(daily_loss_limit=Decimal(2000)), store=store, clock=clock)
    assert second.day_start_equity == Decimal(100000)
    denied(check(second, buy(1), equity="97500", last_equity="97000"), "daily_loss")


def test_a_new_new_york_day_resets_the_daily_loss() -> None:
    store = MemoryStateStore()
    clock = FakeClock()
    rm = risk_manager(limits(daily_loss_limit=Decimal(2000)), store=store, clock=clock)
    denied(check(rm, buy(1), equity="97000", last_equity="100000"), "daily_loss")
    # 23:30 in New York is already the next day in UTC, but the same session.
    clock.now = datetime(2024, 3, 5, 4, 30, tzinfo=UTC)
    denied(check(rm, buy(1), equity="97000", last_equity="97000"), "daily_loss")
    clock.now = datetime(2024, 3, 5, 14, 30, tzinfo=UTC)  # 09:30 in New York, March 5
    approved(check(rm, buy(1), equity="97000", last_equity="97000"))
    assert rm.day_start_equity == Decimal(97000)
    # A new manager on the same store keeps the new day's baseline.
    again = risk_manager(limits(daily_loss_limit=Decimal(2000)), store=store, clock=clock)
    assert again.day == datetime(2024, 3, 5).date()
    assert again.day_start_equity == Decimal(97000)


def test_without_last_equity_the_first_equity_seen_is_the_baseline() -> None:
    rm = risk_manager(limits(daily_loss_limit=Decimal(100)))
    approved(check(rm, buy(1), equity="5000", last_equity="0"))
    assert rm.day_start_equity == Decimal(5000)
    denied(check(rm, buy(1), equity="4900", last_equity="0"), "daily_loss")


def test_trading_day_is_the_new_york_date() -> None:
    assert trading_day(datetime(2024, 3, 5, 3, 0, tzinfo=UTC)) == datetime(2024, 3, 4).date()
    assert trading_day(datetime(2024, 3, 5, 5, 0, tzinfo=UTC)) == datetime(2024, 3, 5).date()
    # Daylight saving time: New York is UTC-4 in July.
    assert trading_day(datetime(2024, 7, 2, 3, 59, tzinfo=UTC)) == datetime(2024, 7, 1).date()
    assert trading_day(datetime(2024, 7, 2, 4, 0, tzinfo=UTC)) == datetime(2024, 7, 2).date()


# -- drawdown -----------------------------------------------------------------------------------


def test_drawdown_from_the_high_water_mark() -> None:
    rm = risk_manager(limits(max_drawdown_pct=Decimal(10)))
    approved(check(rm, buy(1), equity="120000", last_equity="120000"))
    assert rm.high_water_mark == Decimal(120000)
    approved(check(rm, buy(1), equity="108001", last_equity="120000"))
    assert rm.high_water_mark == Decimal(120000)  # only ever rises
    denied(check(rm, buy(1), equity="108000", last_equity="120000"), "drawdown")
    assert rm.drawdown_pct(account(equity="108000")) == Decimal(10)


def test_high_water_mark_persists_across_a_new_manager() -> None:
    store = MemoryStateStore()
    risk_manager(store=store).observe_account(account(equity="150000"))
    rm = risk_manager(limits(max_drawdown_pct=Decimal(10)), store=store)
    assert rm.high_water_mark == Decimal(150000)
    denied(check(rm, buy(1), equity="130000", last_equity="130000"), "drawdown")


# -- pricing and size ---------------------------------------------------------------------------


def test_no_price_denies_an_entry_that_cannot_be_valued() -> None:
    rm = risk_manager()
    denied(check(rm, buy(1), price=None), "no_price")
    denied(check(rm, buy(notional=100), price=None), "no_price")
    denied(check(rm, buy(1), price=Decimal(0)), "no_price")
    # A limit order is valued at its limit; a held position at its last price.
    approved(check(rm, buy(1, type=OrderType.LIMIT, limit_price=Decimal(99)), price=None))
    approved(check(rm, buy(1), [position("AAPL", 5, 100)], price=None))


def test_order_notional() -> None:
    rm = risk_manager(limits(max_order_notional=Decimal(10000)))
    approved(check(rm, buy(100)))  # exactly the limit
    denied(check(rm, buy(101)), "order_notional")
    denied(check(rm, buy(notional="10000.01")), "order_notional")
    approved(check(rm, buy(notional=10000)))


def test_orders_are_valued_at_the_worst_plausible_fill_price() -> None:
    rm = risk_manager(limits(max_order_notional=Decimal(10000)))
    # A buy limit above the market may fill at its limit.
    denied(check(rm, buy(100, type=OrderType.LIMIT, limit_price=Decimal(101))), "order_notional")
    # A sell limit above the market (a short entry) rests and fills at its limit.
    short = sell(100, type=OrderType.LIMIT, limit_price=Decimal(101))
    denied(check(rm, short), "order_notional")
    # A buy stop above the market fills at or above its stop.
    denied(check(rm, buy(100, type=OrderType.STOP, stop_price=Decimal(102))), "order_notional")
    # Below the market, the market price is the worse one.
    approved(check(rm, buy(100, type=OrderType.LIMIT, limit_price=Decimal(95))))


def test_position_notional_includes_the_held_position() -> None:
    rm = risk_manager(limits(max_position_notional=Decimal(15000)))
    held = [position("AAPL", 100, 100)]
    approved(check(rm, buy(50), held))
    denied(check(rm, buy(51), held), "position_notional")
    # A short grows the same way.
    denied(check(rm, sell(51), [position("AAPL", -100, 100)]), "position_notional")
    # Buying against a short shrinks it first: -100 + 250 = 150 shares long.
    approved(check(rm, buy(250), [position("AAPL", -100, 100)]))
    denied(check(rm, buy(251), [position("AAPL", -100, 100)]), "position_notional")


def test_position_notional_includes_working_orders_on_the_same_side() -> None:
    rm = risk_manager(limits(max_position_notional=Decimal(15000)))
    held = [position("AAPL", 100, 100)]
    pending = [working_order("AAPL", OrderSide.BUY, 40)]
    approved(check(rm, buy(10), held, open_orders=pending))
    denied(check(rm, buy(11), held, open_orders=pending), "position_notional")
    # Orders the other way may never fill: they free nothing.
    against = [working_order("AAPL", OrderSide.SELL, 50)]
    denied(check(rm, buy(51), held, open_orders=against), "position_notional")
    # Other symbols do not count.
    elsewhere = [working_order("MSFT", OrderSide.BUY, 1000)]
    approved(check(rm, buy(50), held, open_orders=elsewhere))


def test_working_notional_orders_count_as_exposure() -> None:
    rm = risk_manager(limits(max_position_notional=Decimal(15000)))
    held = [position("AAPL", 100, 100)]
    pending = [working_order("AAPL", OrderSide.BUY, notional=4000)]
    approved(check(rm, buy(10), held, open_orders=pending))
    denied(check(rm, buy(11), held, open_orders=pending), "position_notional")
    # Partly filled: only the unspent part is still to come.
    partial = [
        working_order(
            "AAPL",
            OrderSide.BUY,
            notional=4000,
            filled_qty=20,
            filled_avg_price=Decimal(100),
            status=OrderStatus.PARTIALLY_FILLED,
        )
    ]
    approved(check(rm, buy(30), held, open_orders=partial))
    denied(check(rm, buy(31), held, open_orders=partial), "position_notional")


def test_working_reduce_only_orders_on_the_same_side_count_too() -> None:
    """Short 100; a reduce-only buy of 100 working; buying 150 more ends 150 long, not 50."""
    rm = risk_manager(limits(max_position_notional=Decimal(10000)))
    held = [position("AAPL", -100, 100)]
    closing = [working_order("AAPL", OrderSide.BUY, 100, reduce_only=True)]
    denied(check(rm, buy(150), held, open_orders=closing), "position_notional")
    approved(check(rm, buy(100), held, open_orders=closing))


def test_open_orders_may_be_any_iterable() -> None:
    rm = risk_manager(limits(max_position_notional=Decimal(15000), max_open_positions=1))

    def orders() -> Iterator[Order]:
        yield working_order("MSFT", OrderSide.BUY, 10)

    # Used both for exposure and for position counts: a generator must not run dry.
    denied(check(rm, buy(1, "NVDA"), open_orders=orders()), "max_positions")


def test_position_pct_of_equity() -> None:
    rm = risk_manager(limits(max_position_pct=Decimal(20)))
    approved(check(rm, buy(100), equity="50000", last_equity="50000"))  # $10k = 20%
    denied(check(rm, buy(101), equity="50000", last_equity="50000"), "position_pct")
    held = [position("AAPL", 60, 100)]
    pending = [working_order("AAPL", OrderSide.BUY, 30)]
    denied(
        check(rm, buy(11), held, open_orders=pending, equity="50000", last_equity="50000"),
        "position_pct",
    )


def test_no_equity_means_no_room_for_a_position() -> None:
    rm = risk_manager()
    denied(check(rm, buy(1), equity="0", last_equity="0"), "position_pct")
    denied(check(rm, buy(1), equity="-500", last_equity="-500"), "position_pct")


# -- position counts ----------------------------------------------------------------------------


def test_max_positions_counts_open_positions() -> None:
    rm = risk_manager(limits(max_open_positions=2))
    held = [position("AAPL", 10), position("BTC/USD", "0.1", 50000)]
    denied(check(rm, buy(1, "TSLA"), held), "max_positions")
    approved(check(rm, buy(1, "AAPL"), held))  # adding to a held position
    approved(check(rm, buy(1, "TSLA"), held[:1]))


def test_max_positions_counts_working_orders_in_new_symbols() -> None:
    rm = risk_manager(limits(max_open_positions=2))
    held = [position("AAPL", 10)]
    pending = [working_order("NVDA", OrderSide.BUY, 5)]
    denied(check(rm, buy(1, "TSLA"), held, open_orders=pending), "max_positions")
    # A second order for a symbol that already has one working takes no new slot...
    approved(check(rm, buy(1, "NVDA"), held, open_orders=pending))
    # ... nor do finished orders or reduce-only ones.
    done = [working_order("NVDA", OrderSide.BUY, 5, status=OrderStatus.FILLED, filled_qty=5)]
    approved(check(rm, buy(1, "TSLA"), held, open_orders=done))
    stale = [working_order("NVDA", OrderSide.SELL, 5, reduce_only=True)]
    approved(check(rm, buy(1, "TSLA"), held, open_orders=stale))


def test_max_stock_positions() -> None:
    rm = risk_manager(limits(max_open_stock_positions=2))
    held = [position("AAPL", 10), position("MSFT", 10), position("BTC/USD", "0.1", 50000)]
    denied(check(rm, buy(1, "TSLA"), held), "max_stock_positions")
    approved(check(rm, buy("0.001", BTC), held, price=Decimal(50000)))
    pending = [working_order("MSFT", OrderSide.BUY, 1)]
    denied(check(rm, buy(1, "TSLA"), held[:1], open_orders=pending), "max_stock_positions")


def test_max_crypto_positions() -> None:
    rm = risk_manager(limits(max_open_crypto_positions=1))
    held = [position("ETH/USD", 1, 3000)]
    denied(check(rm, buy("0.001", BTC), held, price=Decimal(50000)), "max_crypto_positions")
    approved(check(rm, buy(1, "AAPL"), held))
    pending = [working_order("ETH/USD", OrderSide.BUY, 1)]
    denied(
        check(rm, buy("0.001", BTC), open_orders=pending, price=Decimal(50000)),
        "max_crypto_positions",
    )


def test_count_positions_by_type() -> None:
    counts = count_positions_by_type(
        [position("AAPL", 1), position("MSFT", -1), position("BTCUSD", "0.1", 50000)]
    )
    assert counts == {AssetClass.US_EQUITY: 2, AssetClass.CRYPTO: 1}
    assert count_positions_by_type([]) == {AssetClass.US_EQUITY: 0, AssetClass.CRYPTO: 0}


# -- buying power -------------------------------------------------------------------------------


def test_stock_buying_power() -> None:
    rm = risk_manager()
    approved(check(rm, buy(60), buying_power="6000"))
    denied(check(rm, buy(61), buying_power="6000"), "buying_power")
    # Margin: a stock order may exceed cash.
    approved(check(rm, buy(60), cash="1000", buying_power="6000"))


def test_crypto_needs_cash_not_margin() -> None:
    rm = risk_manager()
    order = buy(notional=6000, symbol=BTC)
    denied(
        check(rm, order, cash="5000", buying_power="200000", price=Decimal(50000)), "buying_power"
    )
    approved(check(rm, order, cash="7000", buying_power="200000", price=Decimal(50000)))
    # ... and cash beyond buying power does not help either.
    denied(check(rm, order, cash="7000", buying_power="5000", price=Decimal(50000)), "buying_power")


# -- exits skip the entry rules -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("tight", "account_fields"),
    [
        ({"daily_loss_limit": Decimal(1)}, {"equity": "90000", "last_equity": "100000"}),
        ({"max_drawdown_pct": Decimal(1)}, {"equity": "90000", "last_equity": "90000"}),
        ({"max_order_notional": Decimal(1)}, {}),
        ({"max_position_notional": Decimal(1)}, {}),
        ({"max_position_pct": Decimal("0.001")}, {}),
        ({"max_open_positions": 0, "max_open_stock_positions": 0}, {}),
        ({}, {"buying_power": "0", "cash": "0"}),
    ],
    ids=[
        "daily_loss",
        "drawdown",
        "order_notional",
        "position_notional",
        "position_pct",
        "max_positions",
        "buying_power",
    ],
)
def test_exits_skip_the_entry_rules(tight: dict[str, Any], account_fields: dict[str, Any]) -> None:
    rm = risk_manager(limits(**tight))
    rm.observe_account(account(equity="100000"))  # a high-water mark above today's equity
    held = [position("AAPL", 1000, 100)]
    decision = approved(check(rm, sell(1000), held, **account_fields))
    assert decision.exit
    # ... while the same account and limits refuse an entry.
    assert isinstance(check(rm, buy(1), held, **account_fields), Denied)


def test_an_unpriced_exit_needs_no_price() -> None:
    rm = risk_manager()
    held = [position("AAPL", 10, 100, current_price=None)]
    assert approved(check(rm, sell(10), held, price=None)).exit


def test_decision_time_is_the_managers_clock() -> None:
    rm = risk_manager()
    decision = check(rm, buy(1))
    assert decision.at == T0
    assert decision.to_dict()["at"] == "2024-03-04T15:00:00Z"
