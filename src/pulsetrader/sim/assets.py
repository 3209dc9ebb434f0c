"""The simulator's tradable instruments, shaped like Alpaca's ``GET /v2/assets`` rows.

Only symbols in the registry can be traded: an order for anything else gets Alpaca's 422, just as
a typo does on the real API. Asset ids are uuid5 of the symbol, so they are the same in every run
and every process (a restarted simulator still recognises ids a client cached).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pulsetrader.domain.enums import AssetClass
from pulsetrader.domain.money import decimal_str
from pulsetrader.domain.symbols import asset_class_of, order_symbol, validate_symbol
from pulsetrader.domain.symbols import position_symbol as _position_symbol

DEFAULT_SYMBOLS: tuple[str, ...] = (
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

_ASSET_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://pulsetrader.invalid/sim/assets")

# Listing venue and display name of the default symbols (the venue must be one of alpaca-py's
# AssetExchange values or the SDK refuses the asset and the position).
_STOCKS: dict[str, tuple[str, str]] = {
    "AAPL": ("NASDAQ", "Apple Inc. Common Stock"),
    "MSFT": ("NASDAQ", "Microsoft Corporation Common Stock"),
    "SPY": ("ARCA", "SPDR S&P 500 ETF Trust"),
    "TSLA": ("NASDAQ", "Tesla, Inc. Common Stock"),
    "NVDA": ("NASDAQ", "NVIDIA Corporation Common Stock"),
    "AMZN": ("NASDAQ", "Amazon.com, Inc. Common Stock"),
    "GOOGL": ("NASDAQ", "Alphabet Inc. Class A Common Stock"),
    "META": ("NASDAQ", "Meta Platforms, Inc. Class A Common Stock"),
    "QQQ": ("NASDAQ", "Invesco QQQ Trust, Series 1"),
    "FAKEPACA": ("NASDAQ", "Alpaca test symbol"),
}

# Crypto minimum order sizes (base currency units), in the spirit of Alpaca's listing.
_CRYPTO_MIN_ORDER: dict[str, Decimal] = {
    "BTC": Decimal("0.0001"),
    "ETH": Decimal("0.001"),
    "SOL": Decimal("0.01"),
    "LTC": Decimal("0.01"),
}
_CRYPTO_NAMES: dict[str, str] = {
    "BTC": "Bitcoin",
    "ETH": "Ethereum",
    "SOL": "Solana",
    "LTC": "Litecoin",
    "USD": "US Dollar",
}
NINE_DECIMALS = Decimal("0.000000001")
# Alpaca's test feed symbol FAKEPACA is longer than a real ticker; accept such names explicitly.
_TEST_SYMBOL_RE = re.compile(r"^[A-Z]{6,10}$")


@dataclass(frozen=True, slots=True)
class SimAsset:
    """One tradable instrument. ``symbol`` is the order spelling (``BTC/USD``, ``AAPL``)."""

    id: str
    symbol: str
    name: str
    asset_class: AssetClass
    exchange: str
    status: str = "active"
    tradable: bool = True
    marginable: bool = True
    shortable: bool = True
    easy_to_borrow: bool = True
    fractionable: bool = True
    min_order_size: Decimal | None = None
    min_trade_increment: Decimal | None = None
    price_increment: Decimal | None = None

    @property
    def is_crypto(self) -> bool:
        return self.asset_class is AssetClass.CRYPTO

    @property
    def position_symbol(self) -> str:
        """The spelling positions use (``BTCUSD``)."""
        return _position_symbol(self.symbol)

    @property
    def base_currency(self) -> str:
        """``BTC`` for ``BTC/USD``; the ticker itself for a stock."""
        return self.symbol.split("/", 1)[0]

    @property
    def maintenance_margin_requirement(self) -> int:
        """Percent of market value required as maintenance margin: 30 for stocks, 100 crypto."""
        return 30 if self.marginable else 100

    def to_alpaca(self) -> dict[str, Any]:
        """The asset exactly as ``GET /v2/assets`` returns it (``class``, not ``asset_class``)."""
        body: dict[str, Any] = {
            "id": self.id,
            "class": self.asset_class.value,
            "exchange": self.exchange,
            "symbol": self.symbol,
            "name": self.name,
            "status": self.status,
            "tradable": self.tradable,
            "marginable": self.marginable,
            "maintenance_margin_requirement": self.maintenance_margin_requirement,
            "margin_requirement_long": str(self.maintenance_margin_requirement),
            "margin_requirement_short": str(self.maintenance_margin_requirement),
            "shortable": self.shortable,
            "easy_to_borrow": self.easy_to_borrow,
            "fractionable": self.fractionable,
            "attributes": ["fractional_eh_enabled"] if not self.is_crypto else [],
        }
        for key in ("min_order_size", "min_trade_increment", "price_increment"):
            value: Decimal | None = getattr(self, key)
            if value is not None:
                body[key] = decimal_str(value)
        return body


def asset_id_for(symbol: str) -> str:
    """The deterministic asset id of ``symbol`` (order spelling)."""
    return str(uuid.uuid5(_ASSET_NAMESPACE, order_symbol(symbol)))


def make_asset(symbol: str) -> SimAsset:
    """Build the simulator's asset for ``symbol`` (either crypto spelling, any case).

    Raises ValueError for text that is not a valid ticker or pair.
    """
    sym = order_symbol(symbol)
    if not _TEST_SYMBOL_RE.match(sym):
        sym = validate_symbol(symbol)
    if asset_class_of(sym) is AssetClass.CRYPTO:
        base, quote = sym.split("/", 1)
        name = f"{_CRYPTO_NAMES.get(base, base)} / {_CRYPTO_NAMES.get(quote, quote)}"
        # Crypto is cash-only and cannot be shorted on Alpaca; sizes are fractional to 1e-9.
        return SimAsset(
            id=asset_id_for(sym),
            symbol=sym,
            name=name,
            asset_class=AssetClass.CRYPTO,
            exchange="CRYPTO",
            marginable=False,
            shortable=False,
            easy_to_borrow=False,
            fractionable=True,
            min_order_size=_CRYPTO_MIN_ORDER.get(base, Decimal("0.0001")),
            min_trade_increment=NINE_DECIMALS,
            price_increment=NINE_DECIMALS,
        )
    exchange, name = _STOCKS.get(sym, ("NASDAQ", f"{sym} (simulated) Common Stock"))
    return SimAsset(
        id=asset_id_for(sym),
        symbol=sym,
        name=name,
        asset_class=AssetClass.US_EQUITY,
        exchange=exchange,
    )


class AssetRegistry:
    """The set of symbols the simulator lists, looked up by either spelling or by asset id."""

    def __init__(self, symbols: Iterable[str] = DEFAULT_SYMBOLS) -> None:
        self._by_symbol: dict[str, SimAsset] = {}
        self._by_id: dict[str, SimAsset] = {}
        for symbol in symbols:
            self.add(symbol)

    def add(self, symbol: str) -> SimAsset:
        """List ``symbol`` (idempotent) and return its asset. Raises ValueError if invalid."""
        existing = self.get(symbol)
        if existing is not None:
            return existing
        asset = make_asset(symbol)
        self._by_symbol[asset.symbol] = asset
        self._by_id[asset.id] = asset
        return asset

    def get(self, symbol_or_id: str) -> SimAsset | None:
        """The asset for ``BTC/USD``, ``BTCUSD``, ``btc/usd`` or its id; None when not listed."""
        key = symbol_or_id.strip()
        by_id = self._by_id.get(key.lower())
        if by_id is not None:
            return by_id
        return self._by_symbol.get(order_symbol(key))

    def all(
        self, status: str | None = None, asset_class: AssetClass | str | None = None
    ) -> list[SimAsset]:
        """Every listed asset, optionally filtered by status and class, sorted by symbol."""
        wanted_class = AssetClass(asset_class) if asset_class else None
        return [
            asset
            for asset in sorted(self._by_symbol.values(), key=lambda a: a.symbol)
            if (status is None or asset.status == status)
            and (wanted_class is None or asset.asset_class is wanted_class)
        ]

    def __iter__(self) -> Iterator[SimAsset]:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self._by_symbol)

    def __contains__(self, symbol_or_id: object) -> bool:
        return isinstance(symbol_or_id, str) and self.get(symbol_or_id) is not None
