"""Pure matching rules: when an order may fill against a quote, and at what price.

These follow Alpaca paper trading, which matches against the NBBO without modelling depth:

- Buys fill at the ask, sells at the bid. A limit order fills only while marketable (buy: ask <=
  limit; sell: bid >= limit), so a limit fill is never worse than the limit.
- A stop (and stop-limit, trailing stop) waits for its trigger: buy when the ask reaches the stop,
  sell when the bid falls to it. Once triggered it behaves as a market (or limit) order.
- A trailing stop follows the best price since submission (``hwm``: highest bid for a sell,
  lowest ask for a buy) and keeps its stop ``trail_price`` or ``trail_percent`` behind it.

Nothing here touches an account or emits events; the exchange does that with the results.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Protocol

from pulsetrader.domain.enums import OrderSide, OrderType
from pulsetrader.domain.money import ZERO
from pulsetrader.sim.assets import SimAsset
from pulsetrader.sim.orders import SimOrder

_CENT = Decimal("0.01")
_SUB_PENNY = Decimal("0.0001")


class QuoteLike(Protocol):
    """What matching needs of a quote (``pulsetrader.domain.market.Quote`` fits)."""

    @property
    def symbol(self) -> str: ...
    @property
    def bid_price(self) -> Decimal: ...
    @property
    def ask_price(self) -> Decimal: ...
    @property
    def timestamp(self) -> datetime: ...


class TradeLike(Protocol):
    """What the exchange needs of a trade print (``pulsetrader.domain.market.Trade`` fits)."""

    @property
    def symbol(self) -> str: ...
    @property
    def price(self) -> Decimal: ...
    @property
    def timestamp(self) -> datetime: ...


def quote_price(side: OrderSide, quote: QuoteLike) -> Decimal | None:
    """The price a ``side`` order would trade at now (ask for buys, bid for sells); None if that
    side of the book is empty."""
    price = quote.ask_price if side is OrderSide.BUY else quote.bid_price
    return price if price > 0 else None


def tick_size(asset: SimAsset, price: Decimal) -> Decimal:
    """Minimum price increment: 1 cent at $1 and above, 1/100 cent below; crypto per asset."""
    if asset.is_crypto and asset.price_increment is not None:
        return asset.price_increment
    return _CENT if price >= 1 else _SUB_PENNY


def stop_touched(side: OrderSide, stop: Decimal, quote: QuoteLike) -> bool:
    """A buy stop triggers when the ask rises to it, a sell stop when the bid falls to it."""
    price = quote_price(side, quote)
    if price is None:
        return False
    return price >= stop if side is OrderSide.BUY else price <= stop


def update_trailing(order: SimOrder, quote: QuoteLike, asset: SimAsset) -> bool:
    """Move a trailing stop's high-water mark and stop price with the market.

    Returns True when either changed. The stop is rounded to the asset's tick.
    """
    price = quote_price(order.side, quote)
    if order.type is not OrderType.TRAILING_STOP or price is None:
        return False
    hwm = order.hwm
    if order.side is OrderSide.SELL:
        better = hwm is None or price > hwm
    else:
        better = hwm is None or price < hwm
    if not better and order.stop_price is not None:
        return False
    if better:
        order.hwm = price
    order.stop_price = trailing_stop_price(order, asset)
    return True


def trailing_stop_price(order: SimOrder, asset: SimAsset) -> Decimal | None:
    """The stop implied by the order's ``hwm`` and its trail, or None before any quote."""
    hwm = order.hwm
    if hwm is None:
        return None
    sign = -1 if order.side is OrderSide.SELL else 1
    if order.trail_price is not None:
        stop = hwm + sign * order.trail_price
    elif order.trail_percent is not None:
        stop = hwm * (1 + sign * order.trail_percent / 100)
    else:
        return None
    stop = stop.quantize(tick_size(asset, stop), rounding=ROUND_HALF_EVEN)
    return max(stop, ZERO)


def check_trigger(order: SimOrder, quote: QuoteLike) -> bool:
    """Whether a not-yet-triggered stop order's stop is touched by ``quote`` (no mutation)."""
    if not order.has_stop or order.triggered:
        return False
    if order.stop_price is None:
        return False
    return stop_touched(order.side, order.stop_price, quote)


def fill_price(order: SimOrder, quote: QuoteLike) -> Decimal | None:
    """The price ``order`` would fill at against ``quote`` now, or None if it cannot fill.

    Stop types must already be triggered (see :func:`check_trigger`).
    """
    if order.has_stop and not order.triggered:
        return None
    price = quote_price(order.side, quote)
    if price is None:
        return None
    limit = order.limit_price
    if order.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and limit is not None:
        marketable = price <= limit if order.side is OrderSide.BUY else price >= limit
        if not marketable:
            return None
    return price


def is_marketable(order: SimOrder, quote: QuoteLike) -> bool:
    """True when ``order`` (already triggered, if it is a stop) can fill against ``quote``."""
    return fill_price(order, quote) is not None


def partial_qty(
    remaining: Decimal, fraction: Decimal, whole_shares: bool, increment: Decimal
) -> Decimal:
    """``fraction`` of ``remaining``, rounded down to whole shares or to ``increment``.

    Returns ``remaining`` itself when the rounded part would be nothing or everything, so a
    partial fill always leaves something for later and never fills zero.
    """
    part = remaining * fraction
    step = Decimal(1) if whole_shares else increment
    part = (part / step).to_integral_value(rounding=ROUND_DOWN) * step
    if part <= 0 or part >= remaining:
        return remaining
    return part


def notional_qty(notional: Decimal, price: Decimal, increment: Decimal) -> Decimal:
    """Quantity a notional amount buys at ``price``, rounded down to ``increment``."""
    return (notional / price / increment).to_integral_value(rounding=ROUND_DOWN) * increment
