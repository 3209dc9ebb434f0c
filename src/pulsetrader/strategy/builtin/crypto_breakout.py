"""Crypto breakout: buy a close above the recent range, exit below a shorter range or a stop."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from pydantic import Field, field_validator

from pulsetrader.domain.enums import OrderSide, TimeInForce
from pulsetrader.domain.market import Bar
from pulsetrader.domain.symbols import is_crypto
from pulsetrader.execution.book import BookedFill
from pulsetrader.strategy.base import Amount, NonNegative, Strategy, StrategyParams
from pulsetrader.strategy.context import StrategyContext
from pulsetrader.strategy.indicators import ATR
from pulsetrader.strategy.registry import register


class CryptoBreakoutParams(StrategyParams):
    """Parameters of :class:`CryptoBreakout`."""

    notional: Amount | None = Field(
        Decimal(100), description="dollars per entry; one of qty and notional"
    )
    entry_lookback: int = Field(20, ge=1, description="bars whose highest high a close must beat")
    exit_lookback: int = Field(10, ge=1, description="bars whose lowest low a close exits below")
    atr_period: int = Field(14, ge=1, description="ATR period, in bars")
    atr_stop: NonNegative = Field(
        Decimal(2), description="stop this many ATRs below the entry; 0: no stop"
    )

    @field_validator("symbols")
    @classmethod
    def _crypto_only(cls, symbols: tuple[str, ...]) -> tuple[str, ...]:
        stocks = [s for s in symbols if not is_crypto(s)]
        if stocks:
            raise ValueError(f"crypto pairs only, such as BTC/USD; not {', '.join(stocks)}")
        return symbols


@dataclass(slots=True)
class _Channel:
    highs: deque[Decimal]
    lows: deque[Decimal]
    atr: ATR
    stop: Decimal | None = None
    entry_atr: Decimal | None = field(default=None)


@register
class CryptoBreakout(Strategy[CryptoBreakoutParams]):
    """Buy a close above the highest high of the last ``entry_lookback`` bars; exit on a close
    below the lowest low of the last ``exit_lookback`` bars or at an ATR stop.

    Crypto only; every order is ``gtc`` (Alpaca's crypto takes gtc or ioc). Per symbol, on each
    completed bar (the channels are of the bars *before* it):

    * **entry**: flat, no open order, close > highest high of the previous ``entry_lookback``
      bars: buy ``notional`` dollars (default) or ``qty`` units at market. The stop is set
      ``atr_stop`` ATRs below the close, and moved to below the fill price once filled;
    * **exit**: long and close < lowest low of the previous ``exit_lookback`` bars, or close at
      or below the stop: close the position. A position found without a stop (say, after a
      restart) gets one below its average entry price.

    Parameters (defaults): ``symbols`` (required, crypto pairs), ``timeframe`` ("1Min"),
    ``notional`` (100) or ``qty``, ``entry_lookback`` (20), ``exit_lookback`` (10),
    ``atr_period`` (14), ``atr_stop`` (2; 0 for no stop). Warm-up: the longest of the three
    periods plus one.
    """

    name = "crypto_breakout"
    Params = CryptoBreakoutParams

    @property
    def warmup_bars(self) -> int:
        p = self.params
        return max(p.entry_lookback, p.exit_lookback, p.atr_period) + 1

    async def on_start(self, ctx: StrategyContext) -> None:
        p = self.params
        self._channels = {
            s: _Channel(
                deque(maxlen=p.entry_lookback), deque(maxlen=p.exit_lookback), ATR(p.atr_period)
            )
            for s in p.symbols
        }

    def _stop_below(self, price: Decimal, atr: Decimal | None) -> Decimal | None:
        if not self.params.atr_stop or atr is None:
            return None
        return price - self.params.atr_stop * atr

    async def on_bar(self, ctx: StrategyContext, bar: Bar) -> None:
        ch = self._channels[bar.symbol]
        atr = ch.atr.update(bar)
        high = max(ch.highs) if len(ch.highs) == ch.highs.maxlen else None
        low = min(ch.lows) if len(ch.lows) == ch.lows.maxlen else None
        ch.highs.append(bar.high)
        ch.lows.append(bar.low)
        if ctx.warming_up or high is None or low is None:
            return
        symbol, close = bar.symbol, bar.close
        if ctx.open_orders(symbol):
            return  # an entry or exit is still working
        position = await ctx.position(symbol)
        qty = position.qty if position is not None else 0
        if qty == 0:
            ch.stop, ch.entry_atr = None, None
            if close > high:
                ch.stop, ch.entry_atr = self._stop_below(close, atr), atr
                ctx.log.info("{}: close {} broke above {}: buying", symbol, close, high)
                p = self.params
                await ctx.buy(symbol, qty=p.qty, notional=p.notional, time_in_force=TimeInForce.GTC)
            return
        if qty < 0 or position is None:
            return  # a short is not this strategy's
        if ch.stop is None:
            ch.stop, ch.entry_atr = self._stop_below(position.avg_entry_price, atr), atr
        if close < low:
            ctx.log.info("{}: close {} fell below {}: closing", symbol, close, low)
            await ctx.close(symbol)
        elif ch.stop is not None and close <= ch.stop:
            ctx.log.info("{}: close {} hit the stop {}: closing", symbol, close, ch.stop)
            await ctx.close(symbol)

    async def on_fill(self, ctx: StrategyContext, fill: BookedFill) -> None:
        ch = self._channels.get(fill.fill.symbol)
        if ch is not None and fill.fill.side is OrderSide.BUY:
            ch.stop = self._stop_below(fill.fill.price, ch.entry_atr or ch.atr.value)
