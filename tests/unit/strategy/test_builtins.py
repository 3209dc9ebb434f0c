"""The built-in strategies' signals on scripted bars, through a fake order manager.

Each test scripts closes whose indicator values are worked out in the comments, then checks the
intents the strategy submitted: side, size, symbol, time in force and strategy name.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from pulsetrader.domain import Bar, OrderIntent, OrderSide, TimeInForce
from pulsetrader.strategy import (
    CryptoBreakout,
    RsiMeanReversion,
    SmaCrossover,
    Strategy,
    StrategyContext,
    StrategyRunner,
)
from tests.unit.strategy.fakes import Env, bar, series

D = Decimal


@pytest.fixture
def env() -> Env:
    return Env()


async def drive(
    env: Env,
    strategy: Strategy[Any],
    bars: Sequence[Bar],
    *,
    name: str = "s",
    warmup: Sequence[Bar] = (),
) -> StrategyContext:
    """on_start, the warm-up bars with ctx.warming_up, then live bars at the feed's price."""
    ctx = env.context(name, timeframe=str(strategy.timeframe))
    await strategy.on_start(ctx)
    ctx.warming_up = True
    for b in warmup:
        await strategy.on_bar(ctx, b)
    ctx.warming_up = False
    for b in bars:
        env.feed.prices[b.symbol] = b.close
        await strategy.on_bar(ctx, b)
    return ctx


def sides(intents: Sequence[OrderIntent]) -> list[tuple[OrderSide, Decimal | None, bool]]:
    return [(i.side, i.qty, i.reduce_only) for i in intents]


# -- SMA crossover ----------------------------------------------------------------------------
# fast = 2, slow = 3 over closes 10, 10, 10, 9, 12, 13, 8:
#   bar 3: fast 10,   slow 10      spread 0 (first value: no signal)
#   bar 4: fast 9.5,  slow 9.667   spread < 0: crossed below (flat: nothing to close)
#   bar 5: fast 10.5, slow 10.333  spread > 0: crossed above -> buy
#   bar 6: fast 12.5, slow 11.333  still above
#   bar 7: fast 10.5, slow 11      crossed below -> close
SMA_CLOSES = [10, 10, 10, 9, 12, 13, 8]


def sma(**overrides: Any) -> SmaCrossover:
    return SmaCrossover.configure(**{"symbols": ["AAPL"], "fast": 2, "slow": 3, **overrides})


async def test_sma_buys_the_cross_above_and_closes_the_cross_below(env: Env) -> None:
    await drive(env, sma(qty="3"), series("AAPL", SMA_CLOSES), name="sma_aapl")
    buy, close = env.orders.intents
    assert (buy.symbol, buy.side, buy.qty, buy.notional) == ("AAPL", OrderSide.BUY, D(3), None)
    assert (buy.time_in_force, buy.strategy) == (TimeInForce.DAY, "sma_aapl")
    assert (close.side, close.qty, close.reduce_only, close.strategy) == (
        OrderSide.SELL,
        D(3),
        True,
        "sma_aapl",
    )
    assert env.orders.closes == [("AAPL", "sma_aapl")]


async def test_sma_sizes_by_notional_when_configured(env: Env) -> None:
    await drive(env, sma(notional="1000"), series("AAPL", SMA_CLOSES[:5]))
    (buy,) = env.orders.intents
    assert (buy.qty, buy.notional) == (None, D(1000))


async def test_sma_does_not_trade_on_warm_up_bars(env: Env) -> None:
    strategy = sma()
    await drive(env, strategy, [], warmup=series("AAPL", SMA_CLOSES))
    assert env.orders.intents == []
    assert strategy.warmup_bars == 4


async def test_sma_signals_on_the_first_live_bar_after_warm_up(env: Env) -> None:
    bars = series("AAPL", SMA_CLOSES)
    await drive(env, sma(), bars[4:5], warmup=bars[:4])
    assert sides(env.orders.intents) == [(OrderSide.BUY, D(1), False)]


async def test_sma_holds_one_position_per_symbol(env: Env) -> None:
    env.accounts.hold("AAPL", 5)  # already long: the cross above adds nothing
    bars = series("AAPL", SMA_CLOSES)
    await drive(env, sma(), bars[4:6], warmup=bars[:4])
    assert env.orders.intents == []


