"""The symbol rule: which symbols are crypto, and the two spellings Alpaca uses for them.

Alpaca spells crypto pairs ``BTC/USD`` in orders, assets and market data, but ``BTCUSD`` in
positions. Both are crypto here. A symbol is crypto when it contains a slash, or when it has no
slash, is longer than five letters (US equity tickers are at most five letters, plus an optional
class suffix such as ``BRK.B``) and ends in a quote currency Alpaca lists (USD, USDT, USDC, BTC).
"""

from __future__ import annotations

import re

from pulsetrader.domain.enums import AssetClass

CRYPTO_QUOTES: tuple[str, ...] = ("USDT", "USDC", "USD", "BTC")
_EQUITY_RE = re.compile(r"^[A-Z]{1,5}([.][A-Z]{1,2})?$")
_PAIR_RE = re.compile(r"^[A-Z0-9]{2,10}/[A-Z]{3,4}$")


def _compact_quote(symbol: str) -> str | None:
    """The quote currency of a slash-less crypto symbol like ``BTCUSD``, or None."""
    if len(symbol) <= 5 or not symbol.isalnum():
        return None
    for quote in CRYPTO_QUOTES:
        if symbol.endswith(quote) and len(symbol) - len(quote) >= 2:
            return quote
    return None


def asset_class_of(symbol: str) -> AssetClass:
    """``AssetClass.CRYPTO`` for ``BTC/USD`` and ``BTCUSD``, ``US_EQUITY`` for tickers."""
    sym = symbol.strip().upper()
    if "/" in sym or _compact_quote(sym) is not None:
        return AssetClass.CRYPTO
    return AssetClass.US_EQUITY


def is_crypto(symbol: str) -> bool:
    return asset_class_of(symbol) is AssetClass.CRYPTO


def order_symbol(symbol: str) -> str:
    """The spelling orders, assets and market data use.

    ``BTCUSD`` -> ``BTC/USD``; ``aapl`` -> ``AAPL``.
    """
    sym = symbol.strip().upper()
    if "/" in sym:
        return sym
    quote = _compact_quote(sym)
    if quote is None:
        return sym
    return f"{sym[: -len(quote)]}/{quote}"


def position_symbol(symbol: str) -> str:
    """The spelling positions use: ``BTC/USD`` -> ``BTCUSD``; equities unchanged."""
    return symbol.strip().upper().replace("/", "")


def validate_symbol(symbol: str) -> str:
    """Return the canonical (order) spelling.

    Raises ValueError saying what a valid symbol looks like.
    """
    sym = order_symbol(symbol)
    if _PAIR_RE.match(sym) or _EQUITY_RE.match(sym):
        return sym
    raise ValueError(
        f"invalid symbol {symbol!r}: expected a ticker such as AAPL or BRK.B, "
        "or a crypto pair such as BTC/USD"
    )
