"""Invariants of the simulator's matching core under random quotes, trades and orders."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pulsetrader.sim.events import TradeUpdate
from pulsetrader.sim.exchange import Exchange, SimError
from tests.unit.sim.simkit import IN_SESSION, make_exchange, quote, trade

SYMBOLS = ("AAPL", "BTC/USD")
START_PRICE = {"AAPL": Decimal(100), "BTC/USD": Decimal(40000)}


@dataclass
class Run:
    """An exchange plus what the test saw: prices (to value positions itself) and every event."""

    ex: Exchange
    now: datetime = IN_SESSION
    mids: dict[str, Decimal] = field(default_factory=dict)
    last_trade: dict[str, Decimal] = field(default_factory=dict)
    price: dict[str, Decimal] = field(default_factory=lambda: dict(START_PRICE))
    events: list[TradeUpdate] = field(default_factory=list)

    def collect(self) -> None:
        self.events.extend(self.ex.drain_events())


price_steps = st.integers(min_value=-300, max_value=300)  # basis points per quote
spreads = st.integers(min_value=1, max_value=40)  # basis points
stock_qty = st.integers(min_value=1, max_value=60)
crypto_qty = st.sampled_from(["0.001", "0.01", "0.05", "0.2", "1"])

orders = st.fixed_dictionaries(
    {
        "symbol": st.sampled_from(SYMBOLS),
        "side": st.sampled_from(["buy", "sell"]),
        "type": st.sampled_from(["market", "limit", "stop", "stop_limit", "trailing_stop"]),
        "tif": st.sampled_from(["day", "gtc", "ioc", "fok"]),
        "stock_qty": stock_qty,
        "crypto_qty": crypto_qty,
        "offset": st.integers(min_value=-500, max_value=500),  # limit offset, basis points
    }
)
actions = st.one_of(
    st.tuples(st.just("quote"), st.sampled_from(SYMBOLS), price_steps, spreads),
    st.tuples(st.just("order"), orders),
    st.tuples(st.just("quote"), st.sampled_from(SYMBOLS), price_steps, spreads),
    st.tuples(st.just("order"), orders),
    st.tuples(st.just("trade"), st.sampled_from(SYMBOLS), price_steps, st.just(0)),
    st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=20)),
    st.tuples(st.just("wait"), st.integers(min_value=1, max_value=900)),
)


def tick(symbol: str, price: Decimal) -> Decimal:
    return price.quantize(Decimal("0.01") if symbol == "AAPL" else Decimal(1))


def order_body(spec: dict[str, Any], run: Run) -> dict[str, Any]:
    symbol = spec["symbol"]
    crypto = symbol == "BTC/USD"
    kind = spec["type"]
    if crypto and kind in ("stop", "trailing_stop"):
        kind = "limit"
    tif = spec["tif"]
    if crypto:
        tif = "ioc" if tif in ("ioc", "fok") else "gtc"
    base = run.price[symbol]
    level = tick(symbol, base * (1 + Decimal(spec["offset"]) / 10000))
    body: dict[str, Any] = {
        "symbol": symbol,
        "side": spec["side"],
        "type": kind,
        "time_in_force": tif,
        "qty": spec["crypto_qty"] if crypto else spec["stock_qty"],
    }
    if kind in ("limit", "stop_limit"):
        body["limit_price"] = str(level)
    if kind in ("stop", "stop_limit"):
        body["stop_price"] = str(
            tick(symbol, base * Decimal("0.99"))
            if spec["side"] == "sell"
            else tick(symbol, base * Decimal("1.01"))
        )
    if kind == "trailing_stop":
        body["trail_percent"] = "1.5"
    return body


def apply(run: Run, action: tuple[Any, ...]) -> None:
    ex = run.ex
    run.now += timedelta(seconds=30)
    kind = action[0]
    if kind == "quote":
        _, symbol, step, spread = action
        run.price[symbol] = max(
            tick(symbol, run.price[symbol] * (1 + Decimal(step) / 10000)), Decimal(1)
        )
        half = tick(symbol, run.price[symbol] * Decimal(spread) / 20000) or Decimal("0.01")
        bid, ask = run.price[symbol] - half, run.price[symbol] + half
        ex.update_quote(quote(symbol, bid, ask, run.now), run.now)
        run.mids[symbol] = (bid + ask) / 2
    elif kind == "trade":
        _, symbol, step, _ = action
        price = max(tick(symbol, run.price[symbol] * (1 + Decimal(step) / 10000)), Decimal(1))
        ex.update_trade(trade(symbol, str(price), run.now), run.now)
        run.last_trade[symbol] = price
    elif kind == "order":
        try:
            ex.submit_order(order_body(action[1], run), run.now)
        except SimError:
            pass
    elif kind == "cancel":
        open_orders = ex.list_orders(status="open", limit=500)
        if open_orders:
            ex.cancel_order(open_orders[action[1] % len(open_orders)].id, run.now)
    else:
        run.now += timedelta(minutes=action[1])
        ex.advance(run.now)
    run.collect()


def start(partial_fill_rate: float, seed: int) -> Run:
    run = Run(make_exchange(partial_fill_rate=partial_fill_rate, seed=seed))
    for symbol in SYMBOLS:
        apply(run, ("quote", symbol, 0, 10))
    return run


def mark(run: Run, symbol: str) -> Decimal:
    return run.last_trade.get(symbol, run.mids[symbol])


settings_args = {
    "partial_fill_rate": st.sampled_from([0.0, 0.1, 0.5, 1.0]),
    "seed": st.integers(min_value=0, max_value=2**16),
    "steps": st.lists(actions, min_size=10, max_size=60),
}


@given(**settings_args)
def test_invariants_hold_after_any_sequence(
    partial_fill_rate: float, seed: int, steps: list[tuple[Any, ...]]
) -> None:
    run = start(partial_fill_rate, seed)
    for action in steps:
        apply(run, action)
        account = run.ex.account
        # Equity is cash plus every position valued at the mark we computed ourselves.
        valued = sum(
            (p.qty * mark(run, symbol) for symbol, p in account.positions.items()), Decimal(0)
        )
        assert account.equity == account.cash + valued
        for placed in run.ex.list_orders(status="all", limit=500):
            assert placed.filled_qty >= 0
            if placed.qty is not None:
                assert placed.filled_qty <= placed.qty
    fills = [u for u in run.events if u.is_fill]
    for update in fills:
        limit = update.order["limit_price"]
        assert update.price is not None
        if limit is not None and update.order["type"] in ("limit", "stop_limit"):
            if update.order["side"] == "buy":
                assert update.price <= Decimal(limit)
            else:
                assert update.price >= Decimal(limit)
    execution_ids = [u.execution_id for u in fills]
    assert len(execution_ids) == len(set(execution_ids))
    # Positions are exactly the signed sum of the fills.
    net: dict[str, Decimal] = {}
    for update in fills:
        sign = 1 if update.order["side"] == "buy" else -1
        net[update.order["symbol"]] = net.get(update.order["symbol"], Decimal(0)) + sign * (
            update.qty or 0
        )
    held = {s: p.qty for s, p in run.ex.account.positions.items()}
    assert held == {s: q for s, q in net.items() if q != 0}


def snapshot(ex: Exchange, now: datetime) -> dict[str, Any]:
    return copy.deepcopy(
        {
            "account": ex.account_dict(now),
            "positions": [p.to_alpaca() for p in ex.positions()],
            "orders": [o.to_alpaca() for o in ex.list_orders(status="all", limit=500)],
            "activities": ex.activities(page_size=100),
        }
    )


@given(**settings_args)
def test_an_order_refused_for_buying_power_changes_nothing(
    partial_fill_rate: float, seed: int, steps: list[tuple[Any, ...]]
) -> None:
    run = start(partial_fill_rate, seed)
    for action in steps:
        apply(run, action)
    ex = run.ex
    position = ex.account.positions.get("AAPL")
    side = "sell" if position is not None and position.qty < 0 else "buy"
    before = snapshot(ex, run.now)
    with pytest.raises(SimError) as exc:
        ex.submit_order(
            {
                "symbol": "AAPL",
                "qty": 10_000_000,
                "side": side,
                "type": "market",
                "time_in_force": "gtc",
            },
            run.now,
        )
    assert (exc.value.status, exc.value.message) == (403, "insufficient buying power")
    assert ex.drain_events() == []
    assert snapshot(ex, run.now) == before
