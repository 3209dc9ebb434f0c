"""The built-in strategies, registered under their ``name``:

* ``sma_crossover``: :class:`SmaCrossover`, trend following on two SMAs (stocks);
* ``rsi_mean_reversion``: :class:`RsiMeanReversion`, buys oversold dips (stocks or crypto);
* ``crypto_breakout``: :class:`CryptoBreakout`, channel breakouts with an ATR stop (crypto).

All are long-only and hold at most one position per symbol. Each treats the account's position
in its symbols as its own: Alpaca nets positions per symbol, so two strategies on one symbol
share a position. Give each symbol to one strategy.
"""

from pulsetrader.strategy.builtin.crypto_breakout import CryptoBreakout, CryptoBreakoutParams
from pulsetrader.strategy.builtin.rsi_mean_reversion import (
    RsiMeanReversion,
    RsiMeanReversionParams,
)
from pulsetrader.strategy.builtin.sma_crossover import SmaCrossover, SmaCrossoverParams

#: Every built-in strategy class.
BUILTINS = (SmaCrossover, RsiMeanReversion, CryptoBreakout)

__all__ = [
    "BUILTINS",
    "CryptoBreakout",
    "CryptoBreakoutParams",
    "RsiMeanReversion",
    "RsiMeanReversionParams",
    "SmaCrossover",
    "SmaCrossoverParams",
]
