"""The strategy context: reads, and orders only through the order manager, as the strategy."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from loguru import logger

from pulsetrader.domain import Order, OrderSide, OrderStatus, OrderType, TimeInForce
from pulsetrader.domain.intents import OrderIntent
from pulsetrader.risk.decisions import Denied
from tests.unit.strategy.fakes import Env, series

D = Decimal


@pytest.fixture
def env() -> Env:
    return Env()


async def test_buy_sends_an_intent_stamped_with_the_strategy_through_the_order_manager(
    env: Env,
) -> None:
    ctx = env.context("sma_aapl")
    result = await ctx.buy("aapl", qty="2")
    (intent,) = env.orders.intents
    assert (intent.symbol, intent.side, intent.qty, intent.notional) == (
        "AAPL",
        OrderSide.BUY,
        D(2),
        None,
    )
    assert (intent.type, intent.time_in_force, intent.strategy) == (
        OrderType.MARKET,
        TimeInForce.DAY,
        "sma_aapl",
    )
    assert isinstance(result, Order)
    assert ctx.submitted == 1


async def test_crypto_orders_default_to_gtc_and_fields_pass_through(env: Env) -> None:
    ctx = env.context("c")
    await ctx.sell("BTC/USD", notional=100)
    await ctx.buy("ETH/USD", qty="0.5", type="limit", limit_price="3000", time_in_force="ioc")
    sell, buy = env.orders.intents
    assert (sell.side, sell.notional, sell.time_in_force) == (
        OrderSide.SELL,
        D(100),
        TimeInForce.GTC,
    )
    assert (buy.type, buy.limit_price, buy.time_in_force) == (
        OrderType.LIMIT,
        D(3000),
        TimeInForce.IOC,
    )


async def test_submit_stamps_the_strategy_name_whatever_the_intent_said(env: Env) -> None:
    ctx = env.context("mine")
    intent = OrderIntent(symbol="SPY", side=OrderSide.BUY, qty=D(1), strategy="someone_else")
    await ctx.submit(intent)
    assert env.orders.intents[0].strategy == "mine"


async def test_an_invalid_order_raises_so_the_runner_pauses_the_strategy(env: Env) -> None:
    with pytest.raises(ValueError, match="exactly one of qty and notional"):
        await env.context().buy("SPY")
    assert env.orders.intents == []


async def test_a_denial_is_returned_and_counted(env: Env) -> None:
    env.orders.deny = "daily loss limit reached"
    ctx = env.context()
    result = await ctx.buy("SPY", qty=1)
    assert isinstance(result, Denied)
    assert result.reason == "daily loss limit reached"
    assert (ctx.submitted, ctx.denied) == (0, 1)


async def test_orders_are_refused_while_warming_up(env: Env) -> None:
    env.accounts.hold("SPY", 3)
    ctx = env.context()
    ctx.warming_up = True
    assert await ctx.buy("SPY", qty=1) is None
    assert await ctx.sell("SPY", qty=1) is None
    assert await ctx.close("SPY") is None
    assert env.orders.intents == []
    assert env.orders.closes == []
    assert ctx.refused == 3
    ctx.warming_up = False
    assert isinstance(await ctx.buy("SPY", qty=1), Order)


async def test_close_goes_through_close_position_as_the_strategy(env: Env) -> None:
    env.accounts.hold("BTC/USD", "0.25", 60_000)
    ctx = env.context("brk")
    result = await ctx.close("BTCUSD")
    assert env.orders.closes == [("BTC/USD", "brk")]
    assert isinstance(result, Order)
    (intent,) = env.orders.intents
    assert (intent.side, intent.qty, intent.reduce_only) == (OrderSide.SELL, D("0.25"), True)
    assert await ctx.close("ETH/USD") is None  # flat: nothing to close


async def test_open_orders_and_cancels_are_limited_to_the_strategys_own_orders(env: Env) -> None:
    env.orders.auto_fill = False
    mine, other = env.context("mine"), env.context("other")
    await mine.buy("SPY", qty=1)
    await other.buy("SPY", qty=1)
    own = mine.open_orders("SPY")
    assert [o.strategy for o in own] == ["mine"]
    theirs = other.open_orders()[0]
    assert await mine.cancel(theirs.client_order_id) is False
    assert await mine.cancel(own[0].client_order_id) is True
    assert env.orders.orders[own[0].client_order_id].status is OrderStatus.CANCELED
    assert mine.open_orders() == []
    await other.buy("QQQ", qty=1)
    assert await other.cancel_all("SPY") == 1
    assert [o.symbol for o in other.open_orders()] == ["QQQ"]


async def test_reads_come_from_the_account_manager_and_the_feed(env: Env) -> None:
    env.accounts.hold("AAPL", 5, 190)
    env.feed.prices["AAPL"] = D("191.5")
    ctx = env.context()
    assert (await ctx.account()).equity == D(100_000)
    assert [p.symbol for p in await ctx.positions()] == ["AAPL"]
    position = await ctx.position("aapl")
    assert position is not None
    assert position.qty == D(5)
    assert await ctx.position("MSFT") is None
    assert await ctx.price("AAPL") == D("191.5")
    assert await ctx.price("MSFT") is None


async def test_bars_are_converted_to_bar_values_in_the_default_timeframe(env: Env) -> None:
    env.feed.history["AAPL"] = series("AAPL", ["1.5", 2, 3])
    ctx = env.context(timeframe="5Min")
    bars = await ctx.bars("AAPL", limit=2)
    assert [b.close for b in bars] == [D(2), D(3)]
    assert env.feed.bar_calls == [("AAPL", "5Min", 2)]
    assert await ctx.bars("MSFT") == []  # the feed has none (or the broker failed)


def test_the_log_is_bound_with_the_strategy_name(env: Env) -> None:
    records: list[Any] = []
    sink = logger.add(lambda m: records.append(m.record), level="INFO")
    try:
        env.context("sma_aapl").log.info("hello")
    finally:
        logger.remove(sink)
    assert records[-1]["extra"]["strategy"] == "sma_aapl"


def test_state_is_the_strategys_own_scratch_space(env: Env) -> None:
    a, b = env.context("a"), env.context("b")
    a.state["entries"] = 1
    assert b.state == {}
