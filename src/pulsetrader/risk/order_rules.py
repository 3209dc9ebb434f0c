"""Alpaca's own order rules, checked before sending so a bad order is refused here, clearly.

Each function returns None when the intent is acceptable, or the reason Alpaca would refuse it.
They cover what :class:`~pulsetrader.domain.intents.OrderIntent` cannot know by itself: which
rules depend on the asset class, on the instrument's own flags, or on a price.
"""

from __future__ import annotations

from decimal import Decimal

from pulsetrader.domain.enums import OrderClass, OrderSide, OrderType, TimeInForce
from pulsetrader.domain.intents import OrderIntent
from pulsetrader.domain.snapshots import AssetInfo

CRYPTO_TIME_IN_FORCE = frozenset({TimeInForce.GTC, TimeInForce.IOC})
CRYPTO_ORDER_TYPES = frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_LIMIT})


def crypto_rule(
    intent: OrderIntent,
    notional: Decimal | None,
    min_notional: Decimal,
    asset: AssetInfo | None = None,
    *,
    opening: bool = True,
) -> str | None:
    """Crypto: gtc/ioc only, market/limit/stop_limit only, simple orders, a minimum size.

    The minimum applies to ``opening`` orders only, as at Alpaca, so dust can always be closed.
    Crypto is never sold short: a sell that opens (or outgrows) a position is refused.
    """
    if intent.time_in_force not in CRYPTO_TIME_IN_FORCE:
        return f"crypto orders must be gtc or ioc, not {intent.time_in_force.value}"
    if intent.type not in CRYPTO_ORDER_TYPES:
        return f"crypto orders cannot be {intent.type.value} orders"
    if intent.order_class is not OrderClass.SIMPLE:
        return f"crypto orders cannot be {intent.order_class.value} orders"
    if intent.extended_hours:
        return "crypto trades around the clock: extended_hours does not apply"
    if asset is not None and not asset.tradable:
        return f"{intent.symbol} is not tradable at Alpaca"
    if opening and intent.side is OrderSide.SELL:
        return f"crypto cannot be sold short: sell at most the {intent.symbol} held"
    if opening and notional is not None and notional < min_notional:
        return f"crypto orders must be at least ${min_notional} (this one is ${notional:.2f})"
    return None


def is_fractional(intent: OrderIntent) -> bool:
    """A notional order, or a quantity that is not a whole number of shares."""
    return intent.notional is not None or (
        intent.qty is not None and intent.qty != intent.qty.to_integral_value()
    )


def stock_rule(intent: OrderIntent, asset: AssetInfo | None) -> str | None:
    """Stocks: extended hours only for limit day orders; fractional and notional orders only
    as simple day orders of fractionable stock. Short sales: :func:`short_sale_rule`."""
    if intent.extended_hours and (
        intent.type is not OrderType.LIMIT or intent.time_in_force is not TimeInForce.DAY
    ):
        return "extended-hours orders must be limit orders with time_in_force day"
    if is_fractional(intent):
        if intent.order_class is not OrderClass.SIMPLE:
            return "fractional and notional orders must be simple orders"
        if intent.time_in_force is not TimeInForce.DAY:
            return "fractional and notional orders must be day orders"
        if asset is not None and not asset.fractionable:
            return f"{intent.symbol} is not fractionable: use a whole number of shares"
    if asset is not None and not asset.tradable:
        return f"{intent.symbol} is not tradable at Alpaca"
    return None


def short_sale_rule(
    intent: OrderIntent, shorting_enabled: bool, asset: AssetInfo | None
) -> str | None:
    """A stock sell that opens or grows a short: the account must allow shorting, the stock
    must be shortable, and the quantity whole (Alpaca does not sell fractions short)."""
    if not shorting_enabled:
        return "this account cannot sell short"
    if asset is not None and not asset.shortable:
        return f"{intent.symbol} cannot be sold short"
    if is_fractional(intent):
        return "fractional and notional orders cannot be sold short: use whole shares"
    return None


def oco_rule(intent: OrderIntent, exit_: bool) -> str | None:
    """OCO orders only close a position (both legs are exits), as at Alpaca."""
    if intent.order_class is OrderClass.OCO and not exit_:
        return "oco orders only close a position: there is none to close for this one"
    return None
