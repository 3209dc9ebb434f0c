"""How each simulated symbol behaves: price level, volatility, tick size, spread and volume.

:func:`default_spec` gives any valid symbol a sensible spec derived from the seed, so the simulator
can quote a ticker it has never heard of. The well-known default symbols get hand-picked levels
(scaled a little by the seed) so charts of AAPL or BTC/USD look plausible.

Seeds are turned into numbers with :func:`stable_seed` (BLAKE2b), never Python's ``hash()``, whose
value for strings changes from one process to the next.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from pulsetrader.domain.enums import AssetClass
from pulsetrader.domain.money import to_decimal
from pulsetrader.domain.symbols import asset_class_of, order_symbol, validate_symbol

KNOWN_SYMBOLS: tuple[str, ...] = (
    "AAPL",
    "MSFT",
    "SPY",
    "TSLA",
    "NVDA",
    "AMZN",
    "GOOGL",
    "META",
    "QQQ",
    "FAKEPACA",
    "BTC/USD",
    "ETH/USD",
    "SOL/USD",
    "LTC/USD",
)

# symbol -> (price level, daily volatility, base volume per minute, spread in bps)
_KNOWN: dict[str, tuple[float, float, int, float]] = {
    "AAPL": (190.0, 0.016, 6000, 2.0),
    "MSFT": (410.0, 0.015, 3000, 2.0),
    "SPY": (500.0, 0.010, 9000, 2.0),
    "TSLA": (220.0, 0.035, 9000, 3.0),
    "NVDA": (120.0, 0.030, 20000, 2.5),
    "AMZN": (180.0, 0.020, 5000, 2.5),
    "GOOGL": (165.0, 0.018, 3500, 2.5),
    "META": (500.0, 0.022, 2000, 2.5),
    "QQQ": (440.0, 0.012, 5000, 2.0),
    "FAKEPACA": (100.0, 0.020, 1000, 4.0),
    "BTC/USD": (60000.0, 0.030, 2, 6.0),
    "ETH/USD": (3000.0, 0.040, 30, 8.0),
    "SOL/USD": (150.0, 0.050, 400, 12.0),
    "LTC/USD": (80.0, 0.040, 300, 12.0),
}

# Alpaca's test stream (wss://stream.data.alpaca.markets/v2/test) sends FAKEPACA around the clock.
_ALWAYS_OPEN_EQUITIES = frozenset({"FAKEPACA"})

STOCK_TICK = Decimal("0.01")
STOCK_SIZE_INCREMENT = Decimal(1)
CRYPTO_SIZE_INCREMENT = Decimal("0.000000001")


def normalize_symbol(symbol: str) -> str:
    """The order spelling of ``symbol``; ValueError unless it is a valid ticker or pair.

    The known symbols are always accepted, including FAKEPACA, which is longer than the five
    letters :func:`~pulsetrader.domain.symbols.validate_symbol` allows a ticker.
    """
    sym = order_symbol(symbol)
    return sym if sym in _KNOWN else validate_symbol(sym)


def stable_seed(*parts: object) -> int:
    """A 64-bit integer from ``parts``, identical in every process and on every platform."""
    text = "|".join(str(part) for part in parts)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def seeded_random(*parts: object) -> random.Random:
    """A ``random.Random`` seeded from :func:`stable_seed` of ``parts``."""
    # Reproducible simulation data, not secrets: the standard generator is the right tool.
    return random.Random(stable_seed(*parts))  # noqa: S311


def stable_uniform(*parts: object) -> float:
    """A number in ``[0, 1)`` from ``parts``, identical in every process."""
    return (stable_seed(*parts) >> 11) / float(1 << 53)


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """The parameters of one simulated symbol.

    ``start_price`` is the price on the model's origin date and the level the price reverts to
    over months; ``daily_vol`` is the standard deviation of daily log returns; ``spread_bps`` is
    the quoted spread in basis points of the price (never less than one ``tick_size``);
    ``base_volume_per_min`` is the average volume of one minute, in shares or coins;
    ``size_increment`` is the granularity of trade sizes (1 share, or 1e-9 of a coin).
    ``always_open`` makes an equity trade around the clock like crypto (Alpaca's FAKEPACA test
    symbol); crypto is always open whatever this flag says.
    """

    symbol: str
    asset_class: AssetClass
    start_price: Decimal
    daily_vol: float
    tick_size: Decimal
    spread_bps: float
    base_volume_per_min: int
    size_increment: Decimal
    always_open: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "symbol", normalize_symbol(self.symbol))
        object.__setattr__(self, "asset_class", AssetClass(self.asset_class))
        for name in ("start_price", "tick_size", "size_increment"):
            value = to_decimal(getattr(self, name))
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
            object.__setattr__(self, name, value)
        if not 0 < self.daily_vol < 1:
            raise ValueError(f"daily_vol must be in (0, 1), got {self.daily_vol}")
        if not 0 <= self.spread_bps < 10_000:
            raise ValueError(f"spread_bps must be in [0, 10000), got {self.spread_bps}")
        if self.base_volume_per_min < 1:
            raise ValueError(f"base_volume_per_min must be >= 1, got {self.base_volume_per_min}")

    @property
    def around_the_clock(self) -> bool:
        """True when the symbol trades 24/7 (crypto, or an equity flagged ``always_open``)."""
        return self.asset_class is AssetClass.CRYPTO or self.always_open


def crypto_tick_size(price: float) -> Decimal:
    """About five significant digits: 1 for BTC near 60000, 0.1 for ETH near 3000, 0.01 at 150.

    This follows the spirit of Alpaca's ``price_increment`` for its crypto pairs (BTC/USD is
    listed with a price increment of 1), with a floor at 1e-9.
    """
    exponent = max(math.floor(math.log10(price)) - 4, -9)
    return Decimal(1).scaleb(exponent)


def round_to_tick(price: float, tick: Decimal) -> Decimal:
    """``price`` rounded to a positive multiple of ``tick``."""
    ticks = max(1, round(price / float(tick)))
    return (tick * ticks).quantize(tick, rounding=ROUND_HALF_EVEN)


def default_spec(symbol: str, seed: int) -> SymbolSpec:
    """A plausible spec for ``symbol``, the same for the same ``(symbol, seed)``.

    Stocks: price 20-500 (log-uniform from the seed), tick 0.01, spread 2-5 bps (at least a
    tick), whole-share trades. Crypto: BTC/USD near 60000, ETH/USD near 3000, other pairs 1-500,
    ticks of about five significant digits, sizes in 1e-9 units. The well-known symbols start
    from hand-picked levels scaled by up to +/-15% by the seed.
    """
    sym = normalize_symbol(symbol)
    asset_class = asset_class_of(sym)
    crypto = asset_class is AssetClass.CRYPTO

    def draw(name: str) -> float:
        return stable_uniform(seed, sym, "spec", name)

    known = _KNOWN.get(sym)
    if known is not None:
        level, vol, volume, spread = known
        level *= math.exp((draw("level") - 0.5) * 0.3)
    elif crypto:
        level = math.exp(math.log(1.0) + draw("level") * math.log(500.0))
        vol = 0.035 + draw("vol") * 0.03
        volume = max(1, round(50_000 / level))
        spread = 8.0 + draw("spread") * 8.0
    else:
        level = math.exp(math.log(20.0) + draw("level") * (math.log(500.0) - math.log(20.0)))
        vol = 0.012 + draw("vol") * 0.02
        volume = round(math.exp(math.log(500.0) + draw("volume") * math.log(10.0)))
        spread = 2.0 + draw("spread") * 3.0
    tick = crypto_tick_size(level) if crypto else STOCK_TICK
    return SymbolSpec(
        symbol=sym,
        asset_class=asset_class,
        start_price=round_to_tick(level, tick),
        daily_vol=vol,
        tick_size=tick,
        spread_bps=spread,
        base_volume_per_min=volume,
        size_increment=CRYPTO_SIZE_INCREMENT if crypto else STOCK_SIZE_INCREMENT,
        always_open=sym in _ALWAYS_OPEN_EQUITIES,
    )
