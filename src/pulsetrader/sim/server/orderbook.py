"""A synthetic level-2 crypto order book around the latest quote.

The simulator's market has only a top of book, so deeper levels are made up: the best bid and
ask are the quote's, further levels step away by the quote's spread (at least 1 bp of the price)
with sizes that grow with depth. Sizes are seeded by the quote's symbol and time, so the same
quote always yields the same book.
"""

from __future__ import annotations

import hashlib
import random
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from pulsetrader.domain.market import Quote
from pulsetrader.domain.money import isoformat_z

LEVELS = 10
_ONE_BP = Decimal("0.0001")


def _rng(quote: Quote) -> random.Random:
    digest = hashlib.blake2b(
        f"{quote.symbol}|{quote.timestamp.isoformat()}".encode(), digest_size=8
    ).digest()
    return random.Random(int.from_bytes(digest, "big"))  # noqa: S311 - cosmetic sizes


def orderbook_json(quote: Quote, levels: int = LEVELS) -> dict[str, Any]:
    """``{"t", "b": [{"p", "s"}...], "a": [...]}`` with bids descending and asks ascending."""
    mid = quote.midpoint or quote.bid_price or quote.ask_price
    spread = quote.spread or Decimal(0)
    step = max(spread, mid * _ONE_BP)
    exponent = min(quote.bid_price.as_tuple().exponent, quote.ask_price.as_tuple().exponent)
    quantum = Decimal(1).scaleb(int(exponent)) if isinstance(exponent, int) else Decimal("0.01")
    step = max(step.quantize(quantum, rounding=ROUND_HALF_EVEN), quantum)
    rng = _rng(quote)
    bids: list[dict[str, float]] = []
    asks: list[dict[str, float]] = []
    for level in range(levels):
        bid_size = quote.bid_size if level == 0 else quote.bid_size * Decimal(1 + level)
        ask_size = quote.ask_size if level == 0 else quote.ask_size * Decimal(1 + level)
        scale = Decimal(str(round(0.5 + rng.random(), 3)))
        bid = quote.bid_price - step * level
        if bid > 0:
            bids.append({"p": float(bid), "s": float(bid_size * (scale if level else 1))})
        asks.append(
            {
                "p": float(quote.ask_price + step * level),
                "s": float(ask_size * (scale if level else 1)),
            }
        )
    return {"t": isoformat_z(quote.timestamp), "b": bids, "a": asks}
