"""RSI mean reversion: buy a short-term oversold dip, sell the bounce (or give up after a while)."""

from __future__ import annotations

from decimal import Decimal
from typing import Self

from pydantic import Field, model_validator

from pulsetrader.domain.market import Bar
from pulsetrader.strategy.base import Amount, Strategy, StrategyParams
from pulsetrader.strategy.context import StrategyContext
from pulsetrader.strategy.indicators import RSI
from pulsetrader.strategy.registry import register


class RsiMeanReversionParams(StrategyParams):
    """Parameters of :class:`RsiMeanReversion`."""

    qty: Amount | None = Field(Decimal(1), description="units per entry; one of qty and notional")
    period: int = Field(14, ge=2, description="RSI period, in bars")
    oversold: Decimal = Field(Decimal(30), gt=0, lt=100, description="buy below this RSI")
    exit_level: Decimal = Field(Decimal(50), gt=0, le=100, description="sell above this RSI")
    max_bars: int = Field(20, ge=0, description="sell after this many bars held; 0: never")

    @model_validator(mode="after")
    def _levels_in_order(self) -> Self:
        if self.oversold >= self.exit_level:
            raise ValueError(
                f"oversold ({self.oversold}) must be below exit_level ({self.exit_level})"
            )
        return self


@register
class RsiMeanReversion(Strategy[RsiMeanReversionParams]):
    """Buy when Wilder's RSI of the close drops below ``oversold``; sell when it recovers above
    ``exit_level`` or after ``max_bars`` bars.

    For stocks or crypto (gtc orders for crypto, day for stocks). Per symbol, on each completed
    bar:

    * **entry**: RSI < ``oversold``, flat, no open order in the symbol: buy ``qty`` units (or
      ``notional`` dollars) at market;
    * **exit**: long and RSI > ``exit_level``, or the position has been held for ``max_bars``
      bars (counted from the first bar that sees it; 0 turns the time exit off): close it.

    A short position in the symbol (not this strategy's) is left alone. Parameters (defaults):
    ``symbols`` (required), ``timeframe`` ("1Min"), ``qty`` (1) or ``notional``, ``period``
    (14), ``oversold`` (30), ``exit_level`` (50, above ``oversold``), ``max_bars`` (20).
    Warm-up: ``3 * period + 1`` bars, enough for Wilder's smoothing to settle.
    """

    name = "rsi_mean_reversion"
    Params = RsiMeanReversionParams

    @property
    def warmup_bars(self) -> int:
        return 3 * self.params.period + 1

    async def on_start(self, ctx: StrategyContext) -> None:
        self._rsi = {s: RSI(self.params.period) for s in self.params.symbols}
        self._held: dict[str, int] = {}  # bars the current position has been seen held

    async def on_bar(self, ctx: StrategyContext, bar: Bar) -> None:
        symbol = bar.symbol
        rsi = self._rsi[symbol].update(bar.close)
        if rsi is None or ctx.warming_up:
            return
        p = self.params
        position = await ctx.position(symbol)
        qty = position.qty if position is not None else 0
        if qty <= 0:
            self._held.pop(symbol, None)
            if qty == 0 and rsi < p.oversold and not ctx.open_orders(symbol):
                ctx.log.info("{}: RSI {:.2f} below {}: buying", symbol, rsi, p.oversold)
                await ctx.buy(symbol, qty=p.qty, notional=p.notional)
            return
        held = self._held[symbol] = self._held.get(symbol, 0) + 1
        if ctx.open_orders(symbol):
            return  # an exit (or entry) is still working
        if rsi > p.exit_level:
            ctx.log.info("{}: RSI {:.2f} above {}: closing", symbol, rsi, p.exit_level)
            await ctx.close(symbol)
        elif p.max_bars and held >= p.max_bars:
            ctx.log.info("{}: held {} bars without recovery: closing", symbol, held)
            await ctx.close(symbol)