async def test_sma_waits_for_its_open_entry_instead_of_buying_again(env: Env) -> None:
    env.orders.auto_fill = False
    # above at bar 5, below at bar 7, above again at bar 8 (fast 10.5, slow 10.333)
    await drive(env, sma(), series("AAPL", [*SMA_CLOSES, 13]))
    assert sides(env.orders.intents) == [(OrderSide.BUY, D(1), False)]


async def test_sma_params_need_fast_below_slow() -> None:
    with pytest.raises(ValidationError, match=r"fast \(5\) must be below slow \(5\)"):
        sma(fast=5, slow=5)


async def test_sma_through_the_runner_warms_up_from_history_then_trades_live(env: Env) -> None:
    bars = series("AAPL", SMA_CLOSES)
    env.feed.history["AAPL"] = bars[:4]
    runner = StrategyRunner(**env.runner_deps())
    runner.add("sma_aapl", sma())
    await runner.start()
    assert env.orders.intents == []
    env.feed.prices["AAPL"] = D(12)
    env.stream.push(bars[4])
    await runner.drain()
    (buy,) = env.orders.intents
    assert (buy.symbol, buy.side, buy.strategy) == ("AAPL", OrderSide.BUY, "sma_aapl")
    await runner.stop()


# -- RSI mean reversion -------------------------------------------------------------------------
# period = 2 over closes 10, 9, 8, 8.5, 9.5:
#   bar 3: changes -1, -1: avg gain 0, avg loss 1, RSI 0 < 30 -> buy
#   bar 4: +0.5: gain (0 + 0.5) / 2 = 0.25, loss (1 + 0) / 2 = 0.5, RSI 33.3: hold
#   bar 5: +1: gain 0.625, loss 0.25, RS 2.5, RSI 71.4 > 60 -> close


def rsi(**overrides: Any) -> RsiMeanReversion:
    params = {"symbols": ["SPY"], "period": 2, "oversold": 30, "exit_level": 60, **overrides}
    return RsiMeanReversion.configure(**params)


async def test_rsi_buys_oversold_and_sells_the_recovery(env: Env) -> None:
    await drive(env, rsi(), series("SPY", [10, 9, 8, "8.5", "9.5"]), name="rsi_spy")
    buy, close = env.orders.intents
    assert (buy.symbol, buy.side, buy.qty, buy.time_in_force, buy.strategy) == (
        "SPY",
        OrderSide.BUY,
        D(1),
        TimeInForce.DAY,
        "rsi_spy",
    )
    assert (close.side, close.qty, close.reduce_only, close.strategy) == (
        OrderSide.SELL,
        D(1),
        True,
        "rsi_spy",
    )


async def test_rsi_gives_up_after_max_bars_without_recovery(env: Env) -> None:
    # Entry on bar 3 (RSI 0); the falling closes keep RSI at 0; held 1, 2, 3 bars -> close.
    await drive(env, rsi(max_bars=3), series("SPY", [10, 9, 8, "7.9", "7.8", "7.7"]))
    assert sides(env.orders.intents) == [
        (OrderSide.BUY, D(1), False),
        (OrderSide.SELL, D(1), True),
    ]
    assert env.orders.intents[1].strategy == "s"


async def test_rsi_without_a_time_exit_holds_through_the_decline(env: Env) -> None:
    await drive(env, rsi(max_bars=0), series("SPY", [10, 9, 8, 7, 6, 5, 4, 3]))
    assert sides(env.orders.intents) == [(OrderSide.BUY, D(1), False)]


async def test_rsi_leaves_a_short_position_alone(env: Env) -> None:
    env.accounts.hold("SPY", -5)
    await drive(env, rsi(), series("SPY", [10, 9, 8, 7]))
    assert env.orders.intents == []


async def test_rsi_does_not_trade_while_warming_up(env: Env) -> None:
    strategy = rsi()
    await drive(env, strategy, [], warmup=series("SPY", [10, 9, 8, 7]))
    assert env.orders.intents == []
    assert strategy.warmup_bars == 7


async def test_rsi_params_need_oversold_below_the_exit_level() -> None:
    with pytest.raises(ValidationError, match=r"oversold \(60\) must be below exit_level"):
        rsi(oversold=60)


# -- crypto breakout ----------------------------------------------------------------------------
# entry_lookback 3, exit_lookback 2, atr_period 2, atr_stop 1. True ranges 2, 2, 2, 4:
# ATR 2 after bar 2, 2 after bar 3, (2 + 4) / 2 = 3 after bar 4.
#   bar 4: close 105 > highest high of bars 1-3 (103) -> buy; stop 105 - 1 * 3 = 102


