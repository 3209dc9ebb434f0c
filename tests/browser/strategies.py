"""A strategy that trades at once, so the browser test sees positions, fills and P/L move
within seconds (the built-in ones wait for their indicators to warm up and cross)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from pulsetrader.domain.market import Bar
from pulsetrader.strategy.base import Amount, Strategy, StrategyParams
from pulsetrader.strategy.context import StrategyContext


class FlipperParams(StrategyParams):
    qty: Amount | None = Field(Decimal(1), description="shares per entry")
    hold_bars: int = Field(3, ge=0, description="bars to hold before closing; 0: hold for ever")


class Flipper(Strategy[FlipperParams]):
    """Buy ``qty`` when flat; close after ``hold_bars`` bars (never with 0); repeat."""

    name = "test_flipper"
    Params = FlipperParams

    async def on_start(self, ctx: StrategyContext) -> None:
        self._held: dict[str, int] = {}

    async def on_bar(self, ctx: StrategyContext, bar: Bar) -> None:
        symbol = bar.symbol
        if ctx.open_orders(symbol):
            return
        position = await ctx.position(symbol)
        if position is None:
            self._held[symbol] = 0
            await ctx.buy(symbol, qty=self.params.qty)
            return
        self._held[symbol] = self._held.get(symbol, 0) + 1
        if self.params.hold_bars and self._held[symbol] >= self.params.hold_bars:
            await ctx.close(symbol)
