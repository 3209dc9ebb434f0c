"""Strategies: a base class with lifecycle hooks, a context that trades only through the order
manager, parameters from a TOML file, a registry, a runner that isolates failures, incremental
indicators, and three built-in strategies.

Writing one::

    from pulsetrader.strategy import Strategy, StrategyParams, StrategyContext, register
    from pulsetrader.strategy.indicators import EMA

    class MyParams(StrategyParams):
        period: int = 20

    @register
    class MyStrategy(Strategy[MyParams]):
        name = "my_strategy"
        Params = MyParams

        @property
        def warmup_bars(self) -> int:
            return self.params.period

        async def on_start(self, ctx: StrategyContext) -> None:
            self.ema = {s: EMA(self.params.period) for s in self.params.symbols}

        async def on_bar(self, ctx: StrategyContext, bar) -> None:
            ema = self.ema[bar.symbol].update(bar.close)
            if ema is None or ctx.warming_up:
                return
            if bar.close > ema and await ctx.position(bar.symbol) is None:
                await ctx.buy(bar.symbol, qty=self.params.qty or 1)

and in the strategies file ``kind = "my_package.my_module:MyStrategy"`` (or ``"my_strategy"``
with ``modules = ["my_package.my_module"]`` at the top). See
:mod:`pulsetrader.strategy.config` for the file and ``examples/strategies.toml`` for one that
runs the built-ins on the simulator's symbols.
"""

from pulsetrader.strategy.base import Strategy, StrategyParams
from pulsetrader.strategy.builtin import CryptoBreakout, RsiMeanReversion, SmaCrossover
from pulsetrader.strategy.config import StrategySpec, load_strategies, parse_strategies
from pulsetrader.strategy.context import StrategyContext
from pulsetrader.strategy.errors import (
    StrategyConfigError,
    StrategyError,
    StrategyNotFound,
    StrategyStateError,
)
from pulsetrader.strategy.registry import Registry, get, known, register, registry, resolve
from pulsetrader.strategy.runner import StrategyRunner
from pulsetrader.strategy.slot import StrategyEvent, StrategyState

__all__ = [
    "CryptoBreakout",
    "Registry",
    "RsiMeanReversion",
    "SmaCrossover",
    "Strategy",
    "StrategyConfigError",
    "StrategyContext",
    "StrategyError",
    "StrategyEvent",
    "StrategyNotFound",
    "StrategyParams",
    "StrategyRunner",
    "StrategySpec",
    "StrategyState",
    "StrategyStateError",
    "get",
    "known",
    "load_strategies",
    "parse_strategies",
    "register",
    "registry",
    "resolve",
]