def hl(minute: int, high: str, low: str, close: str, symbol: str = "BTC/USD") -> Bar:
    return bar(symbol, minute, close, high=high, low=low, open=close)


BREAKOUT = [
    hl(0, "101", "99", "100"),
    hl(1, "102", "100", "101"),
    hl(2, "103", "101", "102"),
    hl(3, "106", "102", "105"),
]


def breakout(**overrides: Any) -> CryptoBreakout:
    params = {
        "symbols": ["BTC/USD"],
        "entry_lookback": 3,
        "exit_lookback": 2,
        "atr_period": 2,
        "atr_stop": 1,
        **overrides,
    }
    return CryptoBreakout.configure(**params)


async def test_breakout_buys_notional_gtc_above_the_channel_and_exits_below_it(env: Env) -> None:
    # bar 5: lowest low of bars 3-4 is 101, stop 102: close 106 holds.
    # bar 6: lowest low of bars 4-5 is 102: close 101.8 < 102 -> close.
    bars = [*BREAKOUT, hl(4, "107", "104", "106"), hl(5, "106", "101.5", "101.8")]
    await drive(env, breakout(), bars, name="brk")
    buy, close = env.orders.intents
    assert (buy.symbol, buy.side, buy.qty, buy.notional) == (
        "BTC/USD",
        OrderSide.BUY,
        None,
        D(100),
    )
    assert (buy.time_in_force, buy.strategy) == (TimeInForce.GTC, "brk")
    assert (close.side, close.time_in_force, close.reduce_only, close.strategy) == (
        OrderSide.SELL,
        TimeInForce.GTC,
        True,
        "brk",
    )
    assert close.qty == D(100) / D(105)  # what the notional bought at 105


async def test_breakout_exits_at_the_atr_stop_before_the_channel(env: Env) -> None:
    # atr_stop 0.5: stop 105 - 1.5 = 103.5; bar 5 closes 103.4, above the channel low 101.
    bars = [*BREAKOUT, hl(4, "105", "103", "103.4")]
    strategy = breakout(atr_stop="0.5", qty="0.01")
    await drive(env, strategy, bars)
    assert sides(env.orders.intents) == [
        (OrderSide.BUY, D("0.01"), False),
        (OrderSide.SELL, D("0.01"), True),
    ]
    assert env.orders.intents[0].notional is None  # the given qty replaced the default notional


async def test_breakout_moves_the_stop_below_the_fill_price(env: Env) -> None:
    env.orders.auto_fill = False
    strategy = breakout()
    ctx = await drive(env, strategy, BREAKOUT)
    order = next(iter(env.orders.orders.values()))
    await strategy.on_fill(ctx, env.orders.emit_fill(order, "0.001", "104"))
    assert strategy._channels["BTC/USD"].stop == D(101)  # 104 - 1 * ATR 3


async def test_breakout_gives_an_adopted_position_a_stop_below_its_entry(env: Env) -> None:
    env.accounts.hold("BTC/USD", "0.01", "110")
    # stop 110 - 3 = 107 on bar 4 (close 105 <= 107): close at once
    await drive(env, breakout(), BREAKOUT)
    assert sides(env.orders.intents) == [(OrderSide.SELL, D("0.01"), True)]


async def test_breakout_with_no_stop_holds_until_the_channel_breaks(env: Env) -> None:
    bars = [*BREAKOUT, hl(4, "105", "103", "103.4")]
    await drive(env, breakout(atr_stop=0), bars)
    assert [i.side for i in env.orders.intents] == [OrderSide.BUY]


async def test_breakout_does_not_trade_while_warming_up(env: Env) -> None:
    strategy = breakout()
    await drive(env, strategy, [], warmup=BREAKOUT)
    assert env.orders.intents == []
    assert strategy.warmup_bars == 4


async def test_breakout_takes_crypto_pairs_only() -> None:
    with pytest.raises(ValidationError, match="crypto pairs only, such as BTC/USD; not AAPL"):
        breakout(symbols=["BTC/USD", "AAPL"])


def test_each_built_in_documents_its_rule_params_and_defaults() -> None:
    for cls in (SmaCrossover, RsiMeanReversion, CryptoBreakout):
        doc = cls.__doc__ or ""
        assert "Parameters (defaults)" in doc
        assert "Warm-up" in doc
        for field in cls.Params.model_fields:
            assert f"``{field}``" in doc, (cls.__name__, field)
        assert cls.summary()
