"""SMA crossover: trend following on a fast and a slow simple moving average of the close."""

from __future__ import annotations

from decimal import Decimal
from typing import Self

from pydantic import Field, model_validator

from pulsetrader.domain.market import Bar
from pulsetrader.strategy.base import Amount, Strategy, StrategyParams
from pulsetrader.strategy.context import StrategyContext
from pulsetrader.strategy.indicators import SMA
from pulsetrader.strategy.registry import register


class SmaCrossoverParams(StrategyParams):
    """Parameters of :class:`SmaCrossover`."""

    qty: Amount | None = Field(Decimal(1), description="shares per entry; one of qty and notional")
    fast: int = Field(10, ge=1, description="fast SMA period, in bars")
    slow: int = Field(30, ge=2, description="slow SMA period, in bars (above fast)")

    @model_validator(mode="after")
    def _fast_below_slow(self) -> Self:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be below slow ({self.slow})")
        return self


@register
class SmaCrossover(Strategy[SmaCrossoverParams]):
    """Buy when the fast SMA of the close crosses above the slow one; close when it crosses below.

    Made for stocks (it also runs on crypto, with gtc orders). Per symbol, on each completed bar:

    * **entry**: the fast SMA was at or below the slow SMA on the previous bar and is above it
      now, the strategy is flat in the symbol and has no open order there: buy ``qty`` shares
      (or ``notional`` dollars) at market, time in force ``day``;
    * **exit**: the fast SMA was at or above the slow SMA and is below it now, and the position
      is long: close it at market (open orders in the symbol are cancelled first).

    Long only, one position per symbol. Parameters (defaults): ``symbols`` (required),
    ``timeframe`` ("1Min"), ``qty`` (1) or ``notional``, ``fast`` (10), ``slow`` (30, above
    ``fast``). Warm-up: ``slow + 1`` bars, so the first live bar can already signal.
    """

    name = "sma_crossover"
    Params = SmaCrossoverParams

    @property
    def warmup_bars(self) -> int:
        return self.params.slow + 1

    async def on_start(self, ctx: StrategyContext) -> None:
        p = self.params
        self._fast = {s: SMA(p.fast) for s in p.symbols}
        self._slow = {s: SMA(p.slow) for s in p.symbols}
        self._spread: dict[str, Decimal] = {}  # fast - slow on the previous bar

    async def on_bar(self, ctx: StrategyContext, bar: Bar) -> None:
        symbol = bar.symbol
        fast = self._fast[symbol].update(bar.close)
        slow = self._slow[symbol].update(bar.close)
        if fast is None or slow is None:
            return
        spread = fast - slow
        previous = self._spread.get(symbol)
        self._spread[symbol] = spread
        if previous is None or ctx.warming_up:
            return
        if previous <= 0 < spread:
            await self._enter(ctx, symbol, fast, slow)
        elif previous >= 0 > spread:
            await self._exit(ctx, symbol, fast, slow)

    async def _enter(self, ctx: StrategyContext, symbol: str, fast: Decimal, slow: Decimal) -> None:
        if await ctx.position(symbol) is not None or ctx.open_orders(symbol):
            return
        ctx.log.info("{}: fast SMA {:.4f} crossed above slow {:.4f}: buying", symbol, fast, slow)
        await ctx.buy(symbol, qty=self.params.qty, notional=self.params.notional)

    async def _exit(self, ctx: StrategyContext, symbol: str, fast: Decimal, slow: Decimal) -> None:
        position = await ctx.position(symbol)
        if position is None or position.qty <= 0 or ctx.open_orders(symbol):
            return
        ctx.log.info("{}: fast SMA {:.4f} crossed below slow {:.4f}: closing", symbol, fast, slow)
        await ctx.close(symbol)
